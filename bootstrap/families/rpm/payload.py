"""An rpm's files: their metadata from the header (the authority: names, modes,
owners by name, link targets, flags such as %ghost and %config, capabilities,
digests), their contents from the cpio payload, streamed through the confined
tree writer and checked against the header's digests on the way in."""
from __future__ import annotations

import hashlib
import io
import os
import stat
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

from bootstrap.archive import Bounded, decompressed_file
from bootstrap.families.rpm import caps as capabilities
from bootstrap.families.rpm.header import Header
from bootstrap.ledger import BLOCK, CHAR, FIFO
from bootstrap.treewriter import TreeWriter, clean_member, shown

# header tags of the file lists
BASENAMES, DIRNAMES, DIRINDEXES = 1117, 1118, 1116
FILESIZES, FILEMODES, FILERDEVS, FILEMTIMES = 1028, 1030, 1033, 1034
FILEDIGESTS, FILELINKTOS, FILEFLAGS = 1035, 1036, 1037
FILEUSERNAME, FILEGROUPNAME, FILECAPS, FILEDIGESTALGO = 1039, 1040, 5010, 5011
LONGFILESIZES = 5008
GHOST, CONFIG = 64, 1
DIGESTS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 0: "md5"}
CPIO_NEWC = (b"070701", b"070702")
TRAILER = "TRAILER!!!"


@dataclass
class FileInfo:
    index: int
    path: str                  # relative, without the leading '/'
    mode: int                  # with the type bits
    user: str
    group: str
    size: int
    linkto: str
    flags: int
    digest: str                # hex, in the package's file digest algorithm ('' none)
    caps: str
    rdev: int
    mtime: int

    @property
    def ghost(self) -> bool:
        return bool(self.flags & GHOST)


def file_infos(h: Header) -> list[FileInfo]:
    dirs, bases, index = h.strings(DIRNAMES), h.strings(BASENAMES), h.ints(DIRINDEXES)
    if not (len(bases) == len(index)):
        raise ValueError("the header's file lists do not agree")
    count = len(bases)

    def column(tag: int, default: object) -> list:  # type: ignore[type-arg]
        values = h.tags.get(tag)
        if values is None or not isinstance(values, list):
            return [default] * count
        if len(values) != count:
            raise ValueError(f"the header's file lists do not agree (tag {tag})")
        return values

    sizes = column(LONGFILESIZES, None) if LONGFILESIZES in h.tags else column(FILESIZES, 0)
    modes, rdevs = column(FILEMODES, 0o100644), column(FILERDEVS, 0)
    digests, links, flags = column(FILEDIGESTS, ""), column(FILELINKTOS, ""), \
        column(FILEFLAGS, 0)
    users, groups, caps = column(FILEUSERNAME, "root"), column(FILEGROUPNAME, "root"), \
        column(FILECAPS, "")
    mtimes = column(FILEMTIMES, 0)
    out = []
    for i in range(count):
        if index[i] >= len(dirs):
            raise ValueError("a file of the header is in no directory")
        path = clean_member(dirs[index[i]] + bases[i])
        out.append(FileInfo(i, path, modes[i], users[i], groups[i], sizes[i] or 0, links[i],
                            flags[i], digests[i], caps[i], rdevs[i], mtimes[i]))
    return out


@dataclass
class Unpacked:
    header: Header
    files: list[FileInfo] = field(default_factory=list)
    written: list[str] = field(default_factory=list)     # paths, in payload order


def _cpio(stream: BinaryIO) -> Iterator[tuple[str, dict[str, int], Bounded]]:
    """(name, header fields, contents) for each entry of a newc cpio stream."""
    offset = 0

    def read(n: int) -> bytes:
        nonlocal offset
        data = stream.read(n)
        if len(data) != n:
            raise ValueError("the payload ends inside an entry")
        offset += n
        return data

    def align() -> None:
        if offset % 4:
            read(4 - offset % 4)

    while True:
        head = read(110)
        if head[:6] not in CPIO_NEWC:
            raise ValueError("the payload is not a cpio archive rpm writes")
        names = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
                 "devminor", "rdevmajor", "rdevminor", "namesize", "check")
        try:
            fields = {k: int(head[6 + 8 * i: 14 + 8 * i], 16) for i, k in enumerate(names)}
        except ValueError:
            raise ValueError("a damaged cpio header in the payload") from None
        if fields["namesize"] > 4096:
            raise ValueError("a name longer than any path in the payload")
        name = read(fields["namesize"]).rstrip(b"\0").decode("utf-8", "surrogateescape")
        align()
        if name == TRAILER:
            return
        body = Bounded(stream, fields["filesize"])   # type: ignore[arg-type]
        yield name, fields, body
        body.drain()
        offset += fields["filesize"]
        align()


