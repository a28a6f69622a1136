"""`rootstrap export TREE OUT`: a tree built earlier, written in any output format
but a directory (a tarball, an OCI image layout or archive, an OCI runtime
bundle, a squashfs) with the exact ownership its ledger kept, whatever the
filesystem could hold; the build's manifest and SBOM carried beside it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from bootstrap import bundle, emit, outputs, reproducible, rootfs, sbom
from bootstrap.errors import Die, die
from bootstrap.ledger import Ledger, ledger_path
from bootstrap.sandbox import Sandbox, choose


def _ledger(tree: Path) -> Ledger:
    path = ledger_path(tree)
    try:
        return Ledger.load(path)
    except FileNotFoundError:
        die(f"{tree} has no ledger at {path}: was it built by rootstrap?")
    except (OSError, ValueError, KeyError, TypeError) as e:
        die(f"cannot read the ledger {path}: {e}")


def _inside(sandbox: Optional[Sandbox], tree: Path, fn: Callable[[], Any]) -> Any:
    """fn where the tree can be read whole: a tree whose owners are real may hold
    what only its mapped ids can read."""
    if sandbox is None or sandbox.mode == "ptrace":
        return fn()
    try:
        return sandbox.call(fn)
    except RuntimeError as e:
        die(f"cannot export {tree}: {e}")


def export(tree: Path, out: Path, fmt: str = "auto", mode: str = "auto",
           proot: Optional[str] = None, *, tag: Optional[str] = None,
           compression: Optional[str] = None, terminal: bool = False) -> str:
    tree = tree.absolute()
    out = out.absolute()
    if not tree.is_dir():
        die(f"{tree} is not a directory")
    fmt = emit.format_for(out, fmt)
    if fmt == "dir":
        die(f"{out}: export writes a tarball (.tar, .tar.gz, .tar.xz, .tar.zst) or another "
            "--format (oci, oci-archive, bundle, squashfs); a directory is the tree itself")
    outputs.check(fmt, tag, compression, terminal)
    ledger = _ledger(tree)
    if os.path.lexists(out):
        die(f"{out} already exists")
    if not out.parent.is_dir():
        die(f"{out.parent} is not a directory")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        die(f"cannot write to {out.parent}")
    epoch = reproducible.source_date_epoch()
    image = outputs.tree_image(tree, tag, epoch) if fmt in outputs.OCI else None

    sandbox: Optional[Sandbox]
    try:
        sandbox = choose(mode, proot)
    except Die:
        if fmt == "bundle":
            raise
        sandbox = None
    if fmt == "bundle":
        assert sandbox is not None
        _bundle(tree, ledger, out, sandbox, terminal)
    else:
        _inside(sandbox, tree,
                lambda: outputs.write(fmt, tree, ledger, out, epoch, image, compression))
    try:
        sbom.copy_beside(tree, out, fmt)
    except BaseException:
        if out.is_dir():
            rootfs.remove_tree(out, sandbox)
        else:
            out.unlink(missing_ok=True)
        raise
    return fmt


def _bundle(tree: Path, ledger: Ledger, out: Path, sandbox: Sandbox, terminal: bool) -> None:
    """A copy of the tree through the confined writer, settled as a build settles
    a bundle's root filesystem, then named out."""
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.rootstrap-", dir=out.parent))
    try:
        target = work / "rootfs"
        target.mkdir()
        copied: Ledger = _inside(sandbox, tree, lambda: rootfs.copy(tree, ledger, target))
        rootfs.settle(target, copied, sandbox)
        bundle.place(work, copied, out, terminal, lambda old: rootfs.remove_tree(old, sandbox))
    except BaseException:
        rootfs.remove_tree(work, sandbox)
        raise
