"""The download cache: content-addressed objects and revalidated index files.

Objects live under the digest a signed index promised for them (algorithm and
value), so trees and users share them and a reused object is checked again
before it is trusted. Every write goes to a temporary file in the same folder
and is renamed into place, so a concurrent build never sees half an object.

The cache may be shared by processes, users (a group: directories setgid and
group-writable, files group-writable; a corrupt object is found on its next read,
so writable objects cost nothing in trust) and hosts over NFS (locks are
flock(2), which Linux's NFS client maps to the server's locks):
- one object is downloaded once: its download holds locks/VALUE exclusively and
  the others wait, then find it;
- an interrupted download keeps its bytes in a .partial file beside the object,
  resumed by the next attempt (the whole file is checked in the end);
- every object a build reads is touched (mtime: last use) and listed in the
  build's file under builds/, locked for the build's life, so `cache gc` can
  remove what no recent build used and never what a running build holds.
"""
from __future__ import annotations

import errno
import fcntl
import grp
import hashlib
import json
import os
import resource
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Iterator, Optional, Sequence

from bootstrap.atomic import AtomicFile, write_atomic
from bootstrap.digest import LENGTHS, Covers, Digest
from bootstrap.errors import die

CHUNK = 1 << 20
# objects whose digest covers a part of the file (apk's control part) sit apart:
# only a reader of that format can check them
PART = ".part"
# what gc leaves of files a build left half-written
STALE_TEMPORARY = 24 * 3600


@dataclass(frozen=True)
class Stored:
    """One object in the cache, as `cache ls` and `cache gc` see it."""
    path: Path
    algorithm: str
    value: str
    size: int
    used: float          # the last time a build read or stored it
    part: bool           # its digest covers a part of the file


def _group_id(group: str) -> int:
    try:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        die(f"--cache-group: no group '{group}' on this host")
    if os.getuid() != 0 and gid != os.getgid() and gid not in os.getgroups():
        die(f"--cache-group: you are not in group '{group}' (see `id`)")
    return gid


class Mismatch(ValueError):
    """Stored bytes that do not hash to the digest promised; carries what they hash to."""

    def __init__(self, got: str) -> None:
        super().__init__(got)
        self.got = got


