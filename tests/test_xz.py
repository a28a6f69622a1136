"""xz files of several blocks are decompressed a block per thread, into what one
pass gives: the same bytes, or the same error."""
from __future__ import annotations

import lzma
import shutil
import struct
import subprocess
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap import xz

pytestmark = pytest.mark.skipif(not shutil.which("xz"), reason="needs the xz program")

TEXT = b"".join(b"Package: p%d\nVersion: %d.0\nDescription: number %d\n\n" % (n, n, n)
                for n in range(20000))


def _xz(data: bytes, *args: str) -> bytes:
    """data compressed by xz-utils, as Debian's archive tools do."""
    return subprocess.run(["xz", "-c", "-T1", *args], input=data, capture_output=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def blocked() -> bytes:
    return _xz(TEXT, "--block-size=64KiB")


@pytest.mark.parametrize("check", ["crc64", "crc32", "sha256", "none"])
def test_each_block_is_a_stream_of_its_own(check: str) -> None:
    data = _xz(TEXT, "--block-size=64KiB", f"--check={check}")
    streams = xz.blocks(data)
    assert streams is not None and len(streams) == -(-len(TEXT) // 65536)
    assert b"".join(lzma.decompress(s) for s in streams) == TEXT
    assert xz.decompress(data, 2) == xz.decompress(data, 1) == TEXT


def test_one_block_two_streams_and_padding_are_read_in_one_pass() -> None:
    one = _xz(TEXT)
    assert xz.blocks(one) is not None and len(xz.blocks(one)) == 1  # type: ignore
    two = _xz(TEXT[:1000]) + _xz(TEXT[1000:], "--block-size=64KiB")
    assert xz.blocks(two) is None and xz.decompress(two, 4) == TEXT
    padded = _xz(TEXT, "--block-size=64KiB") + b"\0" * 8    # Python's lzma refuses padding
    assert xz.blocks(padded) is None and _outcome(padded, 4) == _outcome(padded, 1)
    assert xz.blocks(lzma.compress(TEXT, format=lzma.FORMAT_ALONE)) is None


def _outcome(data: bytes, workers: int) -> object:
    try:
        return xz.decompress(data, workers)
    except lzma.LZMAError as e:
        return f"error: {e}"


@pytest.mark.parametrize("where", ["header", "first block", "last block", "index", "footer"])
def test_damage_anywhere_gives_what_one_pass_gives(blocked: bytes, where: str) -> None:
    at = {"header": 8, "first block": 200, "last block": len(blocked) - 300,
          "index": len(blocked) - 20, "footer": len(blocked) - 6}[where]
    damaged = bytearray(blocked)
    damaged[at] ^= 0x55
    one_pass = _outcome(bytes(damaged), 1)
    assert isinstance(one_pass, str) and one_pass.startswith("error")
    assert _outcome(bytes(damaged), 4) == one_pass


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), max_size=3),
       st.integers(0, 40))
def test_any_change_gives_what_one_pass_gives(changes: list[tuple[int, int]],
                                             cut: int) -> None:
    data = bytearray(_SMALL)
    for at, flip in changes:
        data[at % len(data)] ^= flip
    damaged = bytes(data[:len(data) - cut])
    assert _outcome(damaged, 3) == _outcome(damaged, 1)


_SMALL = _xz(TEXT[:40000], "--block-size=4KiB") if shutil.which("xz") else b""


def _framed(streams: list[bytes], records: list[tuple[int, int]]) -> bytes:
    """One stream's header, the given bytes as its blocks, and an index of the
    given records with its footer: a file whose index may lie about its blocks."""
    index = b"\x00" + xz._encode(len(records)) + b"".join(
        xz._encode(a) + xz._encode(b) for a, b in records)
    index += b"\x00" * (-len(index) % 4)
    index += struct.pack("<I", zlib.crc32(index))
    flags = streams[0][6:8]
    rest = struct.pack("<I", len(index) // 4 - 1) + flags
    return b"".join(streams) + index + struct.pack("<I", zlib.crc32(rest)) + rest + b"YZ"


def test_a_record_framing_a_whole_stream_is_not_taken_for_a_block() -> None:
    """One pass stops at the end of the first whole stream (and ignores what
    follows); records that frame a stream with its own index and footer, and
    another stream's blocks, must not add bytes one pass never gives."""
    first, second = lzma.compress(b"first\n"), lzma.compress(b"Package: injected\n")
    data = _framed([first, second[12:]], [(len(first) - 12, 6), (len(second) - 12, 18)])
    assert xz.blocks(data) is not None
    assert _outcome(data, 2) == _outcome(data, 1)
