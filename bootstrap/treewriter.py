"""The confined tree writer: the only code that creates entries in a target.

Every path is resolved component by component inside the root, symlinks
included (an absolute link target means the tree's root, '..' stops at the
root), so no entry can land outside the target: not by '..', not by an
absolute path, not through a symlink or hardlink an earlier entry planted.
Every change is then made relative to a descriptor of the entry's directory,
each reached from the root one component at a time without following links:
what a command left running in the tree swaps for a link meanwhile is refused,
never written through. Files are written as the caller with enough permission
for the build to go on; the intended owner and mode go to the ledger.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

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


# Over twice its declared installed size, what a package may still write: indexes
# round sizes (Debian's in KiB per file), and tiny packages' sizes say little
BUDGET_SLACK = 16 << 20

# What making a directory that already exists does to its mode and owner: the
# last package's wins, or the first one stays. Each package manager has its rule.
TAKE_LAST, KEEP_FIRST = "take-last", "keep-first"


_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class DirFds:
    """Descriptors of the tree's directories by their resolved path, each opened
    from its parent's without following a link; the most recently used kept."""
    LIMIT = 256

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fds: OrderedDict[str, int] = OrderedDict()

    def get(self, rel: str) -> int:
        fd = self.fds.get(rel)
        if fd is not None:
            self.fds.move_to_end(rel)
            return fd
        if rel == ".":
            fd = os.open(self.root, _DIR_PATH)
        else:
            parent, _, name = rel.rpartition("/")
            try:
                fd = os.open(name, _DIR_PATH, dir_fd=self.get(parent or "."))
            except OSError as e:
                if not isinstance(e, NotADirectoryError) and e.errno != errno.ELOOP:
                    raise
                raise Unsafe(f"{shown(rel)} is no longer a directory of the tree (a link or "
                             "another entry took its place)") from None
        self.fds[rel] = fd
        while len(self.fds) > self.LIMIT:
            os.close(self.fds.popitem(last=False)[1])
        return fd

    def at(self, rel: str) -> tuple[int, str]:
        """The descriptor of rel's directory and rel's last component."""
        parent, _, name = rel.rpartition("/")
        return self.get(parent or "."), name

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.popitem()[1])


def open_entry(d: int, name: str, st: os.stat_result) -> Optional[int]:
    """A descriptor of the directory, file or fifo name in d that lstat saw as
    st, to change its mode or attributes without following a link; None for
    what cannot be opened harmlessly (device nodes, sockets, links), or when
    another entry has taken its place."""
    if stat.S_ISDIR(st.st_mode):
        flags = os.O_RDONLY | os.O_DIRECTORY
    elif stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        flags = os.O_RDONLY | os.O_NONBLOCK      # a fifo opens without a writer
    else:
        return None
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
    except OSError:
        return None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        return None
    return fd


