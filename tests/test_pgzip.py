"""A .tar.gz (and a gzip OCI layer) is compressed on every core, and is the same
bytes whatever the number of threads: any gzip reader takes it back whole."""
from __future__ import annotations

import gzip
import io
import os
import subprocess

import pytest

from bootstrap.pgzip import BLOCK, GzipWriter


def _compressed(data: bytes, threads: int, piece: int = 70_001) -> bytes:
    out = io.BytesIO()
    w = GzipWriter(out, 6, threads)
    for i in range(0, len(data), piece):
        w.write(data[i:i + piece])
    w.close()
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, BLOCK, 3 * BLOCK + 12345])
def test_same_bytes_whatever_the_threads_and_gzip_reads_them_back(size: int) -> None:
    data = (os.urandom(BLOCK // 2) + b"rootstrap " * (BLOCK // 10)) * 4
    data = data[:size]
    outs = {_compressed(data, t) for t in (1, 2, 5)}
    assert len(outs) == 1
    (out,) = outs
    assert gzip.decompress(out) == data
    host = subprocess.run(["gzip", "-dc"], input=out, stdout=subprocess.PIPE, check=True)
    assert host.stdout == data
