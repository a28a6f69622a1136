"""apk's scripts in the tree: each package's .pre-install before its files are
there and .post-install after, in install order, with its version as $1; then
each trigger package's .trigger once, with the directories it watches that the
transaction filled (a fresh install: every one that matches)."""
from __future__ import annotations

import re
from typing import Sequence

from bootstrap.errors import die
from bootstrap.families.apk.installeddb import Installed, globs
from bootstrap.families.apk.package import Parts
from bootstrap.sandbox.base import CommandFailed, TreeRunner
from bootstrap.treewriter import TreeWriter

CACHE = "var/cache/misc"
SHELL = "bin/sh"


def run_script(runner: TreeRunner, writer: TreeWriter, name: str, version: str,
               parts: Parts, script: str, args: Sequence[str]) -> None:
    """Run one of a package's scripts the way apk does: the file itself, from
    var/cache/misc, with only PATH in its environment."""
    data = parts.scripts.get(script)
    if data is None:
        return
    if not writer.exists(SHELL) and data.startswith(b"#!/bin/sh"):
        die(f"{name}: its {script[1:]} script needs /bin/sh, which no package installed "
            "before it provides")
    path = f"{CACHE}/{name}-{version}{script}"
    writer.write_bytes(path, data, 0o755)
    try:
        runner.run([[f"/{path}", *args]], {})
    except CommandFailed as e:
        die(f"configuring failed: the {script[1:]} script of {name}-{version} exited with "
            f"{e.code}")
    finally:
        writer.remove(path)


def _pathname_glob(glob: str) -> "re.Pattern[str]":
    """fnmatch with FNM_PATHNAME: '*' and '?' never match '/'."""
    out = []
    for c in glob:
        out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
    return re.compile("".join(out))


def triggers(runner: TreeRunner, writer: TreeWriter, installed: Sequence[Installed]) -> None:
    dirs = sorted({"/" + e.path for i in installed for e in i.files.entries
                   if e.kind == "dir"})
    for item in installed:
        if ".trigger" not in item.files.parts.scripts:
            continue
        patterns = [_pathname_glob(g) for g in globs(item) if g.startswith("/")]
        matched = [d for d in dirs if any(p.fullmatch(d) for p in patterns)]
        if matched:
            run_script(runner, writer, item.pkg.name, item.pkg.version, item.files.parts,
                       ".trigger", matched)
