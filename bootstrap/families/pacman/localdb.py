"""The local database as pacman writes it: var/lib/pacman/local/NAME-VERSION/
with desc, files, mtree, install and changelog, and ALPM_DB_VERSION."""
from __future__ import annotations

from bootstrap.archive import as_bytes
from bootstrap.families.pacman.pkgfile import Unpacked
from bootstrap.treewriter import TreeWriter

DBPATH = "var/lib/pacman"
LOCAL = f"{DBPATH}/local"
DB_VERSION = "9"

# .PKGINFO key -> desc section, in the order libalpm writes them
_HEAD = (("pkgname", "NAME"), ("pkgver", "VERSION"), ("pkgbase", "BASE"),
         ("pkgdesc", "DESC"), ("url", "URL"), ("arch", "ARCH"))
_TAIL = (("license", "LICENSE"),)
_RELATIONS = (("replaces", "REPLACES"), ("depend", "DEPENDS"), ("optdepend", "OPTDEPENDS"),
              ("conflict", "CONFLICTS"), ("provides", "PROVIDES"), ("xdata", "XDATA"))


def _section(name: str, values: list[str]) -> str:
    return f"%{name}%\n" + "".join(f"{v}\n" for v in values) + "\n" if values else ""


def _nonzero(values: list[str]) -> list[str]:
    # libalpm leaves out a date or size of zero
    return values[:1] if values and values[0] not in ("", "0") else []


def desc(pkg: Unpacked, explicit: bool, when: int, validation: str) -> str:
    info = pkg.info
    out = "".join(_section(sec, info.get(key, [])[:1]) for key, sec in _HEAD)
    out += _section("BUILDDATE", _nonzero(info.get("builddate", [])))
    out += _section("INSTALLDATE", [str(when)])
    out += _section("PACKAGER", info.get("packager", [])[:1])
    out += _section("SIZE", _nonzero(info.get("size", [])))
    if not explicit:
        out += _section("REASON", ["1"])
    out += _section("GROUPS", info.get("group", []))
    out += "".join(_section(sec, info.get(key, [])) for key, sec in _TAIL)
    out += _section("VALIDATION", [validation])
    out += "".join(_section(sec, info.get(key, [])) for key, sec in _RELATIONS)
    return out


def files(pkg: Unpacked) -> str:
    out = _section("FILES", pkg.files)
    backup = [f"{path}\t{md5}" for path, md5 in pkg.backup_md5.items()]  # .PKGINFO order
    return out + _section("BACKUP", backup)


def entry_dir(pkg: Unpacked) -> str:
    info = pkg.info
    return f"{LOCAL}/{info['pkgname'][0]}-{info['pkgver'][0]}"


def skeleton(writer: TreeWriter) -> None:
    for rel in ("var", "var/lib", DBPATH, LOCAL, f"{DBPATH}/sync", "var/cache",
                "var/cache/pacman", "var/cache/pacman/pkg"):
        writer.mkdir(rel, 0o755, 0, 0)
    writer.write_bytes(f"{LOCAL}/ALPM_DB_VERSION", f"{DB_VERSION}\n".encode())


def register(writer: TreeWriter, pkg: Unpacked, explicit: bool, when: int,
             validation: str = "pgp") -> None:
    base = entry_dir(pkg)
    writer.mkdir(base, 0o755, 0, 0)
    writer.write_bytes(f"{base}/desc", as_bytes(desc(pkg, explicit, when, validation)))
    writer.write_bytes(f"{base}/files", as_bytes(files(pkg)))
    if ".MTREE" in pkg.meta:
        writer.write_bytes(f"{base}/mtree", pkg.meta[".MTREE"])
    if ".INSTALL" in pkg.meta:
        writer.write_bytes(f"{base}/install", pkg.meta[".INSTALL"])
    if ".CHANGELOG" in pkg.meta:
        writer.write_bytes(f"{base}/changelog", pkg.meta[".CHANGELOG"])
