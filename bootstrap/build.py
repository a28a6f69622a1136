"""The pipeline: recipe and options in, a verified, configured tree out."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from bootstrap import emit, ownership, seed
from bootstrap.cache import Cache
from bootstrap.errors import Die, die
from bootstrap.families import Family, family_for
from bootstrap.fetch import Fetcher
from bootstrap.ledger import CHAR, Ledger
from bootstrap.paths import default_cache
from bootstrap.recipe import Recipe, Variant
from bootstrap.sandbox import Sandbox, choose, shim
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter
from bootstrap.trust import Keyring, open_keyring

# What a container's /dev holds; recorded for tarballs, never created unprivileged.
DEV_NODES = (("console", CHAR, 0o666, (5, 1)), ("full", CHAR, 0o666, (1, 7)),
             ("null", CHAR, 0o666, (1, 3)), ("ptmx", CHAR, 0o666, (5, 2)),
             ("random", CHAR, 0o666, (1, 8)), ("tty", CHAR, 0o666, (5, 0)),
             ("urandom", CHAR, 0o666, (1, 9)), ("zero", CHAR, 0o666, (1, 5)))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))


@dataclass
class Options:
    target: Path
    release: Optional[str] = None
    arch: Optional[str] = None
    variant: Optional[str] = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)
    keyrings: list[Path] = field(default_factory=list)
    hostname: Optional[str] = None
    configure: bool = True
    cache: Optional[Path] = None
    mode: str = "auto"
    proot: Optional[str] = None
    format: str = "auto"
    jobs: int = 4
    quiet: bool = False
    verbose: bool = False


@dataclass
class Result:
    target: str
    distro: str
    release: str
    arch: str
    variant: str
    packages: list[dict[str, str]]
    mode: str
    mode_reason: str
    refused: list[str]
    owners: str          # "real" on disk, or "ledger" (the filesystem or mode could not)
    format: str
    seconds: float = 0.0
    downloads: int = 0


def _say(opts: Options, text: str) -> None:
    if opts.verbose:
        print(f"rootstrap: {text}", file=sys.stderr)


def _bar(opts: Options, **kw: object) -> tqdm:
    return tqdm(disable=opts.quiet or not sys.stderr.isatty(), file=sys.stderr, leave=False,
                **kw)


def _dev(writer: TreeWriter) -> None:
    writer.mkdir("dev", 0o755, 0, 0)
    for name, kind, mode, rdev in DEV_NODES:
        if not os.path.lexists(writer.full(f"dev/{name}")):
            writer.node(f"dev/{name}", kind, mode, 0, 0, rdev)
    for name, target in DEV_LINKS:
        writer.symlink(f"dev/{name}", target)
    writer.mkdir("dev/pts", 0o755, 0, 0)
    writer.mkdir("dev/shm", 0o755, 0, 0)


def _check_runnable(recipe: Recipe, arch: str) -> None:
    """Scriptlets of a foreign architecture need the kernel to run its binaries."""
    machine = recipe.architectures.get(arch)
    host = os.uname().machine
    if machine in (None, host) or (host == "x86_64" and machine == "i686"):
        return
    if any(Path("/proc/sys/fs/binfmt_misc").glob(f"qemu-{machine}*")):
        return
    die(f"{arch} programs cannot run on this {host} host (no binfmt_misc handler for "
        f"{machine}); use --no-configure, or install qemu-user-static")


def _remove(path: Path, sandbox: Optional[Sandbox]) -> None:
    """Remove a staging tree; what the caller may not touch (owned by mapped ids
    after configuring) is removed from inside the namespace."""
    if not os.path.lexists(path):
        return
    try:
        shutil.rmtree(path)
    except OSError:
        if sandbox is None:
            raise
        sandbox.call(lambda: shutil.rmtree(path))


def build(recipe: Recipe, opts: Options) -> Result:
    started = time.monotonic()
    release = recipe.release(opts.release)
    variant = recipe.variant(opts.variant)
    arch = recipe.arch(opts.arch)
    fmt = emit.format_for(opts.target, opts.format)
    target = opts.target.absolute()
    if os.path.lexists(target) and not (fmt == "dir" and target.is_dir()
                                        and not any(target.iterdir())):
        die(f"{target} already exists; remove it or choose another target")
    if not target.parent.is_dir():
        die(f"{target.parent} is not a directory")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        die(f"cannot write to {target.parent}")
    if opts.configure:
        _check_runnable(recipe, arch)
    emit.source_date_epoch()   # a bad value is refused now, not after the build
    family = family_for(recipe, release, arch)
    keyring = open_keyring(recipe.keyrings, opts.keyrings, family.trust_model)
    cache: Optional[Cache] = None
    try:
        cache = Cache(opts.cache or default_cache())
        return _build(recipe, opts, family, variant, arch, fmt, target, keyring, cache, started)
    finally:
        if cache:
            cache.close()
        keyring.close()


def _build(recipe: Recipe, opts: Options, family: Family, variant: Variant, arch: str,
           fmt: str, target: Path, keyring: Keyring, cache: Cache, started: float) -> Result:
    release = family.release
    mirrors = [family.mirror_url(m) for m in opts.mirrors or recipe.mirrors]
    fetcher = Fetcher(mirrors, cache, opts.jobs)
    _say(opts, f"fetching the index of {recipe.name} {release.name} {arch}")
    family.load_index(fetcher, keyring)
    chosen = family.select(variant, opts.include, opts.exclude)
    _say(opts, f"{len(chosen)} packages selected")

    sandbox: Optional[Sandbox] = None
    if opts.configure or fmt == "dir":
        try:
            sandbox = choose(opts.mode, opts.proot)
        except Die:
            if opts.configure:
                raise
        if sandbox:
            _say(opts, f"mode {sandbox.mode}: {sandbox.reason}"
                 + "".join(f"; refused {r}" for r in sandbox.refused))

    total = sum(c.wanted.size for c in chosen)
    with _bar(opts, total=total, unit="B", unit_scale=True, desc="download") as bar:
        archives = fetcher.many([c.wanted for c in chosen], bar.update)
    family.verify(chosen, archives, fetcher, opts.jobs)

    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.rootstrap-", dir=target.parent))
    try:
        owners_real = bool(sandbox and sandbox.can_chown
                           and sandbox.call(lambda: ownership.probe_chown(staging)))
        if sandbox and sandbox.can_chown and not owners_real:
            _say(opts, f"{target.parent} refuses chown: ownership is kept in the ledger")
        ledger = Ledger()
        writer = TreeWriter(staging, ledger)
        writer.mkdir(".", 0o755, 0, 0)
        family.prepare(writer)
        with _bar(opts, total=len(chosen), unit="pkg", desc="unpack") as bar:
            for pkg, archive in zip(chosen, archives):
                family.unpack(pkg, archive, writer)
                bar.update(1)
        family.register(writer)
        _dev(writer)
        if opts.configure:
            assert sandbox is not None
            _configure(family, sandbox, staging, ledger, opts, owners_real)
        seed.seed(writer, opts.hostname or recipe.hostname)
        family.seed(writer, fetcher.mirror)
        family.finish(writer, ledger)
        if fmt == "dir":
            def finalize() -> None:
                ownership.materialize(staging, ledger, owners_real, xattrs=not owners_real)
            if sandbox:
                sandbox.call(finalize)
            else:
                finalize()
            ledger.save(ledger_path(target))
            if target.is_dir():
                target.rmdir()
            os.rename(staging, target)
        else:
            emit.write_tar(staging, ledger, target, fmt, emit.source_date_epoch())
            _remove(staging, sandbox)
    except BaseException:
        _remove(staging, sandbox)
        raise
    return Result(
        target=str(target), distro=recipe.name, release=release.name, arch=arch,
        variant=variant.name, packages=[{"name": c.name, "version": c.version} for c in chosen],
        mode=sandbox.mode if sandbox else "none",
        mode_reason=sandbox.reason if sandbox else "nothing to run",
        refused=sandbox.refused if sandbox else [],
        owners="real" if owners_real else "ledger", format=fmt,
        seconds=round(time.monotonic() - started, 2), downloads=fetcher.downloads)


def ledger_path(tree: Path) -> Path:
    """Where a directory tree's ledger lives: beside it, not inside the rootfs."""
    return tree.parent / f"{tree.name}.rootstrap-ledger"