class Cache:
    def __init__(self, root: Path, group: Optional[str] = None) -> None:
        self.root = root
        self.gid = _group_id(group) if group else None
        self.file_mode = 0o664 if self.gid is not None else 0o644
        self._pinned: list[BinaryIO] = []
        self._held: Optional[IO[str]] = None      # this build's entry under builds/
        try:
            if self.gid is not None:
                root.mkdir(parents=True, exist_ok=True)
                self._share(root)
            for sub in ("objects", "index", "locks", "builds"):
                self._dir(root / sub)
        except OSError as e:
            die(f"cannot use cache {root}: {e.strerror}")

    def _share(self, path: Path) -> None:
        """A directory of a group's cache: the group's, setgid, group-writable (a
        directory another member made is left as it is)."""
        st = path.stat()
        if st.st_uid != os.getuid():
            return
        if st.st_gid != self.gid:
            os.chown(path, -1, self.gid)
        if st.st_mode & 0o7777 != 0o2775:
            os.chmod(path, 0o2775)

    def _dir(self, path: Path) -> Path:
        """path and its missing parents, made as the cache's directories are."""
        missing = []
        p = path
        while not p.is_dir() and p != self.root.parent:
            missing.append(p)
            p = p.parent
        path.mkdir(parents=True, exist_ok=True)
        if self.gid is not None:
            for made in missing:
                self._share(made)
        return path

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hold(self, count: int) -> None:
        """Make room for count more pinned objects (one descriptor each, see lookup),
        raising the open-file limit only as far as that needs: programs run in the
        tree inherit it, and some misbehave with a very high one."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = len(self._pinned) + count + 256
        if soft != resource.RLIM_INFINITY and soft < needed:
            limit = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    def close(self) -> None:
        for f in self._pinned:
            f.close()
        self._pinned.clear()
        if self._held is not None:
            try:
                os.unlink(self._held.name)
            except OSError:
                pass
            self._held.close()            # and with it the lock
            self._held = None

    def object_path(self, digest: Digest, part: bool = False) -> Path:
        return self.root / "objects" / (digest.algorithm + (PART if part else "")) / \
            digest.value[:2] / digest.value

    def _use(self, path: Path) -> None:
        """Record that this build holds path: its entry under builds/ (made and
        locked on first use) lists it, and its mtime says when it was last used."""
        try:
            if self._held is None:
                name = f"{socket.gethostname()}-{os.getpid()}-{time.monotonic_ns()}"
                held = open(self.root / "builds" / name, "a")
                fcntl.flock(held.fileno(), fcntl.LOCK_EX)
                os.fchmod(held.fileno(), self.file_mode)
                self._held = held
            self._held.write(str(path.relative_to(self.root)) + "\n")
            self._held.flush()
            os.utime(path)
        except OSError:
            pass     # a cache this user may read but not write: nothing to record

    @contextmanager
    def fetching(self, digest: Digest) -> Iterator[None]:
        """Held while digest's object is downloaded: another process or thread
        needing it waits here, then finds it stored."""
        path = self._dir(self.root / "locks" / digest.algorithm) / digest.value
        # read-only is enough to lock, and another member's lock file may be read-only
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, self.file_mode)
        try:
            if os.fstat(fd).st_uid == os.getuid():
                os.fchmod(fd, self.file_mode)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def partial(self, digest: Digest, part: bool = False) -> Path:
        """Where the bytes of an interrupted download of digest's object wait to be
        resumed (only while fetching(digest) is held)."""
        path = self.object_path(digest, part)
        self._dir(path.parent)
        partial = path.with_name(path.name + ".partial")
        if os.path.lexists(partial) and not os.access(partial, os.W_OK):
            partial.unlink(missing_ok=True)     # another member's, which we cannot extend
        return partial

    def open_partial(self, partial: Path, append: bool) -> BinaryIO:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | \
            (os.O_APPEND if append else os.O_TRUNC)
        fd = os.open(partial, flags, self.file_mode)
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, self.file_mode)
        return os.fdopen(fd, "ab" if append else "wb")

    def derived(self, digest: Digest, kind: str) -> Optional[bytes]:
        """What the build made before from the object digest names (a parsed
        index), if this user made it: a shared cache's other users could have
        put anything there, and it cannot be checked against the digest."""
        path = self._derived_path(digest, kind)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_uid != os.getuid() or st.st_mode & 0o022:
                    return None
                return f.read()
        except OSError:
            return None

    def store_derived(self, digest: Digest, kind: str, data: bytes) -> None:
        path = self._derived_path(digest, kind)
        try:
            self._dir(path.parent.parent.parent.parent)     # derived/, the group's
            path.parent.mkdir(parents=True, exist_ok=True)  # this user's own, below it
            write_atomic(path, data, 0o644)
        except OSError:
            pass                    # only a warm build's shortcut: do without

    def _derived_path(self, digest: Digest, kind: str, uid: Optional[int] = None) -> Path:
        """Each user's own: in a cache a group shares, one member's parse is never
        another's to trust, nor to replace."""
        return self.root / "derived" / str(os.getuid() if uid is None else uid) / kind / \
            digest.algorithm / digest.value

    def _pin(self, fd: int) -> Path:
        """Pinned: the path returned names a descriptor the object was hashed through
        (/proc/PID/fd/N, good for this process, its children and the gpg it runs), so
        what the build reads later is what was checked, even if the cache's file is
        replaced meanwhile. The descriptor stays open until close()."""
        f = os.fdopen(fd, "rb")
        self._pinned.append(f)
        return Path(f"/proc/{os.getpid()}/fd/{fd}")

    def lookup(self, digest: Digest, covers: Optional[Covers] = None) -> Optional[Path]:
        """The cached object, if present and still matching its digest (of the whole
        file, or of the part covers reads), pinned."""
        path = self.object_path(digest, covers is not None)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.EMFILE:
                die("too many packages to hold open at once: raise the limit (ulimit -n)")
            if e.errno != errno.ELOOP:
                die(f"cannot read {path}: {e.strerror}")
            path.unlink(missing_ok=True)   # a link has no business in the cache
            return None
        if _digest_of(fd, digest, covers) != digest.value:
            os.close(fd)
            path.unlink(missing_ok=True)  # a corrupted object is dropped, never served
            return None
        self._use(path)
        return self._pin(fd)

    def store(self, digest: Digest, chunks: Iterator[bytes],
              covers: Optional[Covers] = None) -> Path:
        """Write chunks; keep them only if they hash to digest (the whole file, or
        the part covers reads), else raise Mismatch. The object comes back pinned
        (see _pin), through a descriptor of the very file that was checked."""
        path = self.object_path(digest, covers is not None)
        self._dir(path.parent)
        with AtomicFile(path.parent) as out:
            for chunk in chunks:
                out.file.write(chunk)
            out.file.flush()
            return self._adopt(out, path, digest, covers)

    def adopt(self, digest: Digest, partial: Path, covers: Optional[Covers] = None) -> Path:
        """A download finished in partial (see partial()) made the object, if it
        hashes to digest; else partial is removed and Mismatch raised."""
        path = self.object_path(digest, covers is not None)
        out = AtomicFile.taking(partial)
        with out:
            return self._adopt(out, path, digest, covers)

    def _adopt(self, out: AtomicFile, path: Path, digest: Digest,
               covers: Optional[Covers]) -> Path:
        fd = os.open(out.tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        got = _digest_of(fd, digest, covers)
        if got != digest.value:
            os.close(fd)
            raise Mismatch(got)
        out.commit(path, self.file_mode)
        self._use(path)
        return self._pin(fd)

    # Detached signatures are kept beside the object they sign, once they verified;
    # they are checked against the trust roots again on every use.
    def _signature_path(self, digest: Digest) -> Path:
        return self.root / "signatures" / digest.algorithm / digest.value[:2] / \
            f"{digest.value}.sig"

    def signature(self, digest: Digest) -> Optional[bytes]:
        path = self._signature_path(digest)
        return path.read_bytes() if path.is_file() else None

    def store_signature(self, digest: Digest, data: bytes) -> None:
        path = self._signature_path(digest)
        self._dir(path.parent)
        write_atomic(path, data, self.file_mode)

    # Index files are named by URL and carry the validators of the last answer.
    def _index_base(self, url: str) -> Path:
        return self.root / "index" / hashlib.sha256(url.encode()).hexdigest()

    def index_validators(self, url: str) -> dict[str, str]:
        meta = self._index_base(url).with_suffix(".json")
        data = self._index_base(url).with_suffix(".data")
        if not (meta.is_file() and data.is_file()):
            return {}
        try:
            return json.loads(meta.read_text())
        except (OSError, ValueError):
            return {}

    def index_data(self, url: str) -> bytes:
        base = self._index_base(url)
        data = base.with_suffix(".data").read_bytes()
        for used in (base.with_suffix(".data"), base.with_suffix(".json")):
            try:
                os.utime(used)
            except OSError:
                pass
        return data

    def store_index(self, url: str, data: bytes, validators: dict[str, str]) -> None:
        base = self._index_base(url)
        write_atomic(base.with_suffix(".data"), data, self.file_mode)
        write_atomic(base.with_suffix(".json"), json.dumps(dict(validators, url=url)).encode(),
                     self.file_mode)

    # -- what `rootstrap cache` shows and tidies ----------------------------------

    def objects(self) -> Iterator[Stored]:
        """Every object stored, in path order (temporary and partial files are not
        objects)."""
        top = self.root / "objects"
        for kind in sorted(p for p in top.iterdir() if p.is_dir()) if top.is_dir() else []:
            algorithm = kind.name.removesuffix(PART)
            if algorithm not in LENGTHS:
                continue
            for path in sorted(kind.glob("??/*")):
                if len(path.name) != LENGTHS[algorithm] or not path.is_file():
                    continue
                st = path.lstat()
                yield Stored(path, algorithm, path.name, st.st_size, st.st_mtime,
                             kind.name.endswith(PART))

    def check(self, stored: Stored, readers: Sequence[Covers] = ()) -> bool:
        """Does stored still hash to its name? A part-digest object is checked by
        each reader until one agrees (without any it cannot be)."""
        digest = Digest(stored.algorithm, stored.value)
        try:
            fd = os.open(stored.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not stored.part:
                return _digest_of(fd, digest, None) == digest.value
            return any(_digest_of(fd, digest, read) == digest.value for read in readers)
        finally:
            os.close(fd)

    def held(self) -> set[Path]:
        """What running builds hold: the objects listed by every builds/ entry still
        locked. An entry whose build is gone (its lock free) is removed."""
        out: set[Path] = set()
        for entry in sorted((self.root / "builds").glob("*")):
            if self._held is not None and entry.name == Path(self._held.name).name:
                continue
            try:
                fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            with os.fdopen(fd) as f:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    out.update(self.root / line.strip() for line in f if line.strip())
                    continue
                entry.unlink(missing_ok=True)       # its build ended without tidying
        return out

    def collect(self, older: float, dry_run: bool = False) -> list[Stored]:
        """Remove the objects no build used for older seconds and no running build
        holds (with their signatures and what was derived from them), partial and
        temporary files left that long, and index files as old; what was removed."""
        cutoff = time.time() - older
        held = self.held()
        gone = [s for s in self.objects() if s.used < cutoff and s.path not in held]
        if dry_run:
            return gone
        for s in gone:
            s.path.unlink(missing_ok=True)
            digest = Digest(s.algorithm, s.value)
            self._signature_path(digest).unlink(missing_ok=True)
            for kind in (self.root / "derived").glob("*/*"):
                try:
                    if kind.parent.name.isdigit():
                        self._derived_path(digest, kind.name, int(kind.parent.name)).unlink(
                            missing_ok=True)
                except OSError:
                    pass                        # another member's: theirs to remove
        leftovers = [p for p in (self.root / "objects").glob("*/??/*")
                     if p.name.endswith(".partial") or p.name.startswith(".tmp-")]
        for path in leftovers + list((self.root / "index").glob("*")):
            try:
                limit = cutoff if not path.name.startswith(".tmp-") else \
                    min(cutoff, time.time() - STALE_TEMPORARY)
                if path.lstat().st_mtime < limit:
                    path.unlink()
            except OSError:
                pass
        return gone


def _digest_of(fd: int, digest: Digest, covers: Optional[Covers]) -> str:
    """The digest, in digest's algorithm, of the file behind fd (or of the part
    covers reads); the descriptor is left at the start."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        if covers is not None:
            with open(fd, "rb", closefd=False) as f:
                try:
                    return covers(f)
                except (OSError, ValueError, EOFError):
                    return ""          # not even readable as what it claims to be
        h = digest.hasher()
        for block in iter(lambda: os.read(fd, CHUNK), b""):
            h.update(block)
        return h.hexdigest()
    finally:
        os.lseek(fd, 0, os.SEEK_SET)
