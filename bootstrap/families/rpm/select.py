"""What `dnf install` puts into an empty root, as rootstrap decides it.

Only the native architecture and noarch are candidates, and of each name the
newest version (an older one only where a range excludes the newest). A
requirement met by a package already chosen needs nothing more; else one
provider is picked:
  1. not obsoleted by another candidate (a package another one obsoletes gives
     way to it, as dnf follows obsoletes);
  2. the package of that very name;
  3. a package that something already chosen recommends or that supplements it
     (dnf's libsolv prefers those even with weak dependencies off);
  4. the shortest name, then the first in alphabetical order.
(libsolv's tie-breaking among equals is by its pool order; step 4 is where
rootstrap may pick another of equally good providers than dnf.)
Rich dependencies hold over the whole chosen set: `or` is met by the first
alternative that is, or else the first that can be; `if` and `unless` are
looked at again until nothing changes. Conflicts are refused. Weak
dependencies (Recommends, Supplements) only with weak=True. The order is
rpm's: what a package requires, its Requires(pre) first, before it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from bootstrap.errors import die
from bootstrap.families.rpm.depend import Dependency, Rich, Simple, holds, parse
from bootstrap.families.rpm.repodata import RpmPackage
from bootstrap.families.rpm.version import EVR, compare

Files = Callable[[str], list[str]]     # a path -> the nevras whose full file lists hold it


def _simple(d) -> Simple:  # type: ignore[no-untyped-def]
    return Simple.of(d.name, d.flags, d.epoch, d.ver, d.rel)


def _deps(p: RpmPackage, kind: str) -> list[tuple[Dependency, bool]]:
    """(dependency, is a pre-requirement) of a kind, rich ones parsed."""
    out = []
    for d in p.deps.get(kind, []):
        if d.name.startswith("rpmlib("):
            continue
        out.append((parse(d.name) if d.name.startswith("(") else _simple(d), d.pre))
    return out


def _evr(p: RpmPackage) -> EVR:
    return EVR(p.epoch, p.version, p.release)


@dataclass
class Selection:
    packages: list[RpmPackage]          # install order
    explicit: set[str] = field(default_factory=set)


class Pool:
    def __init__(self, packages: Iterable[RpmPackage], arch: str,
                 full_files: Optional[Files] = None) -> None:
        self.arch = arch
        by_name: dict[str, list[RpmPackage]] = {}
        for p in packages:
            if p.arch in (arch, "noarch"):
                by_name.setdefault(p.name, []).append(p)
        self.by_name = {n: sorted(ps, key=_evr_key, reverse=True) for n, ps in by_name.items()}
        self.provides: dict[str, list[tuple[RpmPackage, Simple]]] = {}
        self.files: dict[str, list[RpmPackage]] = {}
        self.nevra: dict[str, RpmPackage] = {}
        for ps in self.by_name.values():
            for p in ps:
                self.nevra[p.nevra] = p
                self.provides.setdefault(p.name, []).append(
                    (p, Simple(p.name, 8, _evr(p))))
                for d in p.deps.get("provides", []):
                    self.provides.setdefault(d.name, []).append((p, _simple(d)))
                for path in p.files:
                    self.files.setdefault(path, []).append(p)
        self.full_files = full_files

    def providers(self, dep: Simple) -> list[RpmPackage]:
        found = [p for p, prov in self.provides.get(dep.name, []) if prov.overlaps(dep)]
        if dep.name.startswith("/"):
            owners = self.files.get(dep.name)
            if owners is None and self.full_files is not None:
                owners = [self.nevra[n] for n in self.full_files(dep.name) if n in self.nevra]
                self.files[dep.name] = owners
            found += [p for p in owners or [] if p not in found]
        return found


def _evr_key(p: RpmPackage):  # type: ignore[no-untyped-def]
    from functools import cmp_to_key
    return cmp_to_key(compare)(_evr(p))


def select(pool: Pool, names: Sequence[str], where: str, weak: bool = False) -> Selection:
    chosen: dict[str, RpmPackage] = {}
    order_hint: list[str] = []
    explicit: set[str] = set()

    def met(dep: Simple) -> bool:
        return any(p.name in chosen and chosen[p.name] is p for p in pool.providers(dep))

    def wanted_by_chosen(p: RpmPackage) -> bool:
        for c in chosen.values():
            for d, _ in _deps(c, "recommends"):
                if isinstance(d, Simple) and p in pool.providers(d):
                    return True
        return any(holds(d, met) for d, _ in _deps(p, "supplements"))

    def obsoleted(p: RpmPackage, among: list[RpmPackage]) -> bool:
        for other in among:
            if other is p:
                continue
            for o in other.deps.get("obsoletes", []):
                if o.name == p.name and _simple(o).overlaps(Simple(p.name, 8, _evr(p))):
                    return True
        return False

    def pick(dep: Simple, why: list[str]) -> Optional[RpmPackage]:
        candidates = [p for p in pool.providers(dep)
                      if p.name not in chosen and pool.by_name[p.name]]
        # the newest version of each name that meets the range
        best: dict[str, RpmPackage] = {}
        for p in candidates:
            if p.name not in best or compare(_evr(p), _evr(best[p.name])) > 0:
                best[p.name] = p
        options = list(best.values())
        options = [p for p in options if not obsoleted(p, options)] or options
        if not options:
            return None
        return min(options, key=lambda p: (p.name != dep.name, not wanted_by_chosen(p),
                                           len(p.name), p.name))

    def install(p: RpmPackage, why: list[str]) -> None:
        if p.name in chosen:
            return
        chosen[p.name] = p
        order_hint.append(p.name)
        for dep, _ in sorted(_deps(p, "requires"), key=lambda x: not x[1]):
            need(dep, why + [str(p)])

    def need(dep: Dependency, why: list[str]) -> None:
        if isinstance(dep, Simple):
            if met(dep):
                return
            p = pick(dep, why)
            if p is None:
                chain = " <- ".join([str(dep)] + why[::-1])
                die(f"cannot satisfy dependency {chain} from {where}")
            install(p, why)
            return
        a = dep.args
        if dep.op in ("and", "with"):
            for x in a:
                need(x, why)
        elif dep.op == "or":
            if not holds(dep, met):
                for x in a:
                    if satisfiable(x):
                        need(x, why)
                        return
                die(f"cannot satisfy dependency {dep} <- {' <- '.join(why[::-1])} from {where}")
        elif dep.op == "without":
            need(a[0], why)
        else:
            condition = holds(a[1], met)
            if (condition and dep.op == "if") or (not condition and dep.op == "unless"):
                need(a[0], why)
            elif len(a) > 2:
                need(a[2], why)

    def satisfiable(dep: Dependency) -> bool:
        if isinstance(dep, Simple):
            return met(dep) or bool(pool.providers(dep))
        if dep.op == "or":
            return any(satisfiable(x) for x in dep.args)
        if dep.op in ("and", "with"):
            return all(satisfiable(x) for x in dep.args)
        return satisfiable(dep.args[0])

    # plain names first: what is asked by name meets the alternatives of the rest
    for text in sorted(names, key=lambda t: t.startswith("(")):
        dep = parse(text) if text.startswith("(") else Simple(text)
        if isinstance(dep, Simple) and dep.name in pool.by_name:
            explicit.add(dep.name)
        need(dep, ["the request"])
    # conditions may have become true since: look again until nothing changes
    while True:
        before = len(chosen)
        for p in list(chosen.values()):
            for dep, _ in _deps(p, "requires"):
                if isinstance(dep, Rich):
                    need(dep, [str(p)])
        if weak:
            for p in list(chosen.values()):
                for dep, _ in _deps(p, "recommends"):
                    if isinstance(dep, Simple) and not met(dep) and pick(dep, []):
                        need(dep, [str(p)])
            for ps in pool.by_name.values():
                p = ps[0]
                if p.name not in chosen and any(holds(d, met) for d, _ in
                                                _deps(p, "supplements")):
                    install(p, ["supplements"])
        if len(chosen) == before:
            break
    _conflicts(pool, chosen)
    return Selection(_order(pool, chosen, order_hint), explicit)


def _conflicts(pool: Pool, chosen: dict[str, RpmPackage]) -> None:
    for p in chosen.values():
        for dep, _ in _deps(p, "conflicts"):
            if not isinstance(dep, Simple):
                continue
            for other in pool.providers(dep):
                if other.name != p.name and chosen.get(other.name) is other:
                    die(f"{p} conflicts with {other} ({dep}); --exclude one of them")


def _order(pool: Pool, chosen: dict[str, RpmPackage], hint: list[str]) -> list[RpmPackage]:
    done: list[RpmPackage] = []
    state: dict[str, int] = {}

    def visit(p: RpmPackage) -> None:
        if state.get(p.name):
            return
        state[p.name] = 1
        for dep, _ in sorted(_deps(p, "requires"), key=lambda x: not x[1]):
            simples = [dep] if isinstance(dep, Simple) else list(_flatten(dep))
            for s in simples:
                for q in pool.providers(s):
                    if chosen.get(q.name) is q and q is not p:
                        visit(q)
                        break
        state[p.name] = 2
        done.append(p)

    for name in hint:
        visit(chosen[name])
    return done


def _flatten(dep: Dependency) -> Iterable[Simple]:
    if isinstance(dep, Simple):
        yield dep
    else:
        for a in dep.args:
            yield from _flatten(a)
