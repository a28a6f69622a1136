"""Root filesystems placed for a runtime to use: their modes (and owners, where the
sandbox can make them real) applied from the ledger, copied from another tree or
unpacked from an image's layer through the confined writer."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Optional

from bootstrap import archive, emit, ownership
from bootstrap.errors import die
from bootstrap.ledger import Ledger, ledger_path
from bootstrap.sandbox import Sandbox
from bootstrap.treewriter import TreeWriter, Unsafe


def remove_tree(path: Path, sandbox: Optional[Sandbox]) -> None:
    """Remove a tree rootstrap made; what the caller may not touch (owned by mapped
    ids after configuring) is removed from inside the namespace."""
    if not os.path.lexists(path):
        return
    try:
        shutil.rmtree(path)
    except OSError:
        if sandbox is None:
            raise
        sandbox.call(lambda: shutil.rmtree(path))


def settle(tree: Path, ledger: Ledger, sandbox: Optional[Sandbox],
           owners_real: Optional[bool] = None) -> bool:
    """Make the disk say what the ledger says, as far as the sandbox can; whether
    the owners are real (found out, when not told)."""
    if owners_real is None:
        owners_real = bool(sandbox and sandbox.can_chown
                           and sandbox.call(lambda: ownership.probe_chown(tree)))

    def finalize() -> None:
        ownership.materialize(tree, ledger, bool(owners_real), xattrs=not owners_real)
    if sandbox:
        sandbox.call(finalize)
    else:
        finalize()
    return bool(owners_real)


def _writer(dest: Path, ledger: Ledger) -> TreeWriter:
    """A writer for a new tree whose root is as ledger's root."""
    writer = TreeWriter(dest, Ledger())
    entry = ledger.get(".")
    writer.mkdir(".", entry.mode if entry else 0o755, entry.uid if entry else 0,
                 entry.gid if entry else 0)
    return writer


def copy(tree: Path, ledger: Ledger, dest: Path) -> Ledger:
    """tree, as its ledger has it, into the empty directory dest; dest's ledger."""
    writer = _writer(dest, ledger)
    read, write = os.pipe()
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write, "wb") as out:
                emit.tar_into(out, tree, ledger, None)   # type: ignore[arg-type]
        except BrokenPipeError:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the reading side
            failed.append(e)
    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    with open(read, "rb") as stream, archive.tar_reader(stream) as tar:
        archive.tar_to_tree(tar, writer)
    thread.join()
    if failed:
        raise failed[0]
    return writer.ledger


def _verified(f: BinaryIO, path: Path, digest: str) -> None:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    if h.hexdigest() != digest:
        die(f"{path} does not match its digest sha256:{digest}")
    f.seek(0)


def from_layer(layer: Path, digest: str, cache: Path, sandbox: Sandbox) -> Path:
    """The root filesystem of an image's one layer, unpacked once per layer and
    mode into the cache (the blob checked against its digest through the same
    descriptor it is then read from), modes and owners applied."""
    home = cache / "trees"
    final = home / f"sha256-{digest}.{sandbox.mode}"
    if (final / "rootfs").is_dir():
        return final / "rootfs"
    home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=home))
    try:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        writer = _writer(rootfs, Ledger())
        try:
            with open(layer, "rb") as f:
                _verified(f, layer, digest)
                with archive.open_tar(f) as tar:
                    archive.tar_to_tree(tar, writer)
        except (Unsafe, ValueError, *archive.DAMAGED) as e:  # ValueError: a bomb, a lying size
            die(f"cannot unpack {layer}: {e}")
        settle(rootfs, writer.ledger, sandbox)
        writer.ledger.save(ledger_path(rootfs))
        try:
            os.rename(work, final)
        except OSError:
            if not (final / "rootfs").is_dir():
                raise
            remove_tree(work, sandbox)              # another run unpacked it meanwhile
    except BaseException:
        remove_tree(work, sandbox)
        raise
    return final / "rootfs"
