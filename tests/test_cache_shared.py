"""The cache shared by processes, users and hosts: an interrupted download resumes,
one object is downloaded once however many builds want it, `rootstrap cache ls`,
`verify` and `gc` (which never removes what a running build holds), and a cache
a group shares (--cache-group)."""
from __future__ import annotations

import grp
import hashlib
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.fetch import Fetcher, Mirror, Wanted
from debmirror import MirrorServer

BIG = bytes(range(256)) * (3 * 4096 + 7)      # three chunks and a bit: a cut leaves one
DAY = 24 * 3600


@pytest.fixture
def served(tmp_path: Path):
    root = tmp_path / "www"
    (root / "pool").mkdir(parents=True)
    (root / "pool" / "big.deb").write_bytes(BIG)
    (root / "pool" / "small.deb").write_bytes(b"small")
    server = MirrorServer(root)
    yield server
    server.close()


def _wanted(data: bytes, path: str) -> Wanted:
    return Wanted(path, Digest("sha256", hashlib.sha256(data).hexdigest()), len(data))


def _fetch(cache_dir: Path, url: str, data: bytes = BIG, path: str = "pool/big.deb",
           progress: list[int] | None = None) -> tuple[bytes, int]:
    with Cache(cache_dir) as cache:
        fetcher = Fetcher([Mirror(url)], cache)
        got = fetcher.many([_wanted(data, path)], (progress if progress is not None
                                                    else []).append)
        return got[0].read_bytes(), fetcher.downloads


