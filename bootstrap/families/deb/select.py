"""Which packages make up the tree: the closure of the request over Depends.

The goal is not "some valid set" but the set apt picks when mmdebstrap (or
debootstrap) builds the same variant, so choices follow apt's documented
behaviour for a single-architecture system:

- only each name's candidate (highest version of the native arch or `all`)
  is ever considered; an older version is never chosen to satisfy a relation;
- Pre-Depends and Depends are followed, Recommends are not;
- the request is processed in stages like mmdebstrap: preselected packages are
  "installed" first, then all Essential: yes packages are marked and their
  dependencies resolved, then everything else that was asked for;
- in a stage, every requested package is marked before any dependency is resolved (so a
  requested package satisfies an alternative that names it), then dependencies are
  resolved depth first, in field order;
- an alternatives group already satisfied by a selected package is left
  alone; otherwise the alternatives are tried in order, and the packages able
  to satisfy one alternative (the package of that name, then providers) are
  ranked the way apt ranks providers: same name first, then Essential, then
  Protected, then already installed, then higher Priority, and last the
  one apt numbered last (apt numbers package names in the order the index
  first mentions them, as a package or in a relationship field);
- a package that conflicts with (or breaks, or is broken by) a selected one
  is passed over; a choice whose own dependencies cannot be met is undone and
  the next one is tried;
- only if no choice works that way may the new package push aside a
  conflicting package that was pulled in automatically (never one asked for
  by name or installed in an earlier stage); what needed the evicted package
  is then satisfied again, and at the end of a stage whatever nothing needs
  any more is dropped, as apt does not install garbage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from bootstrap.errors import Die, suggest

from .packages import DebPackage, provided_names
from .relation import Relation
from .version import sort_key

# The fields in which apt's cache generator meets package names, in the order
# it reads them within a stanza.
_MENTION_FIELDS = ("Pre-Depends", "Depends", "Conflicts", "Breaks", "Recommends",
                   "Suggests", "Replaces", "Enhances", "Provides")
_MENTION_RE = {f: re.compile(r"^%s:(.*(?:\n[ \t].*)*)" % f, re.M) for f in _MENTION_FIELDS}
_NAME_RE = re.compile(r"(?:^|[,|])\s*([^\s,|(\[<]+)")

_PRIORITY_RANK = {"required": 1, "important": 2, "standard": 3, "optional": 4, "extra": 5}


@dataclass
class Request:
    essential: bool = False  # every Essential: yes package
    priorities: tuple[str, ...] = ()  # every package of these priorities
    names: tuple[str, ...] = ()  # explicit names (variant + --include); may be virtual
    exclude: tuple[str, ...] = ()  # never select these
    preselected: tuple[str, ...] = ()  # treated as installed before anything else


def _group_text(group: Iterable[Relation]) -> str:
    return " | ".join(str(r) for r in group)


class _Failure(Exception):
    """A package or dependency that cannot be installed; carries the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Providers:
    """The candidates that provide each name, with the provide: what parsing every
    candidate's Provides up front gave, most of the solver's start on a full
    index. The names each may provide are read from the text without parsing it;
    a name's providers are parsed the first time the solver asks for it."""

    def __init__(self, candidates: Iterable[DebPackage]) -> None:
        self.maybe: dict[str, list[DebPackage]] = {}
        for pkg in candidates:
            for name in provided_names(pkg):
                self.maybe.setdefault(name, []).append(pkg)
        self.known: dict[str, list[tuple[DebPackage, Relation]]] = {}

    def get(self, name: str, default: Iterable[tuple[DebPackage, Relation]] = ()
            ) -> Iterable[tuple[DebPackage, Relation]]:
        hit = self.known.get(name)
        if hit is None:
            hit = self.known[name] = [(pkg, prov) for pkg in self.maybe.get(name, ())
                                      for prov in pkg.provides if prov.name == name]
        return hit or default

    def __contains__(self, name: str) -> bool:
        return bool(self.get(name))

    def __iter__(self) -> Iterator[str]:
        return iter([name for name in self.maybe if name in self])


