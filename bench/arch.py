"""Arch: rootstrap (as rs-bench, unprivileged) against the host's pacman, as
root and under fakeroot, installing the same package set from the same local
mirror with signatures checked by all, warm caches.

Arch's mirrors are out of reach here, so the mirror is the test fixture (built
with makepkg and repo-add, see tests/archmirror.py) plus --bulk packages made
of the host's shared libraries, so that unpacking has real weight. pacman runs
as `pacman -r ROOT -Sy base` with SigLevel = Required DatabaseOptional and a
keyring trusting the fixture key (pacstrap's core, without its mounts). Under
fakeroot pacman cannot chroot, so the fixture's scriptlets fail there (it goes
on, as pacman does); as root they run.

Floor line: the same packages decompressed and written alone by bsdtar on
every core; and rootstrap's start alone (the interpreter and a build's imports)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import bulk, floor, measure
from bench.measure import Sample, Series
from bench.report import Comparison
from bench.users import CHECKOUT, User

sys.path.insert(0, str(CHECKOUT / "tests"))
# the metadata files at the top of every package are not the tree's
META = " ".join(f"--exclude {m}" for m in (".PKGINFO", ".BUILDINFO", ".MTREE", ".INSTALL",
                                           ".CHANGELOG"))

import archmirror  # noqa: E402
from archmirror import FileSpec, PkgSpec  # noqa: E402
from debmirror import MirrorServer, make_signer, stop_agent  # noqa: E402


def bulk_specs(count: int) -> list[PkgSpec]:
    """count packages sharing out the host's shared libraries (bench/bulk.py)."""
    specs = []
    for k, libs in enumerate(bulk.shares(count)):
        files = [FileSpec(f"usr/lib/bulk{k}/{p.name}", source=str(p), mode=0o755)
                 for p in libs]
        specs.append(PkgSpec(f"bulk{k}", "1.0-1", desc="bench payload", files=tuple(files)))
    return specs


def build_mirror(work: Path, bulk: int) -> tuple[Path, Any, dict[str, Path]]:
    """The fixture with bulk packages base depends on, signed; reused when a
    finished one is there (makepkg takes about 2 s of CPU a package)."""
    root, done = work / "mirror", work / "mirror.done"
    if not done.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        work.chmod(0o755)
        signer = make_signer(work / "key")
        by_repo = archmirror.fixture_specs()
        extra = bulk_specs(bulk)
        base = next(s for s in by_repo[archmirror.CORE] if s.name == "base")
        by_repo[archmirror.CORE] = [s for s in by_repo[archmirror.CORE] if s is not base] + [
            PkgSpec(base.name, base.version, arch=base.arch, desc=base.desc,
                    depends=tuple(base.depends) + tuple(s.name for s in extra))] + extra
        built = archmirror.build_packages([s for specs in by_repo.values() for s in specs],
                                          work / "build", pkgexts=archmirror.FIXTURE_PKGEXT)
        for repo, specs in by_repo.items():
            archmirror.build_repo(root, repo, archmirror.ARCH, [built[s.name] for s in specs],
                                  signer, embed_sigs=repo == archmirror.CORE)
        stop_agent(signer)
        shutil.rmtree(work / "build")
        done.write_text("")
    signer = archmirror.Signer(home=work / "key" / "gnupg", fingerprint="",
                               keyring=work / "key" / "key.gpg")
    packages = {p.name: p for p in root.rglob("*.pkg.tar.*") if not p.name.endswith(".sig")}
    return root, signer, packages


