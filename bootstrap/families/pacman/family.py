"""The pacman family: Arch-style sync databases, signed packages, the local
database, .INSTALL scriptlets and alpm hooks."""
from __future__ import annotations

import base64
import binascii
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from bootstrap.errors import die
from bootstrap.families import Chosen, Family, unpacking
from bootstrap.families.pacman import configure, localdb, seed
from bootstrap.families.pacman.configure import Installed
from bootstrap.families.pacman.pkgfile import Unpacked, unpack
from bootstrap.families.pacman.select import Repos, Selection, select
from bootstrap.families.pacman.syncdb import SyncPackage, parse_db
from bootstrap.fetch import Fetcher, NotFound, Wanted
from bootstrap.recipe import Recipe, Release, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter
from bootstrap.trust import Keyring


class PacmanFamily(Family):
    trust_model = "web-of-trust"

    def __init__(self, recipe: Recipe, release: Release, arch: str) -> None:
        super().__init__(recipe, release, arch)
        self.servers: dict[str, str] = {}   # fetch URL -> the Server line it came from

    @property
    def repositories(self) -> list[str]:
        repos = self.release.data.get("repositories") or self.recipe.data.get("repositories")
        if not repos:
            die(f"recipe {self.recipe.path}: release {self.release.name} names no repositories")
        return list(repos)

    def mirror_url(self, url: str) -> str:
        """A mirrorlist Server URL ($repo, $arch) as Arch users write it; a plain
        base URL gets the recipe's standard layout appended."""
        base = super().mirror_url(url)
        if "$repo" not in base:
            base = f"{base}/{self.recipe.data.get('mirror_layout', '$repo/os/$arch')}"
        fetch = base.replace("$arch", self.arch)
        self.servers[fetch] = base
        return fetch

    def load_index(self, fetcher: Fetcher, keyring: Keyring) -> None:
        self.keyring = keyring
        self.dbs: dict[str, bytes] = {}
        self.sigs: dict[str, bytes] = {}
        loaded: list[tuple[str, list[SyncPackage]]] = []
        for repo in self.repositories:
            relpath = f"{repo}/{repo}.db"
            try:
                # the signature first, so the database is cached only once it verified
                self.sigs[repo], _ = fetcher.index(f"{relpath}.sig")
            except NotFound:
                pass   # databases are signed where the mirror has it (DatabaseOptional)

            def verified(data: bytes, mirror: str) -> None:
                if repo in self.sigs:
                    keyring.detached(data, self.sigs[repo], relpath, mirror.replace("$repo", repo))

            try:
                data, mirror = fetcher.index(relpath, verified)
            except NotFound:
                die(f"{fetcher.mirror.replace('$repo', repo)} has no repository '{repo}' "
                    f"for {self.arch} ({repo}.db not found)")
            try:
                loaded.append((repo, parse_db(data, repo, f"{relpath} from {mirror}")))
            except ValueError as e:
                die(str(e))
            self.dbs[repo] = data
        self.mirror = fetcher.mirror
        self.repos_loaded = loaded

    def select(self, variant: Variant, include: list[str], exclude: list[str]) -> list[Chosen]:
        names = list(variant.packages) + list(include)
        if not names:
            die(f"variant '{variant.name}' installs only what --include names, and it is empty")
        where = f"{self.recipe.name} {self.release.name} {self.arch} " \
                f"({', '.join(self.repositories)})"
        repos = Repos(self.repos_loaded, exclude)
        self.selection: Selection = select(repos, names, where)
        self.by_name = {p.name: p for p in self.selection.packages}
        self.unpacked: dict[str, Unpacked] = {}
        return [Chosen(p.name, p.version, Wanted(p.relpath, p.sha256, p.csize))
                for p in self.selection.packages]

    def verify(self, chosen: Sequence[Chosen], archives: Sequence[Path], fetcher: Fetcher,
               jobs: int) -> None:
        """Every package's detached signature (from the database, else its .sig)
        by a key the keyring makes valid, before anything is unpacked."""
        def check(item: tuple[Chosen, Path]) -> None:
            pkg, archive = item
            sync = self.by_name[pkg.name]

            def judge(sig: bytes, mirror: str) -> None:
                self.keyring.detached_file(archive, sig, pkg.wanted.relpath,
                                           mirror.replace("$repo", sync.repo))

            if sync.pgpsig:
                try:
                    sig = base64.b64decode(sync.pgpsig, validate=True)
                except (binascii.Error, ValueError):
                    die(f"{sync.repo}.db from {self.mirror}: the signature of {pkg.name} "
                        "is not base64")
                judge(sig, self.mirror)
            else:
                fetcher.signature(pkg.wanted, judge)

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(check, zip(chosen, archives)))

    def prepare(self, writer: TreeWriter) -> None:
        # libalpm leaves a directory that exists as the first package made it
        writer.keep_existing_dirs = True

    def unpack(self, pkg: Chosen, archive: Path, writer: TreeWriter) -> None:
        sync = self.by_name[pkg.name]
        mirror = self.mirror.replace("$repo", sync.repo)
        with unpacking(pkg.wanted.relpath, mirror):
            unpacked = unpack(archive, writer)
        info = unpacked.info
        if info.get("pkgname", [""])[0] != sync.name or info.get("pkgver", [""])[0] != sync.version:
            die(f"{pkg.wanted.relpath} from {mirror}: the package says it is "
                f"{info.get('pkgname', ['?'])[0]} {info.get('pkgver', ['?'])[0]}, "
                f"the database {sync.name} {sync.version}")
        self.unpacked[pkg.name] = unpacked

    def register(self, writer: TreeWriter) -> None:
        localdb.skeleton(writer)
        when = localdb.install_date()
        for pkg in self.selection.packages:
            localdb.register(writer, self.unpacked[pkg.name],
                             pkg.name in self.selection.explicit, when)
        for repo, data in self.dbs.items():
            writer.write_bytes(f"{localdb.DBPATH}/sync/{repo}.db", data)
            if repo in self.sigs:
                writer.write_bytes(f"{localdb.DBPATH}/sync/{repo}.db.sig", self.sigs[repo])

    def installed(self) -> list[Installed]:
        return [Installed(p.name, p.version, tuple(d.name for d in p.provides),
                          self.unpacked[p.name]) for p in self.selection.packages]

    def configure(self, runner: TreeRunner) -> None:
        configure.run(runner, self.installed())

    def seed(self, writer: TreeWriter, mirror: str) -> None:
        seed.write(writer, self.repositories, self.servers.get(mirror, mirror))

