"""The pipeline: recipe and options in, a verified, configured tree out."""
from __future__ import annotations

import dataclasses
import gc
import os
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from bootstrap import target as place
from bootstrap import baseconfig, bundle, emit, outputs, ownership, reproducible, sbom
from bootstrap import customize, hooks
from bootstrap.cache import Cache
from bootstrap.errors import Die, die
from bootstrap.families import Family, Plan
from bootstrap.fetch import Fetcher
from bootstrap.ledger import CHAR, Ledger, ledger_path
from bootstrap.paths import default_cache
from bootstrap.progress import Progress
from bootstrap.readahead import Readahead
from bootstrap.recipe import Recipe
from bootstrap.shaping import Shaping
from bootstrap.rootfs import remove_tree, settle
from bootstrap.sandbox import Sandbox, choose
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter

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
    weak_deps: bool = False
    keyrings: list[Path] = field(default_factory=list)
    hostname: Optional[str] = None
    configure: bool = True
    cache: Optional[Path] = None
    cache_group: Optional[str] = None
    mode: str = "auto"
    proot: Optional[str] = None
    format: str = "auto"
    force: bool = False                # replace a tree rootstrap built at TARGET
    timeout: float = 60                # seconds a mirror may stay silent
    tag: Optional[str] = None          # an OCI image's name in index.json
    compression: Optional[str] = None  # of an OCI layer or a squashfs (default gzip)
    terminal: bool = False             # a bundle's process gets a terminal
    shaping: Shaping = field(default_factory=Shaping)   # hooks, copies, user, locale...
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
    phases: dict[str, float] = field(default_factory=dict)   # seconds, by phase
    peak_rss_mb: float = 0.0


def _dev(writer: TreeWriter) -> None:
    writer.ensure_dir("dev")
    for name, kind, mode, rdev in DEV_NODES:
        if not os.path.lexists(writer.full(writer.resolve(f"dev/{name}"))):
            writer.node(f"dev/{name}", kind, mode, 0, 0, rdev)
    for name, target in DEV_LINKS:
        writer.symlink(f"dev/{name}", target)
    writer.ensure_dir("dev/pts")
    writer.ensure_dir("dev/shm")


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


def _target(opts: Options, fmt: str) -> Path:
    """TARGET as an absolute path whose parent exists (made as `mkdir -p` would)."""
    target = opts.target.absolute()
    place.check(target, fmt in emit.DIR_FORMATS, opts.force)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        die(f"{parent} is not a directory")
    except OSError as e:
        missing = next((p for p in [parent, *parent.parents] if p.exists()), parent)
        die(f"cannot create {parent}: {e.strerror} (in {missing})")
    if not os.access(parent, os.W_OK | os.X_OK):
        die(f"cannot write to {parent}")
    return target


