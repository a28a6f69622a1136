"""A gzip stream compressed on every core: the input cut into fixed blocks, each
deflated on its own with the 32 KiB before it as dictionary and ended with a
sync flush, so the blocks join into one deflate stream (as pigz makes it). The
cut does not depend on the number of threads, so neither do the bytes."""
from __future__ import annotations

import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from bootstrap import cores

BLOCK = 1 << 20
WINDOW = 32 << 10


def _deflate(block: bytes, dictionary: bytes, level: int, last: bool) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY,
                         *((dictionary,) if dictionary else ()))
    return c.compress(block) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class GzipWriter:
    """Write-only; close() writes the trailer (not the raw stream's close)."""

    def __init__(self, raw: BinaryIO, level: int = 6, threads: int = 0) -> None:
        self.raw = raw
        self.level = level
        self.threads = threads or cores.usable()
        self.pool = ThreadPoolExecutor(self.threads)
        self.pending: deque[Future[bytes]] = deque()
        self.buffer = bytearray()
        self.tail = b""
        self.crc = 0
        self.size = 0
        # no name, no time: the same input gives the same bytes (xfl 0, os 255 as
        # Python's gzip writes them at level 6)
        raw.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= BLOCK:
            self._submit(bytes(self.buffer[:BLOCK]), False)
            del self.buffer[:BLOCK]
        return len(data)

    def _submit(self, block: bytes, last: bool) -> None:
        self.crc = zlib.crc32(block, self.crc)
        self.size += len(block)
        self.pending.append(self.pool.submit(_deflate, block, self.tail, self.level, last))
        self.tail = block[-WINDOW:]
        while len(self.pending) > 2 * self.threads:
            self.raw.write(self.pending.popleft().result())

    def close(self) -> None:
        self._submit(bytes(self.buffer), True)
        self.buffer.clear()
        while self.pending:
            self.raw.write(self.pending.popleft().result())
        self.pool.shutdown()
        self.raw.write(struct.pack("<II", self.crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))
