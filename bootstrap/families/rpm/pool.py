"""The candidates of a solve, as libsolv's pool holds them: the packages of the
native architecture and noarch, numbered in metadata order (libsolv's solvable
ids), with what each provides, and the file lists primary gives (the rest of
filelists read only when a path is not found there)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Callable, Iterable, Optional

from bootstrap.families.rpm.depend import Dependency, Simple, parse
from bootstrap.families.rpm.repodata import RpmPackage
from bootstrap.families.rpm.version import EVR, compare

Files = Callable[[str], list[str]]     # a path -> the nevras whose full file lists hold it


def simple_of(d) -> Simple:  # type: ignore[no-untyped-def]
    return Simple.of(d.name, d.flags, d.epoch, d.ver, d.rel)


def deps_of(p: RpmPackage, kind: str) -> list[tuple[Dependency, bool]]:
    """(dependency, is a pre-requirement) of a kind, rich ones parsed."""
    out = []
    for d in p.deps.get(kind, []):
        if d.name.startswith("rpmlib("):
            continue
        out.append((_rich(d.name) if d.name.startswith("(") else simple_of(d), d.pre))
    return out


def _rich(name: str) -> Dependency:
    """A rich dependency; one that does not parse is a plain name no package
    provides, as libsolv reads it from primary."""
    try:
        return parse(name)
    except ValueError:
        return Simple(name)


def evr_of(p: RpmPackage) -> EVR:
    return EVR(p.epoch, p.version, p.release)


@dataclass
class Selection:
    packages: list[RpmPackage]          # install order
    explicit: set[str] = field(default_factory=set)


class Pool:
    def __init__(self, packages: Iterable[RpmPackage], arch: str,
                 full_files: Optional[Files] = None) -> None:
        self.arch = arch
        # the candidates in metadata order: libsolv's solvable ids, from 1
        self.solvables: list[RpmPackage] = [
            p for p in packages if p.arch in (arch, "noarch")]
        self._id = {id(p): i for i, p in enumerate(self.solvables, 1)}
        by_name: dict[str, list[RpmPackage]] = {}
        for p in self.solvables:
            by_name.setdefault(p.name, []).append(p)
        self.by_name = {n: sorted(ps, key=evr_key, reverse=True) for n, ps in by_name.items()}
        self.provides: dict[str, list[tuple[RpmPackage, Simple]]] = {}
        self.files: dict[str, list[RpmPackage]] = {}
        self.nevra: dict[str, RpmPackage] = {}
        for p in self.solvables:
            self.nevra[p.nevra] = p
            self.provides.setdefault(p.name, []).append((p, Simple(p.name, 8, evr_of(p))))
            for d in p.deps.get("provides", []):
                self.provides.setdefault(d.name, []).append((p, simple_of(d)))
            for path in p.files:
                self.files.setdefault(path, []).append(p)
        self.full_files = full_files
        self._ids: dict[Simple, tuple[int, ...]] = {}

    def providers(self, dep: Simple) -> list[RpmPackage]:
        found = [p for p, prov in self.provides.get(dep.name, []) if prov.overlaps(dep)]
        if dep.name.startswith("/"):
            owners = self.files.get(dep.name)
            if owners is None and self.full_files is not None:
                owners = [self.nevra[n] for n in self.full_files(dep.name) if n in self.nevra]
                self.files[dep.name] = owners
            found += [p for p in owners or [] if p not in found]
        return found

    def id(self, p: RpmPackage) -> int:
        return self._id[id(p)]

    def package(self, i: int) -> RpmPackage:
        return self.solvables[i - 1]

    def provider_ids(self, dep: Simple) -> tuple[int, ...]:
        """The providers' ids, ascending, as libsolv's whatprovides lists them."""
        ids = self._ids.get(dep)
        if ids is None:
            ids = self._ids[dep] = tuple(sorted({self.id(p) for p in self.providers(dep)}))
        return ids


def evr_key(p: RpmPackage):  # type: ignore[no-untyped-def]
    return cmp_to_key(compare)(evr_of(p))


def obsoletes(p: RpmPackage, q: RpmPackage) -> bool:
    """Does p obsolete q? By name and version, as libsolv matches obsoletes."""
    if p.name == q.name:
        return False
    target = Simple(q.name, 8, evr_of(q))
    return any(o.name == q.name and simple_of(o).overlaps(target)
               for o in p.deps.get("obsoletes", []))
