"""The tree's apk database as apk-tools 2 writes it: lib/apk/db/installed,
scripts.tar and triggers, the lock, and /etc/apk's world, repositories, keys and
arch, so the tree's own apk sees a consistent system."""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import Sequence

from bootstrap.archive import as_bytes
from bootstrap.families.apk.depend import Dep
from bootstrap.families.apk.index import ORDER, ApkPackage
from bootstrap.families.apk.package import SCRIPTS, Unpacked
from bootstrap.treewriter import TreeWriter

DB = "lib/apk/db"
DIR_DEFAULT = (0, 0, 0o755)
FILE_DEFAULT = (0, 0, 0o644)


@dataclass
class Installed:
    pkg: ApkPackage
    files: Unpacked


def _acl(uid: int, gid: int, mode: int) -> str:
    return f"{uid}:{gid}:{mode:o}"


def record(item: Installed) -> str:
    """One package's record: the index's fields in apk's order, what .PKGINFO adds
    (replaces, their priority), the repository tag, then each directory (F:, M:
    where not root's 0755) with its files (R:, a: where not root's 0644, Z:)."""
    pkg, info = item.pkg, item.files.parts.info
    lines = [f"{letter}:{value}" for letter in ORDER for k, value in pkg.fields
             if k == letter]
    if info.get("replaces"):
        lines.append("r:" + " ".join(info["replaces"]))
    priority = (info.get("replaces_priority") or ["0"])[0]
    if priority not in ("", "0"):
        lines.append(f"q:{priority}")
    if pkg.tag:
        lines.append(f"s:{pkg.tag}")
    dirs: dict[str, list[str]] = {}
    acl: dict[str, tuple[int, int, int]] = {}
    for e in item.files.entries:
        if e.kind == "dir":
            dirs.setdefault(e.path, [])
            acl[e.path] = (e.uid, e.gid, e.mode)
            continue
        parent, _, name = e.path.rpartition("/")
        lines_of = dirs.setdefault(parent, [])
        lines_of.append(f"R:{name}")
        mode = 0o777 if e.kind == "symlink" else e.mode
        if (e.uid, e.gid, mode) != FILE_DEFAULT:
            lines_of.append(f"a:{_acl(e.uid, e.gid, mode)}")
        if e.checksum:
            lines_of.append(f"Z:{e.checksum}")
    for path, content in dirs.items():
        lines.append(f"F:{path}")
        if acl.get(path, DIR_DEFAULT) != DIR_DEFAULT:
            lines.append(f"M:{_acl(*acl[path])}")
        lines += content
    return "\n".join(lines) + "\n\n"


def skeleton(writer: TreeWriter) -> None:
    """What `apk add --initdb` makes in an empty root."""
    writer.mkdir("tmp", 0o1777, 0, 0)
    for d in ("dev", "etc", "etc/apk", "lib", "lib/apk", DB, "var", "var/cache",
              "var/cache/apk", "var/cache/misc"):
        writer.mkdir(d, 0o755, 0, 0)


def write(writer: TreeWriter, installed: Sequence[Installed], when: int) -> None:
    by_name = sorted(installed, key=lambda i: i.pkg.name)
    writer.write_bytes(f"{DB}/installed", as_bytes("".join(record(i) for i in by_name)))
    writer.write_bytes(f"{DB}/scripts.tar", scripts_tar(by_name, when))
    triggers = [f"{i.pkg.field('C')} {' '.join(globs(i))}\n" for i in by_name
                if ".trigger" in i.files.parts.scripts and globs(i)]
    writer.write_bytes(f"{DB}/triggers", as_bytes("".join(triggers)))
    writer.write_bytes(f"{DB}/lock", b"", 0o600)


def globs(item: Installed) -> list[str]:
    return " ".join(item.files.parts.info.get("triggers", [])).split()


def scripts_tar(installed: Sequence[Installed], when: int) -> bytes:
    """Every package's scripts as `name-version.C.type`, as apk keeps them."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for item in installed:
            for script in SCRIPTS:
                data = item.files.parts.scripts.get(script)
                if data is None:
                    continue
                info = tarfile.TarInfo(f"{item.pkg.name}-{item.pkg.version}."
                                       f"{item.pkg.field('C')}.{script[1:]}")
                info.size, info.mode, info.mtime = len(data), 0o755, when
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def write_config(writer: TreeWriter, world: Sequence[Dep], repositories: Sequence[str],
                 keys: dict[str, bytes], arch: str) -> None:
    """/etc/apk: the world as asked (sorted), the repositories the tree came from,
    the keys that vouched for them (where no package put its own), the arch."""
    writer.write_bytes("etc/apk/world", "".join(f"{d}\n" for d in world).encode())
    writer.write_bytes("etc/apk/repositories",
                       "".join(f"{r}\n" for r in repositories).encode())
    writer.mkdir("etc/apk/keys", 0o755, 0, 0)
    for name, data in sorted(keys.items()):
        if not writer.exists(f"etc/apk/keys/{name}"):
            writer.write_bytes(f"etc/apk/keys/{name}", data)
    if not writer.exists("etc/apk/arch"):
        writer.write_bytes("etc/apk/arch", f"{arch}\n".encode())
