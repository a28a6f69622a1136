"""Debian relationship fields (deb-control(5), Policy §7.1).

`a (>= 1) | b:any, c [amd64] <!nocheck>` is a conjunction of groups of
alternatives. Architecture restrictions are evaluated against the native
architecture here, and build profiles are ignored (no profile is active),
so callers only ever see the relations that apply.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .version import compare

_OPS = {"<<": "<<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">>",
        # Obsolete spellings, still accepted by dpkg: they mean "or equal".
        "<": "<=", ">": ">="}

_ATOM = re.compile(
    r"""^\s*(?P<name>[^\s:(\[<]+)
        (?::(?P<arch>[^\s(\[<]+))?
        \s*(?:\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[^\s)]+)\s*\))?
        \s*(?:\[(?P<archs>[^\]]*)\])?
        \s*(?P<profiles>(?:<[^>]*>\s*)*)$""",
    re.X,
)


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


def _arch_matches(spec: str, native_arch: str) -> bool:
    """Evaluate an architecture restriction list such as `amd64 i386` or `!s390x`.

    Wildcards like `linux-any` are matched on the OS/CPU parts, which for the
    Linux architectures Debian ships is the plain arch name.
    """
    entries = spec.split()
    if not entries:
        return True
    negated = entries[0].startswith("!")
    for entry in entries:
        name = entry.lstrip("!")
        if _arch_is(name, native_arch):
            return not negated
    return negated


def _arch_is(pattern: str, arch: str) -> bool:
    if pattern in (arch, "any"):
        return True
    if "-" in pattern:
        os_part, cpu_part = pattern.split("-", 1)
        # Debian's Linux architectures are named by their CPU alone.
        arch_os, arch_cpu = ("linux", arch) if "-" not in arch else arch.split("-", 1)
        return os_part in ("any", arch_os) and cpu_part in ("any", arch_cpu)
    return False


_PLAIN = re.compile(r"\s*([^\s:(\[<>]+)\s*(?:\(\s*(<<|<=|>=|>>|=)\s*([^\s)]+)\s*\)\s*)?$")


def _parse_atom(text: str, native_arch: str) -> Optional[Relation]:
    # Fast path for the common `name` and `name (op version)` forms: rust and
    # haskell packages carry thousands of Provides like these.
    m = _PLAIN.match(text)
    if m is not None:
        name, op, version = m.groups()
        return Relation(name, None, op, version)
    m = _ATOM.match(text)
    if m is None:
        raise ValueError(f"cannot parse relation {text.strip()!r}")
    archs = m.group("archs")
    if archs is not None and not _arch_matches(archs, native_arch):
        return None
    op = m.group("op")
    return Relation(
        name=m.group("name"),
        arch=m.group("arch"),
        op=_OPS[op] if op else None,
        version=m.group("version"),
    )


@lru_cache(maxsize=65536)
def _parse_cached(text: str, native_arch: str) -> tuple[tuple[Relation, ...], ...]:
    groups: list[tuple[Relation, ...]] = []
    for group_text in text.split(","):
        if not group_text.strip():
            continue
        alternatives = []
        for atom in group_text.split("|"):
            rel = _parse_atom(atom, native_arch)
            if rel is not None:
                alternatives.append(rel)
        # A group whose every alternative is restricted away does not apply.
        if alternatives:
            groups.append(tuple(alternatives))
    return tuple(groups)


def parse_relations(text: str, native_arch: str) -> list[list[Relation]]:
    """Parse a Depends-like field into groups of alternatives (AND of ORs)."""
    if not text or not text.strip():
        return []
    return [list(group) for group in _parse_cached(text, native_arch)]


def parse_provides(text: str, native_arch: str) -> list[Relation]:
    """Parse a Provides field: a flat list, only `=` versions are meaningful."""
    if not text or not text.strip():
        return []
    out = []
    for groups in _parse_cached(text, native_arch):
        out.extend(groups)
    return out
