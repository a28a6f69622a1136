"""apk's files are gzip members laid end to end (a signature, the control part,
the data), each hashed and signed as its compressed bytes: where they begin and
end is what this finds."""
from __future__ import annotations

import zlib
from typing import BinaryIO, Iterator

CHUNK = 1 << 16
GZIP = b"\x1f\x8b"


class Member:
    def __init__(self, start: int, end: int, data: bytes) -> None:
        self.start, self.end, self.data = start, end, data   # data: decompressed


def members(f: BinaryIO, count: int, limit: int = 64 << 20) -> Iterator[Member]:
    """The first count gzip members of f, decompressed (each at most limit bytes:
    these are small parts; the data part is streamed, never read here)."""
    offset = f.seek(0, 1)
    pending = b""
    for _ in range(count):
        start = offset
        d = zlib.decompressobj(31)
        out: list[bytes] = []
        size = 0
        while not d.eof:
            chunk = pending or f.read(CHUNK)
            pending = b""
            if not chunk:
                raise ValueError("a gzip member ends early")
            if not out and size == 0 and offset == start and not chunk.startswith(GZIP):
                raise ValueError("not gzip data where a part of the package begins")
            piece = d.decompress(chunk, limit - size + 1)
            size += len(piece)
            if size > limit:
                raise ValueError("a part expands beyond any package's control data")
            out.append(piece)
            used = len(chunk) - len(d.unused_data) - len(d.unconsumed_tail)
            if d.unconsumed_tail:
                pending = d.unconsumed_tail + d.unused_data
                offset += used
                continue
            offset += used
            pending = d.unused_data
        yield Member(start, offset, b"".join(out))
    f.seek(offset)


def read_range(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.read(end - start)


def hash_from(f: BinaryIO, start: int, hasher: "object") -> None:
    """Feed hasher everything from start to the end of f."""
    f.seek(start)
    for block in iter(lambda: f.read(1 << 20), b""):
        hasher.update(block)         # type: ignore[attr-defined]
