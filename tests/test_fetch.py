"""fetch: mirrors, what an index may name, retries and failover, and what the
cache keeps, against a local server."""
from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import requests

from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.errors import Die
from bootstrap.fetch import Fetcher, Mirror, NotFound, Wanted, _reason
from debmirror import MirrorServer


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path):
    root = tmp_path / "www"
    (root / "pool").mkdir(parents=True)
    (root / "pool" / "a.deb").write_bytes(b"A" * 5000)
    (root / "index").write_bytes(b"the index")
    server = MirrorServer(root)
    yield server
    server.close()


def _wanted(data: bytes, path: str = "pool/a.deb") -> Wanted:
    return Wanted(path, Digest("sha256", hashlib.sha256(data).hexdigest()), len(data))


@pytest.mark.parametrize("url", ["ftp://m/debian", "deb.debian.org/debian", "http://", "/srv"])
def test_a_mirror_must_be_an_http_url(url: str):
    with pytest.raises(Die, match="is not an http"):
        Mirror(url)


@pytest.mark.parametrize("path", ["/etc/passwd", "pool/../../etc/passwd", ".."])
def test_an_index_cannot_name_a_path_out_of_the_mirror(path: str):
    with pytest.raises(Die, match="refusing the path"):
        Wanted(path, Digest("sha256", "ab" * 32), 1)


def test_downloads_fail_over_and_are_cached_by_digest(tmp_path: Path, served):
    dead = Mirror(f"http://127.0.0.1:{_closed_port()}")
    with Cache(tmp_path / "cache") as cache:
        fetcher = Fetcher([dead, Mirror(served.url)], cache)
        want = _wanted(b"A" * 5000)
        got = fetcher.many([want], lambda n: None)
        assert got[0].read_bytes() == b"A" * 5000 and fetcher.downloads == 1
        assert fetcher.mirror.base == served.url          # later files come from it first
        served.requests.clear()
        assert fetcher.many([want], lambda n: None)[0].read_bytes() == b"A" * 5000
        assert served.requests == [] and fetcher.downloads == 1


def test_a_body_cut_off_is_fetched_again_and_progress_is_not_counted_twice(tmp_path, served):
    served.flaky["/pool/a.deb"] = ["cut", "cut"]
    seen: list[int] = []
    with Cache(tmp_path / "cache") as cache:
        path = Fetcher([Mirror(served.url)], cache).many([_wanted(b"A" * 5000)], seen.append)
        assert path[0].read_bytes() == b"A" * 5000
    assert sum(seen) == 5000
    assert [e.status for e in served.log] == [200, 200, 200]


def test_bytes_that_do_not_match_the_index_name_file_mirror_and_digest(tmp_path, served):
    with Cache(tmp_path / "cache") as cache:
        fetcher = Fetcher([Mirror(served.url)], cache)
        with pytest.raises(Die) as e:
            fetcher.many([_wanted(b"something else")], lambda n: None)
        assert (e.value.file, e.value.mirror) == ("pool/a.deb", served.url)
        assert "does not match" in e.value.message
        assert not list((tmp_path / "cache" / "objects").rglob("*a*.deb"))


def test_an_index_that_fails_its_check_is_not_cached(tmp_path, served):
    with Cache(tmp_path / "cache") as cache:
        fetcher = Fetcher([Mirror(served.url)], cache)

        def refuse(data: bytes, mirror: Mirror) -> None:
            raise Die("no")

        with pytest.raises(Die):
            fetcher.index("index", refuse)
        assert cache.index_validators(f"{served.url}/index") == {}
        assert fetcher.index("index")[0] == b"the index"
        assert cache.index_validators(f"{served.url}/index")["etag"]
        with pytest.raises(NotFound):
            fetcher.index("missing")


def test_reasons_name_what_went_wrong():
    session = requests.Session()
    try:
        session.get("http://no-such-host.invalid/", timeout=5)
    except requests.RequestException as e:
        assert _reason(e) == "cannot resolve no-such-host.invalid"
    try:
        session.get(f"http://127.0.0.1:{_closed_port()}/", timeout=5)
    except requests.RequestException as e:
        assert _reason(e) == "connection refused"
