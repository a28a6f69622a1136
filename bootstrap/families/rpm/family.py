"""The rpm family: rpm-md repositories found through MirrorManager's metalink (or
given as base URLs), packages checked by their OpenPGP header signature and
payload digest, files from the cpio payload, the tree's rpmdb.sqlite, and the
scriptlets and file triggers in rpm's order."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

from bootstrap import accounts, reproducible
from bootstrap.archive import decompressed_file
from bootstrap.errors import die
from bootstrap.families import (Chosen, Described, Family, Plan, Verdict, digest_text, judge,
                                 purl, unpacking)
from bootstrap.families.rpm import header as rpmheader
from bootstrap.families.rpm import payload, pubkey, repodata, rpmdb, scriptlets
from bootstrap.families.rpm.depend import Dependency, Simple, holds
from bootstrap.families.rpm.depend import parse as parse_dependency
from bootstrap.families.rpm.repodata import RpmPackage
from bootstrap.families.rpm.select import Pool, Selection, expand_groups, select
from bootstrap.fetch import Fetcher, Mirror, NotFound, Wanted
from bootstrap.paths import keys_dir
from bootstrap.readahead import Opener
from bootstrap.recipe import Schema, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter
from bootstrap.trust import pgpkey
from bootstrap.trust.openpgp import OpenPGP

PAYLOADDIGEST = 5092
NAME, VERSION, RELEASE, EPOCH = 1000, 1001, 1002, 1003
COMPS = ("group_zst", "group_xz", "group_gz", "group")      # best first, as dnf reads them


@dataclass(frozen=True)
class RpmRepo:
    # MirrorManager's metalink for the repository, or its base URL ($releasever,
    # $basearch and $arch as dnf expands them)
    metalink: str = ""
    baseurl: str = ""
    name: str = ""                      # as /etc/yum.repos.d names it


@dataclass(frozen=True)
class RpmRecipe:
    repositories: dict[str, RpmRepo] = field(default_factory=dict)
    allow_unsigned: bool = False        # loudly: packages without a header signature
    transaction_color: int = 3


@dataclass(frozen=True)
class RpmRelease:
    releasever: str = ""                # default: the release's name
    keys: tuple[str, ...] = ()          # the release's signing keys, under keys/
    repositories: tuple[str, ...] = ()


@dataclass(frozen=True)
class RpmVariant:
    weak_deps: bool = False             # dnf's install_weak_deps


@dataclass
class Repo:
    name: str
    bases: list[str]                    # the repository's URL on each mirror, best first
    records: dict[str, repodata.Record]
    repomd: str = ""                    # SHA-256 of the repomd.xml verified


@dataclass
class RpmIndex:
    repos: list[Repo]
    packages: list[RpmPackage]
    groups: dict[str, repodata.Group]
    fetcher: Fetcher
    trust: OpenPGP


@dataclass
class RpmPlan(Plan):
    selection: Selection
    index: RpmIndex
    by_nevra: dict[str, RpmPackage]
    headers: dict[str, rpmheader.Package] = field(default_factory=dict)
    unpacked: list[payload.Unpacked] = field(default_factory=list)   # so far, when configuring
    keys: list[pgpkey.Certificate] = field(default_factory=list)      # that signed packages


def _vars(text: str, releasever: str, arch: str) -> str:
    return text.replace("$releasever", releasever).replace("$basearch", arch) \
        .replace("$arch", arch)


class RpmFamily(Family):
    schema = Schema(RpmRecipe, RpmRelease, RpmVariant)
    has_weak_deps = True
    finds_mirrors = True

    @classmethod
    def open_trust(cls, paths: Sequence[Path]) -> OpenPGP:
        return OpenPGP(paths)

    def trust_roots(self) -> list[Path]:
        if self.release.config.keys:
            return [keys_dir() / k for k in self.release.config.keys]
        return list(self.recipe.keyrings)

    @property
    def releasever(self) -> str:
        return self.release.config.releasever or self.release.name

    def mirror(self, url: str) -> Mirror:
        return Mirror(_vars(url, self.releasever, self.arch))

    # -- the index ------------------------------------------------------------
    def load_index(self, fetcher: Fetcher, trust: OpenPGP) -> RpmIndex:
        given = [str(m) for m in fetcher.mirrors] != \
            [str(self.mirror(m)) for m in self.recipe.mirrors]
        repos: list[Repo] = []
        if given:
            # each --mirror is one repository's base URL, as dnf's baseurl
            for n, m in enumerate(fetcher.mirrors):
                repos.append(self._repo(fetcher, trust, f"mirror{n + 1}", [m.base], None))
        else:
            for name in self.release.config.repositories:
                config = self.recipe.config.repositories.get(name)
                if config is None:
                    die(f"recipe {self.recipe.path}: release {self.release.name} names the "
                        f"repository '{name}', which 'repositories' does not describe")
                if not (config.metalink or config.baseurl):
                    die(f"recipe {self.recipe.path}: repository '{name}' has neither a "
                        "metalink nor a baseurl")
                bases = [_vars(config.baseurl, self.releasever, self.arch)] \
                    if config.baseurl and not config.metalink else []
                repos.append(self._repo(fetcher, trust, name, bases, config))
        fetcher.found(Mirror(repos[0].bases[0]))
        packages: list[RpmPackage] = []
        groups: dict[str, repodata.Group] = {}
        for repo in repos:
            packages += self._primary(fetcher, repo)
            groups.update(self._comps(fetcher, repo))
        return RpmIndex(repos, packages, groups, fetcher, trust)

    def _repo(self, fetcher: Fetcher, trust: OpenPGP, name: str, bases: list[str],
              config: Optional[RpmRepo]) -> Repo:
        if config is not None and config.metalink:
            url = _vars(config.metalink, self.releasever, self.arch)
            data, _ = fetcher.index_at([url])
            try:
                link = repodata.parse_metalink(data, f"the metalink of {name}")
            except ValueError as e:
                die(str(e), file=url)
            if not link.urls:
                die(f"the metalink of {name} names no http(s) mirror", file=url)

            def vouched(data: bytes, mirror: Mirror) -> None:
                got = hashlib.sha256(data).hexdigest()
                if got not in {d.value for d in link.digests}:
                    die(f"repodata/repomd.xml from {mirror}: SHA256 {got} is not the one the "
                        f"metalink vouches for ({link.digests[0].value})",
                        file="repodata/repomd.xml", mirror=str(mirror))

            data, mirror = fetcher.index_at(link.urls, vouched)
            first = str(mirror).rsplit("/repodata", 1)[0]
            bases = [first] + [u.rsplit("/repodata/", 1)[0] for u in link.urls
                               if not u.startswith(first + "/")]
        else:
            data = self._signed_repomd(fetcher, trust, bases[0])
        try:
            records = repodata.parse_repomd(data, f"repodata/repomd.xml of {name}")
        except ValueError as e:
            die(str(e), file="repodata/repomd.xml", mirror=bases[0])
        return Repo(name, bases, records, hashlib.sha256(data).hexdigest())

    def _signed_repomd(self, fetcher: Fetcher, trust: OpenPGP, base: str) -> bytes:
        """repomd.xml from a base URL, with its .asc checked where there is one
        (private repositories sign theirs; Fedora's are vouched for by metalink)."""
        def check(data: bytes, sig: Optional[bytes], mirror: Mirror) -> None:
            if sig is not None:
                trust.detached(data, sig, "repodata/repomd.xml", mirror)

        sub = Fetcher([Mirror(base)], fetcher.cache, fetcher.jobs, fetcher.timeout)
        try:
            data, _, _ = sub.signed_index("repodata/repomd.xml", "repodata/repomd.xml.asc",
                                          check, optional=True)
        except NotFound:
            die(f"{base} has no repodata/repomd.xml: is it an rpm repository?",
                file="repodata/repomd.xml", mirror=base)
        return data

    def _metadata(self, fetcher: Fetcher, repo: Repo, kind: str) -> Optional[Path]:
        record = repo.records.get(kind)
        if record is None:
            return None
        want = Wanted(f"{repo.name}/{record.href}", record.digest, record.size,
                      urls=tuple(f"{b}/{record.href}" for b in repo.bases))
        return fetcher.hashed(want)

    def _primary(self, fetcher: Fetcher, repo: Repo) -> list[RpmPackage]:
        """primary's packages: parsed once per digest, the parse kept in the cache."""
        path = self._metadata(fetcher, repo, "primary")
        assert path is not None
        record = repo.records["primary"]
        kept = fetcher.cache.derived(record.digest, "rpm-primary")
        packages = repodata.load_packages(kept, repo.name) if kept else None
        if packages is not None:
            return packages
        try:
            with open(path, "rb") as f:
                packages = list(repodata.parse_primary(
                    repodata.decompressed(f, record.href), repo.name,
                    f"{record.href} of {repo.name}"))
        except (ValueError, *repodata.UNREADABLE) as e:
            die(f"{record.href} of {repo.name}: {e}", file=record.href, mirror=repo.bases[0])
        fetcher.cache.store_derived(record.digest, "rpm-primary",
                                    repodata.dump_packages(packages))
        return packages

    def _comps(self, fetcher: Fetcher, repo: Repo) -> dict[str, repodata.Group]:
        for kind in COMPS:
            path = self._metadata(fetcher, repo, kind)
            if path is None:
                continue
            href = repo.records[kind].href
            with open(path, "rb") as f:
                try:
                    return repodata.parse_comps(repodata.decompressed(f, href).read(), href)
                except (ValueError, *repodata.UNREADABLE) as e:
                    die(f"{href} of {repo.name}: {e}", file=href, mirror=repo.bases[0])
        return {}

    def _full_files(self, index: RpmIndex):  # type: ignore[no-untyped-def]
        """The lookup of a path in the repositories' filelists, read the first time
        a file dependency is not met from primary's file lists."""
        table: dict[str, list[str]] = {}
        loaded: list[bool] = []

        def lookup(path: str) -> list[str]:
            if not loaded:
                loaded.append(True)
                ids = {p.digest.value: p.nevra for p in index.packages}
                for repo in index.repos:
                    where = self._metadata(index.fetcher, repo, "filelists")
                    if where is None:
                        continue
                    href = repo.records["filelists"].href
                    with open(where, "rb") as f:
                        try:
                            for pkgid, files in repodata.parse_filelists(
                                    repodata.decompressed(f, href), href):
                                for file in files:
                                    table.setdefault(file, []).append(ids.get(pkgid, ""))
                        except (ValueError, *repodata.UNREADABLE) as e:
                            die(f"{href} of {repo.name}: {e}", file=href,
                                mirror=repo.bases[0])
            return table.get(path, [])
        return lookup

    # -- the plan ---------------------------------------------------------------
    def select(self, index: RpmIndex, variant: Variant, include: list[str],
               exclude: list[str]) -> RpmPlan:
        packages = [p for p in index.packages if p.name not in exclude]
        pool = Pool(packages, self.arch, self._full_files(index))
        names, conditional = expand_groups(pool, index.groups,
                                           self.requested(variant, include),
                                           ", ".join(r.name for r in index.repos))
        where = f"{self.recipe.name} {self.release.name} {self.arch} " \
                f"({', '.join(r.name for r in index.repos)})"
        selection = select(pool, names, where, weak=variant.config.weak_deps or self.weak_deps,
                           conditional=conditional)
        bases = {r.name: r.bases for r in index.repos}
        chosen = [Chosen(p.name, p.evr, Wanted(f"{p.repo}/{p.href}", p.digest, p.size,
                                                urls=tuple(f"{b}/{p.href}" for b in
                                                           bases[p.repo])),
                         p.installed or None)
                  for p in selection.packages]
        return RpmPlan(chosen, selection, index, {p.nevra: p for p in selection.packages})

    def index_digests(self, index: RpmIndex) -> dict[str, str]:
        """Each repository's repomd.xml (vouched for by the metalink or its .asc),
        and the primary and comps it vouched for."""
        out: dict[str, str] = {}
        for repo in index.repos:
            out[f"{repo.name}/repodata/repomd.xml"] = f"sha256:{repo.repomd}"
            comps = next((k for k in COMPS if k in repo.records), None)
            for kind in ("primary", comps):
                if kind:
                    record = repo.records[kind]
                    out[f"{repo.name}/{record.href}"] = digest_text(record.digest)
        return out

    def describe(self, plan: RpmPlan) -> list[Described]:
        """primary's records (the licence as the package states it, the source
        rpm's name); each Requires met by the installed packages rpm's ordering
        would take for it: providers by name, versioned provides and files (from
        the headers where primary lists too few), for a rich dependency those of
        the terms that hold."""
        chosen = plan.selection.packages
        files: dict[str, list[str]] = {}
        for p in chosen:
            checked = plan.headers.get(p.name)
            for f in payload.file_infos(checked.header) if checked else ():
                files.setdefault("/" + f.path, []).append(p.nevra)
        pool = Pool(chosen, self.arch, lambda path: files.get(path, []))
        distro = f"{self.recipe.name}-{self.releasever}"
        out = []
        for p in chosen:
            met: set[str] = set()
            for d in p.deps.get("requires", []):
                if d.name.startswith("rpmlib("):
                    continue
                try:
                    dep: Dependency = parse_dependency(d.name) if d.name.startswith("(") \
                        else Simple.of(d.name, d.flags, d.epoch, d.ver, d.rel)
                except ValueError:
                    continue
                met |= {q.name for term in _held_terms(dep, pool) for q in pool.providers(term)}
            out.append(Described(
                p.name, p.evr, p.arch,
                purl("rpm", self.recipe.name, p.name, f"{p.version}-{p.release}",
                     arch=p.arch, epoch=str(p.epoch) if p.epoch else "", distro=distro),
                (p.license,) if p.license else (), digest_text(p.digest),
                _source_name(p.sourcerpm) or p.name, tuple(sorted(met - {p.name}))))
        return out

    def verify(self, plan: RpmPlan, archives: Sequence[Path], fetcher: Fetcher,
               trust: OpenPGP, jobs: int) -> None:
        """Each package's header signature by a release key, its header digest,
        its payload digest (the digest primary promised was checked on download);
        the keys that signed go into the tree's rpm database, as dnf imports them."""
        signers: list[str] = []
        for pkg, archive in zip(plan.packages, archives):
            checked, keys = check_package(archive, trust, pkg.wanted.relpath,
                                          plan.index.repos[0].bases[0],
                                          self.recipe.config.allow_unsigned)
            said = _name_and_evr(checked.header)
            if said != (pkg.name, pkg.version):
                mirror = plan.index.repos[0].bases[0]
                die(f"{pkg.wanted.relpath} from {mirror}: the package says it is "
                    f"{said[0]} {said[1]}, primary {pkg.name} {pkg.version}",
                    file=pkg.wanted.relpath, mirror=str(mirror))
            with unpacking(pkg.wanted.relpath, plan.index.repos[0].bases[0]):
                # a name no tree may hold ('..') is refused here, before describe()
                # or unpack() read the file list
                payload.file_infos(checked.header)
            plan.headers[pkg.name] = checked
            signers += [k for k in keys if k not in signers]
        certs = {c.fingerprint.upper(): c for path in trust.paths
                 for c in pgpkey.certificates(path.read_bytes())}
        plan.keys = [certs[k] for k in signers if k in certs]

    # -- the tree ---------------------------------------------------------------
    @staticmethod
    def _owners(writer: TreeWriter) -> payload.Owners:
        """Owners by name from the tree's passwd and group as they are now; a
        name the tree does not know is root's, as rpm makes it (with a warning)."""
        users, groups = accounts.ids(writer, "passwd"), accounts.ids(writer, "group")
        return lambda user, group: (users.get(user, 0), groups.get(group, 0))

    def before_unpack(self, plan: RpmPlan, pkg: Chosen, archive: Path,
                      runner: TreeRunner) -> None:
        if pkg is plan.packages[0]:
            for chosen in plan.packages:
                s = scriptlets.script(plan.headers[chosen.name].header, scriptlets.PRETRANS,
                                      "%pretrans")
                if s:
                    scriptlets.run(runner, s)
        s = scriptlets.script(plan.headers[pkg.name].header, scriptlets.PRE, "%pre")
        if s:
            scriptlets.run(runner, s)

    def contents(self, plan: RpmPlan, pkg: Chosen, archive: Path) -> Opener:
        start = plan.headers[pkg.name].payload_start
        return lambda: decompressed_file(archive, start)

    def unpack(self, plan: RpmPlan, pkg: Chosen, archive: Path, writer: TreeWriter,
               ahead: Optional[BinaryIO] = None) -> payload.Unpacked:
        headers = plan.headers[pkg.name]
        with unpacking(pkg.wanted.relpath, plan.index.repos[0].bases[0]):
            return payload.unpack(archive, headers.payload_start, headers.header, writer,
                                  self._owners(writer), ahead)

    def after_unpack(self, plan: RpmPlan, pkg: Chosen, unpacked: payload.Unpacked,
                     runner: TreeRunner) -> None:
        """As rpm after a package's files: the file triggers it sets off (those of
        the packages installed so far, fired by its files, then its own, fired
        by every file installed), the high-priority ones before its %post and
        the others after."""
        plan.unpacked.append(unpacked)
        installed = plan.packages[:len(plan.unpacked)]
        new = _paths([unpacked])
        everything = _paths(plan.unpacked)

        def triggers(high: bool) -> None:
            for other in installed[:-1]:
                for trig in self._file_triggers(plan, other):
                    if (trig.priority >= scriptlets.PRIORITY_BOUND) == high:
                        scriptlets.fire(runner, trig, new)
            for trig in self._file_triggers(plan, pkg):
                if (trig.priority >= scriptlets.PRIORITY_BOUND) == high:
                    scriptlets.fire(runner, trig, everything)

        triggers(high=True)
        s = scriptlets.script(plan.headers[pkg.name].header, scriptlets.POST, "%post")
        if s:
            scriptlets.run(runner, s)
        triggers(high=False)

    @staticmethod
    def _file_triggers(plan: RpmPlan, pkg: Chosen) -> list[scriptlets.Trigger]:
        return scriptlets.triggers(plan.headers[pkg.name].header, scriptlets.FILE_TRIGGERS,
                                   "%filetriggerin")

    def register(self, plan: RpmPlan, unpacked: list[payload.Unpacked],
                 writer: TreeWriter) -> list[payload.Unpacked]:
        when = reproducible.now()
        rpm = next((p.version for p in plan.packages if p.name == "rpm"), "")
        rpmdb.write(writer, [plan.headers[p.name] for p in plan.packages], when, when,
                    self.recipe.config.transaction_color,
                    [pubkey.installed_blob(k, when, when, rpm.split("-")[0].split(":")[-1])
                     for k in plan.keys])
        return unpacked

    def configure(self, plan: RpmPlan, registered: list[payload.Unpacked], runner: TreeRunner,
                  writer: TreeWriter) -> None:
        for pkg in plan.packages:
            s = scriptlets.script(plan.headers[pkg.name].header, scriptlets.POSTTRANS,
                                  "%posttrans")
            if s:
                scriptlets.run(runner, s)
        # then the transaction's file triggers, each over every file installed
        files = _paths(registered)
        fired = [t for pkg in plan.packages for t in scriptlets.triggers(
            plan.headers[pkg.name].header, scriptlets.TRANS_TRIGGERS, "%transfiletriggerin")]
        for trig in sorted(fired, key=lambda t: -t.priority):
            scriptlets.fire(runner, trig, files)

    def write_sources(self, plan: RpmPlan, writer: TreeWriter, mirror: Mirror) -> None:
        """With --mirror, a repository file pointing at what the tree came from; else
        the release's own (the distribution's repos package ships them)."""
        if all(r.name.startswith("mirror") for r in plan.index.repos):
            text = "".join(f"[rootstrap-{r.name}]\nname=rootstrap {r.name}\n"
                           f"baseurl={r.bases[0]}\nenabled=1\ngpgcheck=1\n\n"
                           for r in plan.index.repos)
            writer.ensure_dir("etc/yum.repos.d")
            writer.write_bytes("etc/yum.repos.d/rootstrap.repo", text.encode())

    @classmethod
    def verify_files(cls, trust: OpenPGP, files: Sequence[Path],
                     indexes: Sequence[Path]) -> list[Verdict]:
        """As `rpmkeys --checksig`: the header signature by a trusted key, the header
        and payload digests."""
        def check(path: Path) -> str:
            return ", ".join(check_package(path, trust, path.name, path.parent, False)[1])
        return [judge(path, lambda: check(path)) for path in files]


def _held_terms(dep: Dependency, pool: Pool) -> list[Simple]:
    """The simple terms of dep that the installed packages (pool) make hold and
    that it needs: all of `and`/`with`, those of `or` that hold, the branch an
    `if`/`unless` takes, the first of `without`."""
    if isinstance(dep, Simple):
        return [dep] if pool.providers(dep) else []
    a = dep.args
    if dep.op in ("and", "with", "or"):
        return [t for x in a for t in _held_terms(x, pool)]
    if dep.op == "without":
        return _held_terms(a[0], pool)
    if holds(a[1], lambda s: bool(pool.providers(s))) != (dep.op == "unless"):
        return _held_terms(a[0], pool)
    return _held_terms(a[2], pool) if len(a) > 2 else []


def _source_name(srpm: str) -> str:
    """The name of a source rpm from its file name (NAME-VERSION-RELEASE.src.rpm)."""
    parts = srpm.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else ""


def _paths(unpacked: Sequence[payload.Unpacked]) -> list[str]:
    """The files packages installed, as rpm's database lists them (no %ghost)."""
    return ["/" + f.path for u in unpacked for f in u.files if not f.ghost]


def _name_and_evr(header: rpmheader.Header) -> tuple[str, str]:
    """NAME and [EPOCH:]VERSION-RELEASE as primary writes them (epoch 0 left out)."""
    epoch = header.ints(EPOCH)
    return header.text(NAME), (f"{epoch[0]}:" if epoch and epoch[0] else "") + \
        f"{header.text(VERSION)}-{header.text(RELEASE)}"


def check_package(path: Path, trust: OpenPGP, what: str, mirror: object,
                  allow_unsigned: bool) -> tuple[rpmheader.Package, list[str]]:
    """The package's headers, once its signatures and digests hold; the keys
    whose signatures did."""
    def fail(reason: str) -> None:
        die(f"{what} from {mirror}: {reason}", file=what, mirror=str(mirror))

    with open(path, "rb") as f:
        try:
            pkg = rpmheader.read_package(f)
        except (ValueError, OSError) as e:
            fail(f"not a readable rpm ({e})")
        sigs = rpmheader.header_signatures(pkg.signature)
        signers: list[str] = []
        # rpm 6's v6 signatures are beyond gpg here; a v4 one beside them decides
        checkable = [sig for sig in sigs if pgpkey.signature_version(sig) != 6]
        if sigs and not checkable:
            fail("signed only with OpenPGP v6 signatures (rpm 6), which rootstrap cannot "
                 "check yet: refused")
        if checkable:
            for sig in checkable:
                signers += trust.detached(pkg.header.blob, sig, what, mirror)
        elif allow_unsigned:
            import sys
            print(f"rootstrap: warning: {what} is NOT SIGNED; installed only because the "
                  "recipe allows unsigned packages", file=sys.stderr)
        else:
            fail("not signed (no header signature): refused")
        want = pkg.signature.tags.get(rpmheader.SHA256HEADER)
        if isinstance(want, str) and hashlib.sha256(pkg.header.blob).hexdigest() != want:
            fail("its header does not match its SHA256HEADER")
        digests = pkg.header.strings(PAYLOADDIGEST)
        if digests:
            h = hashlib.sha256()
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            if h.hexdigest() != digests[0]:
                fail(f"its payload has SHA256 {h.hexdigest()}, the header promises {digests[0]}")
        elif not allow_unsigned:
            fail("no payload digest in its header")
    return pkg, signers


FAMILY = RpmFamily
