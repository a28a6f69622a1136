"""apk versions as apk-tools orders them.

A version is `digits{.digits}{letter}{_suffix{digits}}...{~hash}{-rN}`. It is read
as tokens; two versions are walked token by token while the tokens are of the
same kind, and the first difference decides:

- numbers compare as integers, except a part after the first that starts with
  '0' in either version, which compares as a string ("1.02" < "1.1");
- a letter compares by its code; suffixes rank alpha < beta < pre < rc < (none)
  < cvs < svn < git < hg < p; a commit hash (`~hex`, apk-tools 3) as a string;
- where one version ends or the kinds differ: a pre-release suffix makes its
  side the smaller; otherwise the side whose token kind comes later in
  digit < letter < suffix < suffix number < hash < revision < end < invalid is
  the smaller, so any extra part is above the end ("1.0-r0" > "1.0") and what
  cannot be read sorts lowest.

Fuzzy comparison (the `~` operator) calls two versions equal once the one asked
for has ended: 3.6.9 matches ~3.6, 3.60 does not.
"""
from __future__ import annotations

import re
from functools import cmp_to_key
from typing import NamedTuple

from bootstrap.numbers import digit_key

DIGIT, LETTER, SUFFIX, SUFFIX_NO, HASH, REVISION, END, INVALID = range(8)
SUFFIXES = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1,
            "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
LESS, EQUAL, GREATER = -1, 0, 1

_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9a-f]+")
_SUFFIX = re.compile(r"_([a-z]+)([0-9]*)")


class Token(NamedTuple):
    kind: int
    text: str = ""
    first: bool = False        # the first number of the version: always numeric


def tokens(version: str) -> list[Token]:
    """version as tokens, ending with END (or INVALID where it stops making sense)."""
    out: list[Token] = []
    m = _DIGITS.match(version)
    if not m:
        return [Token(INVALID)]
    out.append(Token(DIGIT, m.group(), True))
    i, n = m.end(), len(version)
    stage = DIGIT       # what may follow depends on what came last
    while i < n:
        c = version[i]
        if stage == DIGIT and c == "." and (m := _DIGITS.match(version, i + 1)):
            out.append(Token(DIGIT, m.group()))
            i = m.end()
        elif stage == DIGIT and "a" <= c <= "z":
            out.append(Token(LETTER, c))
            i += 1
            stage = LETTER
        elif stage <= SUFFIX and (m := _SUFFIX.match(version, i)) and m.group(1) in SUFFIXES:
            out.append(Token(SUFFIX, m.group(1)))
            if m.group(2):
                out.append(Token(SUFFIX_NO, m.group(2)))
            i = m.end()
            stage = SUFFIX
        elif stage <= SUFFIX and c == "~" and (m := _HEX.match(version, i + 1)):
            out.append(Token(HASH, m.group()))
            i = m.end()
            stage = HASH
        elif c == "-" and version.startswith("-r", i) and (m := _DIGITS.match(version, i + 2)):
            out.append(Token(REVISION, m.group()))
            i = m.end()
            stage = REVISION
            if i != n:
                out.append(Token(INVALID))
                return out
        else:
            out.append(Token(INVALID))
            return out
    out.append(Token(END))
    return out


def valid(version: str) -> bool:
    return tokens(version)[-1].kind == END


def _compare_token(a: Token, b: Token) -> int:
    if a.kind == DIGIT:
        if not (a.first or b.first) and (a.text.startswith("0") or b.text.startswith("0")):
            x, y = a.text, b.text
        else:
            x, y = digit_key(a.text), digit_key(b.text)      # type: ignore[assignment]
    elif a.kind in (SUFFIX_NO, REVISION):
        x, y = digit_key(a.text), digit_key(b.text)       # type: ignore[assignment]
    elif a.kind == SUFFIX:
        x, y = SUFFIXES[a.text], SUFFIXES[b.text]  # type: ignore[assignment]
    else:
        x, y = a.text, b.text
    return (x > y) - (x < y)


def compare(a: str, b: str, fuzzy: bool = False) -> int:
    """-1, 0 or 1 as a is below, equal to or above b; with fuzzy, b ending early
    means equal (b is the version a dependency asks for)."""
    ta, tb = tokens(a), tokens(b)
    i = 0
    while i < len(ta) and i < len(tb) and ta[i].kind == tb[i].kind:
        if ta[i].kind in (END, INVALID):
            return EQUAL
        c = _compare_token(ta[i], tb[i])
        if c:
            return c
        i += 1
    x = ta[i] if i < len(ta) else Token(END)
    y = tb[i] if i < len(tb) else Token(END)
    if x.kind == y.kind:
        return EQUAL
    if fuzzy and y.kind == END:
        return EQUAL
    if x.kind == SUFFIX and SUFFIXES[x.text] < 0:
        return LESS
    if y.kind == SUFFIX and SUFFIXES[y.text] < 0:
        return GREATER
    return LESS if x.kind > y.kind else GREATER


sort_key = cmp_to_key(compare)
