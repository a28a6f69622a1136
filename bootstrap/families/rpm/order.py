"""The order rpm 4.18 installs a transaction in (lib/order.c: rpmtsOrder), for
a transaction of installs only (an empty root), from what primary.xml says.

rpm is handed the packages in some order (dnf 4: libsolv's pool order, see
dnf_sequence) and sorts them so:

Relations. For each package in that order, its Requires, Recommends,
Suggests, Supplements and Enhances (rpm 4.18 orders by weak dependencies
too), each in the order the package lists them, become "q before p"
relations, q being the package in the transaction that meets the dependency:
  - the first one in transaction order (rpmalSatisfiesDepend), except that a
    package meeting its own dependency needs no other; where colours are
    known, one of the preferred colour (2, ELF64) scores 2 against being
    self-provided 1. A path goes to the packages holding the file, and only
    if none does to those providing it (rpmalAllSatisfiesDepend).
  - Supplements and Enhances point back: the supplementing package goes
    first (rpmdsIsReverse).
  - rich dependencies: `and` and `or` count every operand, `if` and `unless`
    only what they would require (neither the condition nor the `else`),
    `with` and `without` their first operand (addRelation's recursion).
  - rpmlib() ones, and those qualified only pretrans, posttrans, meta,
    verify or config, count for nothing (isUnorderedReq); primary.xml cannot
    tell those qualifiers from a plain Requires (createrepo_c marks pre="1"
    for pre, post and legacy prereq only), so here they count; nor does it
    carry OrderWithRequires, so that is not seen.
  - a relation is a pre-requirement when the dependency is Requires(pre) or
    (post) (isInstallPreReq; primary's pre="1"); preun, postun and interp
    make a plain relation.
  - a second dependency of p met by the same q only adds its flags, found as
    rpm finds it: when the latest relation recorded on q is p's
    (addSingleRelation). So a repeated reverse dependency counts twice, and
    one against a package that already requires its target merges into that.
Each package counts what it requires (count) and what requires it (qcnt).

Loops. Strongly connected components are found (Tarjan, starting from each
package in transaction order, walking "required by" relations latest first).
A component waits, as one node, for what its members require outside it.
When its turn comes it is broken where it hurts least (collectSCC): each
member gets its distance along "requires" from the nearest member that
pre-requires another member; the farthest goes first (of equals the last in
Tarjan's order; with no pre-requirement inside, the last member), then what
it frees inside the component, then the farthest of the rest, and so on.

Queue. Packages that require nothing left wait in one queue sorted by qcnt,
the most required first; a newcomer goes before the first one of no greater
qcnt (addQ), so of equals the latest added goes first. The queue starts with
the free packages in transaction order, then one member of each component
that needs nothing outside itself. Installing a package frees those it was
the last requirement of (or the component it was the last outside one of);
they join the queue behind it (collectTE). Colours also move a package of a
non-preferred colour (1, 3) behind those of other colours; they only matter
to multilib transactions and where several packages provide one thing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from bootstrap.families.rpm.depend import Dependency, Simple, parse
from bootstrap.families.rpm.repodata import Dep, RpmPackage

Providers = Callable[[Simple], list[RpmPackage]]
Color = Callable[[RpmPackage], int]

# the dependency kinds rpmtsOrder reads, in its order; the last two point back
_KINDS = ("requires", "recommends", "suggests", "supplements", "enhances")
_REVERSE = ("supplements", "enhances")
_PREFERRED_COLOR = 2      # %_prefer_color: ELF64 on x86_64


@dataclass(eq=False)
class _Rel:
    other: "_Node"
    pre: bool


@dataclass(eq=False)
class _Node:
    pkg: RpmPackage
    index: int                     # place in the transaction
    color: int = 0                 # rpm colour: 1 ELF32, 2 ELF64
    count: int = 0                 # relations to what it requires, left
    qcnt: int = 0                  # relations from what requires it (never counted down)
    required_by: list[_Rel] = field(default_factory=list)   # the latest last
    requires: list[_Rel] = field(default_factory=list)      # the latest last
    # in Tarjan's walk, minus its visit number; then 1 (in no loop) or 2 + its
    # loop's place; 0 once installed
    scc: int = 0
    low: int = 0                   # Tarjan's lowlink, then the distance from a pre-requirer
    suc: Optional["_Node"] = None  # the next in its queue


@dataclass
class _Scc:
    members: list[_Node]
    count: int             # relations to packages outside it, left


def dnf_sequence(chosen: Iterable[RpmPackage], pool_order: Sequence[RpmPackage]
                 ) -> list[RpmPackage]:
    """The chosen packages in the order dnf 4 adds them to rpm's transaction
    (Base._goal2transaction, RPMTransaction._populate_rpm_ts): the order of
    Goal.list_installs, a set of libsolv solvable ids, so ascending ids, i.e.
    the repositories in the order dnf loaded them (the .repo files sorted by
    path, each's sections in file order), each repository in the order of its
    primary.xml. pool_order: every package so ordered."""
    rank = {id(p): i for i, p in enumerate(pool_order)}
    return sorted(chosen, key=lambda p: rank.get(id(p), len(rank)))


def install_order(packages: Sequence[RpmPackage], providers: Providers,
                  color: Optional[Color] = None) -> list[RpmPackage]:
    """packages (in the order rpm's transaction set was given them) in the order
    rpm 4.18 installs them. providers: the packages meeting a simple
    dependency (any order, others than these allowed); color: a package's
    rpm colour (1 ELF32, 2 ELF64) where known."""
    nodes = [_Node(p, i, color(p) if color else 0) for i, p in enumerate(packages)]
    by_id = {id(n.pkg): n for n in nodes}
    _relations(nodes, by_id, providers)
    sccs = _tarjan(nodes)
    return [n.pkg for n in _collect(nodes, sccs)]


def elf64_color(p: RpmPackage) -> int:
    """A guess at rpm's colour of a package from its metadata. rpm gives a
    package the colours of the files its provides and requires were generated
    from (rpmteColorDS); the ELF dependency generator marks what it finds in
    64-bit objects with "(64bit)". Statically linked programs generate nothing,
    so count for nothing, as in rpm; 32-bit objects are not looked for."""
    generated = (d.name.endswith("(64bit)") for kind in ("provides", "requires")
                 for d in p.deps.get(kind, []))
    return _PREFERRED_COLOR if any(generated) else 0


# --- relations --------------------------------------------------------------

def _relations(nodes: list[_Node], by_id: dict[int, _Node], providers: Providers) -> None:
    def meets(p: _Node, dep: Simple) -> Optional[_Node]:
        mine = {id(q): by_id[id(q)] for q in providers(dep) if id(q) in by_id}
        found = sorted(mine.values(), key=lambda n: n.index)
        if dep.name.startswith("/"):
            # rpmalAllSatisfiesDepend: packages holding the file, before those
            # that only provide the path
            held = [q for q in found if dep.name in q.pkg.files or
                    not any(d.name == dep.name for d in q.pkg.deps.get("provides", []))]
            found = held or found
        best, score = None, 0
        for q in found:
            s = (2 if q.color == _PREFERRED_COLOR else 0) + (1 if q is p else 0)
            if s > score:
                best, score = q, s
        return best if best is not None else (found[0] if found else None)

    for p in nodes:
        for kind in _KINDS:
            for d in p.pkg.deps.get(kind, []):
                if d.name.startswith("rpmlib("):
                    continue
                for simple in _ordered_terms(_dependency(d)):
                    q = meets(p, simple)
                    if q is not None and q is not p:
                        _add(p, q, d.pre, kind in _REVERSE)


def _dependency(d: Dep) -> Dependency:
    if d.name.startswith("("):
        try:
            return parse(d.name)
        except ValueError:
            return Simple(d.name)     # rpm would not resolve it either
    return Simple.of(d.name, d.flags, d.epoch, d.ver, d.rel)


def _ordered_terms(dep: Dependency) -> Iterable[Simple]:
    """The simple dependencies of a (rich) one that rpm orders by."""
    if isinstance(dep, Simple):
        yield dep
    elif dep.op in ("and", "or"):
        for a in dep.args:
            yield from _ordered_terms(a)
    else:                             # if unless with without: the first operand only
        yield from _ordered_terms(dep.args[0])


def _add(p: _Node, q: _Node, pre: bool, reverse: bool) -> None:
    """Record "q before p" (the other way for a reverse dependency)."""
    if reverse:
        p, q = q, p
        # rpm looks for the earlier relation on the wrong side here: if the
        # supplementing package's latest requirement is this very package,
        # the reverse one merges into it; a repeated one is not seen
        if q.requires and q.requires[-1].other is p:
            q.requires[-1].pre |= pre
            next(r for r in p.required_by if r.other is q).pre |= pre
            return
    elif q.required_by and q.required_by[-1].other is p:
        q.required_by[-1].pre |= pre
        next(r for r in p.requires if r.other is q).pre |= pre
        return
    p.count += 1
    q.qcnt += 1
    q.required_by.append(_Rel(p, pre))
    p.requires.append(_Rel(q, pre))


# --- loops ------------------------------------------------------------------

def _tarjan(nodes: list[_Node]) -> list[_Scc]:
    """The loops, in the order Tarjan closes them; each member gets scc = 2 + its
    loop's place, a package in no loop 1. Iterative, as transactions are deep."""
    sccs: list[_Scc] = []
    stack: list[_Node] = []
    counter = 0
    for root in nodes:
        if root.scc != 0:
            continue
        counter -= 1
        root.scc = root.low = counter
        stack.append(root)
        # (node, its "required by" relations latest first, position)
        work = [(root, root.required_by[::-1], 0)]
        while work:
            v, rels, i = work[-1]
            if i < len(rels):
                work[-1] = (v, rels, i + 1)
                w = rels[i].other
                if w.scc > 0:
                    continue              # already in a finished component
                if w.scc == 0:
                    counter -= 1
                    w.scc = w.low = counter
                    stack.append(w)
                    work.append((w, w.required_by[::-1], 0))
                else:
                    v.low = max(v.low, w.scc)   # numbers are negative: max is nearer 0
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                parent.low = max(parent.low, v.low)
            if v.low != v.scc:
                continue
            if stack[-1] is v:
                stack.pop().scc = 1
                continue
            start = len(stack) - 1 - next(k for k, n in enumerate(reversed(stack)) if n is v)
            members = stack[start:]
            del stack[start:]
            number = len(sccs) + 2
            for m in members:
                m.scc = number
            outside = sum(m.count for m in members) - sum(
                1 for m in members for r in m.required_by
                if r.other is not m and r.other.scc == number)
            sccs.append(_Scc(members, outside))
    return sccs


# --- the queue --------------------------------------------------------------

def _enqueue(head: Optional[_Node], p: _Node) -> _Node:
    """addQ: p into the queue starting at head, before the first of no greater
    qcnt; the queue's (new) head. A package of another colour than the
    preferred one only goes before one of its own colour."""
    prev, q = None, head
    other = p.color not in (0, _PREFERRED_COLOR)
    while q is not None and (q.qcnt > p.qcnt or other and q.color != p.color):
        prev, q = q, q.suc
    p.suc = q
    if prev is None:
        return p
    prev.suc = p
    return head  # type: ignore[return-value]


class _Outer:
    """The rest of the main queue while a loop is being taken apart."""

    def __init__(self, head: Optional[_Node]) -> None:
        self.head = head

    def add(self, p: _Node) -> None:
        self.head = _enqueue(self.head, p)


def _collect(nodes: list[_Node], sccs: list[_Scc]) -> list[_Node]:
    out: list[_Node] = []

    def take(q: _Node, outer: Optional[_Outer]) -> None:
        """collectTE: install q; what it frees joins the queue behind it, or,
        from inside a loop, the main queue if it is outside that loop."""
        out.append(q)
        for rel in reversed(q.required_by):
            p = rel.other
            if p.scc == 0 or p is q:
                continue
            p.count -= 1
            if p.count == 0:
                if q.scc > 1 and q.scc != p.scc:
                    assert outer is not None
                    outer.add(p)
                else:
                    q.suc = _enqueue(q.suc, p)
            if p.scc > 1 and p.scc != q.scc:
                loop = sccs[p.scc - 2]
                loop.count -= 1
                if loop.count == 0:       # the loop needs nothing more: p stands for it
                    if outer is not None:
                        outer.add(p)
                    else:
                        q.suc = _enqueue(q.suc, p)
        q.scc = 0

    def take_loop(rep: _Node) -> None:
        """collectSCC: install a loop's members, breaking it where the fewest
        pre-requirements suffer; what they free outside joins the main queue."""
        number = rep.scc
        members = sccs[number - 2].members
        outer = _Outer(rep.suc)
        rep.suc = None
        _distances(members, number)
        while True:
            # the member left farthest from a pre-requirer, the last of equals
            best: Optional[_Node] = None
            score = 0
            for m in members:
                if m.scc != 0 and m.low >= score:
                    best, score = m, m.low
            if best is None:
                break
            # installed though it still requires members: this breaks the loop;
            # what it frees inside the loop follows in a queue of their own
            best.suc = None
            q: Optional[_Node] = best
            while q is not None:
                take(q, outer)
                q = q.suc
        rep.suc = outer.head

    # the free packages in transaction order, then a member of each loop that
    # needs nothing outside itself, stands for it
    head: Optional[_Node] = None
    for n in nodes:
        if n.count == 0:
            head = _enqueue(head, n)
    for loop in sccs:
        if loop.count == 0:
            head = _enqueue(head, loop.members[0])
    q = head
    while q is not None:
        if q.scc > 1:
            take_loop(q)
        else:
            take(q, None)
        q = q.suc
    assert len(out) == len(nodes), "rpm's tsort lost packages"
    return out


_FAR = 2 ** 31 - 1     # INT_MAX: reached by no pre-requirement


def _distances(members: list[_Node], number: int) -> None:
    """Each member's distance along "requires" from a member that
    pre-requires another one (breadth first: every step costs 1)."""
    queue: list[_Node] = []
    for m in members:
        m.low = _FAR
        for rel in reversed(m.requires):
            if rel.pre and rel.other.scc == number:
                m.low = 0         # (a relation to itself is never recorded)
                queue.append(m)
                break
    i = 0
    while i < len(queue):
        m = queue[i]
        i += 1
        for rel in reversed(m.requires):
            n = rel.other
            if n.scc == number and n.low > m.low + 1:
                n.low = m.low + 1
                queue.append(n)
