"""Emitters: turn a built tree plus its ledger into what the user asked for.

Owners and modes always come from the ledger, never from the disk, so a
tarball made without root equals the one made with root. This module holds
the one tar writer every output is made from (tarballs, OCI layers, squashfs)
and the names of the outputs."""
from __future__ import annotations

import lzma
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, Optional

import zstandard

from bootstrap import cores
from bootstrap.atomic import AtomicFile
from bootstrap.pgzip import GzipWriter
from bootstrap.errors import die
from bootstrap.ledger import BLOCK, CHAR, DIR, FIFO, FILE, SYMLINK, Ledger
from bootstrap.ownership import walk

TAR_FORMATS = ("tar", "tar.gz", "tar.xz", "tar.zst")
# written as a directory (made beside TARGET, renamed into place)
DIR_FORMATS = ("dir", "oci", "bundle")
FORMATS = ("dir",) + TAR_FORMATS + ("oci", "oci-archive", "bundle", "squashfs")
# names that say what they hold; the longest match wins
SUFFIXES = {**{t: t for t in TAR_FORMATS}, "tgz": "tar.gz", "oci.tar": "oci-archive",
            "sqfs": "squashfs", "squashfs": "squashfs"}
COMPRESSIONS = ("gzip", "zstd")


def format_for(target: Path, fmt: str) -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            die(f"unknown --format '{fmt}' (auto, {', '.join(FORMATS)})")
        return fmt
    name = target.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith("." + suffix):
            return SUFFIXES[suffix]
    return "dir"


# a tarball's compression, by its format
_COMPRESSION = {"tar": "", "tar.gz": "gzip", "tar.xz": "xz", "tar.zst": "zstd"}


class Compressed:
    """A write-only compressing stream over a raw one, closed in order; the same
    input gives the same bytes (gzip without name or time; gzip and zstd on every
    core, their bytes the same whatever the number of threads)."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        self.raw = raw
        if kind == "gzip":
            self.stream: BinaryIO = GzipWriter(raw, 6)   # type: ignore[assignment]
        elif kind == "xz":
            self.stream = lzma.LZMAFile(raw, "wb", preset=6)
        elif kind == "zstd":
            # on every core: zstd's output does not depend on how many threads
            # work, once there is one (threads=0 is another, single-threaded format)
            self.stream = zstandard.ZstdCompressor(
                level=10, threads=cores.usable()).stream_writer(raw, closefd=False)
        else:
            self.stream = raw

    def close(self) -> None:
        if self.stream is not self.raw:
            self.stream.close()


_TYPES = {FILE: tarfile.REGTYPE, DIR: tarfile.DIRTYPE, SYMLINK: tarfile.SYMTYPE,
          CHAR: tarfile.CHRTYPE, BLOCK: tarfile.BLKTYPE, FIFO: tarfile.FIFOTYPE}


def write_tar(tree: Path, ledger: Ledger, target: Path, fmt: str,
              epoch: Optional[int]) -> None:
    """A tarball of tree at target (atomically), entries sorted, './' names."""
    with AtomicFile(target.parent) as out:
        comp = Compressed(out.file, _COMPRESSION[fmt])
        tar_into(comp.stream, tree, ledger, epoch)
        comp.close()
        out.commit(target)


class _TarStream:
    """A tar written to a stream as tarfile writes one (its headers, its padding,
    its end), the files' bytes read straight from their descriptors: tarfile's
    own copy opens each file through io and copies 16 KiB at a time, which was
    most of the time a tarball took."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def _write(self, data: bytes) -> None:
        self.stream.write(data)
        self.offset += len(data)

    def add(self, info: tarfile.TarInfo, fd: Optional[int] = None) -> None:
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if fd is None:
            return
        left = info.size
        while left:
            data = os.read(fd, min(left, 1 << 20))
            if not data:
                raise OSError(f"{info.name} shrank while it was written to the tarball")
            self._write(data)
            left -= len(data)
        if info.size % tarfile.BLOCKSIZE:
            self._write(tarfile.NUL * (tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE))

    def close(self) -> None:
        self._write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
        if self.offset % tarfile.RECORDSIZE:
            self._write(tarfile.NUL * (tarfile.RECORDSIZE - self.offset % tarfile.RECORDSIZE))


def tar_into(stream: BinaryIO, tree: Path, ledger: Ledger, epoch: Optional[int]) -> None:
    """The tree as an uncompressed tar written to stream: every entry of the disk
    and the ledger's device nodes, sorted, with the ledger's owners, modes,
    device numbers and xattrs (PAX SCHILY.xattr), hardlinks as links to the
    first name, mtimes clamped to epoch."""
    on_disk = {rel: st for rel, st in walk(tree)}
    names = sorted(set(on_disk) | {k for k, e in ledger.entries.items()
                                   if e.kind in (CHAR, BLOCK) and k not in on_disk})
    tar = _TarStream(stream)
    inodes: dict[tuple[int, int], str] = {}
    for rel in names:
        _add(tar, tree, rel, on_disk.get(rel), ledger, inodes, epoch)
    tar.close()


def _add(tar: _TarStream, tree: Path, rel: str, st: Optional[os.stat_result],
         ledger: Ledger, inodes: dict[tuple[int, int], str], epoch: Optional[int]) -> None:
    entry = ledger.get(rel)
    info = tarfile.TarInfo("./" if rel == "." else "./" + rel)
    info.uname = info.gname = ""
    if st is None:
        assert entry is not None
        kind = entry.kind
        info.mtime = epoch or 0
    else:
        kind = {stat.S_IFDIR: DIR, stat.S_IFLNK: SYMLINK, stat.S_IFCHR: CHAR,
                stat.S_IFBLK: BLOCK, stat.S_IFIFO: FIFO}.get(stat.S_IFMT(st.st_mode), FILE)
        mtime = int(st.st_mtime)
        info.mtime = min(mtime, epoch) if epoch is not None else mtime
    if entry is not None and entry.kind == kind:
        info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
        if entry.rdev:
            info.devmajor, info.devminor = entry.rdev
        for k, v in sorted(entry.xattrs.items()):
            info.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
    else:
        info.mode = stat.S_IMODE(st.st_mode) if st else 0o644
        info.uid = info.gid = 0
        if st is not None and kind in (CHAR, BLOCK):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    info.type = _TYPES[kind]
    full = os.path.join(tree, rel)
    if kind == SYMLINK:
        info.linkname = os.readlink(full)
        info.mode = 0o777
    if kind == FILE and st is not None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in inodes:
            info.type = tarfile.LNKTYPE
            info.linkname = inodes[key]
            tar.add(info)
            return
        inodes[key] = info.name
        info.size = st.st_size
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            tar.add(info, fd)
        finally:
            os.close(fd)
        return
    tar.add(info)
