"""pacman dependency expressions: "glibc", "glibc>=2.38", "libfoo.so=1-64".

The same syntax fills %DEPENDS%, %PROVIDES%, %CONFLICTS%, %REPLACES% and
%OPTDEPENDS% in a sync database and depend/provides/... in .PKGINFO. Matching
follows libalpm: a dependency is met by the package's own name and version,
or by a provision of the same name that either needs no version or carries
an exact ('=') version inside the range.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .version import vercmp

OPS = ("", "<", "<=", "=", ">=", ">")


@dataclass(frozen=True)
class Depend:
    name: str
    op: str = ""
    version: str = ""

    @property
    def malformed(self) -> bool:
        """An operator without a version ("gconf>") or no name. libalpm takes either
        as written and compares the missing version as an empty string."""
        return (bool(self.op) and not self.version) or not self.name

    @classmethod
    def parse(cls, text: str) -> Depend:
        """One expression read as libalpm's alpm_dep_from_string reads it: never
        refused. A trailing ": description" is dropped. libalpm looks for '<'
        anywhere first, then '>', then '=', so this is not a tokenizer: "a=1<2"
        is a dependency on "a=1" below 2."""
        text = _drop_description(text).strip()
        for sign in ("<", ">", "="):
            at = text.find(sign)
            if at == -1:
                continue
            op, rest = sign, text[at + 1:]
            if sign != "=" and rest.startswith("="):
                op, rest = sign + "=", rest[1:]
            return cls(text[:at], op, rest)
        return cls(text)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.version}"

    def allows(self, version: str) -> bool:
        """Does a concrete version fall inside this expression's range?

        A version without pkgrel on either side leaves pkgrel out of the
        comparison, so "=1.0" allows 1.0-3.
        """
        op = self.op
        if not op:
            return True
        c = vercmp(version, self.version)
        if op == "=":
            return c == 0
        if op == ">=":
            return c >= 0
        if op == "<=":
            return c <= 0
        if op == ">":
            return c > 0
        return c < 0

    def satisfied_by(self, name: str, version: str, provides: Sequence[Depend]) -> bool:
        """Does a package called `name` at `version`, providing `provides`, meet this?"""
        if name == self.name and self.allows(version):
            return True
        for provision in provides:
            if provision.name != self.name:
                continue
            if not self.op:
                return True
            # An unversioned (or ranged) provision says nothing about which
            # version it stands for, so it never meets a versioned dependency.
            if provision.op == "=" and self.allows(provision.version):
                return True
        return False


def parse_optdepend(text: str) -> Depend:
    """The dependency of an optdepends entry such as "foo>=2: for bar"."""
    return Depend.parse(text)


def _drop_description(text: str) -> str:
    # ": " with the space, so that an epoch ("foo=1:2.0") is not taken for one.
    at = text.find(": ")
    return text if at == -1 else text[:at]
