"""`rootstrap run TREE [-- CMD...]`: enter a tree with the best backend, the
host's current name servers, the tree's host name, an environment of its own,
and what the tree's own tools need where the namespace maps no id but the
caller's (each family says what, see Family.run_setup)."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Optional, Sequence

from bootstrap import intree
from bootstrap.baseconfig import host_resolv_conf_path
from bootstrap.errors import die
from bootstrap.families import RunSetup, family_class, known
from bootstrap.sandbox import choose
from bootstrap.sandbox.base import SAFE_PATH, SCRATCH, CommandFailed

HOSTNAME_MAX = 64


def _read(tree: Path, rel: str) -> Optional[str]:
    try:
        path = intree.resolve(str(tree), rel, strict=False)
        return (tree / path).read_text(errors="replace")
    except (OSError, intree.Loop):
        return None


def login_shell(tree: Path) -> str:
    for line in (_read(tree, "etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2] == "0" and fields[6]:
            return fields[6]
    return "/bin/sh"


def hostname(tree: Path) -> Optional[str]:
    """The tree's /etc/hostname, where it names a host the kernel takes."""
    lines = [ln.strip() for ln in (_read(tree, "etc/hostname") or "").splitlines()
             if ln.strip() and not ln.startswith("#")]
    name = lines[0] if lines else ""
    if not name or len(name.encode()) > HOSTNAME_MAX or "/" in name:
        return None
    return name


def _runnable(tree: Path, path: str) -> bool:
    try:
        st = os.stat(tree / intree.resolve(str(tree), path, strict=False))
    except (OSError, intree.Loop):
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def find_command(tree: Path, name: str, path: str, scratch: dict[str, bytes]) -> bool:
    """Would `name` be found, as execvp finds it, in the tree (or in scratch)?"""
    if "/" in name:
        if name.startswith(f"/{SCRATCH}/"):
            return name[len(SCRATCH) + 2:] in scratch
        return _runnable(tree, name)
    for folder in path.split(":"):
        if folder.startswith(f"/{SCRATCH}/"):
            if f"{folder[len(SCRATCH) + 2:]}/{name}" in scratch:
                return True
        elif folder and _runnable(tree, f"{folder}/{name}"):
            return True
    return False


def setup_for(tree: Path, holds_ids: bool) -> RunSetup:
    """Every family's RunSetup for the tree, merged (a tree is of one family; the
    others recognise nothing and add nothing)."""
    merged = RunSetup()
    for name in known():
        setup = family_class(name).run_setup(tree, holds_ids)
        merged.env.update(setup.env)
        merged.files.update(setup.files)
        merged.path += setup.path
    return merged


def run(tree: Path, argv: Sequence[str], mode: str = "auto",
        proot: Optional[str] = None) -> int:
    tree = tree.absolute()
    if not tree.is_dir():
        die(f"{tree} is not a directory")
    sandbox = choose(mode, proot)
    # apt's _apt and pacman's alpm need ids of their own: the single mapping has none
    setup = setup_for(tree, holds_ids=sandbox.mode != "userns-single")
    run_dir = tree / "run"
    if setup.files and (run_dir.is_symlink() or not run_dir.is_dir()):
        print(f"rootstrap: warning: {tree} has no /run to show what its package manager "
              "needs in this namespace; it may fail to download", file=sys.stderr)
        setup = RunSetup()
    command = list(argv) or [login_shell(tree)]
    path = ":".join([f"/{SCRATCH}/{p}" for p in setup.path] + [SAFE_PATH])
    if not find_command(tree, command[0], path, setup.files):
        die(f"{command[0]}: command not found in {tree}", 127)
    env = {"PATH": path, "HOME": "/root", "USER": "root", "LOGNAME": "root",
           "TERM": os.environ.get("TERM", "dumb"), "LANG": "C.UTF-8", **setup.env}
    try:
        # in a single-id namespace chown to other ids cannot happen; let tools go on
        sandbox.run(tree, [command], env, interactive=True,
                    fake_chown=not sandbox.can_chown, resolv=host_resolv_conf_path(),
                    hostname=hostname(tree), scratch=setup.files or None)
    except CommandFailed as e:
        if e.reason:
            die(f"{command[0]}: {e.reason} (in {tree})", e.code)
        return e.code
    except RuntimeError as e:
        die(f"cannot enter {tree}: {e}")
    return 0
