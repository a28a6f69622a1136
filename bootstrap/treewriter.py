"""The confined tree writer: the only code that creates entries in a target.

Every path is resolved component by component inside the root, symlinks
included (an absolute link target means the tree's root, '..' stops at the
root), so no entry can land outside the target: not by '..', not by an
absolute path, not through a symlink or hardlink an earlier entry planted.
Files are written as the caller with enough permission for the build to go
on; the intended owner and mode go to the ledger.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Optional

from bootstrap import intree
from bootstrap.ledger import BLOCK, CHAR, DIR, FIFO, FILE, SYMLINK, Entry, Ledger


class Unsafe(Exception):
    """An entry that would escape the tree or break its structure."""


def shown(name: str) -> str:
    """A name as a one-line message shows it: bytes that are not UTF-8 (which
    archive readers keep as surrogate escapes, as os.fsdecode does) written
    \\xNN, and what does not print (a newline, an escape sequence) escaped."""
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:        # a surrogate no byte stands for
        text = name.encode("utf-8", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def clean_member(name: str) -> str:
    """An archive member name as a relative path; '..' anywhere is refused.

    Names are str, their bytes that are not UTF-8 kept as surrogate escapes
    (the way os.fsdecode keeps them), so they reach the disk byte for byte."""
    if "\0" in name:
        raise Unsafe(f"a name with a NUL byte: '{shown(name)}'")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise Unsafe(f"path with '..': {shown(name)}")
    return "/".join(parts)


# What making a directory that already exists does to its mode and owner: the
# last package's wins, or the first one stays. Each package manager has its rule.
TAKE_LAST, KEEP_FIRST = "take-last", "keep-first"


class TreeWriter:
    def __init__(self, root: Path, ledger: Ledger, existing_dirs: str = TAKE_LAST) -> None:
        self.root = root
        self.ledger = ledger
        self._dirs: dict[str, str] = {}   # resolved real directories, by the path asked for
        self.existing_dirs = existing_dirs

    def full(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel not in ("", ".") else str(self.root)

    def resolve(self, rel: str, follow_last: bool = False) -> str:
        """rel with every symlink in its parents (and its last component, with
        follow_last) resolved inside the root."""
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if not parts:
            return "."
        last = parts.pop()
        parent = self._resolve_dir("/".join(parts))
        if last == "..":
            return parent.rpartition("/")[0] if "/" in parent else "."
        path = f"{parent}/{last}" if parent != "." else last
        if follow_last and os.path.islink(self.full(path)):
            try:
                return intree.resolve(str(self.root), path)
            except intree.Loop:
                raise Unsafe(f"too many levels of symbolic links: {shown(rel)}") from None
            except intree.NotADir as e:
                raise Unsafe(f"not a directory: {shown(str(e))}") from None
        return path

    def _resolve_dir(self, rel: str) -> str:
        if rel in ("", "."):
            return "."
        hit = self._dirs.get(rel)
        if hit is not None:
            return hit
        try:
            result = intree.resolve(str(self.root), rel)
        except intree.Loop:
            raise Unsafe(f"too many levels of symbolic links: {shown(rel)}") from None
        except intree.NotADir as e:
            raise Unsafe(f"not a directory: {shown(str(e))}") from None
        full = self.full(result)
        if os.path.lexists(full) and not os.path.isdir(full):
            raise Unsafe(f"not a directory: {shown(result)}")
        if os.path.isdir(full) and not os.path.islink(full):
            self._dirs[rel] = result
        return result

    def forget(self) -> None:
        """Drop what is known of the tree's directories: after anything but this
        writer changed the tree (a scriptlet may turn a directory into a link)."""
        self._dirs.clear()

    def exists(self, rel: str) -> bool:
        """Is there an entry at rel, every link on the way followed inside the tree?"""
        try:
            path = intree.resolve(str(self.root), rel, strict=False)
        except intree.Loop:
            return False
        return os.path.lexists(self.full(path))

    # -- creation -------------------------------------------------------
    def _ensure_parent(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent and not os.path.isdir(self.full(parent)):
            self.mkdir(parent, 0o755, 0, 0)

    def _clear(self, path: str) -> None:
        """Remove a non-directory at path so a new entry can take its place."""
        full = self.full(path)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise Unsafe(f"a directory is in the way: {shown(path)}")
        os.unlink(full)

    def mkdir(self, rel: str, mode: int, uid: int, gid: int) -> str:
        path = self.resolve(rel)
        if path == ".":
            os.chmod(self.root, (mode & 0o7777) | 0o700)
            self.ledger.set(".", Entry(DIR, mode & 0o7777, uid, gid))
            return path
        full = self.full(path)
        if os.path.islink(full):
            # a symlink to a directory of the tree stands for it (merged /usr): keep it
            target = self.resolve(rel, follow_last=True)
            if os.path.isdir(self.full(target)) and not os.path.islink(self.full(target)):
                return target
        self._ensure_parent(path)
        if self.existing_dirs == KEEP_FIRST and os.path.isdir(full) and not os.path.islink(full) \
                and path in self.ledger:
            return path
        if not os.path.isdir(full) or os.path.islink(full):
            self._clear(path)
            os.mkdir(full, 0o700)
        os.chmod(full, (mode & 0o7777) | 0o700)
        self.ledger.set(path, Entry(DIR, mode & 0o7777, uid, gid))
        return path

    def ensure_dir(self, rel: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> str:
        """A directory rootstrap itself needs: made if missing, left as the
        packages made it if there (their modes and owners stand)."""
        path = self.resolve(rel, follow_last=True)
        full = self.full(path)
        if os.path.isdir(full) and not os.path.islink(full):
            return path
        return self.mkdir(rel, mode, uid, gid)

    def write_file(self, rel: str, data: BinaryIO, mode: int, uid: int, gid: int,
                   mtime: Optional[float] = None) -> str:
        path = self.resolve(rel)
        self._ensure_parent(path)
        self._clear(path)
        full = self.full(path)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
            # every byte must be written before the mode: the kernel drops setuid and
            # setgid bits when an unprivileged caller writes to the file
            out.flush()
            os.fchmod(out.fileno(), (mode & 0o7777) | 0o600)
        if mtime is not None:
            os.utime(full, (mtime, mtime), follow_symlinks=False)
        self.ledger.set(path, Entry(FILE, mode & 0o7777, uid, gid))
        return path

    def write_bytes(self, rel: str, content: bytes, mode: int = 0o644, uid: int = 0,
                    gid: int = 0) -> str:
        import io
        return self.write_file(rel, io.BytesIO(content), mode, uid, gid)

    def symlink(self, rel: str, target: str, uid: int = 0, gid: int = 0,
                mtime: Optional[float] = None) -> str:
        if "\0" in target or not target:
            raise Unsafe(f"a link with no target or a NUL byte in it: {shown(rel)}")
        path = self.resolve(rel)
        self._ensure_parent(path)
        self._clear(path)
        full = self.full(path)
        os.symlink(target, full)
        if mtime is not None:
            os.utime(full, (mtime, mtime), follow_symlinks=False)
        self.ledger.set(path, Entry(SYMLINK, 0o777, uid, gid))
        return path

    def hardlink(self, rel: str, existing: str) -> str:
        source = self.resolve(existing)
        try:
            st = os.lstat(self.full(source))
        except FileNotFoundError:
            raise Unsafe(f"hardlink to a file the tree does not hold: {shown(existing)}") from None
        if not stat.S_ISREG(st.st_mode):
            raise Unsafe(f"hardlink to something that is not a regular file: {shown(existing)}")
        path = self.resolve(rel)
        self._ensure_parent(path)
        self._clear(path)
        os.link(self.full(source), self.full(path), follow_symlinks=False)
        entry = self.ledger.get(source)
        if entry:
            self.ledger.set(path, entry)
        return path

    def node(self, rel: str, kind: str, mode: int, uid: int, gid: int,
             rdev: Optional[tuple[int, int]] = None) -> str:
        """A device node or fifo: created where allowed, always recorded."""
        path = self.resolve(rel)
        self._ensure_parent(path)
        self._clear(path)
        if kind == FIFO:
            os.mkfifo(self.full(path), 0o600)
        elif kind in (CHAR, BLOCK) and os.geteuid() == 0:
            flag = stat.S_IFCHR if kind == CHAR else stat.S_IFBLK
            assert rdev
            try:
                os.mknod(self.full(path), flag | 0o600, os.makedev(*rdev))
                # a node is read by the kernel, not by rootstrap: its mode is the real one
                os.chmod(self.full(path), mode & 0o7777)
            except PermissionError:
                pass        # root of a user namespace: recorded only, as without root
        self.ledger.set(path, Entry(kind, mode & 0o7777, uid, gid, rdev=rdev))
        return path

    def remove(self, rel: str) -> None:
        path = self.resolve(rel)
        full = self.full(path)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
            self._dirs.clear()
        elif os.path.lexists(full):
            os.unlink(full)
        self.ledger.drop(path)

