"""Package families: one per package format. The pipeline asks every family the
same questions and never which distribution it is building.

A family is the package bootstrap/families/NAME, found by the recipe's
`family: NAME`; its module NAME.family exports FAMILY, a Family subclass. Data moves
forward: load_index returns the index, select a Plan, unpack what it unpacked,
register what configure needs; the family object itself only holds the recipe."""
from __future__ import annotations

import importlib
import pkgutil
import re
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional, Sequence

from packageurl import PackageURL

from bootstrap import recipe as recipes
from bootstrap.digest import Digest
from bootstrap.errors import Die, die
from bootstrap.fetch import Fetcher, Mirror, Wanted
from bootstrap.readahead import Opener
from bootstrap.recipe import Recipe, Release, Schema, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TAKE_LAST, TreeWriter, Unsafe
from bootstrap.trust import Trust


@dataclass(frozen=True)
class Chosen:
    """A package picked for the tree, and where its verified archive comes from."""
    name: str
    version: str
    wanted: Wanted
    installs: Optional[int] = None      # bytes the signed index says it installs


@dataclass
class Plan:
    """What select() decided: the packages to fetch and unpack, in unpack order.
    Families subclass it with what their later steps need."""
    packages: list[Chosen]


@dataclass(frozen=True)
class Described:
    """One installed package as the manifest and the SBOM name it: what the signed
    index says of it, and which installed packages met its dependencies."""
    name: str
    version: str
    arch: str
    purl: str
    licenses: tuple[str, ...]          # each as the index states it; () where it has none
    digest: str                        # "sha256:HEX": what the signed index vouched for
    source: str                        # the source package's name
    depends: tuple[str, ...]           # installed packages that met its dependencies
    digest_of: str = "package"         # "package": the whole file; else the part it covers


def purl(kind: str, namespace: str, name: str, version: str, **qualifiers: str) -> str:
    """A package URL (github.com/package-url/purl-spec) of one of kind's packages,
    its empty qualifiers left out."""
    return PackageURL(type=kind, namespace=namespace, name=name, version=version,
                      qualifiers={k: v for k, v in qualifiers.items() if v}).to_string()


def digest_text(digest: Digest) -> str:
    return f"{digest.algorithm}:{digest.value}"


@dataclass
class Verdict:
    """What `rootstrap verify` says of one file: the signer, or why not."""
    file: Path
    signer: str = ""
    error: str = ""


@dataclass
class RunSetup:
    """What `rootstrap run` adds for one tree: environment, and files shown under
    /run/rootstrap inside the tree while the command runs (never written to it)."""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    path: tuple[str, ...] = ()          # folders under /run/rootstrap put first on PATH