def test_a_cut_download_resumes_where_it_stopped(tmp_path, served):
    served.flaky["/pool/big.deb"] = ["cut"]
    seen: list[int] = []
    data, downloads = _fetch(tmp_path / "cache", served.url, progress=seen)
    assert data == BIG and downloads == 1 and sum(seen) == len(BIG)
    first, second = served.log
    kept = int(second.headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert first.status == 200 and second.status == 206 and 0 < kept < len(BIG)
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_a_mirror_that_ignores_ranges_sends_the_whole_file_again(tmp_path, served):
    served.ranges = False
    served.flaky["/pool/big.deb"] = ["cut"]
    seen: list[int] = []
    data, _ = _fetch(tmp_path / "cache", served.url, progress=seen)
    assert data == BIG and sum(seen) == len(BIG)
    assert [e.status for e in served.log] == [200, 200]


def test_bytes_a_killed_build_left_are_resumed_and_checked_whole(tmp_path, served):
    cache_dir = tmp_path / "cache"
    want = _wanted(BIG, "pool/big.deb")
    with Cache(cache_dir) as cache:
        cache.partial(want.digest).write_bytes(BIG[:100_000])
    data, _ = _fetch(cache_dir, served.url)
    assert data == BIG
    assert [(e.status, e.headers.get("Range")) for e in served.log] == [(206, "bytes=100000-")]

    # kept bytes that are not the file's: the joined file fails its digest, and the
    # whole file is fetched once more rather than refused
    other = tmp_path / "cache2"
    with Cache(other) as cache:
        cache.partial(want.digest).write_bytes(b"\0" * 100_000)
    served.reset()
    data, _ = _fetch(other, served.url)
    assert data == BIG
    assert [e.status for e in served.log] == [206, 200]


def _fetch_in_child(cache_dir: str, url: str, out: "multiprocessing.Queue") -> None:
    data, downloads = _fetch(Path(cache_dir), url)
    out.put((hashlib.sha256(data).hexdigest(), downloads))


def test_two_builds_needing_one_object_download_it_once(tmp_path, served):
    served.delay = 1.0
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    children = [ctx.Process(target=_fetch_in_child, args=(str(tmp_path / "cache"),
                                                          served.url, out)) for _ in range(3)]
    for child in children:
        child.start()
    results = [out.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)
    assert {digest for digest, _ in results} == {hashlib.sha256(BIG).hexdigest()}
    assert sorted(downloads for _, downloads in results) == [0, 0, 1]
    assert served.requests == ["/pool/big.deb"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bootstrap", "cache", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def _holder(cache_dir: str, digest: str, ready: "multiprocessing.Event",
            done: "multiprocessing.Event") -> None:
    with Cache(Path(cache_dir)) as cache:
        assert cache.lookup(Digest("sha256", digest)) is not None
        ready.set()
        done.wait(60)


def test_gc_removes_what_no_recent_build_used_and_never_what_a_build_holds(tmp_path, served):
    cache_dir = tmp_path / "cache"
    _fetch(cache_dir, served.url)
    _fetch(cache_dir, served.url, b"small", "pool/small.deb")
    with Cache(cache_dir) as cache:
        big, small = sorted(cache.objects(), key=lambda s: s.size, reverse=True)
    for s in (big, small):
        _age(s.path, 40)
    stale = cache_dir / "builds" / "gone-host-1-1"
    stale.write_text(str(small.path.relative_to(cache_dir)) + "\n")   # its build died

    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_holder, args=(str(cache_dir), big.value, ready, done))
    holder.start()
    try:
        assert ready.wait(30)
        _age(big.path, 40)                        # held, however old it looks
        dry = _cli("gc", "--cache", str(cache_dir), "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        assert [o["digest"] for o in json.loads(dry.stdout)["objects"]] == \
            [f"sha256:{small.value}"]
        assert small.path.exists()
        proc = _cli("gc", "--cache", str(cache_dir))
        assert proc.returncode == 0, proc.stderr
        assert not small.path.exists() and big.path.exists()
        assert not stale.exists()
    finally:
        done.set()
        holder.join(30)
    # the build ended: now nothing holds it, and a fresh use keeps it
    assert _cli("gc", "--cache", str(cache_dir), "--older-than", "30").returncode == 0
    assert not big.path.exists()
    data, downloads = _fetch(cache_dir, served.url)
    assert data == BIG and downloads == 1
    assert _cli("gc", "--cache", str(cache_dir)).returncode == 0
    with Cache(cache_dir) as cache:
        assert [s.value for s in cache.objects()] == [big.value]


def test_ls_and_verify_show_and_repair_the_cache(tmp_path, served):
    cache_dir = tmp_path / "cache"
    _fetch(cache_dir, served.url)
    _fetch(cache_dir, served.url, b"small", "pool/small.deb")
    listed = json.loads(_cli("ls", "--cache", str(cache_dir), "--json").stdout)
    assert sorted((o["digest"], o["size"]) for o in listed["objects"]) == sorted(
        [(f"sha256:{hashlib.sha256(BIG).hexdigest()}", len(BIG)),
         (f"sha256:{hashlib.sha256(b'small').hexdigest()}", 5)])
    ok = _cli("verify", "--cache", str(cache_dir))
    assert ok.returncode == 0 and "corrupt removed: 0" in ok.stdout

    with Cache(cache_dir) as cache:
        victim = next(s for s in cache.objects() if s.size == 5)
    victim.path.write_bytes(b"smalL")
    bad = _cli("verify", "--cache", str(cache_dir))
    assert bad.returncode == 1
    assert f"CORRUPT {victim.path}" in bad.stdout and not victim.path.exists()
    data, downloads = _fetch(cache_dir, served.url, b"small", "pool/small.deb")
    assert data == b"small" and downloads == 1

    nothing = _cli("ls", "--cache", str(tmp_path / "nowhere"))
    assert nothing.returncode != 0 and nothing.stderr.count("\n") == 1
    assert "is not a rootstrap cache" in nothing.stderr


def test_verify_checks_part_digest_objects_with_their_family_reader(tmp_path):
    from bootstrap.families.apk.family import FAMILY
    cache = Cache(tmp_path)
    weird = Digest("sha1", "ab" * 20)
    path = cache.object_path(weird, part=True)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an apk at all")
    assert FAMILY.part_digests
    proc = _cli("verify", "--cache", str(tmp_path))
    assert proc.returncode == 1 and not path.exists()


GROUP = "rs-cachers"


@pytest.fixture
def cache_group(harness_users):
    if os.geteuid() != 0:
        pytest.skip("making a group for the test users needs root")
    names = [u.name for u in harness_users.values() if not isinstance(u, str)]
    if len(names) < 2:
        pytest.skip("two test users are needed")
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", GROUP], check=True)
    for name in names:
        subprocess.run(["usermod", "-aG", GROUP, name], check=True)
    return grp.getgrnam(GROUP).gr_gid


def test_two_users_share_a_cache_through_their_group(cache_group, mapped_user, single_user,
                                                     local_mirror):
    shared = Path(mapped_user.workdir.parent / f"shared-{os.getpid()}-{time.time_ns()}")
    shared.mkdir(mode=0o755)
    os.chown(shared, mapped_user.uid, cache_group)
    os.chmod(shared, 0o2775)
    args = ["debian", None, *local_mirror.cli_args(), "--no-configure", "--cache",
            str(shared / "cache"), "--cache-group", GROUP, "--json"]

    def build(user, name):
        argv = list(args)
        argv[1] = user.path(name)
        proc = user.run(*argv)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first = build(mapped_user, "a.tar")
    assert first["downloads"] >= len(first["packages"]) > 0      # and hashed indexes
    for path in [shared / "cache", *(shared / "cache").rglob("*")]:
        st = path.lstat()
        if path.parent.name == "builds" or path.relative_to(shared / "cache").parts[:1] == (
                "derived",) and path.name != "derived":
            continue           # a build's own list; each member's parsed indexes, theirs
        assert st.st_gid == cache_group, path
        want = 0o2775 if stat.S_ISDIR(st.st_mode) else 0o664
        assert stat.S_IMODE(st.st_mode) & want == want, (path, oct(st.st_mode))
    second = build(single_user, "b.tar")
    assert second["downloads"] == 0
    assert second["packages"] == first["packages"]

    # a user outside the group is told so, before any work
    local = mapped_user.run(*[str(a) for a in args[:1]], mapped_user.path("c.tar"),
                            *args[2:-3], "--cache-group", "root")
    assert local.returncode != 0 and "not in group 'root'" in local.stderr
    assert not mapped_user.path("c.tar").exists()


def test_a_download_killed_after_its_last_byte_is_taken_as_it_is(tmp_path, served):
    cache_dir = tmp_path / "cache"
    with Cache(cache_dir) as cache:
        cache.partial(_wanted(BIG, "pool/big.deb").digest).write_bytes(BIG)
    seen: list[int] = []
    data, downloads = _fetch(cache_dir, served.url, progress=seen)
    assert data == BIG and sum(seen) == len(BIG)
    assert [(e.status, e.headers.get("Range")) for e in served.log] == \
        [(416, f"bytes={len(BIG)}-")]
