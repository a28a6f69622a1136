"""Debian version ordering (deb-version(7)): epoch, upstream version, revision.

Each version is turned once into a sort key of ints (and digit runs as their
length and text, which order as their value however long), so a comparison
is a tuple comparison done in C; keys are cached because the solver compares
the same few thousand versions over and over.
"""
from __future__ import annotations

import re
from functools import lru_cache

from bootstrap.numbers import digit_key

# Alternating runs: a non-digit run (possibly empty) then a digit run.
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")

# The end of a non-digit run weighs 0 in dpkg's ordering; every real
# character weighs something else ('~' < 0 < letters < everything else),
# so 0 works as a terminator that keeps tuple comparison aligned.
_WEIGHT = {chr(c): (c if chr(c).isalpha() and c < 128 else c + 256) for c in range(1, 256)}
_WEIGHT["~"] = -1
_END = (0, 0, "")  # an exhausted string compares as an empty run then the number 0

Key = tuple  # (epoch, upstream key, revision key)


def _part_key(part: str) -> tuple[object, ...]:
    weight = _WEIGHT
    groups: list[tuple[list[int], tuple[int, str]]] = []
    for text, digits in _RUNS.findall(part):
        if not text and not digits:
            continue
        groups.append(([weight.get(ch, ord(ch) + 256) for ch in text], digit_key(digits)))
    # Every key starts with a group, even for "" (an absent revision), which
    # then equals "0" as in dpkg. Later groups always start with a non-digit
    # weighing non-zero, so one _END group settles any length difference.
    if not groups:
        groups.append(([], (0, "")))
    out: list[object] = []
    for chars, number in groups:
        out.extend(chars)
        out.append(0)
        out.extend(number)
    out.extend(_END)
    return tuple(out)


@lru_cache(maxsize=None)
def sort_key(version: str) -> Key:
    """A key such that sort_key(a) < sort_key(b) iff a sorts before b."""
    version = version.strip()
    epoch = (0, "")
    colon = version.find(":")
    if colon != -1:
        head = version[:colon]
        if head.isascii() and head.isdigit():
            epoch = digit_key(head)
            version = version[colon + 1:]
    dash = version.rfind("-")
    if dash != -1:
        upstream, revision = version[:dash], version[dash + 1:]
    else:
        upstream, revision = version, ""
    return (epoch, _part_key(upstream), _part_key(revision))


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version a sorts before, equal to, or after b."""
    if a == b:
        return 0
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)
