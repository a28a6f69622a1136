"""The deb family: Debian-style archives, dpkg databases, maintainer scripts."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Optional, Sequence

import zstandard

from bootstrap import cores, xz
from bootstrap.digest import Digest
from bootstrap.errors import die
from bootstrap.families import (Chosen, Described, Family, Plan, RunSetup, Verdict,
                                 digest_text, judge, purl, unpacking)
from bootstrap.families.deb import configure, dpkgdb, parsed, sources
from bootstrap.families.deb.debfile import Unpacked, data_member, unpack
from bootstrap.families.deb.packages import DebPackage, MalformedIndex, parse_packages
from bootstrap.families.deb.release import Release as SignedRelease
from bootstrap.families.deb.select import Request, _Solver, select
from bootstrap.fetch import Fetcher, Mirror, NotFound, Wanted
from bootstrap.readahead import Opener
from bootstrap.recipe import Schema, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter
from bootstrap.trust.openpgp import WEAK_DIGESTS, OpenPGP


@dataclass(frozen=True)
class Sources:
    """How apt's sources are written in the tree (see sources.py)."""
    format: str = "deb822"                # or "list": one-line sources.list
    suites: tuple[str, ...] = ()          # default: the release itself
    security: Optional[str] = None        # the security suite, on security_mirror
    signed_by: Optional[str] = None       # the keyring apt checks them with


@dataclass(frozen=True)
class DebRecipe:
    components: tuple[str, ...] = ("main",)
    security_mirror: Optional[str] = None
    # directories that become links into /usr on a merged-/usr tree: by
    # architecture, with "default" for the others
    merged_usr_links: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class DebRelease:
    version: Optional[str] = None
    merged_usr: bool = False
    sources: Sources = Sources()


@dataclass(frozen=True)
class DebVariant:
    essential: bool = False               # every Essential: yes package
    priorities: tuple[str, ...] = ()      # every package of these priorities


@dataclass
class DebIndex:
    packages: list[DebPackage]
    mirror: Mirror
    keyring: Optional[bytes]              # --keyring's keys, for the tree's apt to trust
    digests: dict[str, str] = field(default_factory=dict)   # verified index files


@dataclass
class DebPlan(Plan):
    chosen: list[DebPackage]
    request: Request
    keyring: Optional[bytes]
    mirror: Mirror


# apt reads this file named by APT_CONFIG before its own configuration
APT_SANDBOX = b'// rootstrap run: _apt is not mapped in this namespace\nAPT::Sandbox::User "root";\n'


def _decompress(data: bytes, name: str) -> bytes:
    try:
        if name.endswith((".xz", ".lzma")):
            data = xz.decompress(data, cores.usable())
        elif name.endswith(".gz"):
            data = gzip.decompress(data)
        elif name.endswith(".bz2"):
            data = bz2.decompress(data)
        elif name.endswith(".zst"):
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except (lzma.LZMAError, OSError, EOFError, ValueError, zlib.error,
            zstandard.ZstdError) as e:
        raise MalformedIndex(f"cannot decompress it ({e})") from None
    return data


@dataclass
class EssentialDone:
    """What configure() takes once the essential set is configured: the rest's turn."""
    activations: dict[str, list[str]]


