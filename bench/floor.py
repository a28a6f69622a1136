"""The floor line of a warm build: the same package files unpacked by the
distribution's own C tool alone, on every core rootstrap may use, as the user
rootstrap runs as (or root, where an unprivileged tool cannot do the work); and
rootstrap's start alone."""
from __future__ import annotations

from pathlib import Path

from bench import measure
from bench.measure import Sample
from bench.users import User
from bootstrap import cores


def extract(user: User, files: list[Path], command: str, name: str, log: Path) -> Sample:
    """command (a shell command; {} is a file, OUT the tree) run as user on every
    file, as many at once as rootstrap would use cores, into one fresh tree."""
    out = user.dir(f"{name}-floor-tree")
    listing = user.home / f"{name}-floor-files"
    listing.write_text("".join(f"{f}\n" for f in files))
    script = (f"xargs -P {cores.usable()} -I{{}} "
              f"{command.replace('OUT', str(out))} < {listing}")
    try:
        return measure.run(user.command(["sh", "-c", script]), log=log)[0]
    finally:
        user.remove(out)


def start(user: User, python: str, family: str, log: Path) -> Sample:
    """What every build of rootstrap pays before any work: the interpreter
    starting and importing the modules a build of family uses."""
    return measure.run(user.command([python, "-c", f"import bootstrap.cli, bootstrap.build, "
                                     f"bootstrap.families.{family}.family"]), log=log)[0]
