"""The cost of the ptrace backend: the same Debian minbase build (to a tarball,
warm download cache) with --mode ptrace and with --mode userns, side by side in
one run.

    python bench/ptrace_vs_userns.py [--release bookworm] [--runs 3]

Prints the median seconds of each and the ratio ptrace / userns. Most of the
difference is configuring: every exec and file system call of dpkg and the
maintainer scripts goes through PRoot's tracer.
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", default="bookworm")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("proot"):
        print("PRoot is not installed (apt-get install proot)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="rootstrap-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times: dict[str, list[float]] = {"userns": [], "ptrace": []}
    try:
        for n in range(args.runs + 1):          # the first round warms the cache
            for mode in times:
                out = work / f"{mode}.tar"
                out.unlink(missing_ok=True)
                start = time.monotonic()
                subprocess.run([sys.executable, "-m", "bootstrap", "debian", str(out),
                                "--release", args.release, "--mode", mode, "--quiet",
                                "--cache", str(work / "cache")], check=True, env=env)
                if n:
                    times[mode].append(time.monotonic() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    u, p = statistics.median(times["userns"]), statistics.median(times["ptrace"])
    print(f"debian {args.release} minbase -> tar, {args.runs} runs")
    for mode, t in (("userns", u), ("ptrace", p)):
        print(f"  {mode:7} {t:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in times[mode])})")
    print(f"  ratio ptrace/userns: {p / u:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