class _Solver:
    def __init__(self, packages: list[DebPackage], native_arch: str, exclude: Iterable[str], where: str) -> None:
        self.packages = packages
        self.native_arch = native_arch
        self._mention: dict[str, tuple[int, int, int]] = {}
        self.where = where
        self.exclude = frozenset(exclude)
        # Candidate: the highest version of each name among native/all packages.
        cands: dict[str, DebPackage] = {}
        for pkg in packages:
            if pkg.architecture != native_arch and pkg.architecture != "all":
                continue
            old = cands.get(pkg.name)
            if old is None or sort_key(pkg.version) > sort_key(old.version):
                cands[pkg.name] = pkg
        self.candidates = cands
        self.providers = _Providers(cands.values())
        self.selected: dict[str, DebPackage] = {}
        self.journal: list[tuple[str, DebPackage, bool]] = []  # changes, for undo
        self.installed: set[str] = set()  # selected in an earlier stage
        self.protected: set[str] = set()  # asked for by name, or installed: never evicted
        self.dropped = False  # a conflict deselected something since the last repair
        self.may_evict = True
        self.expanded: set[str] = set()  # selected and dependencies (being) resolved
        # name -> (selected package, relation) for each selected package's
        # Conflicts/Breaks, so a new candidate can be checked against them.
        self.negative: dict[str, list[tuple[DebPackage, Relation]]] = {}

    # -- matching --------------------------------------------------------

    def matches(self, rel: Relation) -> list[DebPackage]:
        """Candidates that satisfy `rel`: the package of that name, then providers."""
        out: list[DebPackage] = []
        arch = rel.arch
        if arch not in (None, "any", "native", self.native_arch):
            return out  # a foreign architecture: nothing on a single-arch system
        real = self.candidates.get(rel.name)
        if real is not None and (arch != "any" or real.multi_arch == "allowed") and rel.satisfied_by(real.version):
            out.append(real)
        for pkg, prov in self.providers.get(rel.name, ()):
            if arch == "any" and pkg.multi_arch != "allowed":
                continue
            if rel.op is not None and (prov.version is None or not rel.satisfied_by(prov.version)):
                continue  # an unversioned provide never meets a versioned relation
            if all(pkg is not o for o in out):  # identity: __eq__ compares whole stanzas
                out.append(pkg)
        return out

    def _hits(self, rel: Relation, pkg: DebPackage) -> bool:
        """Does package `pkg` satisfy relation `rel` (by name or by a provide)?"""
        if rel.name == pkg.name and rel.satisfied_by(pkg.version):
            return True
        for prov in pkg.provides:
            if prov.name == rel.name and (
                rel.op is None or (prov.version is not None and rel.satisfied_by(prov.version))
            ):
                return True
        return False

    def satisfied(self, group: list[Relation]) -> bool:
        selected = self.selected
        for rel in group:
            for pkg in self.matches(rel):
                if selected.get(pkg.name) is pkg:
                    return True
        return False

    def conflicting(self, pkg: DebPackage) -> list[DebPackage]:
        """Selected packages that `pkg` conflicts with or breaks, or that conflict with or break it."""
        found: dict[str, DebPackage] = {}
        selected = self.selected
        for group in (*pkg.conflicts, *pkg.breaks):
            for rel in group:
                other = selected.get(rel.name)
                if other is not None and other.name != pkg.name and self._hits(rel, other):
                    found[other.name] = other
                for prov_pkg, prov in self.providers.get(rel.name, ()):
                    # a package may conflict with what it provides itself
                    if prov_pkg.name == pkg.name or selected.get(prov_pkg.name) is not prov_pkg:
                        continue
                    if rel.op is None or (prov.version is not None and rel.satisfied_by(prov.version)):
                        found[prov_pkg.name] = prov_pkg
        for name in (pkg.name, *(p.name for p in pkg.provides)):
            for other, rel in self.negative.get(name, ()):
                if other.name != pkg.name and selected.get(other.name) is other and self._hits(rel, pkg):
                    found[other.name] = other
        return list(found.values())

    def rank(self, target: str, pkgs: list[DebPackage]) -> list[DebPackage]:
        """Order the packages able to satisfy one alternative, best first."""
        if len(pkgs) < 2:
            return pkgs

        def key(p: DebPackage) -> tuple:
            return (
                p.name != target,
                not p.essential,
                not p.protected,
                p.name not in self.installed,
                _PRIORITY_RANK.get(p.priority, 6),
            )

        ranked = sorted(pkgs, key=key)
        best = key(ranked[0])
        tied = [p for p in ranked if key(p) == best]
        if len(tied) > 1:
            order = self.mention_order({p.name for p in tied})
            tied.sort(key=lambda p: order.get(p.name, (-1, 0, 0)), reverse=True)
            ranked = tied + ranked[len(tied):]
        return ranked

    def mention_order(self, names: set[str]) -> dict[str, tuple[int, int, int]]:
        """Where the index first mentions each name, as apt would number it.

        Only needed to break exact ties, so it is computed on demand, for
        the few names involved, with a substring test to skip most stanzas.
        """
        missing = {n for n in names if n not in self._mention}
        for index, pkg in enumerate(self.packages):
            if not missing:
                break
            stanza = pkg.stanza
            if pkg.name not in missing and not any(n in stanza for n in missing):
                continue
            if pkg.name in missing:
                self._mention[pkg.name] = (index, 0, 0)
                missing.discard(pkg.name)
            for field_no, field in enumerate(_MENTION_FIELDS, 1):
                m = _MENTION_RE[field].search(stanza)
                if m is None:
                    continue
                for pos, name_m in enumerate(_NAME_RE.finditer(m.group(1))):
                    name = name_m.group(1)
                    if ":" in name:
                        # "foo:any" names a different entry in apt's cache
                        if not name.endswith(":" + self.native_arch):
                            continue
                        name = name.split(":", 1)[0]
                    if name in missing:
                        self._mention[name] = (index, field_no, pos)
                        missing.discard(name)
        return {n: self._mention[n] for n in names if n in self._mention}

    # -- marking ---------------------------------------------------------
    #
    # Every change to the selection goes through _add/_drop and is journaled,
    # so a failed attempt (an alternative whose own dependencies cannot be
    # met) is undone exactly.

    def _add(self, pkg: DebPackage) -> None:
        self.selected[pkg.name] = pkg
        self.journal.append(("add", pkg, False))
        self._index_negative(pkg, add=True)

    def _drop(self, pkg: DebPackage) -> None:
        del self.selected[pkg.name]
        was_expanded = pkg.name in self.expanded
        self.expanded.discard(pkg.name)
        self.journal.append(("drop", pkg, was_expanded))
        self._index_negative(pkg, add=False)
        self.dropped = True

    def _index_negative(self, pkg: DebPackage, add: bool) -> None:
        for group in (*pkg.conflicts, *pkg.breaks):
            for rel in group:
                if add:
                    self.negative.setdefault(rel.name, []).append((pkg, rel))
                    continue
                entries = self.negative[rel.name]
                for i in range(len(entries) - 1, -1, -1):
                    if entries[i][0] is pkg:  # identity: __eq__ would compare stanzas
                        del entries[i]
                        break
                if not entries:
                    del self.negative[rel.name]

    def rollback(self, mark: int) -> None:
        while len(self.journal) > mark:
            op, pkg, was_expanded = self.journal.pop()
            if op == "add":
                del self.selected[pkg.name]
                self.expanded.discard(pkg.name)
                self._index_negative(pkg, add=False)
            else:
                self.selected[pkg.name] = pkg
                if was_expanded:
                    self.expanded.add(pkg.name)
                self._index_negative(pkg, add=True)

    def mark(self, pkg: DebPackage, evict: bool = False) -> None:
        """Select `pkg` (not its dependencies); raise _Failure if it cannot be.

        With `evict`, packages it conflicts with are deselected if nothing
        asked for them by name (like apt, which removes an automatically
        installed package that is in the way); what depended on them is
        repaired later.
        """
        current = self.selected.get(pkg.name)
        if current is pkg:
            return
        if current is not None:
            raise _Failure(f"'{pkg.name}' {pkg.version} and {current.version} are both wanted")
        if pkg.name in self.exclude:
            raise _Failure(f"'{pkg.name}' is excluded")
        others = self.conflicting(pkg)
        for other in others:
            if not evict or other.name in self.protected:
                raise _Failure(f"'{pkg.name}' and '{other.name}' conflict (Conflicts/Breaks)")
        for other in others:
            self._drop(other)
        self._add(pkg)

    def install(self, pkg: DebPackage, evict: bool = False) -> None:
        """Select `pkg` and, depth first, what its dependencies need."""
        self.mark(pkg, evict)
        if pkg.name in self.expanded:
            return
        self.expanded.add(pkg.name)
        for group in (*pkg.pre_depends, *pkg.depends):
            if not self.satisfied(group):
                self.resolve(pkg, group)

    def resolve(self, pkg: DebPackage, group: list[Relation]) -> None:
        """Satisfy one alternatives group of `pkg`, or raise _Failure."""
        choices: list[DebPackage] = []
        reasons: list[str] = []
        for rel in group:
            options = [p for p in self.matches(rel) if p.name not in self.exclude]
            if not options:
                reasons.append(self._why_not(rel))
            for choice in self.rank(rel.name, options):
                if all(choice is not c for c in choices):
                    choices.append(choice)
        # Only when every choice is blocked may one push aside an automatically
        # selected package that conflicts with it.
        for evict in (False, True) if self.may_evict else (False,):
            for choice in choices:
                mark = len(self.journal)
                try:
                    self.install(choice, evict)
                    return
                except _Failure as exc:
                    self.rollback(mark)
                    reasons.append(exc.message)
        detail = " / ".join(dict.fromkeys(reasons))
        raise _Failure(f"'{pkg.name}' depends on '{_group_text(group)}': {detail}")

    def repair(self) -> None:
        """Re-satisfy dependencies left open when a conflict deselected a package."""
        # No further evictions while repairing: they could undo each other forever.
        self.may_evict = False
        try:
            while self.dropped:
                self.dropped = False
                for name in sorted(self.expanded):
                    pkg = self.selected[name]
                    for group in (*pkg.pre_depends, *pkg.depends):
                        if not self.satisfied(group):
                            self.resolve(pkg, group)
        finally:
            self.may_evict = True

    def sweep(self, roots: Iterable[str]) -> None:
        """Deselect what nothing needs any more (apt does not install garbage)."""
        keep: set[str] = set()
        todo = [n for n in roots if n in self.selected]
        while todo:
            name = todo.pop()
            if name in keep:
                continue
            keep.add(name)
            pkg = self.selected[name]
            for group in (*pkg.pre_depends, *pkg.depends):
                for rel in group:
                    for target in self.matches(rel):
                        if self.selected.get(target.name) is target and target.name not in keep:
                            todo.append(target.name)
        for name in [n for n in self.selected if n not in keep and n not in self.installed]:
            self._drop(self.selected[name])
        self.dropped = False

    def _why_not(self, rel: Relation) -> str:
        """Why no candidate at all can satisfy `rel`."""
        if rel.name in self.exclude:
            return f"'{rel.name}' is excluded"
        if any(p.name in self.exclude for p in self.matches(rel)):
            return f"only excluded packages provide '{rel.name}'"
        real = self.candidates.get(rel.name)
        if rel.arch not in (None, "any", "native", self.native_arch):
            return f"architecture '{rel.arch}' is not {self.native_arch}"
        if real is not None:
            if rel.arch == "any" and real.multi_arch != "allowed":
                return f"'{rel.name}' is not Multi-Arch: allowed"
            return f"'{rel.name}' is at version {real.version}"
        if rel.name in self.providers:
            return f"no provider of '{rel.name}' matches"
        return f"package '{rel.name}' not found in {self.where}"

    def install_requested(self, pkg: DebPackage, why: str) -> None:
        mark = len(self.journal)
        try:
            self.install(pkg)
            self.repair()
        except _Failure as exc:
            self.rollback(mark)
            raise Die(f"cannot install '{pkg.name}' ({why}): {exc.message}") from None

    def stage(self, pkgs: list[DebPackage], why: str) -> None:
        """Mark every requested package first, then resolve each one's dependencies in turn."""
        self.protected.update(p.name for p in pkgs)
        for pkg in pkgs:
            try:
                self.mark(pkg)
            except _Failure as exc:
                raise Die(f"cannot install '{pkg.name}' ({why}): {exc.message}") from None
        for pkg in pkgs:
            self.install_requested(pkg, why)
        self.sweep(self.protected | self.installed)
        self.installed.update(self.selected)
        self.protected.update(self.selected)

    def lookup(self, name: str, why: str) -> DebPackage:
        """An explicitly named package; a virtual name resolves to its best provider."""
        if name in self.exclude:
            raise Die(f"package '{name}' is both requested ({why}) and excluded")
        real = self.candidates.get(name)
        if real is not None:
            return real
        provs = [p for p, _ in self.providers.get(name, ()) if p.name not in self.exclude]
        if provs:
            for p in provs:
                if self.selected.get(p.name) is p:
                    return p
            return self.rank(name, provs)[0]
        raise Die(f"package '{name}' not found in {self.where}"
                  + suggest(name, [*self.candidates, *self.providers]))