class Family(ABC):
    schema = Schema()                   # the family's own recipe keys
    existing_dirs = TAKE_LAST           # the tree writer's rule for a directory made twice
    has_weak_deps = False               # whether select() can follow weak dependencies
    finds_mirrors = False               # whether the index names its own mirrors (metalinks)
    has_essential_stage = False         # whether configure_essential configures anything
    weak_deps = False                   # --weak-deps: it should
    # readers of the files whose index digest covers a part of them (Wanted.covers):
    # what `rootstrap cache verify` checks such cached files with
    part_digests: tuple[Callable[..., str], ...] = ()

    def __init__(self, recipe: Recipe, release: Release, arch: str) -> None:
        self.recipe = recipe
        self.release = release
        self.arch = arch

    @classmethod
    @abstractmethod
    def open_trust(cls, paths: Sequence[Path]) -> Trust:
        """The trust roots (the recipe's, or --keyring's), as this family checks them."""

    def trust_roots(self) -> list[Path]:
        """The recipe's trust roots for this build (a family may narrow them to the
        release's own key)."""
        return list(self.recipe.keyrings)

    def mirror(self, url: str) -> Mirror:
        """A mirror as the distribution's users write it."""
        return Mirror(url)

    @abstractmethod
    def load_index(self, fetcher: Fetcher, trust: Any) -> Any:
        """Fetch the repository index, verify its signature, parse it."""

    @abstractmethod
    def select(self, index: Any, variant: Variant, include: list[str],
               exclude: list[str]) -> Plan:
        """The dependency closure of the variant's packages plus include."""

    @staticmethod
    def requested(variant: Variant, include: list[str]) -> list[str]:
        """The names a build asks for: the variant's and --include's."""
        names = list(variant.packages) + list(include)
        if not names:
            die(f"variant '{variant.name}' installs only what --include names, and it is empty")
        return names

    def verify(self, plan: Any, archives: Sequence[Path], fetcher: Fetcher, trust: Any,
               jobs: int) -> None:
        """Check each downloaded package's own signature, where the family has them
        (the digest the signed index promised was checked on download)."""

    def prepare(self, writer: TreeWriter) -> None:
        """Lay out what must exist before the first package (merged /usr links)."""

    def before_unpack(self, plan: Any, pkg: Chosen, archive: Path,
                      runner: TreeRunner) -> None:
        """What runs in the tree before pkg's files are there (only when configuring):
        for package managers that run a script there (apk's .pre-install)."""

    def contents(self, plan: Any, pkg: Chosen, archive: Path) -> Optional[Opener]:
        """What of a verified archive can be decompressed on another thread ahead
        of unpack(), which is then given it; None where nothing can."""
        return None

    @abstractmethod
    def unpack(self, plan: Any, pkg: Chosen, archive: Path, writer: TreeWriter,
               ahead: Optional[BinaryIO] = None) -> Any:
        """Stream one verified package archive into the tree; what it unpacked.
        ahead is what contents(archive) opened, decompressed ahead, where it did."""

    def after_unpack(self, plan: Any, pkg: Chosen, unpacked: Any, runner: TreeRunner) -> None:
        """What runs in the tree right after pkg's files are (apk's .post-install)."""

    @abstractmethod
    def register(self, plan: Any, unpacked: list[Any], writer: TreeWriter) -> Any:
        """Write the target's package database; what configure needs of it."""

    @abstractmethod
    def configure(self, plan: Any, registered: Any, runner: TreeRunner,
                  writer: TreeWriter) -> None:
        """Run scriptlets, triggers and hooks inside the tree (in one session of
        runner: the tree is handed over once for all of them)."""

    def configure_essential(self, plan: Any, registered: Any, runner: TreeRunner,
                            writer: TreeWriter) -> Any:
        """The first stage of configure where the family has one (dpkg's essential
        set, which mmdebstrap configures before the rest; the `essential` hooks run
        after it): what configure() then takes in place of registered. Families
        without such a stage run nothing here and configure everything after."""
        return registered

    @abstractmethod
    def write_sources(self, plan: Any, writer: TreeWriter, mirror: Mirror) -> None:
        """The package manager's sources in the tree, pointing at the mirror used."""

    def finish(self, writer: TreeWriter) -> None:
        """Tidy what configuring leaves behind."""

    def describe(self, plan: Any) -> list[Described]:
        """Every package of the plan, in its order, as the manifest and SBOM name it
        (families know more: licences, sources, dependencies, their purl type)."""
        return [Described(c.name, c.version, self.arch,
                          purl("generic", self.recipe.name, c.name, c.version, arch=self.arch),
                          (), digest_text(c.wanted.digest), c.name, (),
                          "package" if c.wanted.covers is None else "part")
                for c in plan.packages]

    def index_digests(self, index: Any) -> dict[str, str]:
        """The signed index files the build verified, by path under the mirror
        (or repository): their "ALGO:HEX" digests."""
        return {}

    @classmethod
    def verify_files(cls, trust: Any, files: Sequence[Path],
                     indexes: Sequence[Path]) -> list[Verdict]:
        """Check packages and indexes as the distribution's own tools would, against
        trust; indexes (verified first) vouch for files without a signature."""
        return [Verdict(f, error="this family cannot check files on their own") for f in files]

    @classmethod
    def run_setup(cls, tree: Path, holds_ids: bool) -> RunSetup:
        """What the tree's own tools need while `rootstrap run` runs them, if the
        tree is of this family (holds_ids: the system users of the tree exist
        as ids in the namespace)."""
        return RunSetup()


def judge(file: Path, check: Callable[[], str]) -> Verdict:
    """A Verdict from a check that returns the signer or dies with the reason."""
    try:
        return Verdict(file, signer=check())
    except Die as e:
        return Verdict(file, error=e.message)
    except OSError as e:
        return Verdict(file, error=f"cannot read it: {e.strerror or e}")


@contextmanager
def unpacking(relpath: str, mirror: object) -> Iterator[None]:
    """One package's unpacking, its failures turned into one-line errors."""
    try:
        yield
    except Unsafe as e:
        die(f"{relpath} from {mirror}: refusing unsafe entry ({e})", file=relpath,
            mirror=str(mirror))
    except ValueError as e:
        die(f"{relpath} from {mirror}: {e}", file=relpath, mirror=str(mirror))
    except OSError as e:
        die(f"{relpath}: cannot unpack into the tree: {e}", file=relpath)


_NAME = re.compile(r"[a-z][a-z0-9_]*")


def known() -> list[str]:
    """The families there are: the packages under bootstrap/families that have a
    family module (one still being written has not)."""
    out = []
    for m in pkgutil.iter_modules(__path__):
        if m.ispkg and any(sub.name == "family" for sub in
                           pkgutil.iter_modules([f"{path}/{m.name}" for path in __path__])):
            out.append(m.name)
    return sorted(out)


def family_class(name: str, where: str = "") -> type[Family]:
    """The family called name (`family: name` in a recipe, at where)."""
    prefix = f"{where}: " if where else ""
    if not _NAME.fullmatch(name) or name not in known():
        die(f"{prefix}unknown family '{name}' (known: {', '.join(known())})")
    module = importlib.import_module(f"{__name__}.{name}.family")
    cls = getattr(module, "FAMILY", None)
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        die(f"{prefix}{name}/family.py exports no FAMILY class")
    return cls


def load_recipe(name_or_path: str) -> tuple[Recipe, type[Family]]:
    """A recipe, validated against its family's own keys, and that family."""
    path = recipes.path_of(name_or_path)
    found: dict[str, type[Family]] = {}

    def schema_of(family: str, where: str) -> Schema:
        found["cls"] = family_class(family, where)
        return found["cls"].schema

    recipe = recipes.load(path, schema_of)
    return recipe, found["cls"]
