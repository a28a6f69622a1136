"""What `apk add` installs into an empty root for a world.

World entries are taken in name order; each dependency is met, depth first
and before its dependant, by a package already chosen where one meets it, else
by the best candidate as apk ranks them: a package of that name or one that
provides it (an unversioned provide only from a package with a provider
priority), preferring the higher version of the name asked for, then the higher
provider priority (k:), then the repository listed first. A package whose
install_if entries are all met by what is chosen comes along. Conflicts (`!name`)
are refused. The result is in install order: dependencies first."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from bootstrap.errors import die, suggest
from bootstrap.families.apk.depend import Dep
from bootstrap.families.apk.index import ApkPackage, Index
from bootstrap.families.apk.version import compare


@dataclass
class Selection:
    packages: list[ApkPackage]                # install order
    world: list[Dep]                          # as /etc/apk/world lists it
    why: dict[str, str] = field(default_factory=dict)


class Repos:
    def __init__(self, indexes: Sequence[Index]) -> None:
        self.all = [p for index in indexes for p in index.packages]
        self.by_name: dict[str, list[ApkPackage]] = {}
        self.providers: dict[str, list[ApkPackage]] = {}
        for p in self.all:
            self.by_name.setdefault(p.name, []).append(p)
            for prov in p.provides:
                self.providers.setdefault(prov.name, []).append(p)
        self.refused = {name: why for index in indexes for name, why in index.refused.items()}
        self.tags = {p.tag for p in self.all}

    def candidates(self, dep: Dep, tags: frozenset[str]) -> list[ApkPackage]:
        """Who can meet dep from the repositories tags allow ('' untagged), best first."""
        found: dict[int, ApkPackage] = {}
        for p in self.by_name.get(dep.name, []) + self.providers.get(dep.name, []):
            if p.tag not in tags or id(p) in found:
                continue
            if not dep.met_by(p.name, p.version, p.provides, _q1(p)):
                continue
            if p.name != dep.name:
                provide = next(x for x in p.provides if x.name == dep.name)
                if provide.version is None and p.priority is None:
                    continue      # apk picks a bare provide only from a ranked provider
            found[id(p)] = p
        return sorted(found.values(), key=lambda p: _Rank(p, dep.name))


def _q1(p: ApkPackage) -> str:
    return p.field("C")


class _Rank:
    """apk's preference among candidates for a name (smaller is better)."""

    def __init__(self, p: ApkPackage, name: str) -> None:
        self.p = p
        if p.name == name:
            self.version: Optional[str] = p.version
        else:
            self.version = next(x.version for x in p.provides if x.name == name)

    def __lt__(self, other: "_Rank") -> bool:
        a, b = self.version, other.version
        if a != b:
            if a is None or b is None:
                return b is None
            c = compare(a, b)
            if c:
                return c > 0
        pa, pb = self.p.priority or 0, other.p.priority or 0
        if pa != pb:
            return pa > pb
        if self.p.name == other.p.name and self.p.version != other.p.version:
            return compare(self.p.version, other.p.version) > 0
        return (self.p.order, self.p.name) < (other.p.order, other.p.name)


