"""The download cache: content-addressed objects and revalidated index files.

Objects live under the SHA256 a signed index promised for them, so trees and
users share them and a reused object is checked again before it is trusted.
Every write goes to a temporary file in the same folder and is renamed into
place, so a concurrent build never sees half an object.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import resource
import tempfile
from pathlib import Path
from typing import IO, BinaryIO, Iterator, Optional

from bootstrap.errors import die

CHUNK = 1 << 20


DIGEST = re.compile(r"[0-9a-f]{64}")   # a SHA256 as indexes give it and the cache names it


def _digest(sha256: str) -> str:
    """sha256, which names files here, after making sure it is one."""
    if not DIGEST.fullmatch(sha256):
        raise ValueError(f"not a SHA256 digest: {sha256!r}")
    return sha256


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._pinned: list[BinaryIO] = []
        try:
            (root / "objects").mkdir(parents=True, exist_ok=True)
            (root / "index").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            die(f"cannot use cache {root}: {e.strerror}")

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

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / _digest(sha256)

    def _pin(self, fd: int) -> Path:
        """Pinned: the path returned names a descriptor the object was hashed through
        (/proc/PID/fd/N, good for this process, its children and the gpg it runs), so
        what the build reads later is what was checked, even if the cache's file is
        replaced meanwhile. The descriptor stays open until close()."""
        f = os.fdopen(fd, "rb")
        self._pinned.append(f)
        return Path(f"/proc/{os.getpid()}/fd/{fd}")

    def lookup(self, sha256: str) -> Optional[Path]:
        """The cached object, if present and still matching its digest, pinned."""
        path = self.object_path(sha256)
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
        h = hashlib.sha256()
        for block in iter(lambda: os.read(fd, CHUNK), b""):
            h.update(block)
        if h.hexdigest() != sha256:
            os.close(fd)
            path.unlink(missing_ok=True)  # a corrupted object is dropped, never served
            return None
        return self._pin(fd)

    def writer(self, folder: Path) -> "AtomicFile":
        folder.mkdir(parents=True, exist_ok=True)
        return AtomicFile(folder)

    def store(self, sha256: str, chunks: Iterator[bytes]) -> Path:
        """Write chunks; keep them only if they hash to sha256, else raise ValueError.
        The object comes back pinned (see _pin), through a descriptor of the very
        file the chunks were hashed into."""
        path = self.object_path(sha256)
        with self.writer(path.parent) as out:
            h = hashlib.sha256()
            for chunk in chunks:
                h.update(chunk)
                out.file.write(chunk)
            if h.hexdigest() != sha256:
                raise ValueError(h.hexdigest())
            fd = os.open(out.tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            out.commit(path)
        return self._pin(fd)

    # Detached signatures are kept beside the object they sign; they are checked
    # against the trust roots on every use, so the cache need not vouch for them.
    def _signature_path(self, sha256: str) -> Path:
        return self.root / "signatures" / sha256[:2] / f"{_digest(sha256)}.sig"

    def signature(self, sha256: str) -> Optional[bytes]:
        path = self._signature_path(sha256)
        return path.read_bytes() if path.is_file() else None

    def store_signature(self, sha256: str, data: bytes) -> None:
        path = self._signature_path(sha256)
        with self.writer(path.parent) as out:
            out.file.write(data)
            out.commit(path)

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
        with self.writer(base.parent) as out:
            out.file.write(data)
            out.commit(base.with_suffix(".data"))
        with self.writer(base.parent) as out:
            out.file.write(json.dumps(dict(validators, url=url)).encode())
            out.commit(base.with_suffix(".json"))


class AtomicFile:
    """A temporary file that becomes visible only through commit()."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        self.tmp = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.done = False

    def commit(self, dest: Path) -> None:
        self.file.flush()
        os.fchmod(self.file.fileno(), 0o644)
        self.file.close()
        os.replace(self.tmp, dest)
        self.done = True

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.file.close()
            self.tmp.unlink(missing_ok=True)
