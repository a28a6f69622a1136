"""Package families: one per package format. The pipeline asks every family the
same questions and never which distribution it is building."""
from __future__ import annotations

import urllib.parse
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence
from bootstrap.errors import die
from bootstrap.fetch import Fetcher, Wanted
from bootstrap.ledger import Ledger
from bootstrap.recipe import Recipe, Release, Variant
from bootstrap.sandbox.base import TreeRunner
from bootstrap.treewriter import TreeWriter, Unsafe
from bootstrap.trust import Keyring


@dataclass(frozen=True)
class Chosen:
    """A package picked for the tree, and where its verified archive comes from."""
    name: str
    version: str
    wanted: Wanted


class Family(ABC):
    trust_model = "direct"   # how the keyring vouches: see trust.open_keyring

    def __init__(self, recipe: Recipe, release: Release, arch: str) -> None:
        self.recipe = recipe
        self.release = release
        self.arch = arch

    @abstractmethod
    def load_index(self, fetcher: Fetcher, keyring: Keyring) -> None:
        """Fetch the repository index, verify its signature, parse it."""

    @abstractmethod
    def select(self, variant: Variant, include: list[str], exclude: list[str]) -> list[Chosen]:
        """The dependency closure of the variant's packages plus include."""

    def verify(self, chosen: Sequence[Chosen], archives: Sequence[Path], fetcher: Fetcher,
               jobs: int) -> None:
        """Check each downloaded package's own signature, where the family has them
        (the hash the signed index promised was checked on download)."""

    @abstractmethod
    def prepare(self, writer: TreeWriter) -> None:
        """Lay out what must exist before the first package (merged /usr links)."""

    @abstractmethod
    def unpack(self, pkg: Chosen, archive: Path, writer: TreeWriter) -> None:
        """Stream one verified package archive into the tree."""

    @abstractmethod
    def register(self, writer: TreeWriter) -> None:
        """Write the target's package database for everything unpacked."""

    @abstractmethod
    def configure(self, runner: TreeRunner) -> None:
        """Run scriptlets, triggers and hooks inside the tree."""

    @abstractmethod
    def seed(self, writer: TreeWriter, mirror: str) -> None:
        """The family's own configuration: package sources pointing at the mirror."""

    def finish(self, writer: TreeWriter, ledger: Ledger) -> None:
        """Tidy what configuring leaves behind."""

    def mirror_url(self, url: str) -> str:
        """A mirror as the distribution's users write it, as the base the family's
        index paths are appended to (for deb: the URL of sources.list)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            die(f"mirror '{url}' is not an http(s) URL")
        return url.rstrip("/")


@contextmanager
def unpacking(relpath: str, mirror: str) -> Iterator[None]:
    """One package's unpacking, its failures turned into one-line errors."""
    try:
        yield
    except Unsafe as e:
        die(f"{relpath} from {mirror}: refusing unsafe entry ({e})")
    except ValueError as e:
        die(f"{relpath} from {mirror}: {e}")
    except OSError as e:
        die(f"{relpath}: cannot unpack into the tree: {e}")


def family_for(recipe: Recipe, release: Release, arch: str) -> Family:
    if recipe.family == "deb":
        from bootstrap.families.deb.family import DebFamily
        return DebFamily(recipe, release, arch)
    if recipe.family == "pacman":
        from bootstrap.families.pacman.family import PacmanFamily
        return PacmanFamily(recipe, release, arch)
    die(f"recipe {recipe.path}: unknown family '{recipe.family}' (known: deb, pacman)")
