"""A .deb: an ar archive of debian-binary, control.tar.* and data.tar.*."""
from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap.archive import DAMAGED, ar_members, open_tar, tar_to_tree
from bootstrap.treewriter import TreeWriter

DATA_SUFFIXES = (".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2")


@dataclass
class Unpacked:
    control: dict[str, bytes]               # control member name -> content
    paths: list[str] = field(default_factory=list)   # as listed by dpkg: '/.', '/usr', ...


def _control(stream) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    out: dict[str, bytes] = {}
    with open_tar(stream) as tar:
        for m in tar:
            if m.isreg():
                f = tar.extractfile(m)
                assert f is not None
                out[m.name.split("/")[-1]] = f.read()
    return out


def unpack(path: Path, writer: TreeWriter) -> Unpacked:
    """Stream the package's files into the tree; return its control files and file list.

    Raises ValueError for a damaged package and treewriter.Unsafe for a hostile one."""
    control: dict[str, bytes] = {}
    result = Unpacked(control)
    seen_data = False
    with open(path, "rb") as f:
        for name, stream in ar_members(f, "the package"):
            if name == "debian-binary":
                version = stream.read().strip()
                if not version.startswith(b"2."):
                    raise ValueError(f"unsupported .deb format {version.decode(errors='replace')}")
            elif name.startswith("control.tar"):
                control.update(_control(stream))
            elif name.startswith("data.tar") and name[4:] in DATA_SUFFIXES:
                def note(rel: str, m: tarfile.TarInfo) -> None:
                    result.paths.append("/" + rel if rel else "/.")
                try:
                    with open_tar(stream) as tar:
                        tar_to_tree(tar, writer, note)
                except (*DAMAGED, OSError) as e:
                    if isinstance(e, OSError) and e.errno is not None:
                        raise
                    raise ValueError(f"damaged {name}: {e}") from None
                seen_data = True
    if "control" not in control or not seen_data:
        raise ValueError("not a complete .deb (no control file or no data.tar)")
    return result
