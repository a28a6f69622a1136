"""A .deb: an ar archive of debian-binary, control.tar.* and data.tar.*."""
from __future__ import annotations

import lzma
import re
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from bootstrap.archive import (DAMAGED, ar_members, as_text, decompressed, open_tar,
                               tar_reader, tar_to_tree)
from bootstrap.families.deb.release import parse_deb822
from bootstrap.treewriter import TreeWriter, Unsafe, shown

DATA_SUFFIXES = (".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tar.lzma")
# what dpkg takes as a package name (pkg_name_is_illegal) and an architecture
PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
ARCHITECTURE = re.compile(r"[A-Za-z0-9-]+")


@dataclass
class Unpacked:
    control: dict[str, bytes]               # control member name -> content
    paths: list[str] = field(default_factory=list)   # as listed by dpkg: '/.', '/usr', ...
    fields: dict[str, str] = field(default_factory=dict)   # the control file's


def _fields(control: dict[str, bytes]) -> dict[str, str]:
    """The control file's fields, once dpkg would take them: a package name it
    allows (it names files in the database), triggers it allows."""
    try:
        stanzas = parse_deb822(as_text(control["control"]))
    except ValueError as e:
        raise ValueError(f"a damaged control file ({shown(str(e))})") from None
    fields = stanzas[0] if stanzas else {}
    name = fields.get("Package", "")
    if not PACKAGE.fullmatch(name):
        raise ValueError(f"its control file names the package '{shown(name)}', which dpkg "
                         "refuses")
    if fields.get("Multi-Arch") == "same" and \
            not ARCHITECTURE.fullmatch(fields.get("Architecture", "")):
        raise ValueError(f"{name}: its Architecture '{shown(fields.get('Architecture', ''))}' "
                         "is not one")
    for line in as_text(control.get("triggers", b"")).splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and not trigger_name_ok(words[1]):
            raise ValueError(f"{name}: the trigger name '{shown(words[1])}' is not one dpkg "
                             "takes")
    return fields


def trigger_name_ok(trigger: str) -> bool:
    """dpkg's rule (trig_name_is_illegal: printable ASCII, no blank); a named
    trigger is a file of the database, so it has no '/' (a file trigger is an
    absolute path)."""
    return bool(trigger) and all("!" <= c <= "~" for c in trigger) and \
        (trigger.startswith("/") or "/" not in trigger)


# the control files of the largest packages are a few MiB (symbols, md5sums)
CONTROL_LIMIT = 64 << 20


def _control(stream) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    out: dict[str, bytes] = {}
    total = 0
    with open_tar(stream) as tar:
        for m in tar:
            if m.isreg():
                total += m.size
                if total > CONTROL_LIMIT:
                    raise ValueError("a control.tar larger than any package's")
                f = tar.extractfile(m)
                assert f is not None
                out[m.name.split("/")[-1]] = f.read()
    return out


def _by_name(stream: BinaryIO, name: str) -> BinaryIO:
    """A member's bytes decompressed as its name says where no magic number tells:
    lzma's old format (data.tar.lzma, which dpkg still reads) has none."""
    if name.endswith(".lzma"):
        return lzma.LZMAFile(stream, format=lzma.FORMAT_ALONE)  # type: ignore[return-value]
    return stream


def _is_data(name: str) -> bool:
    return name.startswith("data.tar") and name[4:] in DATA_SUFFIXES


@contextmanager
def data_member(path: Path) -> Iterator[BinaryIO]:
    """The first data member's contents decompressed, read in a handle of its own
    (ahead of unpack(), which is then given them)."""
    with open(path, "rb") as f:
        for name, stream in ar_members(f, "the package"):
            if _is_data(name):
                yield decompressed(_by_name(stream, name))
                return
    raise ValueError("no data member")      # unpack() says so, not reading this


def unpack(path: Path, writer: TreeWriter, data: Optional[BinaryIO] = None) -> Unpacked:
    """Stream the package's files into the tree; return its control files and file list.
    data, where given, is what data_member() gives: the first data member's contents,
    decompressed ahead.

    Raises ValueError for a damaged package and treewriter.Unsafe for a hostile one."""
    control: dict[str, bytes] = {}
    result = Unpacked(control)
    seen_data = False
    links: list[str] = []
    with open(path, "rb") as f:
        for name, stream in ar_members(f, "the package"):
            if name == "debian-binary":
                version = stream.read(64).strip()
                if not version.startswith(b"2."):
                    raise ValueError(f"unsupported .deb format {version[:40]!r}")
            elif name.startswith("control.tar"):
                try:
                    control.update(_control(_by_name(stream, name)))
                except (*DAMAGED, OSError) as e:
                    if isinstance(e, OSError) and e.errno is not None:
                        raise
                    raise ValueError(f"damaged {name}: {e}") from None
            elif _is_data(name):
                def note(rel: str, m: tarfile.TarInfo) -> None:
                    if "\n" in rel:
                        # as dpkg: its file lists hold one name a line
                        raise Unsafe(f"newline not allowed in a name: '{shown(rel)}'")
                    # dpkg's tar reader takes symlinks after every other member
                    # (lib/dpkg/tarfn.c), so its list names them last
                    (links if m.issym() else result.paths).append("/" + rel if rel else "/.")
                ahead, data = data, None
                try:
                    with (tar_reader(ahead) if ahead else open_tar(_by_name(stream, name))
                          ) as tar:
                        tar_to_tree(tar, writer, note)
                except (*DAMAGED, OSError) as e:
                    if isinstance(e, OSError) and e.errno is not None:
                        raise
                    raise ValueError(f"damaged {name}: {e}") from None
                seen_data = True
    result.paths += links
    if "control" not in control or not seen_data:
        raise ValueError("not a complete .deb (no control file or no data.tar)")
    result.fields = _fields(control)
    return result
