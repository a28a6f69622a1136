"""A pacman package: a compressed tar whose top-level dot files (.PKGINFO,
.BUILDINFO, .MTREE, .INSTALL, .CHANGELOG) describe it and whose other entries are
the files, streamed into the confined tree writer."""
from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Optional

from bootstrap.archive import DAMAGED, as_text, decompressed_file, tar_reader, tar_to_tree
from bootstrap.treewriter import TreeWriter, Unsafe, shown

META = (".PKGINFO", ".BUILDINFO", ".MTREE", ".INSTALL", ".CHANGELOG")
# the dot files are small; a bomb among them is refused, not read
META_LIMIT = 64 << 20


@dataclass
class Unpacked:
    meta: dict[str, bytes]                       # dot file name -> content
    files: list[str] = field(default_factory=list)   # as pacman lists them: dirs end in '/'
    backup_md5: dict[str, str] = field(default_factory=dict)

    @cached_property
    def info(self) -> dict[str, list[str]]:
        """.PKGINFO as key -> values ('depend' and the like repeat)."""
        out: dict[str, list[str]] = {}
        for line in as_text(self.meta[".PKGINFO"]).splitlines():
            if line.startswith("#") or " = " not in line:
                continue
            key, _, value = line.partition(" = ")
            out.setdefault(key.strip(), []).append(value.strip())
        return out


class _Split:
    """Feeds tar_to_tree only the package's files, keeping the dot files aside."""

    def __init__(self, tar: tarfile.TarFile, meta: dict[str, bytes]) -> None:
        self.tar = tar
        self.meta = meta

    def __iter__(self):  # type: ignore[no-untyped-def]
        for m in self.tar:
            parts = [p for p in m.name.split("/") if p not in ("", ".")]
            if len(parts) == 1 and parts[0].startswith("."):
                # libalpm extracts no top-level dot file; these five describe the package
                if parts[0] in META and m.isreg():
                    if m.size > META_LIMIT:
                        raise ValueError(f"a {parts[0]} larger than any package's")
                    f = self.tar.extractfile(m)
                    self.meta[parts[0]] = f.read() if f else b""
                continue
            yield m

    def extractfile(self, m: tarfile.TarInfo):  # type: ignore[no-untyped-def]
        return self.tar.extractfile(m)


def unpack(path: Path, writer: TreeWriter, data: Optional[BinaryIO] = None) -> Unpacked:
    """Stream the package into the tree; data, where given, is decompressed_file(path) gives.

    Raises ValueError for a damaged package, treewriter.Unsafe for a hostile one."""
    result = Unpacked({})

    def note(rel: str, m: tarfile.TarInfo) -> None:
        if "\n" in rel:
            # the local database lists one name a line: this one would corrupt it
            raise Unsafe(f"newline not allowed in a name: '{shown(rel)}'")
        if rel:
            result.files.append(rel + "/" if m.isdir() else rel)

    try:
        with ExitStack() as stack:
            stream = data or stack.enter_context(decompressed_file(path))
            with tar_reader(stream) as tar:
                tar_to_tree(_Split(tar, result.meta), writer, note)  # type: ignore[arg-type]
    except (*DAMAGED, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise ValueError(f"damaged package archive: {e}") from None
    if ".PKGINFO" not in result.meta:
        raise ValueError("not a pacman package (no .PKGINFO)")
    for rel in result.info.get("backup", ()):
        if rel in result.files:
            result.backup_md5[rel] = _md5(writer, rel)
    result.files.sort()
    return result


def _md5(writer: TreeWriter, rel: str) -> str:
    """The MD5 pacman records for a backup file; never follows a link out of the tree."""
    full = writer.full(writer.resolve(rel))
    if not stat.S_ISREG(os.lstat(full).st_mode):
        return "(null)"
    digest = hashlib.md5()
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
