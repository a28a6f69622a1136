"""rootstrap against the host's pacman, side by side in one run: the same Arch
package set from the same local mirror, signatures checked by both, warm caches.

    sudo python bench/arch_vs_pacman.py [--bulk 12] [--runs 3]

Arch's mirrors are out of reach here, so the mirror is the test fixture (built with
makepkg and repo-add, see tests/archmirror.py) plus --bulk packages made of the
host's shared libraries, so that unpacking has real weight. pacman runs as
`pacman -r ROOT -Sy base` with SigLevel = Required and a keyring trusting the
fixture key (pacstrap's core, without its mounts); rootstrap builds the same tree
as a directory. Both run as root (pacman needs it), rootstrap in its root mode.
Prints the median seconds of each and the ratio rootstrap / pacman.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import archmirror  # noqa: E402
from archmirror import FileSpec, PkgSpec  # noqa: E402
from debmirror import MirrorServer, make_signer, stop_agent  # noqa: E402


def bulk_specs(count: int) -> list[PkgSpec]:
    """count packages sharing out the host's shared libraries (real, compressible
    binaries, as most of a real package set is)."""
    libs = sorted(p for p in Path("/usr/lib/x86_64-linux-gnu").glob("*.so.*")
                  if p.is_file() and not p.is_symlink() and p.stat().st_size < (8 << 20))
    specs = []
    for k in range(count):
        files = [FileSpec(f"usr/lib/bulk{k}/{p.name}", source=str(p), mode=0o755)
                 for p in libs[k::count]]
        specs.append(PkgSpec(f"bulk{k}", "1.0-1", desc="bench payload", files=tuple(files)))
    return specs


def build_mirror(work: Path, bulk: int) -> tuple[Path, "archmirror.Signer"]:
    signer = make_signer(work / "key")
    by_repo = archmirror.fixture_specs()
    extra = bulk_specs(bulk)
    base = next(s for s in by_repo[archmirror.CORE] if s.name == "base")
    by_repo[archmirror.CORE] = [s for s in by_repo[archmirror.CORE] if s is not base] + [
        PkgSpec(base.name, base.version, arch=base.arch, desc=base.desc,
                depends=tuple(base.depends) + tuple(s.name for s in extra))] + extra
    built = archmirror.build_packages([s for specs in by_repo.values() for s in specs],
                                      work / "build", pkgexts=archmirror.FIXTURE_PKGEXT)
    root = work / "mirror"
    for repo, specs in by_repo.items():
        archmirror.build_repo(root, repo, archmirror.ARCH, [built[s.name] for s in specs],
                              signer, embed_sigs=repo == archmirror.CORE)
    return root, signer


def pacman_keyring(work: Path, signer: "archmirror.Signer") -> Path:
    gpgdir = work / "pacman-gnupg"
    for args in (["--init"], ["--add", str(signer.keyring)],
                 ["--lsign-key", signer.fingerprint]):
        subprocess.run(["pacman-key", "--gpgdir", str(gpgdir), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return gpgdir


def run_pacman(url: str, target: Path, work: Path, gpgdir: Path) -> None:
    conf = work / "pacman.conf"
    conf.write_text(archmirror.reference_pacman_conf(url, archmirror.REPOS).replace(
        "SigLevel = Never", "SigLevel = Required DatabaseOptional"))
    (target / "var/lib/pacman").mkdir(parents=True)
    subprocess.run(["pacman", "--root", str(target), "--dbpath", str(target / "var/lib/pacman"),
                    "--cachedir", str(work / "pacman-cache"), "--logfile", str(work / "log"),
                    "--gpgdir", str(gpgdir), "--hookdir", str(target / "etc/pacman.d/hooks"),
                    "--config", str(conf), "--noprogressbar", "-Sy", "--noconfirm", "base"],
                   check=True, stdout=subprocess.DEVNULL,
                   # the fixture's filesystem has a scriptlet pacman reports it cannot
                   # run before /bin/sh exists: expected, and not worth printing
                   stderr=subprocess.DEVNULL)


def run_rootstrap(server: str, keyring: Path, target: Path, work: Path) -> None:
    subprocess.run([sys.executable, "-m", "bootstrap", "arch", str(target), "--mirror", server,
                    "--keyring", str(keyring), "--cache", str(work / "rootstrap-cache"),
                    "--mode", "root", "--quiet"], check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulk", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: the host's pacman needs it to install into a root", file=sys.stderr)
        return 1
    missing = archmirror.missing_tools()
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="rootstrap-bench-"))
    work.chmod(0o755)
    try:
        mirror, signer = build_mirror(work, args.bulk)
        gpgdir = pacman_keyring(work, signer)
        server = MirrorServer(mirror)
        times: dict[str, list[float]] = {"pacman": [], "rootstrap": []}
        try:
            for n in range(args.runs + 1):       # the first round fills both caches
                for tool in times:
                    target = work / f"{tool}-tree"
                    shutil.rmtree(target, ignore_errors=True)
                    start = time.monotonic()
                    if tool == "pacman":
                        run_pacman(server.url, target, work, gpgdir)
                    else:
                        run_rootstrap(f"{server.url}/$repo/os/$arch", signer.keyring, target,
                                      work)
                    if n:
                        times[tool].append(time.monotonic() - start)
            size = sum(f.stat().st_size for f in (work / "rootstrap-tree").rglob("*")
                       if f.is_file() and not f.is_symlink())
        finally:
            server.close()
            stop_agent(signer)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p, r = statistics.median(times["pacman"]), statistics.median(times["rootstrap"])
    print(f"arch fixture base + {args.bulk} bulk packages ({size / 1e6:.0f} MB unpacked), "
          f"{args.runs} runs, warm caches")
    for tool, t in (("pacman", p), ("rootstrap", r)):
        print(f"  {tool:9} {t:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in times[tool])})")
    print(f"  ratio rootstrap/pacman: {r / p:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
