"""Debian relationship fields (deb-control(5), Policy §7.1), read as apt reads
them in a binary package index (debListParser::ParseDepends).

`a (>= 1) | b:any, c` is a conjunction of groups of alternatives. apt refuses a
whole Packages file when one relation field anywhere in it does not scan, so
well_formed() is asked of every field of every stanza, and the parser here
takes exactly what it accepts: no architecture lists or build profiles (those
belong to source packages), `<` and `>` as the obsolete `<=` and `>=`, a
version with no operator as `=`, and a trailing `,` or `|`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .version import compare

_OPS = {"<<": "<<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">>",
        # Obsolete spellings, still accepted: they mean "or equal".
        "<": "<=", ">": ">=",
        "": "="}

# C's isspace in the C locale, which apt skips
_WS = "[ \t\n\r\f\v]"
_SPACE = " \t\n\r\f\v"
# apt takes the operator greedily and never backs off: each alternative below
# excludes the others, so the regular expression cannot back off either.
_OP = "<[=<]|<(?![=<])|>[=>]|>(?![=>])|=|(?![<>=])"
# After "(" and blanks apt asks for four more characters in the field before it
# reads the operator (so `a (=1)` is refused as a whole field, `a (=1), b` is
# not); the version runs to the next ")" and may not be empty.
_ATOM = (rf"{_WS}*(?P<name>[^{_SPACE}(),|\[\]<>]+){_WS}*"
         rf"(?:\({_WS}*(?=[^{_SPACE}].{{3}})(?P<op>{_OP}){_WS}*"
         rf"(?P<version>[^{_SPACE})][^)]*)\){_WS}*)?")
_ATOM_RE = re.compile(_ATOM, re.S)
_UNNAMED = re.sub(r"\(\?P<\w+>", "(?:", _ATOM)
_FIELD_RE = re.compile(f"{_UNNAMED}(?:[,|]{_UNNAMED})*(?:[,|]{_WS}*)?", re.S)


def well_formed(value: str, provides: bool = False) -> bool:
    """Would apt read this relation field's value (as the index holds it,
    continuation lines and all)? An empty Provides it refuses; other empty
    fields it skips."""
    value = value.strip(_SPACE)
    if not value:
        return not provides
    return _FIELD_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class Relation:
    name: str
    arch: Optional[str] = None
    op: Optional[str] = None
    version: Optional[str] = None

    def satisfied_by(self, version: str) -> bool:
        """Does a package (or a provide) at `version` meet this relation?"""
        if self.op is None or self.version is None:
            return True
        c = compare(version, self.version)
        op = self.op
        if op == ">=":
            return c >= 0
        if op == "<=":
            return c <= 0
        if op == "=":
            return c == 0
        if op == ">>":
            return c > 0
        if op == "<<":
            return c < 0
        raise ValueError(f"unknown relation operator {op!r}")

    def __str__(self) -> str:
        text = self.name if self.arch is None else f"{self.name}:{self.arch}"
        if self.op is not None:
            text += f" ({self.op} {self.version})"
        return text


def _atoms(text: str) -> list[list[Relation]]:
    text = text.strip(_SPACE)
    groups: list[list[Relation]] = []
    alternatives: list[Relation] = []
    pos, end = 0, len(text)
    while pos < end:
        m = _ATOM_RE.match(text, pos)
        if m is None:
            raise ValueError(f"cannot parse relation {text[pos:].split(',')[0].strip()!r}")
        name, _, arch = m.group("name").partition(":")
        version = m.group("version")
        alternatives.append(Relation(
            name, arch if ":" in m.group("name") else None,
            None if version is None else _OPS[m.group("op")],
            None if version is None else version.rstrip(_SPACE)))
        pos = m.end()
        if pos < end:
            if text[pos] not in ",|":
                raise ValueError(f"cannot parse relation {text[m.start():].split(',')[0].strip()!r}")
            if text[pos] == ",":
                groups.append(alternatives)
                alternatives = []
            pos += 1
            while pos < end and text[pos] in _SPACE:
                pos += 1
    if alternatives:
        groups.append(alternatives)
    return groups


@lru_cache(maxsize=65536)
def _parse_cached(text: str) -> tuple[tuple[Relation, ...], ...]:
    return tuple(tuple(group) for group in _atoms(text))


def parse_relations(text: str) -> list[list[Relation]]:
    """Parse a Depends-like field into groups of alternatives (AND of ORs)."""
    if not text or not text.strip():
        return []
    return [list(group) for group in _parse_cached(text)]


def parse_provides(text: str) -> list[Relation]:
    """Parse a Provides field: a flat list, only `=` versions are meaningful."""
    if not text or not text.strip():
        return []
    out = []
    for groups in _parse_cached(text):
        out.extend(groups)
    return out