def pacman_keyring(gpgdir: Path, keyring: Path, owner: User | None) -> Path:
    shutil.rmtree(gpgdir, ignore_errors=True)
    fingerprint = subprocess.run(
        ["gpg", "--with-colons", "--show-keys", str(keyring)], check=True,
        stdout=subprocess.PIPE, text=True).stdout
    fpr = next(line.split(":")[9] for line in fingerprint.splitlines() if line.startswith("fpr:"))
    for args in (["--init"], ["--add", str(keyring)], ["--lsign-key", fpr]):
        subprocess.run(["pacman-key", "--gpgdir", str(gpgdir), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["gpgconf", "--homedir", str(gpgdir), "--kill", "all"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if owner:
        subprocess.run(["chown", "-R", f"{owner.uid}:{owner.gid}", str(gpgdir)], check=True)
    return gpgdir


def pacman_argv(url: str, target: Path, work: Path, gpgdir: Path) -> list[str]:
    conf = work / "pacman.conf"
    conf.write_text(archmirror.reference_pacman_conf(url, archmirror.REPOS).replace(
        "SigLevel = Never", "SigLevel = Required DatabaseOptional"))
    conf.chmod(0o644)
    return ["pacman", "--root", str(target), "--dbpath", str(target / "var/lib/pacman"),
            "--cachedir", str(work / "pacman-cache"), "--logfile", str(work / "pacman.log"),
            "--gpgdir", str(gpgdir), "--hookdir", str(target / "etc/pacman.d/hooks"),
            "--config", str(conf), "--noprogressbar", "-Sy", "--noconfirm", "base"]


def workload(python: str, user: User, runs: int, bulk: int, state: Path,
             with_fakeroot: bool = True) -> list[Comparison]:
    if os.geteuid() != 0:
        raise measure.Failed("arch: run as root (the host's pacman installs as root)")
    missing = archmirror.missing_tools()
    if missing:
        raise measure.Failed(f"arch: missing {', '.join(missing)}")
    mirror, signer, files = build_mirror(state / f"arch-fixture-{bulk}", bulk)
    logs = user.home / "logs"
    user.mkdir(logs)
    root_work = state / "arch-pacman-root"
    shutil.rmtree(root_work, ignore_errors=True)
    root_work.mkdir(parents=True)
    root_gpg = pacman_keyring(root_work / "gnupg", signer.keyring, None)
    fake_work = user.dir("arch-pacman-fakeroot")
    fake_gpg = pacman_keyring(fake_work / "gnupg", signer.keyring, user)
    cache = user.dir("arch-cache")
    server = MirrorServer(mirror)
    server_line = f"{server.url}/$repo/os/$arch"
    rs, pr = Series("rootstrap"), Series("pacman (root)")
    pf, fl = Series("pacman (fakeroot)"), Series("floor: decompress+write alone")
    st = Series("rootstrap start: python + imports")
    installed: list[Path] = []
    try:
        for n in range(runs + 1):        # the first round fills every cache
            target = user.home / "arch-rootstrap"
            user.remove(target)
            user.remove(Path(f"{target}.rootstrap-ledger"))
            sample, stdout = measure.run(user.command([
                python, "-m", "bootstrap", "arch", str(target), "--mirror", server_line,
                "--keyring", str(signer.keyring), "--cache", str(cache), "--json"]),
                log=logs / "arch-rootstrap.log")
            r = measure.rootstrap_json(sample, stdout)
            names = {p["name"] for p in json.loads(stdout)["packages"]}
            installed = sorted(path for f, path in files.items() if _name(f) in names)
            for old in [target, *target.parent.glob(f"{target.name}.*")]:
                user.remove(old)
            root_target = root_work / "tree"
            shutil.rmtree(root_target, ignore_errors=True)
            (root_target / "var/lib/pacman").mkdir(parents=True)
            p = measure.run(pacman_argv(server.url, root_target, root_work, root_gpg),
                            log=root_work / "run.log")[0]
            shutil.rmtree(root_target, ignore_errors=True)
            if with_fakeroot:
                fake_target = fake_work / "tree"
                user.remove(fake_target)
                user.mkdir(fake_target / "var/lib/pacman")
                argv = pacman_argv(server.url, fake_target, fake_work, fake_gpg)
                f = _fakeroot(user, argv, fake_target, logs / "arch-fakeroot.log")
                user.remove(fake_target)
            x = floor.extract(user, installed, f"bsdtar -xf {{}} -C OUT {META}", "arch",
                              logs / "arch-floor.log")
            s = floor.start(user, python, "pacman", logs / "arch-start.log")
            if n:
                rs.samples.append(r)
                pr.samples.append(p)
                if with_fakeroot:
                    pf.samples.append(f)
                fl.samples.append(x)
                st.samples.append(s)
    finally:
        server.close()
    series = [rs, pr] + ([pf] if with_fakeroot else [])
    return [Comparison("arch", f"Arch fixture base + {bulk} bulk packages "
                       f"({len(installed)} packages) to a directory, warm caches, "
                       f"{runs} runs alternating; rootstrap as {user.name}", series, [fl],
                       extra="configure", start=st)]


def _name(filename: str) -> str:
    """The package a file name-ver-rel-arch.pkg.tar.* holds."""
    return filename.rsplit("-", 3)[0]


def _fakeroot(user: User, argv: list[str], target: Path, log: Path) -> Sample:
    """pacman under fakeroot as the user: scriptlets fail (no chroot), which it
    reports and survives, exiting 1; what counts is that base is installed."""
    sample, _ = measure.run(user.command(["fakeroot", *argv]), log=log, check=False)
    if not any((target / "var/lib/pacman/local").glob("base-*")):
        raise measure.Failed(f"pacman under fakeroot did not install base (see {log})")
    return sample
