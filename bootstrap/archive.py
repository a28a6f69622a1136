"""Streaming readers for the archive formats packages come in: ar, and tar
compressed with gzip, bzip2, xz or zstd. Also the one loop that feeds tar
members into the confined tree writer."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from typing import BinaryIO, Callable, Iterator, Optional

import zstandard

from bootstrap.ledger import BLOCK, CHAR, FIFO
from bootstrap.treewriter import TreeWriter, Unsafe, clean_member

AR_MAGIC = b"!<arch>\n"


class Bounded(io.RawIOBase):
    """At most `size` bytes of an underlying stream."""

    def __init__(self, raw: BinaryIO, size: int) -> None:
        self.raw = raw
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if self.left <= 0:
            return 0
        n = min(len(b), self.left)
        data = self.raw.read(n)
        b[: len(data)] = data
        self.left -= len(data)
        return len(data)

    def drain(self) -> None:
        while self.left > 0:
            chunk = self.raw.read(min(self.left, 1 << 20))
            if not chunk:
                break
            self.left -= len(chunk)


def ar_members(f: BinaryIO, what: str) -> Iterator[tuple[str, Bounded]]:
    """(name, stream) for each member of an ar archive; each stream must be
    consumed (or is skipped) before the next member is read."""
    if f.read(8) != AR_MAGIC:
        raise ValueError(f"{what}: not an ar archive")
    while True:
        header = f.read(60)
        if not header:
            return
        if len(header) != 60 or header[58:60] != b"`\n":
            raise ValueError(f"{what}: damaged ar header")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        member = Bounded(f, size)
        yield name, member
        member.drain()
        if size % 2:
            f.read(1)


ZSTD = b"\x28\xb5\x2f\xfd"
XZ = b"\xfd7zXZ\x00"
GZIP = b"\x1f\x8b"
BZIP2 = b"BZh"

# what a damaged archive raises on its way through the decompressors and tarfile
DAMAGED = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


def decompressed(stream: BinaryIO) -> BinaryIO:
    """stream's bytes decompressed, the compression told by its first bytes as
    libarchive does (names lie: Arch's core.db is a gzip or zstd tarball)."""
    buffered = stream if isinstance(stream, io.BufferedReader) \
        else io.BufferedReader(stream, 1 << 20)  # type: ignore[arg-type]
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


def open_tar(stream: BinaryIO) -> tarfile.TarFile:
    """A streaming tar reader over any of the compressions packages use."""
    return tarfile.open(fileobj=decompressed(stream), mode="r|")


Owners = Callable[[tarfile.TarInfo], tuple[int, int]]
Reader = Callable[[tarfile.TarInfo, BinaryIO], BinaryIO]


def tar_to_tree(tar: tarfile.TarFile, writer: TreeWriter,
                on_path: Optional[Callable[[str, tarfile.TarInfo], None]] = None,
                owners: Optional[Owners] = None, reader: Optional[Reader] = None) -> None:
    """Write every member of tar into the tree; on_path sees each cleaned name.
    owners(member) gives the owner to record (default: the numeric ids in the
    header); reader(member, stream) may wrap a file's contents (to check them on
    the way in).

    Raises Unsafe for members that would escape or that no package may hold."""
    for m in tar:
        rel = clean_member(m.name)
        if on_path:
            on_path(rel, m)
        if not rel:
            continue
        xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
                  for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
        uid, gid = owners(m) if owners else (m.uid, m.gid)
        mtime = float(m.mtime)
        if m.isdir():
            path = writer.mkdir(rel, m.mode, uid, gid)
        elif m.isreg():
            src = tar.extractfile(m)
            assert src is not None
            path = writer.write_file(rel, reader(m, src) if reader else src, m.mode, uid, gid,
                                     mtime)
        elif m.issym():
            path = writer.symlink(rel, m.linkname, uid, gid, mtime)
        elif m.islnk():
            path = writer.hardlink(rel, clean_member(m.linkname))
        elif m.ischr() or m.isblk():
            path = writer.node(rel, CHAR if m.ischr() else BLOCK, m.mode, uid, gid,
                               (m.devmajor, m.devminor))
        elif m.isfifo():
            path = writer.node(rel, FIFO, m.mode, uid, gid)
        else:
            raise Unsafe(f"unsupported tar entry type for {m.name}")
        if xattrs:
            entry = writer.ledger.get(path)
            if entry:
                entry.xattrs.update(xattrs)