def select(
    packages: list[DebPackage],
    request: Request,
    native_arch: str,
    where: str = "the package index",
) -> list[DebPackage]:
    """The packages to install for `request`, sorted by name; Die if impossible."""
    solver = _Solver(packages, native_arch, request.exclude, where)
    cands = solver.candidates

    pre = [solver.lookup(name, "preselected") for name in request.preselected]
    for pkg in pre:
        solver.mark(pkg)
    solver.installed.update(solver.selected)
    solver.protected.update(solver.selected)

    if request.essential:
        essential = sorted(
            (p for p in cands.values() if p.essential and p.name not in solver.exclude),
            key=lambda p: p.name,
        )
        solver.stage(essential, "Essential: yes")

    # The preselected packages' own dependencies come after the essential set
    # (mmdebstrap's merged-usr hook installs the real usr-is-merged there).
    for pkg in pre:
        solver.install_requested(pkg, "preselected")
    solver.installed.update(solver.selected)
    solver.protected.update(solver.selected)

    rest: dict[str, DebPackage] = {}
    if request.priorities:
        wanted = set(request.priorities)
        for p in sorted(cands.values(), key=lambda p: p.name):
            if p.priority in wanted and p.name not in solver.exclude and p.name not in solver.selected:
                rest[p.name] = p
    for name in request.names:
        pkg = solver.lookup(name, "requested")
        rest.setdefault(pkg.name, pkg)
    solver.stage(list(rest.values()), "requested")

    return sorted(solver.selected.values(), key=lambda p: p.name)
