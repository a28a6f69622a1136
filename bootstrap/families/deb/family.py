"""The deb family: Debian-style archives, dpkg databases, maintainer scripts."""
from __future__ import annotations

import gzip
import lzma
from pathlib import Path

from bootstrap.errors import die
from bootstrap.families import Chosen, Family, unpacking
from bootstrap.families.deb import configure, dpkgdb, sources
from bootstrap.families.deb.debfile import Unpacked, unpack
from bootstrap.families.deb.packages import DebPackage, parse_packages
from bootstrap.families.deb.release import Release as SignedRelease
from bootstrap.families.deb.select import Seeds, select
from bootstrap.fetch import Fetcher, NotFound, Wanted
from bootstrap.ledger import Ledger
from bootstrap.recipe import Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter
from bootstrap.trust import Keyring


def _decompress(data: bytes, name: str) -> str:
    if name.endswith(".xz"):
        data = lzma.decompress(data)
    elif name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


class DebFamily(Family):
    packages: list[DebPackage]
    chosen: list[DebPackage]

    @property
    def suite(self) -> str:
        return self.release.name

    def load_index(self, fetcher: Fetcher, keyring: Keyring) -> None:
        dists = f"dists/{self.suite}"

        signed_text = b""

        def clearsigned(data: bytes, mirror: str) -> None:
            nonlocal signed_text
            signed_text = keyring.clearsigned(data, f"{dists}/InRelease", mirror)

        try:
            _, mirror = fetcher.index(f"{dists}/InRelease", clearsigned)
            text = signed_text.decode("utf-8", "replace")
            what = f"{dists}/InRelease from {mirror}"
        except NotFound:
            try:
                sig, _ = fetcher.index(f"{dists}/Release.gpg")
                data, mirror = fetcher.index(f"{dists}/Release", lambda data, m: keyring.detached(
                    data, sig, f"{dists}/Release", m))
            except NotFound:
                die(f"{fetcher.mirror} has no {dists}/InRelease or {dists}/Release: "
                    f"is '{self.suite}' a suite on this mirror?")
            text = data.decode("utf-8", "replace")
            what = f"{dists}/Release from {mirror}"
        signed = SignedRelease.parse(text, what)
        signed.check_suite((self.suite,) + self.release.aliases, what)
        signed.check_fresh(what)
        self.mirror = mirror
        self.packages = []
        for component in self.recipe.data.get("components", ["main"]):
            want = signed.index(component, self.arch, what)
            want = Wanted(f"{dists}/{want.relpath}", want.sha256, want.size)
            path = fetcher.hashed(want)
            self.packages += parse_packages(_decompress(path.read_bytes(), want.relpath),
                                            self.arch)

    def select(self, variant: Variant, include: list[str], exclude: list[str]) -> list[Chosen]:
        where = f"{self.suite} {self.arch}"
        pre: tuple[str, ...] = ()
        if self.release.merged_usr and any(p.name == "usr-is-merged" for p in self.packages):
            pre = ("usr-is-merged",)
        seeds = Seeds(essential=variant.essential, priorities=variant.priorities,
                      names=tuple(variant.packages) + tuple(include), exclude=tuple(exclude),
                      preselected=pre)
        if not seeds.essential and not seeds.priorities and not seeds.names:
            die(f"variant '{variant.name}' installs only what --include names, and it is empty")
        self.chosen = select(self.packages, seeds, self.arch, where)
        self.seeds = seeds
        self.unpacked: list[Unpacked] = []
        return [Chosen(p.name, p.version, Wanted(p.filename, p.sha256, p.size))
                for p in self.chosen]

    def prepare(self, writer: TreeWriter) -> None:
        if not self.release.merged_usr:
            return
        links = self.recipe.data.get("merged_usr_links", {})
        for name in links.get(self.arch, links.get("default", [])):
            writer.mkdir(f"usr/{name}", 0o755, 0, 0)
            writer.symlink(name, f"usr/{name}")

    def unpack(self, pkg: Chosen, archive: Path, writer: TreeWriter) -> None:
        with unpacking(pkg.wanted.relpath, self.mirror):
            self.unpacked.append(unpack(archive, writer))

    def register(self, writer: TreeWriter) -> None:
        dpkgdb.skeleton(writer, self.arch)
        self.activations = dpkgdb.register(writer, self.unpacked)
        self._auto_installed(writer)

    def _auto_installed(self, writer: TreeWriter) -> None:
        """apt's extended_states: what only came in as a dependency of a requested
        package is marked automatic, as apt marks it, so autoremove knows. The
        essential set is dpkg's business and never marked, as with mmdebstrap."""
        essential = configure.closure([p for p in self.chosen if p.essential], self.chosen)
        asked = set(self.seeds.names) | set(self.seeds.preselected)
        auto = [p for p in self.chosen if p.name not in essential and p.name not in asked
                and p.priority not in self.seeds.priorities]
        text = "".join(f"Package: {p.name}\nArchitecture: {p.architecture}\n"
                       "Auto-Installed: 1\n\n" for p in auto)
        writer.write_bytes("var/lib/apt/extended_states", text.encode())

    def configure(self, runner: TreeRunner) -> None:
        configure.run(runner, self.chosen, self.activations)

    def seed(self, writer: TreeWriter, mirror: str) -> None:
        sources.write(writer, self.recipe, self.release, mirror)
        if not (writer.root / "etc/fstab").exists():
            writer.write_bytes("etc/fstab", b"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")

    def finish(self, writer: TreeWriter, ledger: Ledger) -> None:
        # what configuring leaves that differs from build to build, and no package owns
        for path in ("var/cache/ldconfig/aux-cache", "var/log/dpkg.log",
                     "var/log/alternatives.log"):
            writer.remove(path)
        for deb in (writer.root / "var/cache/apt/archives").glob("*.deb"):
            writer.remove(str(deb.relative_to(writer.root)))
