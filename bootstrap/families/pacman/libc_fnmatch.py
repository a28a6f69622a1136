"""fnmatch(3) as glibc does it with no flags, in the C locale: what libalpm matches
hook targets with. Python's fnmatch differs (backslashes, [:class:], ranges to a
class, a trailing backslash), so patterns are translated to regular expressions
here, glibc's corner cases included; tests compare it with libc's own."""
from __future__ import annotations

import functools
import re
from typing import Optional

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
    "lower": "a-z", "space": " \\t\\n\\r\\f\\v", "blank": " \\t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": " -~", "graph": "!-~", "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9a-fA-F",
}
_NEVER = "(?!)"


class _Invalid(Exception):
    """A pattern glibc's fnmatch never lets match (an unknown [:class:], a
    range to a class, a collating symbol of more than one character)."""


def _element(pattern: str, i: int) -> tuple[str, bool, int]:
    """One element of a bracket expression at i: (a character or a class's
    regex, is_class, next i).

    Malformed [: and [= fall back to a plain '[' as glibc does; [: needs a
    name of letters a-y (sic) closed by ':]', [= exactly one character.
    """
    n = len(pattern)
    if pattern.startswith("[:", i):
        j = i + 2
        while j < n and "a" <= pattern[j] < "z":
            j += 1
        if pattern.startswith(":]", j):
            cls = _CLASSES.get(pattern[i + 2:j])
            if cls is None:
                raise _Invalid(pattern)
            return cls, True, j + 2
    elif pattern.startswith("[=", i):
        if pattern.startswith("=]", i + 3):
            return pattern[i + 2], False, i + 5
    elif pattern.startswith("[.", i):
        end = pattern.find(".]", i + 2)
        if end != i + 3:                        # the C locale collates single bytes
            raise _Invalid(pattern)
        return pattern[i + 2], False, i + 5
    if pattern[i] == "\\" and i + 1 < n:
        return pattern[i + 1], False, i + 2
    return pattern[i], False, i + 1


def _bracket(pattern: str, start: int) -> tuple[Optional[str], int]:
    """The regex of the bracket expression opening at start, and the index
    after it; None when it does not close (the '[' is then literal)."""
    i, n = start + 1, len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < n and (pattern[i] != "]" or first):
        first = False
        lo, is_class, i = _element(pattern, i)
        if is_class:
            items.append(lo)
            continue
        if i < n and pattern[i] == "-":
            if i + 1 >= n:
                # glibc fails "[a-" rather than read a literal '[' (mostly: it
                # depends on the string being matched, which this cannot mirror)
                raise _Invalid(pattern)
            if pattern[i + 1] != "]":
                hi, hi_class, i = _element(pattern, i + 1)
                if hi_class:
                    raise _Invalid(pattern)
                if lo <= hi:
                    items.append(f"{re.escape(lo)}-{re.escape(hi)}")
                continue
        items.append(re.escape(lo))
    if i >= n:
        return None, start
    body = "".join(items)
    if not body:
        return ("." if negate else _NEVER), i + 1
    return f"[{'^' if negate else ''}{body}]", i + 1


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    """fnmatch(3) with no flags: '*' and '?' match '/' and a leading '.',
    a backslash quotes the next character."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i + 1 >= n:
                return re.compile(_NEVER)   # glibc: a trailing backslash never matches
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            try:
                regex, after = _bracket(pattern, i)
            except _Invalid:
                return re.compile(_NEVER)
            if regex is not None:
                out.append(regex)
                i = after
                continue
            out.append(re.escape(c))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)



def fnmatch(pattern: str, string: str) -> bool:
    """fnmatch(pattern, string, 0) == 0 in glibc."""
    return _glob(pattern).fullmatch(string) is not None
