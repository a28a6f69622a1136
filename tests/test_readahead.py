"""Packages' contents decompressed ahead on threads: the same bytes and the same
errors reach the writer as when it decompresses in place, memory stays bounded,
and a failed build leaves no thread running."""
from __future__ import annotations

import io
import lzma
import os
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import pytest

from bootstrap import readahead
from bootstrap.archive import decompressed
from bootstrap.families.deb.debfile import data_member, unpack
from bootstrap.ledger import Ledger
from bootstrap.readahead import Readahead
from bootstrap.treewriter import TreeWriter


def _opener(data: bytes):  # type: ignore[no-untyped-def]
    @contextmanager
    def opened() -> Iterator[BinaryIO]:
        yield decompressed(io.BytesIO(lzma.compress(data)))
    return opened


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("readahead-")]


def test_every_stream_gives_its_bytes_in_order_whatever_the_depth() -> None:
    payloads = [os.urandom(n) for n in (0, 1, readahead.CHUNK * 3 + 7, 5000, 2 * readahead.CHUNK)]
    for depth in (1, 2, 4):
        openers = [_opener(p) for p in payloads]
        openers.insert(2, None)              # a package with nothing to read ahead
        with Readahead(openers, depth) as ahead:
            got = [ahead.take(i) for i in range(len(openers))]
            assert got[2] is None
            assert [s.read() for s in got if s is not None] == payloads
    assert not _threads()


def _until_error(stream: BinaryIO) -> tuple[bytes, type]:
    got = b""
    try:
        while True:
            data = stream.read(10240)        # as tarfile reads
            if not data:
                return got, type(None)
            got += data
    except Exception as e:
        return got, type(e)


def test_a_damaged_stream_raises_where_its_reader_reaches_the_damage() -> None:
    good = os.urandom(4 << 20)
    cut = lzma.compress(good)[:-40]

    @contextmanager
    def damaged() -> Iterator[BinaryIO]:
        yield decompressed(io.BytesIO(cut))
    inline = _until_error(decompressed(io.BytesIO(cut)))
    with Readahead([damaged, _opener(b"after")], 1) as ahead:
        stream = ahead.take(0)
        assert stream is not None
        early = _until_error(stream)
        after = ahead.take(1)
        assert after is not None and after.read() == b"after"
    assert early[1] is EOFError and len(early[0]) > 1 << 20
    assert early == inline and good.startswith(early[0])


def test_an_opener_that_fails_raises_in_the_reader_not_in_its_thread() -> None:
    @contextmanager
    def missing() -> Iterator[BinaryIO]:
        raise ValueError("no data member")
        yield io.BytesIO()           # pragma: no cover
    with Readahead([missing], 1) as ahead:
        stream = ahead.take(0)
        assert stream is not None
        with pytest.raises(ValueError, match="no data member"):
            stream.read()


def test_a_stream_runs_at_most_its_window_ahead_and_close_ends_every_thread() -> None:
    given = []

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            given.append(len(b))
            b[:] = bytes(len(b))
            return len(b)

    @contextmanager
    def endless() -> Iterator[BinaryIO]:
        yield Endless()  # type: ignore[misc]
    ahead = Readahead([_opener(b"x"), endless, endless], 2)
    assert ahead.take(0) is not None         # the two after it start
    time.sleep(0.5)
    # each holds its window, one chunk in the hand of the thread that waits
    assert sum(given) <= 2 * (readahead.WINDOW + 1) * readahead.CHUNK
    assert len(_threads()) == 2
    ahead.close()
    deadline = time.monotonic() + 5
    while _threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _threads()


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb builds the test package")
@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip", "none"])
def test_a_deb_read_ahead_makes_the_same_tree_and_file_list(tmp_path: Path,
                                                            compression: str) -> None:
    src = tmp_path / "src"
    (src / "DEBIAN").mkdir(parents=True)
    (src / "DEBIAN/control").write_text(
        "Package: probe\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: probe\n")
    (src / "usr/lib/probe").mkdir(parents=True)
    for n in range(40):
        (src / f"usr/lib/probe/f{n}").write_bytes(os.urandom(n * 997))
    (src / "usr/lib/probe/big").write_bytes(os.urandom(3 * readahead.CHUNK))
    (src / "usr/lib/probe/link").symlink_to("big")
    deb = tmp_path / "probe.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build",
                    str(src), str(deb)], check=True, capture_output=True)

    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() if p.is_file() and not p.is_symlink()
                else os.readlink(p).encode() if p.is_symlink() else b"dir"
                for p in sorted(root.rglob("*"))}

    (tmp_path / "inline").mkdir()
    (tmp_path / "ahead").mkdir()
    inline_ledger, ahead_ledger = Ledger(), Ledger()
    inline = unpack(deb, TreeWriter(tmp_path / "inline", inline_ledger))
    with Readahead([lambda: data_member(deb)], 1) as ahead:
        early = unpack(deb, TreeWriter(tmp_path / "ahead", ahead_ledger), ahead.take(0))
    assert early.paths == inline.paths and early.control == inline.control
    assert tree(tmp_path / "ahead") == tree(tmp_path / "inline")
    assert ahead_ledger.entries == inline_ledger.entries
