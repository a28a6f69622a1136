"""`rootstrap export TREE OUT`: a tree built earlier, written as a tarball with the
exact ownership its ledger kept, whatever the filesystem could hold."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from bootstrap import emit, reproducible
from bootstrap.errors import Die, die
from bootstrap.ledger import Ledger, ledger_path
from bootstrap.sandbox import Sandbox, choose


def export(tree: Path, out: Path, fmt: str = "auto", mode: str = "auto",
           proot: Optional[str] = None) -> str:
    tree = tree.absolute()
    out = out.absolute()
    if not tree.is_dir():
        die(f"{tree} is not a directory")
    path = ledger_path(tree)
    try:
        ledger = Ledger.load(path)
    except FileNotFoundError:
        die(f"{tree} has no ledger at {path}: was it built by rootstrap?")
    except (OSError, ValueError, KeyError) as e:
        die(f"cannot read the ledger {path}: {e}")
    fmt = emit.format_for(out, fmt)
    if fmt == "dir":
        die(f"{out}: export writes a tarball (.tar, .tar.gz, .tar.xz, .tar.zst)")
    if os.path.lexists(out):
        die(f"{out} already exists")
    epoch = reproducible.source_date_epoch()

    def write() -> None:
        emit.write_tar(tree, ledger, out, fmt, epoch)

    sandbox: Optional[Sandbox]
    try:
        # a tree whose owners are real may hold what only its mapped ids can read
        sandbox = choose(mode, proot)
    except Die:
        sandbox = None
    if sandbox is None or sandbox.mode == "ptrace":
        write()
    else:
        try:
            sandbox.call(write)
        except RuntimeError as e:
            die(f"cannot export {tree}: {e}")
    return fmt
