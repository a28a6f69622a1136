"""Moving ownership between the ledger and the disk.

While rootstrap works on a tree outside any namespace, every entry belongs to
the caller and is readable and writable by it; the ledger holds the intended
owner and mode. Before scriptlets run, materialize() makes the disk say what
the ledger says (as far as the backend can); afterwards harvest() reads what
the scriptlets did back into the ledger and relaxes the disk again. Both run
inside the sandbox."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator

from bootstrap.ledger import BLOCK, CHAR, DIR, FIFO, FILE, SYMLINK, Entry, Ledger

Stat = tuple[str, int, int, int]   # kind, mode, uid, gid


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return DIR
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISCHR(mode):
        return CHAR
    if stat.S_ISBLK(mode):
        return BLOCK
    if stat.S_ISFIFO(mode):
        return FIFO
    return FILE


def walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) for every entry below root, root itself as '.'."""
    yield ".", os.lstat(root)
    stack = [("", str(root))]
    while stack:
        rel, full = stack.pop()
        with os.scandir(full) as it:
            for e in it:
                r = f"{rel}/{e.name}" if rel else e.name
                st = e.stat(follow_symlinks=False)
                yield r, st
                if stat.S_ISDIR(st.st_mode):
                    stack.append((r, e.path))


def materialize(root: Path, ledger: Ledger, chown: bool) -> None:
    """Apply the ledger's modes (and owners, when chown is possible) to the disk.
    Deepest entries first, so a directory losing its write bit comes last."""
    for rel, entry in sorted(ledger.entries.items(), key=lambda kv: -kv[0].count("/")):
        full = str(root) if rel == "." else os.path.join(root, rel)
        if not os.path.lexists(full):
            continue
        if chown:
            os.lchown(full, entry.uid, entry.gid)
        if entry.kind != SYMLINK:
            os.chmod(full, entry.mode)


def harvest(root: Path, chown: bool) -> dict[str, Stat]:
    """What the disk says now; then give every entry back to the caller, readable."""
    seen: dict[str, Stat] = {}
    for rel, st in walk(root):
        seen[rel] = (_kind(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    for rel, (kind, mode, uid, gid) in seen.items():
        full = str(root) if rel == "." else os.path.join(root, rel)
        if chown and (uid or gid):
            os.lchown(full, 0, 0)
        if kind == DIR:
            os.chmod(full, mode | 0o700)
        elif kind == FILE:
            os.chmod(full, mode | 0o600)
    return seen


def merge(ledger: Ledger, seen: dict[str, Stat], owners_real: bool) -> None:
    """Fold a harvest into the ledger: modes from the disk; owners from the disk when
    the backend could set them, else from the ledger (new entries belong to root)."""
    for rel in [k for k, e in ledger.entries.items()
                if k not in seen and e.kind not in (CHAR, BLOCK)]:
        del ledger.entries[rel]
    for rel, (kind, mode, uid, gid) in seen.items():
        old = ledger.entries.get(rel)
        if owners_real:
            owner = (uid, gid)
        elif old is not None and old.kind == kind:
            owner = (old.uid, old.gid)
        else:
            owner = (0, 0)
        if kind == SYMLINK:
            mode = 0o777
        xattrs = old.xattrs if old is not None and old.kind == kind else {}
        rdev = old.rdev if old is not None and old.kind == kind else None
        ledger.entries[rel] = Entry(kind, mode, owner[0], owner[1], rdev, xattrs)
