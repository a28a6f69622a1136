"""`rootstrap run TREE [-- CMD...]`: enter a tree with the best backend, the
host's current name servers, and an environment of its own."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

from bootstrap.errors import die
from bootstrap.sandbox import choose
from bootstrap.sandbox.base import SAFE_PATH, CommandFailed
from bootstrap.seed import host_resolv_conf_path


def login_shell(tree: Path) -> str:
    try:
        for line in (tree / "etc/passwd").read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) >= 7 and fields[2] == "0" and fields[6]:
                return fields[6]
    except OSError:
        pass
    return "/bin/sh"


def run(tree: Path, argv: Sequence[str], mode: str = "auto",
        proot: Optional[str] = None) -> int:
    tree = tree.absolute()
    if not tree.is_dir():
        die(f"{tree} is not a directory")
    sandbox = choose(mode, proot)
    command = list(argv) or [login_shell(tree)]
    env = {"PATH": SAFE_PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root",
           "TERM": os.environ.get("TERM", "dumb"), "LANG": "C.UTF-8"}
    try:
        # in a single-id namespace chown to other ids cannot happen; let tools go on
        sandbox.run(tree, [command], env, interactive=True,
                    fake_chown=not sandbox.can_chown, resolv=host_resolv_conf_path())
    except CommandFailed as e:
        return e.code
    except RuntimeError as e:
        die(f"cannot enter {tree}: {e}")
    return 0