class TreeWriter:
    def __init__(self, root: Path, ledger: Ledger, existing_dirs: str = TAKE_LAST) -> None:
        self.root = root
        self.ledger = ledger
        self._dirs: dict[str, str] = {}   # resolved real directories, by the path asked for
        self._fds = DirFds(root)
        weakref.finalize(self, self._fds.close)
        self.existing_dirs = existing_dirs
        self._declared: Optional[int] = None      # what the package being unpacked installs
        self._written = 0

    @contextmanager
    def budget(self, declared: Optional[int]) -> Iterator[None]:
        """While one package unpacks: its files may hold at most twice what its
        signed index says it installs, and BUDGET_SLACK more. A bomb that stays
        under the decompression bound still cannot fill the disk, nor can many."""
        self._declared, self._written = declared, 0
        try:
            yield
        finally:
            self._declared = None

    def _spend(self, size: int) -> None:
        if self._declared is None:
            return
        self._written += size
        allowed = 2 * self._declared + BUDGET_SLACK
        if self._written > allowed:
            raise Unsafe(f"its files hold more than {allowed >> 20} MiB, where its signed "
                         f"index says it installs {self._declared} bytes")

    def _at(self, path: str) -> tuple[int, str]:
        """The descriptor of resolved path's directory, and its last component."""
        return self._fds.at(path)

    def _lstat(self, path: str) -> Optional[os.stat_result]:
        """What is at resolved path, links not followed; None where nothing is."""
        try:
            d, name = self._at(path)
            return os.lstat(name, dir_fd=d)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _is_dir(self, path: str) -> bool:
        st = self._lstat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

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
        self._fds.close()

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
        if parent and not self._is_dir(parent):
            self.mkdir(parent, 0o755, 0, 0)

    def _clear(self, path: str) -> None:
        """Remove a non-directory at path so a new entry can take its place."""
        st = self._lstat(path)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise Unsafe(f"a directory is in the way: {shown(path)}")
        d, name = self._at(path)
        os.unlink(name, dir_fd=d)

    def mkdir(self, rel: str, mode: int, uid: int, gid: int) -> str:
        path = self.resolve(rel)
        if path == ".":
            os.chmod(self.root, (mode & 0o7777) | 0o700)
            self.ledger.set(".", Entry(DIR, mode & 0o7777, uid, gid))
            return path
        st = self._lstat(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            # a symlink to a directory of the tree stands for it (merged /usr): keep it
            target = self.resolve(rel, follow_last=True)
            if self._is_dir(target):
                return target
        self._ensure_parent(path)
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        if self.existing_dirs == KEEP_FIRST and is_dir and path in self.ledger:
            return path
        d, name = self._at(path)
        if not is_dir:
            self._clear(path)
            os.mkdir(name, 0o700, dir_fd=d)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
        try:
            os.fchmod(fd, (mode & 0o7777) | 0o700)
        finally:
            os.close(fd)
        self.ledger.set(path, Entry(DIR, mode & 0o7777, uid, gid))
        return path

    def ensure_dir(self, rel: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> str:
        """A directory rootstrap itself needs: made if missing, left as the
        packages made it if there (their modes and owners stand)."""
        path = self.resolve(rel, follow_last=True)
        if path == "." or self._is_dir(path):
            return path
        return self.mkdir(rel, mode, uid, gid)

    def write_file(self, rel: str, data: BinaryIO, mode: int, uid: int, gid: int,
                   mtime: Optional[float] = None) -> str:
        path = self.resolve(rel)
        self._ensure_parent(path)
        self._clear(path)
        d, name = self._at(path)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=d)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
            self._spend(out.tell())
            # every byte must be written before the mode: the kernel drops setuid and
            # setgid bits when an unprivileged caller writes to the file
            out.flush()
            os.fchmod(out.fileno(), (mode & 0o7777) | 0o600)
            if mtime is not None:
                os.utime(out.fileno(), (mtime, mtime))
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
        d, name = self._at(path)
        os.symlink(target, name, dir_fd=d)
        if mtime is not None:
            os.utime(name, (mtime, mtime), dir_fd=d, follow_symlinks=False)
        self.ledger.set(path, Entry(SYMLINK, 0o777, uid, gid))
        return path

    def hardlink(self, rel: str, existing: str) -> str:
        source = self.resolve(existing)
        st = self._lstat(source)
        if st is None:
            raise Unsafe(f"hardlink to a file the tree does not hold: {shown(existing)}")
        if not stat.S_ISREG(st.st_mode):
            raise Unsafe(f"hardlink to something that is not a regular file: {shown(existing)}")
        path = self.resolve(rel)
        self._ensure_parent(path)
        self._clear(path)
        src_d, src_name = self._at(source)
        d, name = self._at(path)
        os.link(src_name, name, src_dir_fd=src_d, dst_dir_fd=d, follow_symlinks=False)
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
        d, name = self._at(path)
        if kind == FIFO:
            os.mkfifo(name, 0o600, dir_fd=d)
        elif kind in (CHAR, BLOCK) and os.geteuid() == 0:
            flag = stat.S_IFCHR if kind == CHAR else stat.S_IFBLK
            assert rdev
            try:
                os.mknod(name, flag | 0o600, os.makedev(*rdev), dir_fd=d)
                # a node is read by the kernel, not by rootstrap: its mode is the real one
                os.chmod(name, mode & 0o7777, dir_fd=d)
            except PermissionError:
                pass        # root of a user namespace: recorded only, as without root
        self.ledger.set(path, Entry(kind, mode & 0o7777, uid, gid, rdev=rdev))
        return path

    def remove(self, rel: str) -> None:
        path = self.resolve(rel)
        st = self._lstat(path) if path != "." else None
        if st is not None:
            d, name = self._at(path)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=d)
                self.forget()
            else:
                os.unlink(name, dir_fd=d)
        self.ledger.drop(path)

