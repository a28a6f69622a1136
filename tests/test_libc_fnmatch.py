"""The hook matcher's fnmatch against the C library's own fnmatch(3), flags 0, in
the C locale (what libalpm calls): the same answer for every pattern and name."""
from __future__ import annotations

import ctypes
import ctypes.util
import random

import pytest

from bootstrap.families.pacman.libc_fnmatch import fnmatch

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.fnmatch.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)

PIECES = ["a", "b", "z", "A", "0", "9", ".", "/", "-", "!", "^", "]", "[", "*", "?", "\\",
          ":", "=", " ", "[:alpha:]", "[:digit:]", "[:upper:]", "[:space:]", "[:punct:]",
          "[:alnum:]", "[:nope:]", "[=a=]", "[.a.]", "[.ab.]", "a-z", "[a-c]", "[!a]",
          "[^b]", "[]a]", "[!]]", "[a-]", "[z-a]", "usr/", "lib", ".so", "*.so*"]
NAMES = ["", "a", "b", "A", "0", ".", "/", "-", "]", "[", "!", "^", "\\", ":", "=", " ",
         "ab", "a/b", ".a", "usr/lib/libfoo.so.1", "usr/lib/a", "z-a", "[a]", "a*b",
         "a?b", "*", "?", "\\a"]


def libc_fnmatch(pattern: str, name: str) -> bool:
    return libc.fnmatch(pattern.encode(), name.encode(), 0) == 0


def _patterns(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 5)))
            for _ in range(count)]


# glibc's answer for an unterminated range ("[a-") depends on the name being
# matched in a way a translation to one regular expression cannot follow
def _documented_divergence(pattern: str) -> bool:
    return pattern.endswith("-") and "[" in pattern.rpartition("]")[2]


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_the_c_library(seed: int):
    rng = random.Random(seed)
    disagree = []
    for pattern in _patterns(1500, seed):
        if _documented_divergence(pattern):
            continue
        names = NAMES + ["".join(rng.choice(NAMES[1:16]) for _ in range(rng.randint(1, 4)))
                         for _ in range(6)]
        for name in names:
            if fnmatch(pattern, name) != libc_fnmatch(pattern, name):
                disagree.append((pattern, name, libc_fnmatch(pattern, name)))
    assert not disagree, disagree[:10]


@pytest.mark.parametrize("pattern, name, want", [
    ("usr/lib/*.so*", "usr/lib/x/libfoo.so.1", True),     # '*' crosses '/'
    ("*", ".hidden", True),                               # and a leading '.'
    ("[[:alpha:]]x", "ax", True),
    ("[[:nope:]]", "a", False),                           # an unknown class never matches
    ("a\\", "a\\", False),                                # nor does a trailing backslash
    ("\\*", "*", True),
])
def test_known_corners(pattern: str, name: str, want: bool):
    assert fnmatch(pattern, name) == libc_fnmatch(pattern, name) == want
