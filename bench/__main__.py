"""python -m bench WORKLOAD... : see bench/__init__.py."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from bench import report, users
from bench.measure import Failed

WORKLOADS = ("debian-minbase", "debian-apt", "debian-important", "debian-standard", "arch",
             "fedora", "modes")
DEFAULT_STATE = Path("/var/tmp/rootstrap-bench")


def main(argv: list[str] | None = None) -> int:
    import bench
    ap = argparse.ArgumentParser(prog="python -m bench", description=bench.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="+", choices=WORKLOADS + ("all",), metavar="WORKLOAD",
                    help=f"{', '.join(WORKLOADS)}, or all")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3)")
    ap.add_argument("--release", default="bookworm", help="Debian release (default bookworm)")
    ap.add_argument("--cache", choices=("cold", "warm", "both"), default="both",
                    help="Debian: which cache states to measure (default both)")
    ap.add_argument("--bulk", type=int, default=12,
                    help="arch, fedora: packages of host libraries added to the fixture "
                    "(default 12)")
    ap.add_argument("--no-fakeroot", action="store_true", help="arch: skip pacman under fakeroot")
    ap.add_argument("--state", type=Path, default=DEFAULT_STATE,
                    help=f"where users' homes, the venv and mirrors live ({DEFAULT_STATE})")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    chosen = WORKLOADS if "all" in args.workloads else tuple(dict.fromkeys(args.workloads))
    debian = ["mmdebstrap", "dpkg-deb", "apt-ftparchive"]
    need = {**{w: debian for w in WORKLOADS if w.startswith("debian-")},
            "arch": ["pacman", "bsdtar"], "fedora": ["dnf", "rpm", "bsdtar"], "modes": []}
    missing = sorted({t for w in chosen for t in need[w] + ["/usr/bin/time"]
                      if not shutil.which(t)})
    if missing:
        print(f"bench: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    state = args.state.absolute()
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"rootstrap bench, {started}\n{report.machine()}\n"
          f"command: python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}")
    python = users.cli_python(state)
    mapped = users.ensure(users.MAPPED, state)
    caches = ("cold", "warm") if args.cache == "both" else (args.cache,)
    from bench import arch, debian, fedora, modes
    failed = 0
    for w in chosen:
        try:
            if w.startswith("debian-"):
                results = debian.workload(python, mapped, args.release, w.split("-", 1)[1],
                                          args.runs, caches, state)
            elif w == "arch":
                results = arch.workload(python, mapped, args.runs, args.bulk, state,
                                        not args.no_fakeroot)
            elif w == "fedora":
                results = fedora.workload(python, mapped, args.runs, args.bulk, state)
            else:
                single = users.ensure(users.SINGLE, state)
                if os.geteuid() != 0:
                    print("bench: modes needs root (it runs as two users)", file=sys.stderr)
                    failed += 1
                    continue
                results = modes.workload(python, mapped, single, args.release, args.runs)
        except Failed as e:
            print(f"\n== {w}: failed: {e}", file=sys.stderr)
            failed += 1
            continue
        for c in results:
            report.show(c)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
