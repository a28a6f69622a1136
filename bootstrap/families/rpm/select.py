"""What `dnf install` puts into an empty root, as rootstrap decides it: the
request (names, provides, rich dependencies, comps groups) solved as libsolv
solves it (solver.py), then put in the order rpm installs it (order.py), given
the packages as dnf hands them over."""
from __future__ import annotations

from typing import Mapping, Sequence

from bootstrap.errors import die, suggest
from bootstrap.families.rpm.depend import Rich, Simple, parse
from bootstrap.families.rpm.order import install_order
from bootstrap.families.rpm.pool import Pool, Selection, obsoletes
from bootstrap.families.rpm.repodata import Group, RpmPackage
from bootstrap.families.rpm.solver import Solver

__all__ = ["Pool", "Selection", "expand_groups", "select"]


def expand_groups(pool: Pool, groups: Mapping[str, Group], names: Sequence[str],
                  where: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The names a request stands for, @group ones as dnf installs a group: its
    mandatory and default packages by name (those the repositories lack left
    out) and its conditional ones as (package, if this one is installed)."""
    out: list[str] = []
    conditional: list[tuple[str, str]] = []
    for name in names:
        if not name.startswith("@"):
            out.append(name)
            continue
        group = groups.get(name[1:])
        if group is None:
            die(f"no group '{name[1:]}' in the comps of {where}"
                + suggest(name[1:], groups))
        out += [n for n in group.mandatory + group.default if n in pool.by_name]
        conditional += group.conditional
    return out, conditional


def select(pool: Pool, names: Sequence[str], where: str, weak: bool = False,
           conditional: Sequence[tuple[str, str]] = ()) -> Selection:
    """names by name, provide or rich dependency; conditional: comps' (package,
    if this one is installed) pairs, which dnf asks for with the rest."""
    solver = Solver(pool, where, weak)
    explicit: set[str] = set()
    for text in names:
        if text in pool.by_name:
            p = _replacement(pool, pool.by_name[text][0])
            explicit.add(p.name)
            solver.job([(pool.id(p),)], text)
            continue
        dep = parse(text) if text.startswith("(") else Simple(text)
        clauses = solver.cnf(dep)
        if any(not c for c in clauses):
            die(f"cannot satisfy dependency {text} <- the request from {where}"
                + suggest(text, pool.by_name))
        solver.job(clauses, text)
    for name, req in conditional:
        # dnf asks for these as the rich dependency "(name if req)"
        solver.job(solver.cnf(Rich("if", (Simple(name), Simple(req)))), f"{name} if {req}")
    installed = sorted(solver.solve())
    # dnf hands rpm the packages by ascending solvable id; rpm orders them
    return Selection(install_order([pool.package(i) for i in installed], pool.providers),
                     explicit)


def _replacement(pool: Pool, p: RpmPackage) -> RpmPackage:
    """What dnf installs when asked for p: the package that obsoletes it, if any."""
    for ps in pool.by_name.values():
        if obsoletes(ps[0], p):
            return ps[0]
    return p
