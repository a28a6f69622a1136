"""The download cache: objects are checked and then pinned, so what a build
unpacks is what it hashed, whatever happens to the cache's files meanwhile."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bootstrap.cache import Cache, Mismatch
from bootstrap.digest import Digest


def _store(cache: Cache, data: bytes, algorithm: str = "sha256") -> Digest:
    digest = Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
    cache.store(digest, iter([data]))
    return digest


def test_a_pinned_object_keeps_its_checked_bytes_when_the_file_is_replaced(tmp_path):
    cache = Cache(tmp_path)
    sha = _store(cache, b"the package")
    pinned = cache.lookup(sha)
    assert pinned is not None and pinned.read_bytes() == b"the package"
    swap = tmp_path / "swap"
    swap.write_bytes(b"something else")
    os.replace(swap, cache.object_path(sha))
    assert pinned.read_bytes() == b"the package"
    cache.close()
    assert not pinned.exists()


def test_a_corrupted_or_linked_object_is_dropped_not_served(tmp_path):
    cache = Cache(tmp_path)
    sha = _store(cache, b"the package")
    cache.object_path(sha).write_bytes(b"bit rot")
    assert cache.lookup(sha) is None
    assert not cache.object_path(sha).exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"the package")
    cache.object_path(sha).symlink_to(elsewhere)
    assert cache.lookup(sha) is None
    assert elsewhere.exists() and not os.path.lexists(cache.object_path(sha))
    cache.close()


def test_names_that_are_not_digests_never_become_paths(tmp_path):
    for algorithm, bad in (("sha256", "../../etc/passwd"), ("sha256", "A" * 64),
                           ("sha256", "ab" * 31), ("sha1", "ab" * 32), ("md5", "ab" * 16),
                           ("../x", "ab" * 32)):
        with pytest.raises(ValueError):
            Digest(algorithm, bad)
    cache = Cache(tmp_path)
    digest = Digest("sha256", "ab" * 32)
    assert cache.signature(digest) is None
    cache.store_signature(digest, b"sig")
    assert cache.signature(digest) == b"sig"
    assert sorted(p.name for p in Path(tmp_path).rglob("*.sig")) == [f"{digest.value}.sig"]


def test_each_algorithm_the_indexes_use_is_stored_and_checked(tmp_path):
    cache = Cache(tmp_path)
    for algorithm in ("sha1", "sha256", "sha512"):
        data = f"a package promised by {algorithm}".encode()
        digest = _store(cache, data, algorithm)
        assert cache.object_path(digest).parent.parent.name == algorithm
        assert cache.lookup(digest).read_bytes() == data
        wrong = Digest(algorithm, hashlib.new(algorithm, b"other").hexdigest())
        with pytest.raises(Mismatch) as e:
            cache.store(wrong, iter([data]))
        assert e.value.got == digest.value
        assert not cache.object_path(wrong).exists()
        assert not [p for p in cache.object_path(wrong).parent.iterdir()
                    if p.name.startswith(".tmp-")]
    cache.close()


def test_room_is_made_for_many_pinned_objects_but_no_more(tmp_path):
    import resource
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, saved[1]))
        cache = Cache(tmp_path)
        cache.hold(100)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 512   # enough already
        want = min(saved[1], 3000) if saved[1] != resource.RLIM_INFINITY else 3000
        cache.hold(want - 256)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == want
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)