def _configure(family: Family, sandbox: Sandbox, root: Path, ledger: Ledger,
               opts: Options, owners_real: bool) -> None:
    if sandbox.mode != "ptrace":
        # inside a namespace root reads through any mode; PRoot's fake root does not,
        # so there the tree stays readable and merge() tells relaxed modes apart
        sandbox.call(lambda: ownership.materialize(root, ledger, owners_real))
    prefix = "" if sandbox.mode == "root" else shim.install(root, chown=not owners_real)
    log_file = None if opts.verbose else tempfile.TemporaryFile(prefix="rootstrap-log-")
    runner = TreeRunner(sandbox, root, prefix, log_file.fileno() if log_file else None,
                        fake_chown=not owners_real)
    try:
        try:
            family.configure(runner)
        except Die as e:
            if log_file:
                log_file.seek(0)
                tail = [ln for ln in log_file.read().decode(errors="replace").splitlines()
                        if ln.strip()][-1:]
                if tail:
                    raise Die(f"{e.message}: {tail[0].strip()}") from None
            raise
    finally:
        if log_file:
            log_file.close()
    seen = sandbox.call(lambda: ownership.harvest(root, owners_real))
    ownership.merge(ledger, seen, owners_real)
    if prefix:
        writer = TreeWriter(root, ledger)
        shim.collect(root, ledger, lambda p, follow: writer.resolve(p, follow_last=follow))
