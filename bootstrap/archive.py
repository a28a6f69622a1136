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
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

import zstandard

from bootstrap.ledger import BLOCK, CHAR, FIFO
from bootstrap.treewriter import TreeWriter, Unsafe, clean_member, shown

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
        if self.left > 0 and self.raw.seekable():
            self.raw.seek(self.left, io.SEEK_CUR)
            self.left = 0
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
        size_field = header[48:58].strip()
        if not size_field.isdigit():
            raise ValueError(f"{what}: damaged ar header (size {size_field!r})")
        size = int(size_field)
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
# zstd's largest window: what `--ultra -22` writes (makepkg's default is -20: 64 MiB);
# a frame that asks for more (a bomb declaring its whole size) is refused, not allocated
ZSTD_WINDOW = 1 << 27
DAMAGED = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


# A decompression bomb is refused once it has given more than both of these:
# real packages stay far below (their data compresses a few times, rarely a
# hundred), a run of zeros compresses a thousand to a million times.
EXPANSION_FLOOR = 256 << 20
EXPANSION_RATIO = 200


class Bomb(ValueError):
    """A compressed stream that expands beyond any real package's."""


class _Capped(io.RawIOBase):
    """A decompressed stream that raises Bomb past `cap` bytes."""

    def __init__(self, raw: BinaryIO, cap: int, compressed: Optional[int]) -> None:
        self.raw, self.cap, self.compressed, self.given = raw, cap, compressed, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.raw.read(min(len(b), self.cap + 1 - self.given))
        self.given += len(data)
        if self.given > self.cap:
            of = f" of {self.compressed} bytes" if self.compressed is not None else ""
            raise Bomb(f"a compressed stream{of} expands beyond {self.cap >> 20} MiB "
                       f"(more than {EXPANSION_RATIO} times its size): a decompression bomb")
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _remaining(stream: BinaryIO) -> Optional[int]:
    """How many bytes stream has left to give, where that can be told."""
    if isinstance(stream, Bounded):
        return stream.left
    try:
        here = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(here)
        return end - here
    except (OSError, ValueError, AttributeError):
        return None


def decompressed(stream: BinaryIO) -> BinaryIO:
    """stream's bytes decompressed, the compression told by its first bytes as
    libarchive does (names lie: Arch's core.db is a gzip or zstd tarball); what
    expands beyond EXPANSION_RATIO times its size (and EXPANSION_FLOOR) raises
    Bomb, so a small package cannot fill the disk."""
    size = _remaining(stream)
    buffered = stream if isinstance(stream, io.BufferedReader) \
        else io.BufferedReader(stream, 1 << 20)  # type: ignore[arg-type]
    head = buffered.peek(6)[:6]
    out: BinaryIO
    if head.startswith(ZSTD):
        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_WINDOW)
        out = decompressor.stream_reader(buffered,  # type: ignore[assignment]
                                         read_across_frames=True)
    elif head.startswith(XZ):
        out = lzma.LZMAFile(buffered)  # type: ignore[assignment]
    elif head.startswith(GZIP):
        out = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    elif head.startswith(BZIP2):
        out = bz2.BZ2File(buffered)  # type: ignore[assignment]
    else:
        return buffered
    cap = max(EXPANSION_FLOOR, EXPANSION_RATIO * (size or 0))
    return io.BufferedReader(_Capped(out, cap, size), 1 << 20)  # type: ignore[return-value]


@contextmanager
def decompressed_file(path: Path, start: int = 0) -> Iterator[BinaryIO]:
    """path's bytes from start, decompressed as decompressed() does, in a handle of
    their own: what a package's contents are read from, inline or ahead on a thread."""
    with open(path, "rb") as f:
        f.seek(start)
        yield decompressed(f)


def as_text(data: bytes) -> str:
    """Bytes a package manager reads as bytes (names, database fields), as text
    that as_bytes() gives back unchanged: what is not UTF-8 is kept as surrogate
    escapes, so it reaches the tree's databases as the package has it."""
    return data.decode("utf-8", "surrogateescape")


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# the headers tarfile reads whole into memory: pax records and GNU long names
# hold a name, a link target and a few attributes, never more than this
EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
            tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
EXTENDED_LIMIT = 1 << 20


class _Member(tarfile.TarInfo):
    """A tar member whose header sizes are believed only when they are sane."""

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.size < 0:
            raise ValueError(f"a member of negative size: {shown(self.name)}")
        if self.type in EXTENDED and self.size > EXTENDED_LIMIT:
            raise ValueError(f"an extended header of {self.size} bytes (pax or GNU long "
                             f"name) before {shown(self.name)}: no name or attribute needs "
                             "that many")
        return super()._proc_member(tarfile)  # type: ignore[misc]

    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
        # tarfile ends the archive quietly at a damaged header after the first,
        # dropping the rest of the package; dpkg, libarchive and apk refuse it
        try:
            return super().frombuf(buf, encoding, errors)  # type: ignore[misc]
        except tarfile.InvalidHeaderError as e:
            raise ValueError(f"a damaged tar header ({e}): the archive lies about its "
                             "sizes or is cut") from None


def tar_reader(fileobj: BinaryIO, mode: str = "r|") -> tarfile.TarFile:
    """tarfile's reader with names kept as bytes: those that are not UTF-8 as
    surrogate escapes (as os.fsdecode keeps them), whatever the locale, so they
    reach the disk, the package databases and the ledger byte for byte. An
    extended header too large to hold in memory, or a negative size, raises
    ValueError."""
    return tarfile.open(fileobj=fileobj, mode=mode, encoding="utf-8",
                        errors="surrogateescape", tarinfo=_Member)


def open_tar(stream: BinaryIO) -> tarfile.TarFile:
    """A streaming tar reader over any of the compressions packages use."""
    return tar_reader(decompressed(stream))


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
        if m.size < 0:          # a pax record can still say so
            raise ValueError(f"a member of negative size: {shown(m.name)}")
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
            raise Unsafe(f"unsupported tar entry type for {shown(m.name)}")
        if xattrs:
            entry = writer.ledger.get(path)
            if entry:
                entry.xattrs.update(xattrs)