def build(recipe: Recipe, family_cls: type[Family], opts: Options) -> Result:
    started = time.monotonic()
    release = recipe.release(opts.release)
    variant = recipe.variant(opts.variant)
    arch = recipe.arch(opts.arch)
    fmt = emit.format_for(opts.target, opts.format)
    outputs.check(fmt, opts.tag, opts.compression, opts.terminal)
    if opts.configure:
        _check_runnable(recipe, arch)
    reproducible.source_date_epoch()   # a bad value is refused now, not after the build
    if not opts.timeout > 0:
        die("--timeout must be a number of seconds above 0")
    target = _target(opts, fmt)
    family = family_cls(recipe, release, arch)
    if opts.weak_deps:
        if not family.has_weak_deps:
            die(f"--weak-deps: {recipe.name}'s packages have no weak dependencies rootstrap "
                "follows")
        family.weak_deps = True
    progress = Progress(opts.quiet, opts.verbose)
    with family.open_trust(opts.keyrings or family.trust_roots()) as trust, \
            Cache(opts.cache or default_cache(), opts.cache_group) as cache:
        mirrors = [family.mirror(m) for m in opts.mirrors or recipe.mirrors]
        if not mirrors and not family.finds_mirrors:
            die(f"no mirror to fetch from: {recipe.path} lists none and no --mirror was given")
        fetcher = Fetcher(mirrors, cache, opts.jobs, opts.timeout)
        progress.say(f"fetching the index of {recipe.name} {release.name} {arch}")
        with progress.phase("index"), _no_cycles():
            index = family.load_index(fetcher, trust)
        with progress.phase("solve"), _no_cycles():
            plan = family.select(index, variant, opts.include, opts.exclude)
        indexes = family.index_digests(index)
        del index         # the largest thing a build holds: its memory goes to unpacking
        progress.say(f"{len(plan.packages)} packages selected")

        sandbox: Optional[Sandbox] = None
        if opts.configure or fmt in ("dir", "bundle") or opts.shaping.wants_sandbox:
            try:
                sandbox = choose(opts.mode, opts.proot)
            except Die:
                if opts.configure or opts.shaping.runs_inside:
                    raise
            if sandbox:
                progress.say(f"mode {sandbox.mode}: {sandbox.reason}"
                             + "".join(f"; refused {r}" for r in sandbox.refused))

        total = sum(c.wanted.size for c in plan.packages)
        place.check_space(target, total, sum(
            c.wanted.size for c in plan.packages
            if not cache.object_path(c.wanted.digest, c.wanted.covers is not None).exists()),
            cache.root)
        for killed in place.leftovers(target):
            try:
                remove_tree(killed, sandbox)   # what a killed build of target left
            except OSError:
                pass                           # owned by ids only another mode maps
        with progress.phase("download", total, "B") as step:
            archives = fetcher.many([c.wanted for c in plan.packages], step)
        with progress.phase("verify"):
            family.verify(plan, archives, fetcher, trust, opts.jobs)
        # made before the tree is: a failure here leaves nothing behind
        described = family.describe(plan)
        owners_real = _assemble(family, plan, archives, fetcher, sandbox, target, fmt,
                                opts, progress, recipe, variant.name, indexes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = Result(
        target=str(target), distro=recipe.name, release=release.name, arch=arch,
        variant=variant.name,
        packages=[{"name": c.name, "version": c.version} for c in plan.packages],
        mode=sandbox.mode if sandbox else "none",
        mode_reason=sandbox.reason if sandbox else "nothing to run",
        refused=sandbox.refused if sandbox else [],
        owners="real" if owners_real else "ledger", format=fmt,
        seconds=round(time.monotonic() - started, 2), downloads=fetcher.downloads,
        phases=dict(progress.seconds), peak_rss_mb=round(max(peak, children), 1))
    try:
        sbom.write_beside(target, result, described, indexes=indexes,
                          mirrors=[str(m) for m in fetcher.mirrors], mirror=str(fetcher.mirror))
    except BaseException:
        _unplace(target, fmt, sandbox)    # an output without its manifest is half a build
        raise
    return result


def _unplace(target: Path, fmt: str, sandbox: Optional[Sandbox]) -> None:
    """Remove an output that was placed whole, with what lies beside it."""
    if target.is_dir() and not target.is_symlink():
        remove_tree(target, sandbox)
    else:
        target.unlink(missing_ok=True)
    if fmt == "dir":
        ledger_path(target).unlink(missing_ok=True)


def _assemble(family: Family, plan: Plan, archives: list[Path], fetcher: Fetcher,
              sandbox: Optional[Sandbox], target: Path, fmt: str, opts: Options,
              progress: Progress, recipe: Recipe, variant: str,
              indexes: dict[str, str]) -> bool:
    """Unpack, register, configure and write out the tree; whether owners are real."""
    work, held = place.staging(target)
    # a bundle is made around its root filesystem, so a failure removes both
    staging = work / "rootfs" if fmt == "bundle" else work
    staging.mkdir(exist_ok=True)
    runner: Optional[TreeRunner] = None
    try:
        owners_real = bool(sandbox and sandbox.can_chown
                           and sandbox.call(lambda: ownership.probe_chown(staging)))
        if sandbox and sandbox.can_chown and not owners_real:
            progress.say(f"{target.parent} refuses chown: ownership is kept in the ledger")
        ledger = Ledger()
        writer = TreeWriter(staging, ledger, family.existing_dirs)
        writer.mkdir(".", 0o755, 0, 0)
        if opts.configure:
            assert sandbox is not None
            runner = TreeRunner(sandbox, writer, owners_real, opts.verbose)
        shaping = opts.shaping.with_recipe_hooks(dataclasses.asdict(recipe.hooks))
        hook = hooks.HookContext(writer, sandbox, owners_real, hooks.environment(
            recipe.name, family.release.name, family.arch, variant, target, sandbox))
        with _explained(runner):
            family.prepare(writer)
            hooks.run(hook, "setup", shaping.hooks["setup"])
            unpacked: list[Any] = []
            with progress.phase("unpack", len(plan.packages), "pkg") as step, \
                    Readahead([family.contents(plan, p, a)
                               for p, a in zip(plan.packages, archives)]) as ahead:
                for i, (pkg, archive) in enumerate(zip(plan.packages, archives)):
                    if runner:
                        family.before_unpack(plan, pkg, archive, runner)
                    with writer.budget(pkg.installs):
                        unpacked.append(family.unpack(plan, pkg, archive, writer,
                                                      ahead.take(i)))
                    if runner:
                        family.after_unpack(plan, pkg, unpacked[-1], runner)
                    step(1)
            hooks.run(hook, "extract", shaping.hooks["extract"])
            with progress.phase("register"):
                registered = family.register(plan, unpacked, writer)
                _dev(writer)
            # essential hooks: after the family's first stage where it has one, else
            # after configuring (or registering, with --no-configure)
            staged = bool(runner and family.has_essential_stage and shaping.hooks["essential"])
            if runner:
                with progress.phase("configure"):
                    if staged:
                        with runner.session():
                            registered = family.configure_essential(plan, registered,
                                                                    runner, writer)
                        hooks.run(hook, "essential", shaping.hooks["essential"])
                    with runner.session():
                        family.configure(plan, registered, runner, writer)
                runner.close()
            if not staged:
                hooks.run(hook, "essential", shaping.hooks["essential"])
        with progress.phase("config"):
            baseconfig.write(writer, opts.hostname or recipe.hostname)
            family.write_sources(plan, writer, fetcher.mirror)
            family.finish(writer)
        with progress.phase("customize"):
            customize.customize(shaping, recipe.conventions, writer, hook, opts.configure,
                                opts.quiet)
        with progress.phase("emit"):
            epoch = reproducible.source_date_epoch()
            if fmt == "dir":
                settle(staging, ledger, sandbox, owners_real)
                ledger.save(ledger_path(target))
                place.put_in_place(staging, target, lambda old: remove_tree(old, sandbox))
            elif fmt == "bundle":
                settle(staging, ledger, sandbox, owners_real)
                bundle.place(work, ledger, target, opts.terminal,
                             lambda old: remove_tree(old, sandbox))
            else:
                image = outputs.built_image(
                    staging, opts.tag, epoch, recipe.name, family.release.name, variant,
                    family.arch, recipe.architectures.get(family.arch, family.arch), indexes,
                    str(fetcher.mirror)) if fmt in outputs.OCI else None
                outputs.write(fmt, staging, ledger, target, epoch, image, opts.compression)
                remove_tree(work, sandbox)
    except BaseException:
        if runner:
            runner.close(collect=False)
        remove_tree(work, sandbox)
        raise
    finally:
        os.close(held)
    return owners_real


@contextmanager
def _no_cycles() -> Iterator[None]:
    """Without the cycle collector: reading an index makes hundreds of thousands of
    objects and no cycles, and the collector walked them all again and again (60 %
    of reading back a kept Debian index). Whatever is unreferenced is still freed."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def _explained(runner: Optional[TreeRunner]) -> Iterator[None]:
    """A failure while the tree's programs ran, with the last line they wrote."""
    try:
        yield
    except Die as e:
        tail = runner.tail() if runner and not isinstance(e, hooks.HookFailed) else ""
        if tail and tail not in e.message:
            raise Die(f"{e.message}: {tail}", e.code, file=e.file, mirror=e.mirror,
                      key=e.key) from None
        raise
