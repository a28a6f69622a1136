"""The pacman family: Arch-style sync databases, signed packages, the local
database, .INSTALL scriptlets and alpm hooks."""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

from bootstrap import reproducible
from bootstrap.errors import die
from bootstrap.archive import DAMAGED, decompressed_file, open_tar
from bootstrap.families import (Chosen, Described, Family, Plan, RunSetup, Verdict, digest_text,
                                 judge, purl, unpacking)
from bootstrap.families.pacman import configure, localdb, parsed, sources
from bootstrap.families.pacman.configure import Installed
from bootstrap.families.pacman.pkgfile import Unpacked, unpack
from bootstrap.families.pacman.select import Repos, Selection, select
from bootstrap.families.pacman.syncdb import SyncDb, SyncPackage, parse_db, parse_fields
from bootstrap.fetch import Fetcher, Mirror, NotFound, Wanted
from bootstrap.readahead import Opener
from bootstrap.recipe import Schema, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import KEEP_FIRST, TreeWriter
from bootstrap.trust.weboftrust import WebOfTrust


@dataclass(frozen=True)
class PacmanRecipe:
    # appended to a plain base URL given as a mirror, as a mirrorlist Server line
    mirror_layout: str = "$repo/os/$arch"
    repositories: tuple[str, ...] = ()     # for releases that name none


@dataclass(frozen=True)
class PacmanRelease:
    repositories: tuple[str, ...] = ()     # searched in this order, as pacman.conf's


class ServerMirror(Mirror):
    """A mirror as a pacman Server line: $repo and $arch. The first component of
    a path under it names the repository."""

    def __init__(self, line: str, arch: str) -> None:
        super().__init__(line)
        self.line = self.base                   # as written, for the tree's mirrorlist
        self.base = self.base.replace("$arch", arch)

    def url(self, relpath: str) -> str:
        repo, _, rest = relpath.partition("/")
        return f"{self.base.replace('$repo', repo)}/{rest}"

    def of(self, repo: str) -> str:
        """The mirror's URL for one repository, as messages name it."""
        return self.base.replace("$repo", repo)


@dataclass
class PacmanIndex:
    dbs: list[SyncDb]
    raw: dict[str, bytes]                   # repository -> its database as served
    sigs: dict[str, bytes]                  # repository -> the database's signature
    mirror: ServerMirror


@dataclass
class PacmanPlan(Plan):
    selection: Selection
    by_name: dict[str, SyncPackage]
    index: PacmanIndex


# an active `DownloadUser = NAME` in pacman.conf's [options] (pacman 7)
_DOWNLOAD_USER = re.compile(rb"^[ \t]*DownloadUser[ \t]*=.*$", re.M)


