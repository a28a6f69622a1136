"""The download cache: content-addressed objects and revalidated index files.

Objects live under the digest a signed index promised for them (algorithm and
value), so trees and users share them and a reused object is checked again
before it is trusted. Every write goes to a temporary file in the same folder
and is renamed into place, so a concurrent build never sees half an object.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from bootstrap.atomic import AtomicFile, write_atomic
from bootstrap.digest import Covers, Digest
from bootstrap.errors import die

CHUNK = 1 << 20


class Mismatch(ValueError):
    """Stored bytes that do not hash to the digest promised; carries what they hash to."""

    def __init__(self, got: str) -> None:
        super().__init__(got)
        self.got = got


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._pinned: list[BinaryIO] = []
        try:
            (root / "objects").mkdir(parents=True, exist_ok=True)
            (root / "index").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            die(f"cannot use cache {root}: {e.strerror}")

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

    def object_path(self, digest: Digest) -> Path:
        return self.root / "objects" / digest.algorithm / digest.value[:2] / digest.value

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
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, 0o644)
        except OSError:
            pass                    # only a warm build's shortcut: do without

    def _derived_path(self, digest: Digest, kind: str) -> Path:
        return self.root / "derived" / kind / digest.algorithm / digest.value

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
        path = self.object_path(digest)
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
        return self._pin(fd)

    def store(self, digest: Digest, chunks: Iterator[bytes],
              covers: Optional[Covers] = None) -> Path:
        """Write chunks; keep them only if they hash to digest (the whole file, or
        the part covers reads), else raise Mismatch. The object comes back pinned
        (see _pin), through a descriptor of the very file that was checked."""
        path = self.object_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        with AtomicFile(path.parent) as out:
            h = digest.hasher()
            for chunk in chunks:
                h.update(chunk)
                out.file.write(chunk)
            out.file.flush()
            fd = os.open(out.tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            got = h.hexdigest() if covers is None else _digest_of(fd, digest, covers)
            if got != digest.value:
                os.close(fd)
                raise Mismatch(got)
            out.commit(path)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)

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
        return self._index_base(url).with_suffix(".data").read_bytes()

    def store_index(self, url: str, data: bytes, validators: dict[str, str]) -> None:
        base = self._index_base(url)
        write_atomic(base.with_suffix(".data"), data)
        write_atomic(base.with_suffix(".json"), json.dumps(dict(validators, url=url)).encode())


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
