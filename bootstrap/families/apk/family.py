"""The apk family: Alpine's signed APKINDEX, .apk v2 packages, the installed
database, and the packages' scripts and triggers."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

from bootstrap import reproducible
from bootstrap.digest import Digest
from bootstrap.errors import die
from bootstrap.families import (Chosen, Described, Family, Plan, Verdict, digest_text, judge,
                                 purl, unpacking)
from bootstrap.families.apk import configure, index, installeddb, package
from bootstrap.families.apk.depend import Dep
from bootstrap.families.apk.index import ApkPackage, Index
from bootstrap.families.apk.installeddb import Installed
from bootstrap.families.apk.package import Unpacked
from bootstrap.families.apk.select import Repos, Selection, select
from bootstrap.fetch import Fetcher, Mirror, NotFound, Wanted
from bootstrap.readahead import Opener
from bootstrap.recipe import Schema, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter
from bootstrap.trust.rsa import RsaKeys


@dataclass(frozen=True)
class ApkRelease:
    repositories: tuple[str, ...] = ("main", "community")
    # repositories used only for what is asked for with their tag (name@testing)
    tagged: dict[str, str] = field(default_factory=dict)
    architectures: tuple[str, ...] = ()      # where the branch has fewer than the recipe


@dataclass
class ApkIndex:
    indexes: list[Index]
    mirror: Mirror
    signers: dict[str, str]                  # repository -> the key that signed its index
    keys: dict[str, bytes]                   # name -> the key files that vouched
    digests: dict[str, str] = field(default_factory=dict)   # the indexes, as verified


@dataclass
class ApkPlan(Plan):
    selection: Selection
    index: ApkIndex
    by_name: dict[str, ApkPackage]


class ApkFamily(Family):
    schema = Schema(release=ApkRelease)
    part_digests = (package.identity,)

    @classmethod
    def open_trust(cls, paths: Sequence[Path]) -> RsaKeys:
        return RsaKeys(paths)

    @property
    def branch(self) -> str:
        return self.release.name

    def _repos(self) -> list[tuple[str, str]]:
        """(repository, tag): the untagged ones first, in the recipe's order."""
        config = self.release.config
        if config.architectures and self.arch not in config.architectures:
            die(f"{self.recipe.name} {self.branch} has no {self.arch} "
                f"(it has {', '.join(config.architectures)})")
        return [(r, "") for r in config.repositories] + \
            [(repo, tag) for tag, repo in config.tagged.items()]

    def _path(self, repo: str, name: str) -> str:
        return f"{self.branch}/{repo}/{self.arch}/{name}"

    def load_index(self, fetcher: Fetcher, trust: RsaKeys) -> ApkIndex:
        indexes: list[Index] = []
        signers: dict[str, str] = {}
        digests: dict[str, str] = {}
        mirror = fetcher.mirror
        for order, (repo, tag) in enumerate(self._repos()):
            relpath = self._path(repo, "APKINDEX.tar.gz")
            verified: dict[str, object] = {}

            def check(data: bytes, m: Mirror) -> None:
                verified["content"], verified["signer"] = index.verify(data, trust, relpath, m)

            try:
                data, mirror = fetcher.index(relpath, check)
            except NotFound:
                die(f"{fetcher.mirror} has no repository {self.branch}/{repo} for {self.arch} "
                    f"({relpath} not found)", file=relpath, mirror=str(fetcher.mirror))
            try:
                indexes.append(index.parse(verified["content"], repo, tag, order,  # type: ignore[arg-type]
                                           f"{relpath} from {mirror}"))
            except ValueError as e:
                die(str(e), file=relpath, mirror=str(mirror))
            signers[repo] = str(verified["signer"])
            digests[relpath] = f"sha256:{hashlib.sha256(data).hexdigest()}"
        keys = {name: trust.files[name] for name in set(signers.values())}
        return ApkIndex(indexes, mirror, signers, keys, digests)

    def index_digests(self, index: ApkIndex) -> dict[str, str]:
        return dict(index.digests)

    def select(self, index: ApkIndex, variant: Variant, include: list[str],
               exclude: list[str]) -> ApkPlan:
        names = self.requested(variant, include)
        world = [Dep.parse(n) for n in names]
        for dep in world:
            if not dep.name:
                die(f"'{dep}' is not a package name or dependency")
        if exclude:
            for i in index.indexes:
                i.packages = [p for p in i.packages if p.name not in exclude]
        where = f"{self.recipe.name} {self.branch} {self.arch} " \
                f"({', '.join(r for r, _ in self._repos())})"
        selection = select(Repos(index.indexes), world, where)
        chosen = [Chosen(p.name, p.version, Wanted(self._path(p.repo, p.filename), p.identity,
                                                   p.size, covers=package.identity),
                         p.installs)
                  for p in selection.packages]
        return ApkPlan(chosen, selection, index, {p.name: p for p in selection.packages})

    def describe(self, plan: ApkPlan) -> list[Described]:
        """The index records (L: the licence, o: the origin); C: is the SHA-1 of a
        package's control part, not of the file. A dependency is met by every
        installed package that meets it as apk matches (name, provides, a
        checksum pin); conflicts (`!`) are no dependency."""
        chosen = plan.selection.packages
        out = []
        for p in chosen:
            met = {q.name for q in chosen for d in p.depends if not d.conflict
                   and q.name != p.name and d.met_by(q.name, q.version, q.provides, q.field("C"))}
            licence = p.field("L")
            out.append(Described(
                p.name, p.version, p.arch,
                purl("apk", self.recipe.name, p.name, p.version, arch=p.arch),
                (licence,) if licence else (), digest_text(p.identity),
                p.field("o") or p.name, tuple(sorted(met)), digest_of="control"))
        return out

    def verify(self, plan: ApkPlan, archives: Sequence[Path], fetcher: Fetcher,
               trust: RsaKeys, jobs: int) -> None:
        """Each package's signature, control part (C:) and data part (datahash)."""
        for pkg, archive in zip(plan.packages, archives):
            package.verify(archive, trust, pkg.wanted.digest, pkg.wanted.relpath,
                           plan.index.mirror)

    def prepare(self, writer: TreeWriter) -> None:
        installeddb.skeleton(writer)

    def contents(self, plan: ApkPlan, pkg: Chosen, archive: Path) -> Opener:
        return lambda: package.data_part(archive)

    def unpack(self, plan: ApkPlan, pkg: Chosen, archive: Path, writer: TreeWriter,
               ahead: Optional[BinaryIO] = None) -> Unpacked:
        with unpacking(pkg.wanted.relpath, plan.index.mirror):
            with open(archive, "rb") as f:
                parts = package.read_parts(f)
            said = (parts.info.get("pkgname", ["?"])[0], parts.info.get("pkgver", ["?"])[0])
            if said != (pkg.name, pkg.version):
                die(f"{pkg.wanted.relpath} from {plan.index.mirror}: the package says it is "
                    f"{said[0]} {said[1]}, the index {pkg.name} {pkg.version}",
                    file=pkg.wanted.relpath, mirror=str(plan.index.mirror))
            return package.unpack(archive, parts, writer, ahead)

    def before_unpack(self, plan: ApkPlan, pkg: Chosen, archive: Path,
                      runner: TreeRunner) -> None:
        with open(archive, "rb") as f:
            parts = package.read_parts(f)       # the control part is small: read again
        configure.run_script(runner, runner.writer, pkg.name, pkg.version, parts,
                             ".pre-install", [pkg.version])

    def after_unpack(self, plan: ApkPlan, pkg: Chosen, unpacked: Unpacked,
                     runner: TreeRunner) -> None:
        configure.run_script(runner, runner.writer, pkg.name, pkg.version, unpacked.parts,
                             ".post-install", [pkg.version])

    def register(self, plan: ApkPlan, unpacked: list[Unpacked],
                 writer: TreeWriter) -> list[Installed]:
        installed = [Installed(plan.by_name[c.name], u) for c, u in zip(plan.packages, unpacked)]
        installeddb.write(writer, installed, reproducible.now())
        return installed

    def configure(self, plan: ApkPlan, registered: list[Installed], runner: TreeRunner,
                  writer: TreeWriter) -> None:
        configure.triggers(runner, writer, registered)

    def write_sources(self, plan: ApkPlan, writer: TreeWriter, mirror: Mirror) -> None:
        used_tags = {d.tag for d in plan.selection.world if d.tag}
        repos = [f"{mirror}/{self.branch}/{repo}" for repo, tag in self._repos() if not tag]
        repos += [f"@{tag} {mirror}/{self.branch}/{repo}" for repo, tag in self._repos()
                  if tag and tag in used_tags]
        installeddb.write_config(writer, plan.selection.world, repos, plan.index.keys,
                                 self.arch)

    @classmethod
    def verify_files(cls, trust: RsaKeys, files: Sequence[Path],
                     indexes: Sequence[Path]) -> list[Verdict]:
        """As `apk verify`: an index by its signature; a package by its signature,
        its data part against its datahash, and against the C: of the indexes given."""
        promised: dict[str, Digest] = {}
        verdicts: list[Verdict] = []
        for path in indexes:
            verdict = judge(path, lambda: cls._index(path, trust, promised))
            if verdict.error:
                verdicts.append(verdict)
        for path in files:
            if path.name.startswith("APKINDEX"):
                verdicts.append(judge(path, lambda: cls._index(path, trust, {})))
            else:
                verdicts.append(judge(path, lambda: package.verify(
                    path, trust, promised.get(path.name), path.name, path.parent).signer))
        return verdicts

    @staticmethod
    def _index(path: Path, trust: RsaKeys, promised: dict[str, Digest]) -> str:
        content, signer = index.verify(path.read_bytes(), trust, path.name, path.parent)
        try:
            parsed = index.parse(content, "", "", 0, path.name)
        except ValueError as e:
            die(str(e))
        promised.update({p.filename: p.identity for p in parsed.packages})
        return signer


FAMILY = ApkFamily
