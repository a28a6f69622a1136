"""The compressions pacman's archives come in, told apart by their first bytes as
libarchive does (a name's suffix may lie: core.db is a gzip or zstd tarball)."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from typing import BinaryIO

import zstandard

ZSTD = b"\x28\xb5\x2f\xfd"
XZ = b"\xfd7zXZ\x00"
GZIP = b"\x1f\x8b"
BZIP2 = b"BZh"


def reader(f: BinaryIO) -> BinaryIO:
    """A stream of f's decompressed bytes (f itself when it is not compressed)."""
    buffered = f if isinstance(f, io.BufferedReader) else io.BufferedReader(f, 1 << 20)  # type: ignore[arg-type]
    head = buffered.peek(6)[:6]
    if head.startswith(ZSTD):
        # makepkg compresses with --ultra levels, whose windows exceed the default limit
        decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 31)
        return decompressor.stream_reader(buffered,  # type: ignore[return-value]
                                          read_across_frames=True)
    if head.startswith(XZ):
        return lzma.LZMAFile(buffered)  # type: ignore[return-value]
    if head.startswith(GZIP):
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    if head.startswith(BZIP2):
        return bz2.BZ2File(buffered)  # type: ignore[return-value]
    return buffered


# what a damaged archive raises on the way through the decompressors and tarfile
DAMAGED = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


def open_tar(f: BinaryIO) -> tarfile.TarFile:
    """A streaming tar reader over any of pacman's compressions."""
    return tarfile.open(fileobj=reader(f), mode="r|")
