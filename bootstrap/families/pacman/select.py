"""What `pacman -S TARGETS` installs into an empty root: targets by name, group or
provision; each missing dependency satisfied the way libalpm does it (a package of
that name in the first repository holding one, else the first provider by
repository order, then name — pacman's default answer to "which provider?");
conflicts refused; the result in dependency order, as pacman installs it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from bootstrap.errors import die, suggest
from bootstrap.families.pacman.depend import Depend
from bootstrap.families.pacman.syncdb import SyncDb, SyncPackage


@dataclass
class Selection:
    packages: list[SyncPackage]      # install order: dependencies first
    explicit: set[str]               # names asked for (install reason "explicit")


def _satisfies(pkg: SyncPackage, dep: Depend) -> bool:
    return dep.satisfied_by(pkg.name, pkg.version, pkg.provides)


class Repos:
    def __init__(self, dbs: Sequence[SyncDb], exclude: Sequence[str] = ()) -> None:
        self.order = [db.repo for db in dbs]
        self.by_repo = {db.repo: {p.name: p for p in db.packages} for db in dbs}
        self.listed = [p for db in dbs for p in db.packages]   # repo order, then name
        # entries set aside (name -> "repo.db: why"), named when one is asked for
        self.refused = {name: f"{db.repo}.db: {why}" for db in reversed(dbs)
                        for name, why in db.refused.items()}
        self.exclude = set(exclude)
        self.providers: dict[str, list[SyncPackage]] = {}      # provision name -> in order
        for p in self.listed:
            for prov in p.provides:
                self.providers.setdefault(prov.name, []).append(p)

    def names(self) -> set[str]:
        return {name for names in self.by_repo.values() for name in names}

    def named(self, name: str, repo: Optional[str] = None) -> Optional[SyncPackage]:
        for r in [repo] if repo else self.order:
            pkg = self.by_repo.get(r or "", {}).get(name)
            if pkg and pkg.name not in self.exclude:
                return pkg
        return None

    def group(self, name: str) -> list[SyncPackage]:
        """The group's members by repository order, then name; a name met again in a
        later repository is the earlier one's."""
        seen: dict[str, SyncPackage] = {}
        for p in self.listed:
            if name in p.groups and p.name not in seen and p.name not in self.exclude:
                seen[p.name] = p
        return list(seen.values())

    def satisfier(self, dep: Depend) -> Optional[SyncPackage]:
        for repo in self.order:
            pkg = self.by_repo[repo].get(dep.name)
            if pkg and pkg.name not in self.exclude and dep.allows(pkg.version):
                return pkg
        for pkg in self.providers.get(dep.name, ()):
            if pkg.name != dep.name and pkg.name not in self.exclude and _satisfies(pkg, dep):
                return pkg
        return None


def _targets(repos: Repos, names: Sequence[str], where: str) -> list[SyncPackage]:
    out: list[SyncPackage] = []
    for text in names:
        repo, _, name = text.rpartition("/")
        if repo and repo not in repos.by_repo:
            die(f"no repository '{repo}' in {where} (have: {', '.join(repos.order)})")
        # pacman's order: a package of that name, then a provider, then a group
        found = repos.named(name, repo or None)
        if not found and not repo:
            try:
                found = repos.satisfier(Depend.parse(name))
            except ValueError as e:
                die(f"'{text}' is not a package name or dependency: {e}")
        members = [] if found or repo else repos.group(name)
        if not found and not members:
            if name in repos.refused:
                die(f"'{text}' cannot be installed from {where}: {repos.refused[name]}")
            excluded = " (it is excluded)" if name in repos.exclude else ""
            die(f"no package or group '{text}' in {where}{excluded}"
                + ("" if excluded else suggest(name, [*repos.names(), *repos.providers])))
        for pkg in [found] if found else members:
            if all(p.name != pkg.name for p in out):
                out.append(pkg)
    return out


def select(repos: Repos, names: Sequence[str], where: str) -> Selection:
    targets = _targets(repos, names, where)
    chosen: list[SyncPackage] = []
    visiting: set[str] = set()

    def resolve(pkg: SyncPackage, path: list[str]) -> None:
        if pkg.name in visiting or any(p.name == pkg.name for p in chosen):
            return
        visiting.add(pkg.name)
        for dep in pkg.depends:
            if _satisfies(pkg, dep) or any(_satisfies(p, dep) for p in chosen):
                continue
            found = next((t for t in targets if _satisfies(t, dep)), None) \
                or repos.satisfier(dep)
            if found is None:
                chain = " <- ".join([str(dep)] + [pkg.name] + path[::-1])
                why = ""
                if dep.malformed:
                    why = f" (%DEPENDS% of {pkg.name} in {pkg.repo}.db reads '{dep}', " \
                          "an operator without a version or no name)"
                elif dep.name in repos.refused:
                    why = f" ({repos.refused[dep.name]})"
                die(f"cannot satisfy dependency {chain} from {where}{why}")
            resolve(found, path + [pkg.name])
        visiting.discard(pkg.name)
        chosen.append(pkg)

    for pkg in targets:
        resolve(pkg, [])
    _check_conflicts(chosen)
    return Selection(_sort_by_deps(chosen), {t.name for t in targets})


def _check_conflicts(chosen: list[SyncPackage]) -> None:
    for pkg in chosen:
        for c in pkg.conflicts:
            for other in chosen:
                if other.name != pkg.name and _satisfies(other, c):
                    die(f"{pkg.name} and {other.name} are in conflict ({pkg.name} conflicts "
                        f"with {c}); --exclude one of them")


def _sort_by_deps(pkgs: list[SyncPackage]) -> list[SyncPackage]:
    """Dependencies before dependants, otherwise in the order given (libalpm's
    depth-first sort; a dependency cycle is broken where it is met)."""
    children = {p.name: [q for q in pkgs if q.name != p.name
                         and any(_satisfies(q, d) for d in p.depends)] for p in pkgs}
    state: dict[str, int] = {}
    out: list[SyncPackage] = []

    def visit(p: SyncPackage) -> None:
        state[p.name] = 1
        for q in children[p.name]:
            if not state.get(q.name):
                visit(q)
        state[p.name] = 2
        out.append(p)

    for p in pkgs:
        if not state.get(p.name):
            visit(p)
    return out