class _Checked(io.RawIOBase):
    def __init__(self, src: BinaryIO, algorithm: str, want: str, path: str) -> None:
        self.src, self.want, self.path = src, want.lower(), path
        self.h = hashlib.new(algorithm)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.src.read(len(b))
        if not data:
            if self.want and self.h.hexdigest() != self.want:
                raise ValueError(f"/{shown(self.path)}: its content has {self.h.name.upper()} "
                                 f"{self.h.hexdigest()}, the header says {self.want}")
            return 0
        self.h.update(data)
        b[: len(data)] = data
        return len(data)


Owners = Callable[[str, str], tuple[int, int]]


def unpack(path: Path, start: int, h: Header, writer: TreeWriter, owners: Owners,
           data: Optional[BinaryIO] = None) -> Unpacked:
    """Write the package's files into the tree; owners(user, group) gives ids; data,
    where given, is what decompressed_file(path, start) gives.

    Raises ValueError for a damaged package, treewriter.Unsafe for a hostile one."""
    infos = file_infos(h)
    result = Unpacked(h, infos)
    by_path = {f.path: f for f in infos}
    algorithm = DIGESTS.get((h.ints(FILEDIGESTALGO) or [0])[0], "")
    if not algorithm:
        raise ValueError("files digested with an algorithm rpm does not name")
    seen: set[str] = set()
    linked: dict[int, list[FileInfo]] = {}        # cpio inode -> entries waiting for data
    with ExitStack() as stack:
        stream = data or stack.enter_context(decompressed_file(path, start))
        for name, cpio, body in _cpio(stream):
            rel = clean_member(name)
            info = by_path.get(rel)
            if info is None or info.ghost:
                raise ValueError(f"the payload holds /{shown(rel)}, which the header does not list")
            seen.add(rel)
            uid, gid = owners(info.user, info.group)
            mode, kind = info.mode & 0o7777, stat.S_IFMT(info.mode)
            if kind == stat.S_IFDIR:
                writer.mkdir(rel, mode, uid, gid)
            elif kind == stat.S_IFREG:
                if cpio["nlink"] > 1 and cpio["filesize"] == 0 and info.size:
                    linked.setdefault(cpio["ino"], []).append(info)   # its data comes later
                    continue
                source = io.BufferedReader(_Checked(body, algorithm, info.digest, rel),
                                           1 << 20)
                # rpm gives files the header's mtime (rpm -V checks it)
                writer.write_file(rel, source, mode, uid, gid, info.mtime)
                for other in linked.pop(cpio["ino"], []):
                    writer.hardlink(other.path, rel)
                    result.written.append(other.path)
            elif kind == stat.S_IFLNK:
                writer.symlink(rel, info.linkto, uid, gid, info.mtime)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                writer.node(rel, CHAR if kind == stat.S_IFCHR else BLOCK, mode, uid, gid,
                            (os.major(info.rdev), os.minor(info.rdev)))
            elif kind == stat.S_IFIFO:
                writer.node(rel, FIFO, mode, uid, gid)
            else:
                raise ValueError(f"/{shown(rel)} is of a kind no package may hold")
            if info.caps:
                entry = writer.ledger.get(rel)
                if entry:
                    entry.xattrs["security.capability"] = capabilities.from_text(info.caps)
            result.written.append(rel)
    if linked:
        raise ValueError("hardlinked files of the payload never got their data")
    missing = [f.path for f in infos if f.path not in seen and not f.ghost]
    if missing:
        raise ValueError(f"the payload lacks /{shown(missing[0])}, which the header lists")
    return result
