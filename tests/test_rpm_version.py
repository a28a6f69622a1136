"""rpm's version order against the host's rpm (its Lua rpm.vercmp) on generated
pairs: epochs, '~', '^', letters, numbers with leading zeros, separators."""
from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from bootstrap.families.rpm.version import EVR, compare_text, rpmvercmp

PIECES = ["0", "1", "2", "9", "10", "01", "001", "100", "a", "b", "z", "A", "Z", "rc",
          "alpha", "pre", ".", "_", "+", "-", "~", "^", "~rc", "^git", "..", "~~", "^^",
          "fc41", "el9", "git20240101"]


def _version(rng: random.Random) -> str:
    v = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 5))).strip("-")
    return v or "0"


def _pairs(count: int) -> list[tuple[str, str]]:
    rng = random.Random(20261202)
    out = []
    for _ in range(count):
        a, b = _version(rng), _version(rng)
        if rng.random() < 0.3:
            b = a + rng.choice(["", "~1", "^1", ".1", "a", "-1", "~", "^"])
        if rng.random() < 0.3:
            a = f"{rng.randint(0, 2)}:{a}"
            b = f"{rng.randint(0, 2)}:{b}"
        if rng.random() < 0.4:
            a += f"-{rng.choice(['1', '1.fc41', '2.el9', '1~rc1', '0.1'])}"
            b += f"-{rng.choice(['1', '1.fc41', '2.el9', '1^1', '10'])}"
        out.append((a, b))
    return out


@pytest.fixture(scope="module")
def host_rpm():
    if not shutil.which("rpm"):
        pytest.skip("the host rpm (the oracle) is not installed")

    def ask(pairs: list[tuple[str, str]]) -> list[int]:
        calls = "".join(f't[#t+1] = rpm.vercmp("{a}", "{b}")\n' for a, b in pairs)
        lua = f"local t = {{}}\n{calls}print(table.concat(t, ' '))\n"
        out = subprocess.run(["rpm", "--eval", f"%{{lua:\n{lua}}}"], check=True,
                             capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]
    return ask


def test_agrees_with_rpm_on_generated_pairs(host_rpm):
    pairs = _pairs(1200)
    assert len(pairs) >= 500
    theirs = host_rpm(pairs)
    wrong = [(a, b, t) for (a, b), t in zip(pairs, theirs) if compare_text(a, b) != t]
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("a, b, want", [
    ("1.0~rc1", "1.0", -1), ("1.0^git1", "1.0", 1), ("1.0^git1", "1.0.1", -1),
    ("1.0", "1_0", 0), ("1.01", "1.1", 0), ("1.0a", "1.0", 1), ("1.a", "1.1", -1),
    ("2", "10", -1), ("1:1.0", "2.0", 1),
])
def test_known_corners(a, b, want):
    assert compare_text(a, b) == want


def test_evr_splits_as_rpm_splits():
    assert EVR.parse("1:2.3-4.fc41") == EVR(1, "2.3", "4.fc41")
    assert EVR.parse("2.3") == EVR(0, "2.3", None)
    assert EVR.parse("1.0-2-3") == EVR(0, "1.0-2", "3")
    assert rpmvercmp("1.0", "1.0") == 0
