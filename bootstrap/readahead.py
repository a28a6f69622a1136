"""Packages' contents decompressed ahead of the writer, on threads.

Packages unpack in turn, and one core decompressing xz is the floor of a Debian
unpack: the writer waits on it. lzma and zstandard let go of the interpreter
while they decompress, so the next packages' contents are decompressed on
threads of their own, each at most WINDOW bytes ahead of the writer, while the
current one is written. What is written, and in what order, does not change:
each stream is read by the same code as if it were decompressed in place, its
errors (a damaged archive, a bomb) raised there, at the same point.
"""
from __future__ import annotations

import io
import queue
import threading
from typing import BinaryIO, Callable, ContextManager, Optional, Sequence

from bootstrap import cores

# a package's decompressed contents, in handles of their own, opened from any thread
Opener = Callable[[], ContextManager[BinaryIO]]

CHUNK = 1 << 18
WINDOW = 4
_DONE = object()


def depth() -> int:
    """How many packages are decompressed beyond the one being written: what the
    cores left to the writer can do at once."""
    return min(3, max(2, cores.usable() - 1))


class _Stream(io.RawIOBase):
    """What a decompressing thread gives, read as a file; its error raised here."""

    def __init__(self, stop: threading.Event) -> None:
        self.chunks: queue.Queue[object] = queue.Queue(WINDOW)
        self.stop = stop
        self.rest = memoryview(b"")
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while not self.rest:
            if self.ended:
                return 0
            item = self.chunks.get()
            if item is _DONE:
                self.ended = True
            elif isinstance(item, BaseException):
                self.ended = True
                raise item
            else:
                self.rest = memoryview(item)  # type: ignore[arg-type]
        n = min(len(b), len(self.rest))
        b[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n

    def put(self, item: object) -> bool:
        """Hand item to the reader; False once the reader is gone."""
        while not self.stop.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False


def _produce(opener: Opener, out: _Stream) -> None:
    try:
        with opener() as source:
            while not out.stop.is_set():
                data = source.read(CHUNK)
                if not data:
                    break
                if not out.put(data):
                    return
        out.put(_DONE)
    except BaseException as e:        # the reader raises it where it reads
        out.put(e)


class Readahead:
    """The streams of openers[i], each started while the ones before it are read."""

    def __init__(self, openers: Sequence[Optional[Opener]], ahead: Optional[int] = None) -> None:
        self.openers = list(openers)
        self.ahead = depth() if ahead is None else ahead
        self.streams: dict[int, _Stream] = {}
        self.started = 0
        self.stop = threading.Event()

    def __enter__(self) -> "Readahead":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def take(self, i: int) -> Optional[BinaryIO]:
        """The ith opener's stream (None where it has none), once and in order;
        the ones after it start decompressing."""
        self._start(i + 1 + self.ahead)
        stream = self.streams.pop(i, None)
        return io.BufferedReader(stream, CHUNK) if stream else None  # type: ignore[return-value]

    def _start(self, upto: int) -> None:
        while self.started < min(upto, len(self.openers)):
            opener = self.openers[self.started]
            if opener is not None:
                stream = _Stream(self.stop)
                self.streams[self.started] = stream
                threading.Thread(target=_produce, args=(opener, stream), daemon=True,
                                 name=f"readahead-{self.started}").start()
            self.started += 1

    def close(self) -> None:
        """Stop every thread still decompressing (a failed build leaves none)."""
        self.stop.set()
        self.streams.clear()
