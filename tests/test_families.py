"""A family is a package under bootstrap/families found by the recipe's name for
it, with recipe keys of its own: a throwaway one, written here, builds a tree
through the same engine without touching any other module."""
from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

import bootstrap.families
from bootstrap.build import Options, build
from bootstrap.errors import Die
from bootstrap.families import family_class, known, load_recipe
from debmirror import MirrorServer

TOY = '''
"""A toy package format: a JSON index pinned by the recipe, plain tarballs."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bootstrap.archive import open_tar, tar_to_tree
from bootstrap.digest import Digest
from bootstrap.errors import die
from bootstrap.families import Chosen, Family, Plan
from bootstrap.fetch import Fetcher, Mirror, Wanted
from bootstrap.recipe import Schema, Variant
from bootstrap.trust import Trust


@dataclass(frozen=True)
class ToyRecipe:
    index_sha256: str
    greeting: str = "hello"


@dataclass(frozen=True)
class ToyRelease:
    folder: str = ""


class Pinned(Trust):
    """Trust by a digest the recipe pins (no keys to load)."""

    @property
    def names(self) -> str:
        return "the recipe's pinned digest"

    def close(self) -> None:
        pass

    def check(self, data: bytes, digest: str, mirror: Mirror) -> None:
        if hashlib.sha256(data).hexdigest() != digest:
            die(f"index.json from {mirror} is not {self.names}", file="index.json",
                mirror=str(mirror))


class ToyFamily(Family):
    schema = Schema(ToyRecipe, ToyRelease)

    @classmethod
    def open_trust(cls, paths: Sequence[Path]) -> Trust:
        return Pinned()

    def load_index(self, fetcher: Fetcher, trust: Pinned) -> dict:
        pin = self.recipe.config.index_sha256
        data, _ = fetcher.index(f"{self.release.config.folder}/index.json",
                                lambda data, mirror: trust.check(data, pin, mirror))
        return json.loads(data)

    def select(self, index: dict, variant: Variant, include: list, exclude: list) -> Plan:
        names = list(variant.packages) + include
        return Plan([Chosen(n, index[n]["version"], Wanted(
            f"{self.release.config.folder}/{index[n]['file']}",
            Digest("sha256", index[n]["sha256"]), index[n]["size"])) for n in names])

    def unpack(self, plan: Plan, pkg: Chosen, archive: Path, writer, ahead=None) -> str:
        with open(archive, "rb") as f, open_tar(f) as tar:
            tar_to_tree(tar, writer)
        return pkg.name

    def register(self, plan: Plan, unpacked: list, writer) -> None:
        writer.write_bytes("var/lib/toy/installed", "\\n".join(unpacked).encode())

    def configure(self, plan, registered, runner, writer) -> None:
        raise AssertionError("--no-configure")

    def write_sources(self, plan: Plan, writer, mirror: Mirror) -> None:
        writer.write_bytes("etc/toy.conf", f"{self.recipe.config.greeting} {mirror}\\n".encode())


FAMILY = ToyFamily
'''


def _tarball(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The toy family, placed in a folder of its own that bootstrap.families searches."""
    home = tmp_path / "families"
    (home / "toy").mkdir(parents=True)
    (home / "toy" / "__init__.py").write_text("")
    (home / "toy" / "family.py").write_text(TOY)
    monkeypatch.setattr(bootstrap.families, "__path__",
                        list(bootstrap.families.__path__) + [str(home)])
    yield
    for name in [m for m in sys.modules if m.startswith("bootstrap.families.toy")]:
        del sys.modules[name]


def _recipe(path: Path, digest: str, extra: str = "") -> Path:
    path.write_text(textwrap.dedent(f"""\
        name: toyos
        family: toy
        mirrors: [http://127.0.0.1:9/toy]
        index_sha256: "{digest}"
        greeting: hi
        default_release: one
        releases:
          one: {{folder: r1}}
        architectures: {{x86_64: x86_64, aarch64: aarch64}}
        default_variant: small
        variants:
          small: {{packages: [greeting]}}
        """) + extra)
    return path


def test_a_new_family_is_found_by_name_and_builds_a_tree(toy, tmp_path: Path):
    assert "toy" in known() and family_class("toy").__name__ == "ToyFamily"
    repo = tmp_path / "repo" / "r1"
    repo.mkdir(parents=True)
    pkg = _tarball({"usr/share/greeting": b"hello, world\n"})
    (repo / "greeting.tar.gz").write_bytes(pkg)
    index = json.dumps({"greeting": {"version": "1", "file": "greeting.tar.gz",
                                     "sha256": hashlib.sha256(pkg).hexdigest(),
                                     "size": len(pkg)}}).encode()
    (repo / "index.json").write_bytes(index)
    recipe, cls = load_recipe(str(_recipe(tmp_path / "toy.yaml",
                                          hashlib.sha256(index).hexdigest())))
    assert recipe.config.greeting == "hi" and recipe.release(None).config.folder == "r1"
    server = MirrorServer(tmp_path / "repo")
    try:
        out = tmp_path / "out" / "toy.tar"
        result = build(recipe, cls, Options(target=out, mirrors=[server.url], configure=False,
                                            cache=tmp_path / "cache", quiet=True))
    finally:
        server.close()
    assert [p["name"] for p in result.packages] == ["greeting"]
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert tar.extractfile("./usr/share/greeting").read() == b"hello, world\n"
        assert tar.extractfile("./etc/toy.conf").read() == f"hi {server.url}\n".encode()
        assert tar.extractfile("./var/lib/toy/installed").read() == b"greeting"
    assert "./etc/hostname" in names and "./dev/null" in names


def test_the_family_s_own_keys_are_checked_with_file_and_line(toy, tmp_path: Path):
    path = _recipe(tmp_path / "toy.yaml", "ab" * 32, "greting: typo\n")
    with pytest.raises(Die) as e:
        load_recipe(str(path))
    assert e.value.message.startswith(f"{path} line 13: unknown key 'greting'")
    assert "greeting" in e.value.message and "index_sha256" in e.value.message
    path = _recipe(tmp_path / "toy2.yaml", "ab" * 32).read_text().replace(
        "one: {folder: r1}", "one: {folder: [r1]}")
    (tmp_path / "toy2.yaml").write_text(path)
    with pytest.raises(Die, match=r"toy2.yaml line 8: 'releases.one.folder' must be a string"):
        load_recipe(str(tmp_path / "toy2.yaml"))


def test_an_unknown_family_is_named_with_the_known_ones(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nfamily: nosuch\n")
    with pytest.raises(Die, match=r"x.yaml line 2: unknown family 'nosuch' \(known: apk, "
                                  r"deb, pacman, rpm\)"):
        load_recipe(str(path))
    path.write_text("name: x\nfamily: ../../etc\n")
    with pytest.raises(Die, match="unknown family"):
        load_recipe(str(path))
