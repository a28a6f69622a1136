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
from typing import Iterator, Optional

from bootstrap.ledger import BLOCK, CHAR, DIR, FIFO, FILE, SYMLINK, Entry, Ledger
from bootstrap.treewriter import DirFds, Unsafe, open_entry

Stat = tuple[str, int, int, int, Optional[tuple[int, int]]]   # kind, mode, uid, gid, rdev


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


ROOTLESS_XATTR = "user.rootlesscontainers"


def rootless_value(uid: int, gid: int) -> bytes:
    """The rootless-containers Resource message (protobuf: uid = 1, gid = 2, both
    uint32 varints; zero fields are omitted) that umoci and PRoot forks read."""
    out = bytearray()
    for tag, value in ((0x08, uid), (0x10, gid)):
        if value:
            out.append(tag)
            while True:
                byte = value & 0x7F
                value >>= 7
                out.append(byte | (0x80 if value else 0))
                if not value:
                    break
    return bytes(out)


def materialize(root: Path, ledger: Ledger, chown: bool, xattrs: bool = False) -> None:
    """Apply the ledger's modes (and owners, when chown is possible) to the disk.
    Deepest entries first, so a directory losing its write bit comes last. With
    xattrs, owners that cannot be real are written as user.rootlesscontainers
    where the filesystem takes user xattrs. Every entry is reached through its
    directory's descriptor: whatever became a link since the ledger said
    otherwise is left alone, never the file it leads to."""
    fds = DirFds(root)
    try:
        for rel, entry in sorted(ledger.entries.items(), key=lambda kv: -kv[0].count("/")):
            try:
                d, name = fds.at(rel) if rel != "." else (fds.get("."), ".")
                st = os.lstat(name, dir_fd=d)
            except (FileNotFoundError, NotADirectoryError, Unsafe):
                continue
            if stat.S_ISLNK(st.st_mode) != (entry.kind == SYMLINK):
                continue
            fd = open_entry(d, name, st) if rel != "." else \
                os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                xattrs = _apply(d, name, fd, entry, chown, xattrs)
            finally:
                if fd is not None:
                    os.close(fd)
    finally:
        fds.close()


def _apply(d: int, name: str, fd: Optional[int], entry: Entry, chown: bool,
           xattrs: bool) -> bool:
    """Give one entry its owner, mode and attributes; whether the filesystem
    still takes user xattrs."""
    if chown:
        if fd is not None:
            os.fchown(fd, entry.uid, entry.gid)
        else:
            os.chown(name, entry.uid, entry.gid, dir_fd=d, follow_symlinks=False)
    elif xattrs and fd is not None and (entry.uid or entry.gid):
        try:
            os.setxattr(fd, ROOTLESS_XATTR, rootless_value(entry.uid, entry.gid))
        except OSError:
            xattrs = False   # this filesystem takes no user xattrs: the ledger must do
    if entry.kind != SYMLINK:
        if fd is not None:
            os.fchmod(fd, entry.mode)
        else:
            os.chmod(name, entry.mode, dir_fd=d)     # a node lstat has just seen
    if chown and entry.xattrs and fd is not None:
        # after chown, which clears file capabilities; where the kernel
        # refuses (no CAP_SETFCAP here) the ledger keeps them for the tarball
        for key, value in entry.xattrs.items():
            try:
                os.setxattr(fd, key, value)
            except OSError:
                pass
    return xattrs


def relaxed(kind: str, mode: int) -> int:
    """The mode an entry has on disk while rootstrap works on the tree."""
    return mode | 0o700 if kind == DIR else mode | 0o600 if kind == FILE else mode


def harvest(root: Path, chown: bool) -> dict[str, Stat]:
    """What the disk says now; every entry is given back to the caller, readable,
    directories before they are read, so no mode can hide what lies below. Each
    is reached through its directory's descriptor, never through a link."""
    seen: dict[str, Stat] = {}
    pending = ["."]
    fds = DirFds(root)
    try:
        while pending:
            rel = pending.pop()
            d, name = fds.at(rel) if rel != "." else (fds.get("."), ".")
            st = os.lstat(name, dir_fd=d)
            kind, mode = _kind(st.st_mode), stat.S_IMODE(st.st_mode)
            rdev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in (CHAR, BLOCK) \
                else None
            seen[rel] = (kind, mode, st.st_uid, st.st_gid, rdev)
            if chown and (st.st_uid or st.st_gid):
                os.chown(name, 0, 0, dir_fd=d, follow_symlinks=False)
            if kind not in (DIR, FILE):
                continue
            fd = open_entry(d, name, st) if rel != "." else \
                os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            if fd is None:
                # unreadable to its owner: made readable through its directory (what
                # lstat has just seen there; glibc before 2.32 has no nofollow chmod)
                os.chmod(name, relaxed(kind, mode), dir_fd=d)
                fd = open_entry(d, name, st)
                if fd is None:
                    continue
            try:
                if relaxed(kind, mode) != mode:
                    os.fchmod(fd, relaxed(kind, mode))
                if kind == DIR:
                    pending += [e if rel == "." else f"{rel}/{e}" for e in os.listdir(fd)]
            finally:
                os.close(fd)
    finally:
        fds.close()
    return seen


def probe_chown(root: Path) -> bool:
    """Does the filesystem under root let this process give a file to another id?
    (NFS with root_squash, FUSE mounts and others refuse.)"""
    probe = root / ".rootstrap-chown-probe"
    probe.touch()
    try:
        os.lchown(probe, 1, 1)
        st = os.lstat(probe)
        return (st.st_uid, st.st_gid) == (1, 1)   # some filesystems ignore it silently
    except OSError:
        return False
    finally:
        probe.unlink()


def merge(ledger: Ledger, seen: dict[str, Stat], owners_real: bool) -> None:
    """Fold a harvest into the ledger: modes from the disk (a relaxed mode the ledger
    explains is the ledger's); owners from the disk when they could be made real,
    else from the ledger (new entries belong to root)."""
    for rel in [k for k, e in ledger.entries.items()
                if k not in seen and e.kind not in (CHAR, BLOCK)]:
        del ledger.entries[rel]
    for rel, (kind, mode, uid, gid, rdev) in seen.items():
        old = ledger.entries.get(rel)
        same = old is not None and old.kind == kind
        if owners_real:
            owner = (uid, gid)
        elif same:
            assert old is not None
            owner = (old.uid, old.gid)
        else:
            owner = (0, 0)
        if kind == SYMLINK:
            mode = 0o777
        elif same and old is not None and mode == relaxed(kind, old.mode):
            mode = old.mode
        ledger.entries[rel] = Entry(kind, mode, owner[0], owner[1],
                                    rdev or (old.rdev if same and old else None),
                                    old.xattrs if same and old else {})
