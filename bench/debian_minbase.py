"""rootstrap against mmdebstrap, side by side in one run: Debian minbase to a tarball.

    python bench/debian_minbase.py [--release bookworm] [--runs 3]

Both run as the calling user (mmdebstrap in --mode=root as root, --mode=unshare
otherwise) against the same mirror; one untimed warm-up each. rootstrap reuses its
download cache (its normal second build); mmdebstrap has no package cache and
downloads the debs every time (about 0.1-0.25 s for minbase on this mirror).
Prints the median seconds of each and the ratio rootstrap / mmdebstrap.
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
MIRROR = "http://deb.debian.org/debian"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", default="bookworm")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("mmdebstrap"):
        print("mmdebstrap is not installed (apt-get install mmdebstrap)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="rootstrap-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    mode = "root" if os.geteuid() == 0 else "unshare"
    ours = [sys.executable, "-m", "bootstrap", "debian", str(work / "ours.tar"),
            "--release", args.release, "--variant", "minbase", "--quiet",
            "--cache", str(work / "cache")]
    theirs = ["mmdebstrap", "--quiet", "--variant=minbase", f"--mode={mode}",
              "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr", args.release,
              str(work / "theirs.tar"), MIRROR]
    times: dict[str, list[float]] = {"rootstrap": [], "mmdebstrap": []}
    try:
        for n in range(args.runs + 1):
            for name, argv in (("rootstrap", ours), ("mmdebstrap", theirs)):
                for f in work.glob("*.tar"):
                    f.unlink()
                t = timed(argv, env)
                if n:
                    times[name].append(t)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, b = statistics.median(times["rootstrap"]), statistics.median(times["mmdebstrap"])
    print(f"debian {args.release} minbase -> tar, {args.runs} runs, mode {mode}")
    print(f"  rootstrap   {a:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times['rootstrap'])})")
    print(f"  mmdebstrap  {b:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times['mmdebstrap'])})")
    print(f"  ratio rootstrap/mmdebstrap: {a / b:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
