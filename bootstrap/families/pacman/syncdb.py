"""Sync databases (core.db, extra.db): a tarball with a NAME-VERSION/desc file per
package (older ones split %DEPENDS% and friends into a `depends` file)."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Optional

from bootstrap.archive import DAMAGED, open_tar
from bootstrap.digest import Digest
from bootstrap.families.pacman.depend import Depend
from bootstrap.numbers import number


NAME = re.compile(r"[A-Za-z0-9@_+][A-Za-z0-9@._+-]*")
VERSION = re.compile(r"[A-Za-z0-9._+:~-]+")
FILENAME = re.compile(r"[A-Za-z0-9@_+][A-Za-z0-9@._+:~-]*")


@dataclass(frozen=True)
class SyncPackage:
    repo: str
    name: str
    version: str
    filename: str
    digest: Digest
    csize: int
    arch: str
    depends: tuple[Depend, ...]
    provides: tuple[Depend, ...]
    conflicts: tuple[Depend, ...]
    replaces: tuple[Depend, ...]
    groups: tuple[str, ...]
    pgpsig: Optional[str]
    isize: int = 0                    # %ISIZE%: bytes installed (0: not said)

    @property
    def relpath(self) -> str:
        """Where the package lies under the mirror: the repository, then the file."""
        return f"{self.repo}/{self.filename}"

    def __str__(self) -> str:
        return f"{self.repo}/{self.name} {self.version}"


def parse_fields(text: str) -> dict[str, list[str]]:
    """%KEY% blocks: a header line, then values one per line up to a blank line."""
    fields: dict[str, list[str]] = {}
    key: Optional[str] = None
    for line in text.splitlines():
        if line.startswith("%") and line.endswith("%") and len(line) > 2:
            key = line[1:-1]
            fields.setdefault(key, [])
        elif not line:
            key = None
        elif key is not None:
            fields[key].append(line)
    return fields


class Refused(ValueError):
    """An entry libalpm would keep but rootstrap cannot use safely (the reason)."""


def _package(repo: str, fields: dict[str, list[str]]) -> SyncPackage:
    """The entry's package; Refused when it cannot be fetched and checked safely.
    Relations are read as libalpm reads them: never refused."""
    def one(key: str, default: Optional[str] = None) -> str:
        values = fields.get(key)
        if values:
            return values[0]
        if default is None:
            raise Refused(f"no %{key}%")
        return default

    def deps(key: str) -> tuple[Depend, ...]:
        return tuple(Depend.parse(v) for v in fields.get(key, ()))

    name = one("NAME")
    version = one("VERSION")
    filename = one("FILENAME")
    # names end up in paths (the local database, the mirror): keep them to what
    # makepkg allows, never a '/' or a leading dot
    if not NAME.fullmatch(name) or not VERSION.fullmatch(version) \
            or not FILENAME.fullmatch(filename):
        raise Refused(f"refusing the entry {name!r} {version!r} {filename!r}, which would "
                      "make a path")
    try:
        digest = Digest.parse("sha256", one("SHA256SUM", ""))
    except ValueError:
        raise Refused("no SHA256 checksum (%SHA256SUM%)") from None
    csize, isize = one("CSIZE", "0"), one("ISIZE", "0")
    return SyncPackage(
        repo=repo, name=name, version=version, filename=filename, digest=digest,
        csize=number(csize, 0), arch=one("ARCH", "any"),
        depends=deps("DEPENDS"), provides=deps("PROVIDES"), conflicts=deps("CONFLICTS"),
        replaces=deps("REPLACES"), groups=tuple(fields.get("GROUPS", ())),
        pgpsig="".join(fields["PGPSIG"]) if fields.get("PGPSIG") else None,
        isize=number(isize, 0))


@dataclass
class SyncDb:
    repo: str
    packages: list[SyncPackage]      # sorted by name, as libalpm keeps them
    refused: dict[str, str]          # entry (its NAME, else its folder) -> why


def parse_db(data: bytes, repo: str, where: str) -> SyncDb:
    """Every package in a sync database. An entry that cannot be used is set aside
    with the reason, not held against the others: it only matters if chosen.

    Raises ValueError for a database that is not one."""
    entries: dict[str, dict[str, list[str]]] = {}
    try:
        with open_tar(io.BytesIO(data)) as tar:
            for m in tar:
                if not m.isreg():
                    continue
                directory, _, base = m.name.strip("/").rpartition("/")
                if not directory or "/" in directory or base not in ("desc", "depends"):
                    continue
                f = tar.extractfile(m)
                assert f is not None
                text = f.read().decode("utf-8", "replace")
                for key, values in parse_fields(text).items():
                    entries.setdefault(directory, {}).setdefault(key, []).extend(values)
    except (*DAMAGED, OSError, ValueError) as e:
        raise ValueError(f"{where}: not a readable sync database ({e})") from None
    packages: dict[str, SyncPackage] = {}
    refused: dict[str, str] = {}
    for directory, fields in entries.items():
        label = (fields.get("NAME") or [directory])[0]
        try:
            pkg = _package(repo, fields)
        except Refused as e:
            refused[label] = str(e)
            continue
        if pkg.name in packages:
            refused[pkg.name] = "listed twice"
            del packages[pkg.name]
            continue
        packages[pkg.name] = pkg
    for name in refused:
        packages.pop(name, None)
    return SyncDb(repo, sorted(packages.values(), key=lambda p: p.name), refused)
