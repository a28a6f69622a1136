"""rpm's version order: rpmvercmp over version and release, epoch first.

A version is walked in segments: a run of digits or a run of letters;
anything else only separates (and counts for nothing, "1.0" = "1_0"). A
numeric segment beats an alphabetic one; numbers compare without their
leading zeros; '~' sorts before everything, the end included ("1.0~rc1" <
"1.0"); '^' sorts after the end but before anything else ("1.0" < "1.0^git1"
< "1.0.1"). When the segments ran out equal, the side with something left is
the greater."""
from __future__ import annotations

from functools import cmp_to_key
from typing import NamedTuple, Optional

from bootstrap.numbers import number


def rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    i = j = 0
    n, m = len(a), len(b)
    while i < n or j < m:
        while i < n and not _isalnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < m and not _isalnum(b[j]) and b[j] not in "~^":
            j += 1
        ca = a[i] if i < n else ""
        cb = b[j] if j < m else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        si, sj = i, j
        numeric = ca in _DIGITS
        test = _DIGITS.__contains__ if numeric else _isalpha
        while i < n and test(a[i]):
            i += 1
        while j < m and test(b[j]):
            j += 1
        if j == sj:
            return 1 if numeric else -1     # a number beats letters
        x, y = a[si:i], b[sj:j]
        if numeric:
            x, y = x.lstrip("0"), y.lstrip("0")
            if len(x) != len(y):
                return 1 if len(x) > len(y) else -1
        if x != y:
            return 1 if x > y else -1
    if i >= n and j >= m:
        return 0
    return 1 if i < n else -1


# rpm's risdigit and risalpha: ASCII only (anything else only separates)
_DIGITS = frozenset("0123456789")


def _isalpha(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _isalnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


class EVR(NamedTuple):
    epoch: int
    version: str
    release: Optional[str]

    @classmethod
    def parse(cls, text: str) -> "EVR":
        """[epoch:]version[-release], as rpm splits it."""
        epoch, sep, rest = text.partition(":")
        value = number(epoch) if sep else None
        if value is None:
            value, rest = 0, text
        version, sep, release = rest.rpartition("-")
        if not sep:
            return cls(value, rest, None)
        return cls(value, version, release)

    def __str__(self) -> str:
        out = f"{self.epoch}:" if self.epoch else ""
        return out + self.version + (f"-{self.release}" if self.release is not None else "")


def compare(a: EVR, b: EVR) -> int:
    """EVRs as rpm orders them (rpmverCmp): a release beats none."""
    if a.epoch != b.epoch:
        return 1 if a.epoch > b.epoch else -1
    c = rpmvercmp(a.version, b.version)
    if c:
        return c
    if a.release is None or b.release is None:
        return (a.release is not None) - (b.release is not None)
    return rpmvercmp(a.release, b.release)


def compare_in_range(a: EVR, b: EVR) -> int:
    """EVRs as a dependency's range compares them (rpmverOverlap): a release that
    either side leaves out is not compared ("foo >= 1.0" takes 1.0-1)."""
    if a.epoch != b.epoch:
        return 1 if a.epoch > b.epoch else -1
    c = rpmvercmp(a.version, b.version)
    if c or not a.release or not b.release:
        return c
    return rpmvercmp(a.release, b.release)


def compare_text(a: str, b: str) -> int:
    return compare(EVR.parse(a), EVR.parse(b))


sort_key = cmp_to_key(compare_text)
