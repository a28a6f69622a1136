"""A replay of what libsolv (dnf's solver) does for a fresh install, in the order
it does it, so that where several packages could meet a need the same one is
picked.

Only the native architecture and noarch are candidates. Every package has an id,
its place in the repositories' metadata (primary.xml order), as libsolv numbers
its solvables; the ids order libsolv's rules and settle some ties.

The rules (libsolv's rules.c), made for every package a request could lead to
(the providers of what it requires, recommends or suggests, and so on): a
requirement is a clause "not this package, or one of its providers (ascending
ids)"; a rich one is several clauses, normalized as libsolv's cplxdeps.c does
(`(a if b)` is "a or not b", `(a unless b)` is "a and not b"); conflicts,
obsoletes (by name and version) and two versions of one name are "not both".
These are sorted as libsolv's unifyrules sorts them: by their literals in turn,
first the negated id of the package that has the dependency, so the rules of
the packages last in the metadata come first, then their providers' ids. After
them come the requests, in the order asked: a package asked for by name must be
installed, a provide or rich dependency is a clause like the others, a comps
conditional package the rich dependency "(it if that)", as dnf asks for it.

The solving (solver.c solver_run_sat):
  1. what must be is decided: the packages asked for by name installed, those
     with a requirement nothing provides ruled out; then every clause left with
     a single way to hold decides it (unit propagation), and so on. Most of an
     installation is decided here, before any choice;
  2. a request left with several candidates picks one (resolve_jobrules);
  3. the rules are walked round in their order, from the first
     (resolve_dependencies); one whose package is installed and that nothing
     installed meets yet is a choice. At first a choice is made only where the
     short policy filter below leaves one candidate, the others are postponed;
     when a whole round decides nothing the walk goes on from the first rule
     postponed, now taking the first candidate of the full filter for every
     open rule. After each pick, propagation as in 1, and on with the next rule;
  4. with weak dependencies (resolve_weak): the packages whose Supplements hold
     thanks to a package installed now, then for each installed package in the
     order decided, its Recommends; then 3 again;
  5. minimization: where a choice had several candidates and another of them
     got installed anyway later, or one of them is recommended or supplementing
     while the one picked is not, the earliest such choice is taken back for
     that one, and the work goes on from there.
A pick that leads to a contradiction is undone as libsolv does it (it learns a
clause, the first unique implication point's, and goes back); when the request
itself is contradictory, that is an error.

The policy filter (policy.c policy_filter_unwanted) among several candidates:
the newest version of each name, sorted by name in strcmp order, those another
candidate obsoletes left out; then only those that an installed package
recommends or that supplement installed ones, if there are such (with weak
dependencies off too). That far is the short filter; the full one then moves
back versions older than one the repositories have and those whose versioned
provides (`name = version`) are older than another candidate's of that name,
and moves forward those an installed package suggests or that enhance one.

Checked against dnf 4.14 / libsolv 0.7.23 (and its testsolv on random small
repositories). Known differences: libsolv also considers other architectures
(x86_64's i686), which the order of rules sees; and the order in which one
propagation decides several packages is approximated, which only the order of
step 4 sees."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Callable, Iterable, Optional

from bootstrap.errors import die
from bootstrap.families.rpm.depend import Dependency, Rich, Simple
from bootstrap.families.rpm.pool import (Pool, deps_of, evr_of, obsoletes, simple_of)
from bootstrap.families.rpm.version import EVR, compare

Clause = tuple[int, ...]               # literals: +id installed, -id not (ascending in rules)


@dataclass
class _Rule:
    """Where a clause comes from, to say why something cannot be installed."""
    kind: str                  # requires conflicts obsoletes same-name job learnt
    owner: int = 0             # the package that has the dependency
    dep: object = None         # the dependency (the request's text for jobs)
    other: int = 0             # the other package of a conflict


@dataclass
class _Branch:
    """A choice among several candidates, made on top of decision level `level`."""
    level: int
    candidates: list[int]      # in the policy's order
    taken: list[int]           # those tried, the first the policy's pick


class Solver:
    def __init__(self, pool: Pool, where: str, weak: bool) -> None:
        self.pool = pool
        self.where = where
        self.weak = weak
        size = len(pool.solvables) + 1
        self.value = [0] * size            # +level installed, -level not, 0 undecided
        self.trail: list[int] = []         # decided literals, in order
        self.reason: list[int] = []        # the clause that forced each, -1 for a pick
        self.position = [0] * size         # where on the trail each id was decided
        self.level = 0
        self.propagated = 0
        self.clauses: list[Clause] = []
        self.rules: list[_Rule] = []
        self.occurs: dict[int, list[int]] = {}
        self.choices: list[int] = []       # clauses that can be a choice, in rule order
        self.jobs: list[tuple[list[Clause], str]] = []
        self.job_rules: list[int] = []
        self.branches: list[_Branch] = []
        self._deps_of: dict[tuple[int, str], list[tuple[Dependency, bool]]] = {}
        self._recommended: Optional[tuple[int, set[int]]] = None
        self._reverts = 0
        self._picks = 0                    # decisions made, contradictions or not

    # -- rules --------------------------------------------------------------------
    def deps(self, i: int, kind: str) -> list[tuple[Dependency, bool]]:
        key = (i, kind)
        if key not in self._deps_of:
            self._deps_of[key] = deps_of(self.pool.package(i), kind)
        return self._deps_of[key]

    def cnf(self, dep: Dependency, positive: bool = True) -> list[Clause]:
        """dep (or, positive=False, its negation) as clauses over package ids, as
        cplxdeps.c normalizes it: [] is always true, [()] never."""
        if isinstance(dep, Simple):
            return self._leaf(self.pool.provider_ids(dep), positive)
        a = dep.args
        if dep.op in ("with", "without") and all(isinstance(x, Simple) for x in a):
            # not a complex dependency to libsolv: the packages providing both
            ids = set(self.pool.provider_ids(a[0]))  # type: ignore[arg-type]
            for x in a[1:]:
                those = set(self.pool.provider_ids(x))  # type: ignore[arg-type]
                ids = ids & those if dep.op == "with" else ids - those
            return self._leaf(tuple(sorted(ids)), positive)
        if dep.op in ("and", "with"):
            parts = [self.cnf(x, positive) for x in a]
            return _all(parts) if positive else _any(parts)
        if dep.op == "or":
            parts = [self.cnf(x, positive) for x in a]
            return _any(parts) if positive else _all(parts)
        if dep.op == "without":
            both = [self.cnf(a[0], positive), self.cnf(a[1], not positive)]
            return _all(both) if positive else _any(both)
        then, cond = a[0], a[1]
        other = a[2] if len(a) > 2 else None
        if dep.op == "if":          # then or not cond; else: (cond or other)
            if other is None:
                return (_any([self.cnf(then), self.cnf(cond, False)]) if positive else
                        _all([self.cnf(then, False), self.cnf(cond)]))
            if positive:
                return _all([_any([self.cnf(then), self.cnf(cond, False)]),
                             _any([self.cnf(other), self.cnf(cond)])])
            return _all([_any([self.cnf(then, False), self.cnf(cond, False)]),
                         _any([self.cnf(other, False), self.cnf(cond)])])
        # unless: libsolv reads "then and not cond"; else: or (other and cond)
        if other is None:
            return (_all([self.cnf(then), self.cnf(cond, False)]) if positive else
                    _any([self.cnf(then, False), self.cnf(cond)]))
        if positive:
            return _all([_any([self.cnf(then), self.cnf(cond)]),
                         _any([self.cnf(other), self.cnf(cond, False)])])
        return _all([_any([self.cnf(then, False), self.cnf(cond)]),
                     _any([self.cnf(other, False), self.cnf(cond, False)])])

    @staticmethod
    def _leaf(ids: tuple[int, ...], positive: bool) -> list[Clause]:
        if positive:
            return [ids]
        return [(-i,) for i in ids]

    def job(self, clauses: list[Clause], text: str) -> None:
        self.jobs.append((clauses, text))

    def _build(self) -> None:
        """The package rules of every package a request could lead to (libsolv's
        addedmap: all providers of requirements, recommends and suggests), sorted
        as unifyrules sorts them, then the requests' rules in order."""
        rules: dict[Clause, _Rule] = {}

        def add(clause: Iterable[int], rule: _Rule) -> None:
            c = tuple(sorted(set(clause)))
            if any(-x in c for x in c if x > 0):
                return                     # holds anyway
            rules.setdefault(c, rule)

        added: set[int] = set()
        todo = deque(x for clauses, _ in self.jobs for c in clauses for x in c if x > 0)

        def close() -> None:
            while todo:
                n = todo.popleft()
                if n in added:
                    continue
                added.add(n)
                todo.extend(self._package_rules(n, add))

        close()
        if self.weak:
            # libsolv adds packages that could supplement or enhance what may
            # be installed (solver_addpkgrulesforweak), until nothing changes
            def possible(dep: Dependency) -> bool:
                """solver_dep_possible: could dep hold of the packages added?"""
                if isinstance(dep, Simple):
                    return any(i in added for i in self.pool.provider_ids(dep))
                if dep.op == "and":
                    return all(possible(x) for x in dep.args)
                if dep.op == "or":
                    return any(possible(x) for x in dep.args)
                if dep.op in ("if", "unless"):
                    return True
                return any(i in added for c in self.cnf(dep) for i in c if i > 0)
            weak = [i for i in range(1, len(self.pool.solvables) + 1)
                    if self.deps(i, "supplements") or self.deps(i, "enhances")]
            more = True
            while more:
                more = False
                for i in weak:
                    if i not in added and any(possible(d) for kind in ("supplements", "enhances")
                                              for d, _ in self.deps(i, kind)):
                        todo.append(i)
                        close()
                        more = True
        for c in sorted(rules):
            index = self._add(c, rules[c])
            if c[-1] > 0:                  # something to install: can be a choice
                self.choices.append(index)
        for clauses, text in self.jobs:
            for c in clauses:
                index = self._add(tuple(sorted(set(c))), _Rule("job", dep=text))
                self.job_rules.append(index)
                self.choices.append(index)

    def _package_rules(self, n: int, add: Callable[[Iterable[int], _Rule], None]) -> list[int]:
        """Add package n's rules; return the packages they lead to."""
        pool, p = self.pool, self.pool.package(n)
        more: list[int] = []
        for dep, _ in self.deps(n, "requires"):
            for c in self.cnf(dep):
                if n not in c:             # provided by itself: no rule
                    add((-n,) + c, _Rule("requires", n, dep))
                    more += [x for x in c if x > 0]
        for dep, _ in self.deps(n, "conflicts"):
            if isinstance(dep, Simple):
                for q in pool.provider_ids(dep):
                    if q != n:
                        add((-n, -q), _Rule("conflicts", n, dep, q))
            else:
                for c in self.cnf(dep, False):
                    if c != (-n,):         # a package does not conflict with itself
                        add((-n,) + c, _Rule("conflicts", n, dep))
                        more += [x for x in c if x > 0]
        for o in p.deps.get("obsoletes", []):
            for old in pool.by_name.get(o.name, []):
                if old is not p and simple_of(o).overlaps(Simple(old.name, 8, evr_of(old))):
                    add((-n, -pool.id(old)), _Rule("obsoletes", n, simple_of(o), pool.id(old)))
        for same in pool.by_name[p.name]:
            if same is not p:
                add((-n, -pool.id(same)), _Rule("same-name", n, p.name, pool.id(same)))
        for kind in ("recommends", "suggests"):
            for dep, _ in self.deps(n, kind):
                more += self._named(dep)
        return more

    def _named(self, dep: Dependency, negated: bool = False) -> list[int]:
        """The packages a weak dependency names as wanted, not as a condition
        (pool_add_pos_literals_complex_dep): only those get rules."""
        if isinstance(dep, Rich) and dep.op in ("and", "or"):
            return [i for x in dep.args for i in self._named(x, negated)]
        if isinstance(dep, Rich) and dep.op in ("if", "unless"):
            out = self._named(dep.args[0], negated)
            if len(dep.args) > 2:
                out += self._named(dep.args[2], negated)
            return out + self._named(dep.args[1], not negated)
        if negated:
            return []
        return [i for c in self.cnf(dep) for i in c if i > 0]

    def _add(self, clause: Clause, rule: _Rule) -> int:
        index = len(self.clauses)
        self.clauses.append(clause)
        self.rules.append(rule)
        for x in clause:
            self.occurs.setdefault(x, []).append(index)
        return index

    # -- decisions ----------------------------------------------------------------
    def _true(self, x: int) -> bool:
        v = self.value[abs(x)]
        return v > 0 if x > 0 else v < 0

    def _assign(self, x: int, reason: int) -> None:
        self.value[abs(x)] = self.level if x > 0 else -self.level
        self.position[abs(x)] = len(self.trail)
        self.trail.append(x)
        self.reason.append(reason)

    def _propagate(self) -> Optional[int]:
        """Decide what the clauses leave a single way to; a clause made false."""
        value = self.value
        while self.propagated < len(self.trail):
            x = self.trail[self.propagated]
            self.propagated += 1
            for c in self.occurs.get(-x, ()):
                free = 0
                last = 0
                for y in self.clauses[c]:
                    v = value[abs(y)]
                    if v == 0:
                        free += 1
                        last = y
                    elif (v > 0) == (y > 0):
                        break              # holds
                else:
                    if free == 0:
                        return c
                    if free == 1:
                        self._assign(last, c)
        return None

    def _revert(self, level: int, keep: Optional[_Branch] = None) -> None:
        while self.trail and abs(self.value[abs(self.trail[-1])]) > level:
            x = self.trail.pop()
            self.reason.pop()
            self.value[abs(x)] = 0
        self.propagated = min(self.propagated, len(self.trail))
        while self.branches and self.branches[-1].level >= level \
                and self.branches[-1] is not keep:
            self.branches.pop()
        self.level = level
        self._reverts += 1

    def _install(self, p: int) -> None:
        """Pick p on a new level and propagate; on a contradiction learn a clause
        and go back, as setpropagatelearn does."""
        self.level += 1
        self._picks += 1
        self._assign(p, -1)
        while True:
            conflict = self._propagate()
            if conflict is None:
                return
            if self.level == 1:
                self._fail(conflict)
            learnt, rlevel = self._analyze(conflict)
            self._revert(rlevel)
            index = self._add(learnt, _Rule("learnt"))
            self.choices.append(index)         # learnt rules come last in libsolv too
            self._assign(learnt[0], index)

    def _analyze(self, conflict: int) -> tuple[Clause, int]:
        """The first unique implication point's clause (libsolv's analyze), its
        asserted literal first, and the level to go back to."""
        seen: set[int] = set()
        learnt: list[int] = []
        count, rlevel, idx, c = 0, 1, len(self.trail), conflict
        while True:
            for x in self.clauses[c]:
                if self._true(x) or abs(x) in seen:
                    continue
                seen.add(abs(x))
                level = abs(self.value[abs(x)])
                if level == 1:
                    continue
                if level == self.level:
                    count += 1
                else:
                    learnt.append(x)
                    rlevel = max(rlevel, level)
            while True:
                idx -= 1
                if abs(self.trail[idx]) in seen:
                    break
            seen.discard(abs(self.trail[idx]))
            count -= 1
            if count <= 0:
                return (-self.trail[idx], *learnt), rlevel
            c = self.reason[idx]

    def _open(self, c: int) -> list[int]:
        """The undecided candidates of a clause that is not met yet and whose
        conditions (its negative literals) all hold; [] otherwise."""
        out = []
        value = self.value
        for x in self.clauses[c]:
            v = value[abs(x)]
            if x < 0:
                if v <= 0:
                    return []
            elif v > 0:
                return []
            elif v == 0:
                out.append(x)
        return out

    def _select_and_install(self, candidates: list[int]) -> None:
        if len(candidates) > 1:
            candidates = self._filter(candidates, reorder=True)
        if len(candidates) > 1:
            self.branches.append(_Branch(self.level, candidates, [candidates[0]]))
        self._install(candidates[0])

    # -- the main loop ------------------------------------------------------------
    def solve(self) -> list[int]:
        """The ids installed, in the order decided."""
        self._build()
        self.level = 1
        for c, clause in enumerate(self.clauses):
            if len(clause) != 1:
                continue
            if self._true(-clause[0]):
                self._fail(c)
            if not self._true(clause[0]):
                self._assign(clause[0], c)
        conflict = self._propagate()
        if conflict is not None:
            self._fail(conflict)
        systemlevel = 2
        while True:
            if self.level < systemlevel:
                before = self.level
                self._resolve_jobs()
                if self.level < before:
                    continue
                systemlevel = self.level + 1
            systemlevel = min(systemlevel, self.level)
            before = self.level
            self._resolve_dependencies()
            if self.level < before:
                continue
            if self.weak and self._resolve_weak():
                continue
            if self._minimize():
                continue
            return [x for x in self.trail if x > 0]

    def _resolve_jobs(self) -> None:
        start = self.level
        i = 0
        while i < len(self.job_rules):
            candidates = self._open(self.job_rules[i])
            if not candidates:
                i += 1
                continue
            before = self.level
            self._select_and_install(candidates)
            if self.level > before:
                i += 1
            elif self.level < start:
                return
            elif self.level < before:
                i = 0                      # went back: start over
        return

    def _resolve_dependencies(self) -> None:
        """Walk the rules round, from the first; see the module docstring, 3."""
        start = self.level
        rules = self.choices
        i, seen, postponed, postponing = -1, 0, -1, True
        while True:
            i += 1
            seen += 1
            if seen > len(rules):
                if postponed < 0 or not postponing:
                    return
                i, seen, postponing = postponed, 1, False
            if i >= len(rules):
                i = 0
            candidates = self._open(rules[i])
            if not candidates:
                continue
            if len(candidates) > 1 and postponing:
                candidates = self._filter(candidates, reorder=False)
                if len(candidates) > 1:
                    if postponed < 0:
                        postponed = i
                    continue
            self._select_and_install(candidates)
            if self.level < start:
                return
            seen = 0

    def _resolve_weak(self) -> bool:
        """Supplemented packages, then recommended ones (resolve_weak); whether
        anything was decided (then the rules are walked again)."""
        recommended: list[int] = []
        supplementing: list[int] = []
        for i in range(1, len(self.value)):
            v = self.value[i]
            if v > 0:
                for dep, _ in self.deps(i, "recommends"):
                    recommended += [x for x in self._recommendable(dep) if x not in recommended]
            elif v == 0 and self._supplementing(i, new=True):
                supplementing.append(i)
        picks = self._picks
        candidates = recommended + [x for x in supplementing if x not in recommended]
        if not candidates:
            return False
        if len(candidates) == 1:
            self._install(candidates[0])
            return True
        best = set(self._filter(candidates, reorder=False, recommended=False))
        supplementing = [x for x in supplementing if x in best]
        if len(supplementing) > 1:
            supplementing = self._reorder(supplementing)
        decided = len(self.trail)
        for p in supplementing:
            if self.value[p]:
                continue
            before = self.level
            self._install(p)
            if self.level <= before:
                return True
        if len(self.trail) < decided:
            return True
        for x in list(self.trail[:decided]):
            if x < 0:
                continue
            for dep, _ in self.deps(x, "recommends"):
                choice = [y for y in self._recommendable(dep) if y in best]
                if not choice:
                    continue
                before = self.level
                self._select_and_install(choice)
                if self.level <= before or len(self.trail) < decided:
                    return True
        # libsolv walks the rules again; a round that picked nothing would
        # only come back here (that does not happen to libsolv either)
        return self._picks != picks

    def _recommendable(self, dep: Dependency) -> list[int]:
        """The candidates a recommends offers (add_complex_recommends): of each
        of its clauses whose conditions hold and that nothing installed meets,
        the undecided packages, all in one list."""
        out: list[int] = []
        clauses = self.cnf(dep)
        if () in clauses:
            return out                     # never holds: libsolv ignores it
        for c in clauses:
            if any(x < 0 and self.value[-x] <= 0 for x in c):
                continue
            if any(x > 0 and self.value[x] > 0 for x in c):
                continue
            out += [x for x in c if x > 0 and self.value[x] == 0 and x not in out]
        return out

    def _minimize(self) -> bool:
        """Take back a choice where another candidate got installed anyway, or is
        recommended while the one picked is not (the earliest such choice)."""
        if not self.branches:
            return False
        found: Optional[tuple[_Branch, int]] = None
        for branch in reversed(self.branches):
            later = [p for p in branch.candidates
                     if p not in branch.taken and self.value[p] > branch.level]
            if later:
                found = (branch, later[0])
                continue
            wanted = [p for p in branch.candidates
                      if p not in branch.taken and self._wanted(p)]
            if wanted:
                for p in branch.taken:
                    if self.value[p] == branch.level + 1 and not self._wanted(p):
                        found = (branch, wanted[0])
                        break
        if found is None:
            return False
        branch, p = found
        branch.taken.append(p)
        self._revert(branch.level, keep=branch)
        self._install(p)
        return True

    # -- the policy ---------------------------------------------------------------
    def _filter(self, candidates: list[int], reorder: bool,
                recommended: bool = True) -> list[int]:
        """policy_filter_unwanted: CHOOSE (reorder), CHOOSE_NOREORDER, or with
        recommended=False, RECOMMEND."""
        out = self._best_versions(candidates)
        if len(out) > 1 and recommended:
            wanted = [p for p in out if self._wanted(p)]
            out = wanted or out
        if len(out) > 1 and reorder:
            out = self._reorder(out)
        return out

    def _best_versions(self, candidates: list[int]) -> list[int]:
        """The newest of each name, by name in strcmp order, those obsoleted by
        another candidate left out (prune_to_best_version)."""
        pool = self.pool
        best: dict[str, int] = {}
        for i in sorted(candidates):
            name = pool.package(i).name
            if name not in best or compare(evr_of(pool.package(i)),
                                           evr_of(pool.package(best[name]))) > 0:
                best[name] = i
        out = [best[n] for n in sorted(best, key=lambda n: n.encode())]
        if len(out) > 1:
            pkgs = {i: pool.package(i) for i in out}
            out = [i for i in out
                   if not any(obsoletes(pkgs[j], pkgs[i]) and not obsoletes(pkgs[i], pkgs[j])
                              for j in out if j != i)]
        return out

    def _reorder(self, candidates: list[int]) -> list[int]:
        """dislike_old_versions, sort_by_common_dep, prefer_suggested."""
        pool = self.pool

        def old(i: int) -> bool:
            p = pool.package(i)
            return any(q.arch == p.arch and compare(evr_of(q), evr_of(p)) > 0
                       for q in pool.by_name[p.name])
        out = [i for i in candidates if not old(i)] + [i for i in candidates if old(i)]
        out = self._by_common_provides(out)
        suggested = self._suggested()
        good = [i for i in out if i in suggested or self._enhancing(i)]
        return good + [i for i in out if i not in good]

    def _by_common_provides(self, candidates: list[int]) -> list[int]:
        """sort_by_common_dep: where candidates provide one name at different
        versions (`name = version`), those with the older ones move back."""
        entries: list[tuple[str, EVR, bool, int]] = []
        for k, i in enumerate(candidates):
            for d in self.pool.package(i).deps.get("provides", []):
                if d.flags not in ("EQ", "LE", "LT") or d.ver is None:
                    continue
                text = (f"{d.epoch}:" if d.epoch and d.epoch != "0" else "") + d.ver + \
                    (f"-{d.rel}" if d.rel else "")
                if d.flags == "EQ" and len(text) >= 4 and all(c in "0123456789abcdef"
                                                               for c in text):
                    continue               # a hash, not a version
                entries.append((d.name, simple_of(d).evr or EVR(0, d.ver, d.rel),
                                d.flags == "LT", k))
        if len(entries) < 2:
            return candidates

        def order(a: tuple[str, EVR, bool, int], b: tuple[str, EVR, bool, int]) -> int:
            if a[0] != b[0]:
                return -1 if a[0] < b[0] else 1
            r = compare(_match_release(b[1], a[1]), _match_release(a[1], b[1]))
            if r == 0 and (a[2] or b[2]) and a[2] != b[2]:
                return 1 if a[2] else -1
            return r
        entries.sort(key=cmp_to_key(order))
        badness = [0] * len(candidates)
        bad = 0
        for j, e in enumerate(entries):
            if j and entries[j - 1][0] == e[0]:
                if entries[j - 1][3] != e[3] and order(entries[j - 1], e) == -1:
                    bad += 1
            else:
                bad = 0
            badness[e[3]] += bad
        if not any(badness):
            return candidates
        ranked = sorted(range(len(candidates)), key=lambda k: badness[k])
        return [candidates[k] for k in ranked]

    def _fulfilled(self, dep: Dependency) -> int:
        """Does dep hold of what is installed, as libsolv evaluates a weak
        dependency (solver_dep_fulfilled_alreadyinstalled, on an empty root):
        2 where installed packages meet it, 1 where it holds only as something
        is not installed (the condition of an `if`), 0 where it does not hold.
        `(a if b)` holds as "a or not b", `(a unless b)` as "a and not b"."""
        if isinstance(dep, Simple):
            return 2 if any(self.value[i] > 0 for i in self.pool.provider_ids(dep)) else 0
        a = dep.args
        if dep.op in ("with", "without") and all(isinstance(x, Simple) for x in a):
            return 2 if any(self.value[i] > 0 for c in self.cnf(dep) for i in c) else 0
        if dep.op in ("and", "with"):
            values = [self._fulfilled(x) for x in a]
            return 0 if 0 in values else max(values)
        if dep.op == "or":
            return max(self._fulfilled(x) for x in a)
        if dep.op == "without":
            return self._fulfilled(a[0]) if not self._fulfilled(a[1]) else 0
        then, cond = a[0], a[1]
        if len(a) > 2:
            met = self._fulfilled(cond)
            if not met:
                return self._fulfilled(a[2] if dep.op == "if" else then)
            taken = self._fulfilled(then if dep.op == "if" else a[2])
            return 2 if taken and met == 2 else taken
        first, negated = self._fulfilled(then), not self._fulfilled(cond)
        if dep.op == "if" and not first and not negated:
            return 0
        if dep.op == "unless" and (not first or not negated):
            return 0
        return 2 if first == 2 else 1

    def _supplementing(self, i: int, new: bool = False) -> bool:
        """Does package i supplement installed ones; new: because of packages
        installed now (resolve_weak takes only those)."""
        return any(self._fulfilled(d) >= (2 if new else 1)
                   for d, _ in self.deps(i, "supplements"))

    def _enhancing(self, i: int) -> bool:
        return any(self._fulfilled(d) for d, _ in self.deps(i, "enhances"))

    def _weak_map(self, kind: str) -> set[int]:
        out: set[int] = set()
        for x in self.trail:
            if x > 0:
                for dep, _ in self.deps(x, kind):
                    clauses = self.cnf(dep)
                    if () in clauses:
                        continue           # never holds: libsolv ignores it
                    for c in clauses:
                        if all(y > 0 or self.value[-y] > 0 for y in c):
                            out.update(y for y in c if y > 0)
        return out

    def _recommended_map(self) -> set[int]:
        """What installed packages recommend (libsolv's recommendsmap)."""
        key = len(self.trail) + (self._reverts << 32)
        if self._recommended is None or self._recommended[0] != key:
            self._recommended = (key, self._weak_map("recommends"))
        return self._recommended[1]

    def _suggested(self) -> set[int]:
        return self._weak_map("suggests")

    def _wanted(self, i: int) -> bool:
        """Recommended by an installed package, or supplementing installed ones."""
        return i in self._recommended_map() or self._supplementing(i)

    # -- errors -------------------------------------------------------------------
    def _chain(self, i: int) -> list[str]:
        """Why package i is installed: i, what requires it, ..., the request."""
        out: list[str] = []
        while str(self.pool.package(i)) not in out:
            out.append(str(self.pool.package(i)))
            reason = self.reason[self.position[i]] if self.value[i] > 0 else -1
            rule = self.rules[reason] if reason >= 0 else None
            if rule is None:
                break
            if rule.kind == "job":
                out.append("the request")
                break
            if rule.kind != "requires":
                break
            i = rule.owner
        return out

    def _fail(self, c: int, depth: int = 0) -> None:
        """Say why clause c cannot hold: follow a candidate ruled out to the rule
        that ruled it out, down to a missing provider or a conflict."""
        rule = self.rules[c]
        pkg = self.pool.package
        if rule.kind in ("conflicts", "obsoletes", "same-name") and rule.other:
            verb = {"conflicts": "conflicts with", "obsoletes": "obsoletes",
                    "same-name": "is another version than"}[rule.kind]
            die(f"{pkg(rule.owner)} {verb} {pkg(rule.other)} ({rule.dep}); "
                f"--exclude one of them")
        for x in self.clauses[c]:
            if x > 0 and self.value[x] < 0 and depth < 50:
                reason = self.reason[self.position[x]]
                if reason >= 0 and reason != c:
                    self._fail(reason, depth + 1)
        if rule.kind == "requires":
            chain = " <- ".join([str(rule.dep)] + self._chain(rule.owner))
            die(f"cannot satisfy dependency {chain} from {self.where}")
        if rule.kind == "job":
            die(f"cannot satisfy dependency {rule.dep} <- the request from {self.where}")
        die(f"the request cannot be met from {self.where}: its dependencies contradict "
            f"each other")


def _match_release(a: EVR, b: EVR) -> EVR:
    """a without its release where b has none (EVRCMP_MATCH_RELEASE)."""
    return EVR(a.epoch, a.version, None) if b.release is None else a


def _all(parts: list[list[Clause]]) -> list[Clause]:
    """The conjunction of clause lists."""
    out: list[Clause] = []
    for part in parts:
        out += [c for c in part if c not in out]
    return out


def _any(parts: list[list[Clause]]) -> list[Clause]:
    """The disjunction of clause lists, distributed into clauses."""
    out: list[Clause] = [()]
    for part in parts:
        if not part:
            return []                      # one side always holds
        merged: list[Clause] = []
        for a in out:
            for b in part:
                c = tuple(sorted(set(a) | set(b)))
                if not any(-x in c for x in c if x > 0) and c not in merged:
                    merged.append(c)
        out = merged
        if not out:
            return []
    return out