def select(repos: Repos, world: Sequence[Dep], where: str) -> Selection:
    """Solve, then order: what the world needs, as apk's changeset installs it."""
    world = sorted(world, key=lambda d: d.name)
    chosen: dict[str, ApkPackage] = {}
    tags_of: dict[str, frozenset[str]] = {}     # the repositories a package may pull from
    conflicts: list[tuple[Dep, str]] = []       # (dep, who asked for it)
    untagged = frozenset({""})

    def satisfier(dep: Dep) -> Optional[ApkPackage]:
        return next((p for p in chosen.values()
                     if dep.met_by(p.name, p.version, p.provides, _q1(p))), None)

    def pick(dep: Dep, tags: frozenset[str], path: list[str]) -> ApkPackage:
        if dep.tag and dep.tag not in repos.tags:
            die(f"cannot satisfy {dep} <- {' <- '.join(path[::-1])}: no repository is tagged "
                f"@{dep.tag} in {where}")
        for candidate in repos.candidates(dep, tags):
            if any(c.met_by(candidate.name, candidate.version, candidate.provides,
                            _q1(candidate)) for c, _ in conflicts):
                continue        # apk passes over a candidate something conflicts with
            if candidate.name in chosen:
                continue        # another version of it is in already
            return candidate
        chain = " <- ".join([str(dep)] + path[::-1])
        why = f" ({repos.refused[dep.name]})" if dep.name in repos.refused else ""
        if not why and dep.name not in repos.by_name and dep.name not in repos.providers:
            why = suggest(dep.name, [*repos.by_name, *repos.providers])
        die(f"cannot satisfy dependency {chain} from {where}{why}")

    def add(pkg: ApkPackage, tags: frozenset[str]) -> None:
        chosen[pkg.name] = pkg
        tags_of[pkg.name] = tags | {pkg.tag}
        todo.append(pkg)

    # what the world names comes first, so it meets the others' needs where it can
    todo: list[ApkPackage] = []
    for dep in world:
        if dep.conflict:
            conflicts.append((dep, "world"))
        elif not satisfier(dep):
            tags = untagged | ({dep.tag} if dep.tag else set())
            add(pick(dep, tags, ["world"]), tags)
    while True:
        while todo:
            pkg = todo.pop(0)
            for dep in pkg.depends:
                if dep.conflict:
                    conflicts.append((dep, pkg.name))
                elif not satisfier(dep):
                    add(pick(dep, tags_of[pkg.name], [str(pkg)]), tags_of[pkg.name])
        for p in _install_if(repos, chosen, satisfier):
            add(p, untagged | {p.tag})
        if not todo:
            break
    for dep, who in conflicts:
        for p in chosen.values():
            if p.name != who and dep.met_by(p.name, p.version, p.provides, _q1(p)):
                die(f"{'the world' if who == 'world' else chosen[who]} conflicts with {p} "
                    f"({dep}); --exclude one of them or ask for another")
    return Selection(_order(world, chosen, satisfier), world)


def _install_if(repos: Repos, chosen: dict[str, ApkPackage], satisfier) -> list[ApkPackage]:  # type: ignore[no-untyped-def]
    """Packages whose install_if is all met now (the best of each name)."""
    out = []
    for p in repos.all:
        if not p.install_if or p.name in chosen or p in out:
            continue
        if repos.candidates(Dep(p.name), frozenset({"", p.tag}))[:1] != [p]:
            continue
        if all((satisfier(d) is None) if d.conflict else (satisfier(d) is not None)
               for d in p.install_if):
            out.append(p)
    return out


def _order(world: Sequence[Dep], chosen: dict[str, ApkPackage], satisfier) -> list[ApkPackage]:  # type: ignore[no-untyped-def]
    """apk's changeset order: world entries by name, each package after what it
    depends on (in the order its D: lists them), an install_if package once all
    its triggers are in."""
    done: list[ApkPackage] = []
    seen: set[str] = set()
    waiting = [p for p in chosen.values() if p.install_if]

    def visit(pkg: ApkPackage) -> None:
        if pkg.name in seen:
            return
        seen.add(pkg.name)
        for dep in pkg.depends:
            if not dep.conflict and (s := satisfier(dep)) is not None:
                visit(s)
        done.append(pkg)
        for w in list(waiting):
            triggers = [satisfier(d) for d in w.install_if if not d.conflict]
            if all(t is not None and t.name in seen for t in triggers):
                waiting.remove(w)
                visit(w)

    for dep in world:
        if not dep.conflict and (s := satisfier(dep)) is not None:
            visit(s)
    for p in chosen.values():
        visit(p)
    return done
