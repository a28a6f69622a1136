"""A build counts the cores it may run on, not the machine's: on a shared node a
job confined to one core (a scheduler's cpuset, `taskset`) must not start a
parsing process or a compressing thread per core of the whole machine."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent

CHECK = """
from bootstrap import cores
from bootstrap.families.deb import parsed
from bootstrap.pgzip import GzipWriter
import io
parsed.SPLIT_AT = 0
text = b"".join(b"Package: p%d\\nVersion: 1\\nArchitecture: all\\n\\n" % n for n in range(500))
print(cores.usable(), len(parsed._parse(text)), GzipWriter(io.BytesIO()).threads)
"""


def _run(*prefix: str) -> list[int]:
    out = subprocess.run([*prefix, sys.executable, "-c", CHECK], check=True, cwd=CHECKOUT,
                         stdout=subprocess.PIPE, text=True).stdout
    return [int(w) for w in out.split()]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                    reason="this process runs on one core: confining it shows nothing")
def test_a_build_confined_to_one_core_uses_one() -> None:
    free = len(os.sched_getaffinity(0))
    assert _run() == [free, min(4, free), free]
    assert _run("taskset", "-c", str(min(os.sched_getaffinity(0)))) == [1, 1, 1]