class DebFamily(Family):
    schema = Schema(DebRecipe, DebRelease, DebVariant)
    has_essential_stage = True

    @classmethod
    def open_trust(cls, paths: Sequence[Path]) -> OpenPGP:
        # apt refuses signatures over MD5, SHA1 and RIPEMD160 (methods/gpgv.cc)
        return OpenPGP(paths, WEAK_DIGESTS)

    @property
    def suite(self) -> str:
        return self.release.name

    def load_index(self, fetcher: Fetcher, trust: OpenPGP) -> DebIndex:
        dists = f"dists/{self.suite}"
        signed_text = b""

        def clearsigned(data: bytes, mirror: Mirror) -> None:
            nonlocal signed_text
            signed_text = trust.clearsigned(data, f"{dists}/InRelease", mirror)

        try:
            data, mirror = fetcher.index(f"{dists}/InRelease", clearsigned)
            text = signed_text.decode("utf-8", "replace")
            what = f"{dists}/InRelease from {mirror}"
            signed_path = f"{dists}/InRelease"
        except NotFound:
            def detached(data: bytes, sig: Optional[bytes], m: Mirror) -> None:
                assert sig is not None
                trust.detached(data, sig, f"{dists}/Release", m)

            try:
                data, _, mirror = fetcher.signed_index(f"{dists}/Release",
                                                       f"{dists}/Release.gpg", detached)
            except NotFound:
                die(f"{fetcher.mirror} has no {dists}/InRelease, nor {dists}/Release with "
                    f"Release.gpg: is '{self.suite}' a suite on this mirror?",
                    file=f"{dists}/InRelease", mirror=str(fetcher.mirror))
            text = data.decode("utf-8", "replace")
            what = f"{dists}/Release from {mirror}"
            signed_path = f"{dists}/Release"
        signed = SignedRelease.parse(text, what)
        signed.check_suite((self.suite,) + self.release.aliases, what)
        signed.check_fresh(what)
        packages: list[DebPackage] = []
        digests = {signed_path: f"sha256:{hashlib.sha256(data).hexdigest()}"}
        for component in self.recipe.config.components:
            want = signed.index(component, self.arch, what, prefix=f"{dists}/")
            path = fetcher.hashed(want)
            try:
                packages += parsed.packages(
                    fetcher.cache, want.digest,
                    lambda: _decompress(path.read_bytes(), want.relpath))
            except MalformedIndex as exc:
                die(f"{want.relpath} from {mirror}: {exc} (apt refuses the whole file)",
                    file=want.relpath, mirror=str(mirror))
            digests[want.relpath] = digest_text(want.digest)
        overridden = list(trust.paths) != list(self.recipe.keyrings)
        return DebIndex(packages, mirror, trust.export() if overridden else None, digests)

    def index_digests(self, index: DebIndex) -> dict[str, str]:
        return dict(index.digests)

    def select(self, index: DebIndex, variant: Variant, include: list[str],
               exclude: list[str]) -> DebPlan:
        where = f"{self.suite} {self.arch}"
        pre: tuple[str, ...] = ()
        if self.release.config.merged_usr and \
                any(p.name == "usr-is-merged" for p in index.packages):
            pre = ("usr-is-merged",)
        request = Request(essential=variant.config.essential,
                          priorities=variant.config.priorities,
                          names=tuple(variant.packages) + tuple(include),
                          exclude=tuple(exclude), preselected=pre)
        if not request.essential and not request.priorities and not request.names:
            die(f"variant '{variant.name}' installs only what --include names, and it is empty")
        chosen = select(index.packages, request, self.arch, where)
        return DebPlan([Chosen(p.name, p.version, self._wanted(p, index), p.installs)
                        for p in chosen],
                       chosen, request, index.keyring, index.mirror)

    @staticmethod
    def _wanted(p: DebPackage, index: DebIndex) -> Wanted:
        try:
            digest = Digest("sha256", p.sha256)
        except ValueError:
            die(f"the index of {index.mirror} promises {p.sha256!r} as the SHA256 of "
                f"{p.filename}, which is not a digest", file=p.filename,
                mirror=str(index.mirror))
        if p.size < 0:
            size = re.search(r"^size:[ \t]*(.*?)[ \t]*$", p.stanza, re.M | re.I)
            die(f"the index of {index.mirror} gives {p.name}'s {p.filename} the Size "
                f"'{size[1] if size else ''}', which is not a number", file=p.filename,
                mirror=str(index.mirror))
        return Wanted(p.filename, digest, p.size)

    def describe(self, plan: DebPlan) -> list[Described]:
        """Packages' index records; a dependency is met as the solver meets it (the
        package of that name, then providers), by the first alternative of each
        Depends or Pre-Depends group that an installed package meets. Debian's
        index states no licence."""
        installed = _Solver(plan.chosen, self.arch, (), f"{self.suite} {self.arch}")
        distro = f"{self.recipe.name}-{self.release.config.version or self.release.name}"
        out = []
        for p in plan.chosen:
            met: set[str] = set()
            for group in p.pre_depends + p.depends:
                for rel in group:
                    names = {q.name for q in installed.matches(rel)} - {p.name}
                    if names:
                        met |= names
                        break
            out.append(Described(
                p.name, p.version, p.architecture,
                purl("deb", self.recipe.name, p.name, p.version, arch=p.architecture,
                     distro=distro),
                (), f"sha256:{p.sha256}", p.source.split(" ")[0] or p.name,
                tuple(sorted(met))))
        return out

    def prepare(self, writer: TreeWriter) -> None:
        if not self.release.config.merged_usr:
            return
        links = self.recipe.config.merged_usr_links
        for name in links.get(self.arch, links.get("default", ())):
            writer.mkdir(f"usr/{name}", 0o755, 0, 0)
            writer.symlink(name, f"usr/{name}")

    def contents(self, plan: DebPlan, pkg: Chosen, archive: Path) -> Opener:
        return lambda: data_member(archive)

    def unpack(self, plan: DebPlan, pkg: Chosen, archive: Path, writer: TreeWriter,
               ahead: Optional[BinaryIO] = None) -> Unpacked:
        with unpacking(pkg.wanted.relpath, plan.mirror):
            unpacked = unpack(archive, writer, ahead)
        said = (unpacked.fields.get("Package", "?"), unpacked.fields.get("Version", "?"))
        if said != (pkg.name, pkg.version):
            die(f"{pkg.wanted.relpath} from {plan.mirror}: the package says it is "
                f"{said[0]} {said[1]}, the index {pkg.name} {pkg.version}",
                file=pkg.wanted.relpath, mirror=str(plan.mirror))
        return unpacked

    def register(self, plan: DebPlan, unpacked: list[Unpacked],
                 writer: TreeWriter) -> dict[str, list[str]]:
        dpkgdb.skeleton(writer, self.arch)
        activations = dpkgdb.register(writer, unpacked)
        self._auto_installed(plan, writer)
        return activations

    def _auto_installed(self, plan: DebPlan, writer: TreeWriter) -> None:
        """apt's extended_states: what only came in as a dependency of a requested
        package is marked automatic, as apt marks it, so autoremove knows. The
        essential set is dpkg's business and never marked, as with mmdebstrap."""
        essential = configure.closure([p for p in plan.chosen if p.essential], plan.chosen)
        asked = set(plan.request.names) | set(plan.request.preselected)
        auto = [p for p in plan.chosen if p.name not in essential and p.name not in asked
                and p.priority not in plan.request.priorities]
        text = "".join(f"Package: {p.name}\nArchitecture: {p.architecture}\n"
                       "Auto-Installed: 1\n\n" for p in auto)
        writer.write_bytes("var/lib/apt/extended_states", text.encode())

    def configure_essential(self, plan: DebPlan, registered: dict[str, list[str]],
                            runner: TreeRunner, writer: TreeWriter) -> "EssentialDone":
        configure.run(runner, writer, plan.chosen, registered, configure.ESSENTIAL)
        return EssentialDone(registered)

    def configure(self, plan: DebPlan, registered: Any, runner: TreeRunner,
                  writer: TreeWriter) -> None:
        if isinstance(registered, EssentialDone):
            configure.run(runner, writer, plan.chosen, registered.activations, configure.REST)
        else:
            configure.run(runner, writer, plan.chosen, registered)

    def write_sources(self, plan: DebPlan, writer: TreeWriter, mirror: Mirror) -> None:
        sources.write(writer, self.recipe, self.release, str(mirror), plan.keyring)
        if not writer.exists("etc/fstab"):
            writer.write_bytes("etc/fstab", b"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")

    def finish(self, writer: TreeWriter) -> None:
        # what configuring leaves that differs from build to build, and no package owns
        for path in ("var/cache/ldconfig/aux-cache", "var/log/dpkg.log",
                     "var/log/alternatives.log"):
            writer.remove(path)
        archives = writer.resolve("var/cache/apt/archives", follow_last=True)
        for deb in sorted(Path(writer.full(archives)).glob("*.deb")):
            writer.remove(f"{archives}/{deb.name}")

    @classmethod
    def run_setup(cls, tree: Path, holds_ids: bool) -> RunSetup:
        """apt drops privileges to _apt to download; where the namespace maps no id
        but the caller's, that fails (setgroups/seteuid), so apt is told, through
        the file APT_CONFIG names, to stay root, as apt.conf(5)'s
        APT::Sandbox::User allows."""
        if holds_ids or not (tree / dpkgdb.ADMIN).is_dir():
            return RunSetup()
        return RunSetup(env={"APT_CONFIG": "/run/rootstrap/apt.conf"},
                        files={"apt.conf": APT_SANDBOX})

    @classmethod
    def verify_files(cls, trust: OpenPGP, files: Sequence[Path],
                     indexes: Sequence[Path]) -> list[Verdict]:
        """InRelease (or Release with Release.gpg beside it) by its signature, as
        apt and gpgv check it; a Packages index by its hash in a verified Release;
        a .deb, which carries no signature of its own, by its hash in a verified
        Packages index. --index gives the Release files and Packages indexes."""
        releases: dict[str, str] = {}       # SHA256 of an index file -> what lists it
        debs: dict[str, str] = {}            # SHA256 of a .deb -> the index listing it
        verdicts: list[Verdict] = []

        def release(path: Path) -> str:
            text, signers = cls._release(path, trust)
            for digest, _ in SignedRelease.parse(text.decode("utf-8", "replace"),
                                                 str(path)).sha256.values():
                releases[digest] = path.name
            return ", ".join(signers)

        def packages(path: Path) -> str:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest not in releases:
                die(f"its SHA256 {digest} is in no verified Release (give the InRelease that "
                    "lists it with --index)")
            try:
                listed = parse_packages(_decompress(data, path.name))
            except MalformedIndex as exc:
                die(f"{exc} (apt refuses the whole file)")
            for p in listed:
                debs[p.sha256] = path.name
            return f"listed in {releases[digest]}"

        def deb(path: Path) -> str:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            if not debs:
                die("a .deb carries no signature of its own; give the InRelease and the "
                    "Packages index that list it with --index")
            if h.hexdigest() not in debs:
                die(f"its SHA256 {h.hexdigest()} is in no verified Packages index")
            return f"listed in {debs[h.hexdigest()]}"

        kinds = [(p, _kind(p)) for p in indexes]
        for path, kind in sorted(kinds, key=lambda pk: pk[1] != "release"):
            verdict = judge(path, lambda: release(path) if kind == "release"
                            else packages(path))
            if verdict.error:
                verdicts.append(verdict)
        for path in files:
            kind = _kind(path)
            check = {"release": release, "packages": packages}.get(kind, deb)
            verdicts.append(judge(path, lambda: check(path)))
        return verdicts

    @staticmethod
    def _release(path: Path, trust: OpenPGP) -> tuple[bytes, list[str]]:
        data = path.read_bytes()
        if path.name != "Release":
            return trust.clearsigned_by(data, path.name, path.parent)
        sig = path.with_name("Release.gpg")
        if not sig.is_file():
            die("no Release.gpg beside it to check it with")
        return data, trust.detached(data, sig.read_bytes(), path.name, path.parent)


def _kind(path: Path) -> str:
    if path.name in ("InRelease", "Release") or path.name.endswith(".InRelease"):
        return "release"
    if path.name.startswith("Packages"):
        return "packages"
    return "deb"


FAMILY = DebFamily