class PacmanFamily(Family):
    schema = Schema(PacmanRecipe, PacmanRelease)
    existing_dirs = KEEP_FIRST      # libalpm leaves a directory as the first package made it

    @classmethod
    def open_trust(cls, paths: Sequence[Path]) -> WebOfTrust:
        return WebOfTrust(paths)

    @property
    def repositories(self) -> list[str]:
        repos = self.release.config.repositories or self.recipe.config.repositories
        if not repos:
            die(f"recipe {self.recipe.path}: release {self.release.name} names no repositories")
        return list(repos)

    def mirror(self, url: str) -> ServerMirror:
        """A mirrorlist Server URL ($repo, $arch) as Arch users write it; a plain
        base URL gets the recipe's standard layout appended."""
        line = url.rstrip("/")
        if "$repo" not in line:
            line = f"{line}/{self.recipe.config.mirror_layout}"
        return ServerMirror(line, self.arch)

    def load_index(self, fetcher: Fetcher, trust: WebOfTrust) -> PacmanIndex:
        dbs: list[SyncDb] = []
        raw: dict[str, bytes] = {}
        sigs: dict[str, bytes] = {}
        mirror: Optional[Mirror] = None
        for repo in self.repositories:
            relpath = f"{repo}/{repo}.db"

            def verified(data: bytes, sig: Optional[bytes], m: Mirror) -> None:
                # databases are signed where the mirror has it (DatabaseOptional)
                if sig is not None:
                    trust.detached(data, sig, relpath, _of(m, repo))

            try:
                data, sig, mirror = fetcher.signed_index(relpath, f"{relpath}.sig", verified,
                                                         optional=True)
            except NotFound:
                die(f"{_of(fetcher.mirror, repo)} has no repository '{repo}' "
                    f"for {self.arch} ({repo}.db not found)", file=relpath,
                    mirror=_of(fetcher.mirror, repo))
            try:
                dbs.append(parsed.sync_db(fetcher.cache, data, repo,
                                          f"{relpath} from {_of(mirror, repo)}"))
            except ValueError as e:
                die(str(e), file=relpath, mirror=_of(mirror, repo))
            raw[repo] = data
            if sig is not None:
                sigs[repo] = sig
        assert isinstance(mirror, ServerMirror)
        return PacmanIndex(dbs, raw, sigs, mirror)

    def select(self, index: PacmanIndex, variant: Variant, include: list[str],
               exclude: list[str]) -> PacmanPlan:
        names = self.requested(variant, include)
        where = f"{self.recipe.name} {self.release.name} {self.arch} " \
                f"({', '.join(self.repositories)})"
        selection = select(Repos(index.dbs, exclude), names, where)
        return PacmanPlan([Chosen(p.name, p.version, Wanted(p.relpath, p.digest, p.csize),
                                  p.isize or None)
                           for p in selection.packages],
                          selection, {p.name: p for p in selection.packages}, index)

    def describe(self, plan: PacmanPlan) -> list[Described]:
        """The databases' records (%LICENSE% as listed, %BASE% the source); a
        dependency is met by every installed package that satisfies it as libalpm
        matches (its name and version, or a provision)."""
        chosen = plan.selection.packages
        fields = _desc_fields(plan.index.raw, {(p.repo, f"{p.name}-{p.version}") for p in chosen})
        out = []
        for p in chosen:
            desc = fields.get((p.repo, f"{p.name}-{p.version}"), {})
            met = {q.name for q in chosen for d in p.depends
                   if q.name != p.name and d.satisfied_by(q.name, q.version, q.provides)}
            out.append(Described(
                p.name, p.version, p.arch,
                purl("alpm", self.recipe.name, p.name, p.version, arch=p.arch),
                tuple(desc.get("LICENSE", ())), digest_text(p.digest),
                (desc.get("BASE") or [p.name])[0], tuple(sorted(met))))
        return out

    def index_digests(self, index: PacmanIndex) -> dict[str, str]:
        return {f"{repo}/{repo}.db": f"sha256:{hashlib.sha256(data).hexdigest()}"
                for repo, data in index.raw.items()}

    def verify(self, plan: PacmanPlan, archives: Sequence[Path], fetcher: Fetcher,
               trust: WebOfTrust, jobs: int) -> None:
        """Every package's detached signature (from the database, else its .sig)
        by a key the keyring makes valid, before anything is unpacked."""
        mirror = plan.index.mirror

        def check(item: tuple[Chosen, Path]) -> None:
            pkg, archive = item
            sync = plan.by_name[pkg.name]

            def judge(sig: bytes, m: Mirror) -> None:
                trust.detached_file(archive, sig, pkg.wanted.relpath, _of(m, sync.repo))

            if sync.pgpsig:
                try:
                    sig = base64.b64decode(sync.pgpsig, validate=True)
                except (binascii.Error, ValueError):
                    die(f"{sync.repo}.db from {mirror.of(sync.repo)}: the signature of "
                        f"{pkg.name} is not base64", file=f"{sync.repo}/{sync.repo}.db",
                        mirror=mirror.of(sync.repo))
                judge(sig, mirror)
            else:
                fetcher.signature(pkg.wanted, judge)

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(check, zip(plan.packages, archives)))

    def contents(self, plan: PacmanPlan, pkg: Chosen, archive: Path) -> Opener:
        return lambda: decompressed_file(archive)

    def unpack(self, plan: PacmanPlan, pkg: Chosen, archive: Path, writer: TreeWriter,
               ahead: Optional[BinaryIO] = None) -> Unpacked:
        sync = plan.by_name[pkg.name]
        mirror = plan.index.mirror.of(sync.repo)
        with unpacking(pkg.wanted.relpath, mirror):
            unpacked = unpack(archive, writer, ahead)
        info = unpacked.info
        if info.get("pkgname", [""])[0] != sync.name or info.get("pkgver", [""])[0] != sync.version:
            die(f"{pkg.wanted.relpath} from {mirror}: the package says it is "
                f"{info.get('pkgname', ['?'])[0]} {info.get('pkgver', ['?'])[0]}, "
                f"the database {sync.name} {sync.version}", file=pkg.wanted.relpath,
                mirror=mirror)
        return unpacked

    def register(self, plan: PacmanPlan, unpacked: list[Unpacked],
                 writer: TreeWriter) -> list[Installed]:
        localdb.skeleton(writer)
        when = reproducible.now()
        for pkg, files in zip(plan.selection.packages, unpacked):
            localdb.register(writer, files, pkg.name in plan.selection.explicit, when)
        for repo, data in plan.index.raw.items():
            writer.write_bytes(f"{localdb.DBPATH}/sync/{repo}.db", data)
            if repo in plan.index.sigs:
                writer.write_bytes(f"{localdb.DBPATH}/sync/{repo}.db.sig", plan.index.sigs[repo])
        return [Installed(p.name, p.version, tuple(d.name for d in p.provides), files)
                for p, files in zip(plan.selection.packages, unpacked)]

    def configure(self, plan: PacmanPlan, registered: list[Installed], runner: TreeRunner,
                  writer: TreeWriter) -> None:
        configure.run(runner, writer, registered)

    def write_sources(self, plan: PacmanPlan, writer: TreeWriter, mirror: Mirror) -> None:
        line = mirror.line if isinstance(mirror, ServerMirror) else str(mirror)
        sources.write(writer, self.repositories, line)

    @classmethod
    def run_setup(cls, tree: Path, holds_ids: bool) -> RunSetup:
        """pacman 7 downloads as DownloadUser (alpm); where the namespace maps no id
        but the caller's, switching to it fails. pacman reads its options from one
        file only, so `pacman` there is pacman with --config naming a copy of the
        tree's pacman.conf without DownloadUser (the tree's own file is unchanged)."""
        conf = tree / "etc/pacman.conf"
        if holds_ids or not (tree / localdb.DBPATH).is_dir() or conf.is_symlink():
            return RunSetup()
        try:
            text = conf.read_bytes()
        except OSError:
            return RunSetup()
        if not _DOWNLOAD_USER.search(text):
            return RunSetup()
        copy = _DOWNLOAD_USER.sub(lambda m: b"#" + m.group(0) + b"  # rootstrap run", text)
        wrapper = b'#!/bin/sh\nexec /usr/bin/pacman --config /run/rootstrap/pacman.conf "$@"\n'
        return RunSetup(files={"pacman.conf": copy, "bin/pacman": wrapper}, path=("bin",))



    @classmethod
    def verify_files(cls, trust: WebOfTrust, files: Sequence[Path],
                     indexes: Sequence[Path]) -> list[Verdict]:
        """As pacman checks them (SigLevel Required): a database or a package by the
        .sig beside it, or a package by the %PGPSIG% and %SHA256SUM% of a database
        given with --index, each signature by a key the keyring makes valid."""
        known: dict[str, SyncPackage] = {}
        verdicts: list[Verdict] = []

        def database(path: Path) -> str:
            data = path.read_bytes()
            sig = _sig(path)
            if sig is None:
                die(f"no {path.name}.sig beside it")
            signers = trust.detached(data, sig, path.name, path.parent)
            return ", ".join(signers)

        def package(path: Path) -> str:
            sig = _sig(path)
            entry = known.get(path.name)
            if entry is not None:
                h = hashlib.sha256(path.read_bytes()).hexdigest()
                if h != entry.digest.value:
                    die(f"its SHA256 {h} is not the {entry.digest.value} {entry.repo}.db "
                        "promises")
                if sig is None and entry.pgpsig:
                    sig = base64.b64decode(entry.pgpsig)
            if sig is None:
                die(f"no {path.name}.sig beside it, and no database given with --index "
                    "carries its signature")
            return ", ".join(trust.detached_file(path, sig, path.name, path.parent))

        for path in indexes:
            def load(path: Path = path) -> str:
                repo = path.name.split(".")[0]
                try:
                    db = parse_db(path.read_bytes(), repo, path.name)
                except ValueError as e:
                    die(str(e))
                known.update({p.filename: p for p in db.packages})
                return "read"
            verdict = judge(path, load)
            if verdict.error:
                verdicts.append(verdict)
        for path in files:
            is_db = path.name.endswith((".db", ".files")) or ".db." in path.name
            verdicts.append(judge(path, lambda: database(path) if is_db else package(path)))
        return verdicts


def _desc_fields(raw: dict[str, bytes], entries: set[tuple[str, str]]
                 ) -> dict[tuple[str, str], dict[str, list[str]]]:
    """The desc fields of the database entries named (repository, NAME-VERSION
    folder), read again from the verified databases: what the solver does not keep."""
    out: dict[tuple[str, str], dict[str, list[str]]] = {}
    for repo in sorted({repo for repo, _ in entries}):
        try:
            with open_tar(io.BytesIO(raw[repo])) as tar:
                for m in tar:
                    folder, _, base = m.name.strip("/").rpartition("/")
                    if base == "desc" and (repo, folder) in entries and m.isreg():
                        f = tar.extractfile(m)
                        if f is not None:
                            text = f.read().decode("utf-8", "replace")
                            out[(repo, folder)] = parse_fields(text)
        except (*DAMAGED, OSError, ValueError):
            continue          # read once already: parse_db refused what is unreadable
    return out


def _sig(path: Path) -> Optional[bytes]:
    sig = path.with_name(path.name + ".sig")
    return sig.read_bytes() if sig.is_file() else None


def _of(mirror: Mirror, repo: str) -> str:
    return mirror.of(repo) if isinstance(mirror, ServerMirror) else str(mirror)


FAMILY = PacmanFamily
