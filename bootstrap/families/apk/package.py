"""An .apk (v2): a signature part, the control part (.PKGINFO and the scripts),
the data part, each a gzip member. Before the tree sees a byte: the signature
over the control part by a trusted key, the control part against the index's C:,
the data part against .PKGINFO's datahash. On the way in: each file against the
checksum its tar header carries (APK-TOOLS.checksum.SHA1)."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, ContextManager, Optional

from bootstrap.archive import DAMAGED, as_text, decompressed_file, tar_reader, tar_to_tree
from bootstrap.digest import Digest
from bootstrap.errors import die
from bootstrap.families.apk import gzmembers
from bootstrap.families.apk.signed import Signature, adb_schema, signatures
from bootstrap import accounts
from bootstrap.treewriter import TreeWriter, Unsafe, clean_member, shown
from bootstrap.trust.rsa import RsaKeys

SCRIPTS = (".pre-install", ".post-install", ".pre-deinstall", ".post-deinstall",
           ".pre-upgrade", ".post-upgrade", ".trigger")
CHECKSUM = "APK-TOOLS.checksum.SHA1"
CONTROL_LIMIT = 64 << 20


@dataclass
class Parts:
    signatures: list[Signature]
    control: bytes                        # the control part as stored (compressed)
    data_start: int                       # where the data part begins in the file
    info: dict[str, list[str]]            # .PKGINFO: key -> values
    scripts: dict[str, bytes]             # ".post-install" -> the script
    signer: str = ""                      # the trusted key that signed it, once verified


def read_parts(f: BinaryIO) -> Parts:
    """The signature and control parts; ValueError for a file that is not an .apk."""
    head = f.read(8)
    f.seek(0)
    if adb_schema(head):
        raise ValueError(f"an apk-tools 3 package (ADB {adb_schema(head)}); rootstrap reads "
                         "v2 packages, which every Alpine branch publishes")
    first, second = list(gzmembers.members(f, 2, CONTROL_LIMIT))
    sigs = signatures(first.data)
    if sigs:
        control, data_start = second, second.end
    else:
        control, data_start = first, first.end       # an unsigned package
    raw = gzmembers.read_range(f, control.start, control.end)
    info: dict[str, list[str]] = {}
    scripts: dict[str, bytes] = {}
    try:
        with tar_reader(io.BytesIO(control.data + b"\0" * 1024), "r:") as tar:
            for m in tar:
                if not m.isreg():
                    continue
                blob = tar.extractfile(m)
                content = blob.read() if blob else b""
                if m.name == ".PKGINFO":
                    for line in as_text(content).splitlines():
                        if line.startswith("#") or " = " not in line:
                            continue
                        key, _, value = line.partition(" = ")
                        info.setdefault(key.strip(), []).append(value.strip())
                elif m.name in SCRIPTS:
                    scripts[m.name] = content
    except tarfile.TarError as e:
        raise ValueError(f"a damaged control part ({e})") from None
    if "pkgname" not in info:
        raise ValueError("not an apk package (no .PKGINFO)")
    return Parts(sigs, raw, data_start, info, scripts)


def identity(f: BinaryIO) -> str:
    """What the index's C: is the SHA-1 of: the control part, or, for a package
    without datahash (older ones), the control and data parts."""
    parts = read_parts(f)
    h = hashlib.sha1(parts.control)
    if "datahash" not in parts.info:
        gzmembers.hash_from(f, parts.data_start, h)
    return h.hexdigest()


def verify(path: Path, trust: RsaKeys, promised: Optional[Digest], what: str,
           mirror: object) -> Parts:
    """Die unless the package is signed by a trusted key, its control part is
    what the index promised (when given) and its data part is what .PKGINFO says."""
    def fail(reason: str, key: Optional[str] = None) -> None:
        die(f"{what} from {mirror}: {reason}", file=what, mirror=str(mirror), key=key)

    with open(path, "rb") as f:
        try:
            parts = read_parts(f)
        except (ValueError, OSError, EOFError, zlib.error) as e:
            fail(f"not a readable apk package ({e})")
        if not parts.signatures:
            fail("not signed (no .SIGN entry before its control part)")
        known = [s for s in parts.signatures if s.keyname in trust.keys]
        if not known:
            fail(f"signed by key {parts.signatures[0].keyname}, which is not among the trusted "
                 f"keys {trust.names}", parts.signatures[0].keyname)
        for sig in known:
            trust.verify(parts.control, sig.data, sig.keyname, sig.algorithm, what, mirror)
        parts.signer = known[0].keyname
        if promised is not None:
            f.seek(0)
            got = identity(f)
            if got != promised.value:
                fail(f"its control part has SHA1 {got}, the index promises {promised.value} "
                     "(C:)", known[0].keyname)
        if "datahash" in parts.info:
            h = hashlib.sha256()
            gzmembers.hash_from(f, parts.data_start, h)
            if h.hexdigest() != parts.info["datahash"][0].lower():
                fail(f"its data part has SHA256 {h.hexdigest()}, its .PKGINFO promises "
                     f"{parts.info['datahash'][0]} (datahash)", known[0].keyname)
        elif promised is None:
            fail("no datahash in .PKGINFO and no index to vouch for its data")
    return parts


@dataclass
class Entry:
    path: str
    kind: str                     # "dir", "file", "symlink", ...
    uid: int
    gid: int
    mode: int
    checksum: str = ""            # Q1… for files and links


@dataclass
class Unpacked:
    parts: Parts
    entries: list[Entry] = field(default_factory=list)   # in the order of the data part

    @property
    def files(self) -> list[str]:
        return [e.path for e in self.entries if e.kind != "dir"]


def q1(raw: bytes) -> str:
    return "Q1" + base64.b64encode(raw).decode()


class _Checked(io.RawIOBase):
    """A file's contents as the tar gives them, checked at their end against the
    checksum in the header."""

    def __init__(self, src: BinaryIO, want: Optional[str], name: str,
                 done: "dict[str, bytes]") -> None:
        self.src, self.want, self.name, self.done = src, want, name, done
        self.h = hashlib.sha1()

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.src.read(len(b))
        if not data:
            if self.want is not None and self.h.hexdigest() != self.want:
                raise ValueError(f"{self.name}: its content has SHA1 {self.h.hexdigest()}, "
                                 f"the package's header says {self.want}")
            self.done[self.name] = self.h.digest()
            return 0
        self.h.update(data)
        b[: len(data)] = data
        return len(data)


def data_part(path: Path) -> ContextManager[BinaryIO]:
    """The data part decompressed, in a handle of its own (ahead of unpack(), its
    parts read again on the thread that reads it)."""
    with open(path, "rb") as f:
        start = read_parts(f).data_start
    return decompressed_file(path, start)


def unpack(path: Path, parts: Parts, writer: TreeWriter,
           data: Optional[BinaryIO] = None) -> Unpacked:
    """Stream the data part into the tree; data, where given, is what data_part()
    gives. Owners are taken by name from the tree's passwd and group as they are
    now, as apk does (else the numbers).

    Raises ValueError for a damaged package, treewriter.Unsafe for a hostile one."""
    result = Unpacked(parts)
    users, groups = accounts.ids(writer, "passwd"), accounts.ids(writer, "group")
    sums: dict[str, bytes] = {}

    def owners(m: tarfile.TarInfo) -> tuple[int, int]:
        return users.get(m.uname, m.uid), groups.get(m.gname, m.gid)

    def reader(m: tarfile.TarInfo, src: BinaryIO) -> BinaryIO:
        want = m.pax_headers.get(CHECKSUM)
        return io.BufferedReader(_Checked(src, want.lower() if want else None,
                                          clean_member(m.name), sums), 1 << 20)

    def note(rel: str, m: tarfile.TarInfo) -> None:
        if not rel:
            return
        if "\n" in rel:
            # the installed database lists one name a line: this one would corrupt it
            raise Unsafe(f"newline not allowed in a name: '{shown(rel)}'")
        uid, gid = owners(m)
        kind = "dir" if m.isdir() else "symlink" if m.issym() else \
            "hardlink" if m.islnk() else "file" if m.isreg() else "other"
        result.entries.append(Entry(rel, kind, uid, gid, m.mode & 0o7777))
        if m.issym():
            want = m.pax_headers.get(CHECKSUM)
            got = hashlib.sha1(m.linkname.encode("utf-8", "surrogateescape"))
            if want and got.hexdigest() != want.lower():
                raise ValueError(f"{m.name}: its link target has SHA1 {got.hexdigest()}, the "
                                 f"package's header says {want}")
            sums[rel] = got.digest()
        elif m.islnk():
            sums[rel] = sums.get(clean_member(m.linkname), b"")   # the file it names

    with ExitStack() as stack:
        try:
            # through decompressed(): a bomb is stopped at a bounded expansion
            stream = data or stack.enter_context(decompressed_file(path, parts.data_start))
            with tar_reader(stream) as tar:
                tar_to_tree(_Skipping(tar), writer, note, owners, reader)  # type: ignore[arg-type]
        except (*DAMAGED, OSError) as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise
            raise ValueError(f"damaged data part: {e}") from None
    for e in result.entries:
        if e.kind == "hardlink":
            e.kind = "file"
        if e.kind != "dir" and sums.get(e.path):
            e.checksum = q1(sums[e.path])
    return result


class _Skipping:
    """The data part's members but apk's placeholders (.keep_*), which apk skips."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar

    def __iter__(self):  # type: ignore[no-untyped-def]
        for m in self.tar:
            if os.path.basename(m.name.rstrip("/")).startswith(".keep_"):
                continue
            yield m

    def extractfile(self, m: tarfile.TarInfo):  # type: ignore[no-untyped-def]
        return self.tar.extractfile(m)
