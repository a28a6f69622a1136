"""pacman version ordering: libalpm's alpm_pkg_vercmp, i.e. what `vercmp` prints.

A version is [epoch:]pkgver[-pkgrel]. Epochs compare first, then pkgvers, and
pkgrels only when both sides have one, so "1.0" equals "1.0-3". Each part is
compared with the rpmvercmp segment walk.

That walk is not a total order (a. < a1 < a.b < a. all hold), so there is no
sort key here, only a comparator; the token lists it walks are cached because
the solver compares the same few thousand versions over and over.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional, Tuple

# One segment: the separator run before it, then a run of ASCII digits or of
# ASCII letters. libalpm uses the C locale's isalnum, so anything else
# (including every byte of a non-ASCII character) is a separator.
_SEGMENT = re.compile(rb"([^0-9A-Za-z]*)([0-9]+|[A-Za-z]+)")

# (separator length, is numeric, comparable value). A numeric value is
# (digit count, digits without leading zeros), which orders like the number
# with no length limit; a letter run is (0, letters), ordered like strcmp.
Segment = Tuple[int, bool, Tuple[int, bytes]]


@lru_cache(maxsize=None)
def _segments(part: str) -> tuple[tuple[Segment, ...], int]:
    """The segments of one version part and the length of its trailing separators."""
    raw = part.encode("utf-8", "surrogateescape")
    out: list[Segment] = []
    end = 0
    for m in _SEGMENT.finditer(raw):
        sep, run = m.group(1), m.group(2)
        if run[:1].isdigit():
            digits = run.lstrip(b"0")
            out.append((len(sep), True, (len(digits), digits)))
        else:
            out.append((len(sep), False, (0, run)))
        end = m.end()
    return tuple(out), len(raw) - end


def rpmvercmp(a: str, b: str) -> int:
    """Compare one part (epoch, pkgver or pkgrel) the way libalpm's rpmvercmp does."""
    if a == b:
        return 0
    segs_a, trail_a = _segments(a)
    segs_b, trail_b = _segments(b)
    for (sep_a, num_a, val_a), (sep_b, num_b, val_b) in zip(segs_a, segs_b):
        if sep_a != sep_b:
            return 1 if sep_a > sep_b else -1
        if num_a != num_b:
            return 1 if num_a else -1
        if val_a != val_b:
            return 1 if val_a > val_b else -1
    common = min(len(segs_a), len(segs_b))
    if len(segs_a) == len(segs_b):
        # Only separators are left: a side that has some beats one that has
        # none, and any two non-empty runs are equal ("1.0." == "1.0..").
        return (trail_a > 0) - (trail_b > 0)
    if len(segs_a) > common:
        return 1 if _longer_wins(segs_a[common], trail_b) else -1
    return -1 if _longer_wins(segs_b[common], trail_a) else 1


def _longer_wins(extra: Segment, short_trail: int) -> bool:
    """Does the side with the extra segment win against the side that ran out?

    A numeric leftover always wins; an alphabetic one ("1.0a" against "1.0")
    loses, unless the shorter side ended exactly where its last segment did
    and the leftover starts with a separator: then rpmvercmp stops before
    skipping separators and sees a non-letter ("1.0" < "1.0.a", but
    "1.0." > "1.0.a").
    """
    sep, numeric, _ = extra
    return numeric or (short_trail == 0 and sep > 0)


def split_evr(version: str) -> tuple[str, str, Optional[str]]:
    """(epoch, pkgver, pkgrel) as libalpm splits them.

    The epoch is the leading ASCII digits before a ':' ("0" when absent or
    empty); the pkgrel is whatever follows the last '-' (None without one).
    """
    digits = 0
    while digits < len(version) and "0" <= version[digits] <= "9":
        digits += 1
    if version[digits:digits + 1] == ":":
        epoch, rest = version[:digits] or "0", version[digits + 1:]
    else:
        epoch, rest = "0", version
    dash = rest.rfind("-")
    if dash == -1:
        return epoch, rest, None
    return epoch, rest[:dash], rest[dash + 1:]


def vercmp(a: str, b: str) -> int:
    """-1, 0 or 1 as pacman version a is older than, equal to, or newer than b."""
    if a == b:
        return 0
    epoch_a, ver_a, rel_a = split_evr(a)
    epoch_b, ver_b, rel_b = split_evr(b)
    c = rpmvercmp(epoch_a, epoch_b)
    if c == 0:
        c = rpmvercmp(ver_a, ver_b)
    if c == 0 and rel_a is not None and rel_b is not None:
        c = rpmvercmp(rel_a, rel_b)
    return c
