"""The sandbox backends on the same build (Debian minbase to a tar, warm cache):
userns with a full subordinate range (rs-bench), userns mapping only the
caller (rs-bench-single, which has no range), and ptrace (PRoot)."""
from __future__ import annotations

import shutil
from pathlib import Path

from bench import debian
from bench.measure import Series
from bench.report import Comparison
from bench.users import User


def workload(python: str, mapped: User, single: User, release: str, runs: int
             ) -> list[Comparison]:
    variant = "minbase"
    contestants = [("userns-full", mapped, "userns"), ("userns-single", single, "userns")]
    if shutil.which("proot"):
        contestants.append(("ptrace", mapped, "ptrace"))
    series = {name: Series(name) for name, _, _ in contestants}
    for user in {u.name: u for _, u, _ in contestants}.values():
        user.dir("modes-cache")
    for n in range(runs + 1):           # the first round fills each user's cache
        for name, user, mode in contestants:
            out = user.home / f"modes-{name}.tar"
            for old in (out, Path(f"{out}.manifest.json"), Path(f"{out}.cdx.json")):
                user.remove(old)
            user.mkdir(user.home / "logs")
            sample = debian.run_rootstrap(user, debian.rootstrap_argv(
                python, out, release, variant, user.home / "modes-cache", "--mode", mode),
                user.home / "logs" / f"modes-{name}.log")
            user.remove(out)
            if n:
                series[name].samples.append(sample)
    full = series["userns-full"]
    notes = [f"{s.name}/userns-full: {s.median / full.median:.2f}"
             for s in series.values() if s is not full]
    # PRoot's cost lies in the commands it traces (dpkg's configure): the rest of
    # a build is the same work in every mode
    configure = {name: s.phases().get("configure", 0.0) for name, s in series.items()}
    notes.append("configure (median s): " + ", ".join(f"{n} {t:.2f}"
                                                      for n, t in configure.items()))
    for s in series.values():
        if s is not full:
            more = configure[s.name] - configure[full.name]
            notes.append(f"{s.name} over userns-full: configure {more:+.2f} s, the rest "
                         f"{s.median - full.median - more:+.2f} s")
    if "ptrace" not in series:
        notes.append("ptrace: PRoot is not installed")
    return [Comparison("modes", f"Debian {release} minbase to a tar, warm cache, "
                       f"{runs} runs alternating", [full] + [s for s in series.values()
                                                           if s is not full], notes=notes)]
