"""The solver on the real Debian archive must pick what mmdebstrap picks.

The reference lists in tests/data were made by mmdebstrap with its merged-usr
hook (see their headers). Only names are compared: versions move with point
releases, the package sets of a stable release should not.
"""
from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from bootstrap import cores, xz
from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.families.deb import parsed
from bootstrap.families.deb.packages import DebPackage, parse_packages
from bootstrap.families.deb.relation import Relation
from bootstrap.families.deb.select import Request, _Providers, select
from test_parsed_indexes import as_read

pytestmark = pytest.mark.network

MIRROR = "http://deb.debian.org/debian"
DATA = Path(__file__).parent / "data"
MERGED_USR = ("usr-is-merged",)

VARIANTS = {
    "essential": Request(essential=True, preselected=MERGED_USR),
    "apt": Request(essential=True, names=("apt",), preselected=MERGED_USR),
    "minbase": Request(essential=True, priorities=("required",), names=("apt",), preselected=MERGED_USR),
    "buildd": Request(essential=True, priorities=("required",), names=("apt", "build-essential"),
                    preselected=MERGED_USR),
    "important": Request(essential=True, priorities=("required", "important"), preselected=MERGED_USR),
    "standard": Request(essential=True, priorities=("required", "important", "standard"),
                      preselected=MERGED_USR),
}

_INDEXES: dict[str, list[DebPackage]] = {}
_TEXTS: dict[str, str] = {}
_XZ: dict[str, bytes] = {}


def _index(release: str) -> list[DebPackage]:
    if release not in _INDEXES:
        requests = pytest.importorskip("requests")
        url = f"{MIRROR}/dists/{release}/main/binary-amd64/Packages.xz"
        try:
            resp = requests.get(url, timeout=120)
            resp.raise_for_status()
        except requests.RequestException as exc:
            pytest.skip(f"cannot download {url}: {exc}")
        _XZ[release] = resp.content
        text = _TEXTS[release] = lzma.decompress(resp.content).decode("utf-8")
        _INDEXES[release] = parse_packages(text)
    return _INDEXES[release]


def _reference(release: str, variant: str) -> set[str]:
    path = DATA / f"{release}-amd64-{variant}.txt"
    lines = path.read_text().splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


CASES = [("bookworm", v) for v in VARIANTS] + [
    ("trixie", v) for v in VARIANTS if (DATA / f"trixie-amd64-{v}.txt").exists()
]


@pytest.mark.parametrize("release,variant", CASES)
def test_selection_matches_mmdebstrap(release: str, variant: str) -> None:
    want = _reference(release, variant)
    got = {p.name for p in select(_index(release), VARIANTS[variant], "amd64", where=f"{release} main amd64")}
    assert got == want, f"missing {sorted(want - got)}, extra {sorted(got - want)}"


def test_bookworm_minbase_is_88_packages() -> None:
    assert len(_reference("bookworm", "minbase")) == 88


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_providers_read_on_demand_are_those_of_every_provides_parsed(release: str) -> None:
    """The solver parses a name's providers only when it asks for that name: for
    every name of the whole index, in the same order, what parsing every
    package's Provides up front gives."""
    packages = parse_packages_fresh(release)
    lazy = _Providers(packages)
    eager: dict[str, list[tuple[DebPackage, Relation]]] = {}
    for pkg in packages:
        for prov in pkg.provides:
            eager.setdefault(prov.name, []).append((pkg, prov))
    assert len(eager) > 10000
    assert sorted(lazy) == sorted(eager)
    for name, providers in eager.items():
        assert list(lazy.get(name)) == providers, name
    assert "no-such-name" not in lazy and list(lazy.get("no-such-name")) == []


def parse_packages_fresh(release: str) -> list[DebPackage]:
    """The index parsed again, its relations not yet read by another test."""
    _index(release)
    return parse_packages(_TEXTS[release])


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_an_index_read_on_every_core_is_the_index_read_whole(release: str, tmp_path: Path,
                                                            monkeypatch) -> None:
    """A cold parse cut into four spans, three of them read by forked children,
    gives every package of the real index as one pass does, and so does the
    parse kept from it."""
    whole = parse_packages_fresh(release)
    monkeypatch.setattr(cores, "usable", lambda: 4)
    cache = Cache(tmp_path / "cache")
    digest = Digest("sha256", "ef" * 32)
    fresh = parsed.packages(cache, digest, lambda: _TEXTS[release].encode())
    kept = parsed.packages(cache, digest, lambda: pytest.fail("parsed again"))
    assert len(fresh) == len(whole) > 60000
    want = [as_read(p) for p in whole]
    assert [as_read(p) for p in fresh] == want
    assert [as_read(p) for p in kept] == want


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_the_real_index_is_decompressed_a_block_per_thread(release: str) -> None:
    """Debian's Packages.xz comes in blocks of 24 MiB: each is decoded on a thread
    of its own, into the bytes one pass gives."""
    _index(release)
    data = _XZ[release]
    assert len(xz.blocks(data) or []) >= 2
    assert xz.decompress(data, 2) == _TEXTS[release].encode()
