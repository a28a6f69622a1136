"""apk dependency expressions: `name`, `name>=1.2`, `!name<2`, `name~3.6`,
`name@tag`, `so:libc.musl-x86_64.so.1`, `cmd:sh`, `/bin/sh`.

The name runs up to the first of `< = > ~`; the whole run of those characters
is the operator, each setting a bit (`<` less, `=` equal, `>` greater, `~`
fuzzy and equal), so `=`, `<`, `<=`, `>`, `>=`, `~`, `<~`, `>~` and `><` (a pin
to one package's checksum) all parse. A leading `!` makes a conflict. Prefixes
such as `so:` are part of the name: only packages' provides give them meaning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from bootstrap.families.apk.version import EQUAL, GREATER, LESS, compare

LT, EQ, GT, FUZZY = 1, 2, 4, 8
_OPS = re.compile(r"[<=>~]+")
_BITS = {"<": LT, "=": EQ, ">": GT, "~": FUZZY | EQ}


@dataclass(frozen=True)
class Provide:
    """What a package offers besides its name: `name` or `name=version`."""
    name: str
    version: Optional[str] = None

    @classmethod
    def parse(cls, text: str) -> "Provide":
        name, sep, version = text.partition("=")
        return cls(name, version if sep else None)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}={self.version}"


@dataclass(frozen=True)
class Dep:
    name: str
    ops: int = 0                  # 0: any version
    version: str = ""
    conflict: bool = False
    tag: str = ""                 # name@tag: from the repositories tagged so

    @classmethod
    def parse(cls, text: str) -> "Dep":
        conflict = text.startswith("!")
        body = text[1:] if conflict else text
        m = _OPS.search(body)
        name, ops, version = body, 0, ""
        if m:
            name, version = body[:m.start()], body[m.end():]
            for c in m.group():
                ops |= _BITS[c]
        name, _, tag = name.partition("@")
        return cls(name, ops, version, conflict, tag)

    @property
    def checksum_pin(self) -> bool:
        return self.ops & (LT | GT) == (LT | GT)

    def __str__(self) -> str:
        out = ("!" if self.conflict else "") + self.name + (f"@{self.tag}" if self.tag else "")
        if self.ops:
            op = "><" if self.checksum_pin else (
                ("<" if self.ops & LT else "") + (">" if self.ops & GT else "")
                + ("~" if self.ops & FUZZY else "=" if self.ops & EQ else ""))
            out += op + self.version
        return out

    def allows(self, version: str) -> bool:
        """Is a concrete version inside this expression's range?"""
        if not self.ops:
            return True
        c = compare(version, self.version, fuzzy=bool(self.ops & FUZZY))
        return bool((c == LESS and self.ops & LT) or (c == EQUAL and self.ops & EQ)
                    or (c == GREATER and self.ops & GT))

    def met_by(self, name: str, version: str, provides: Sequence[Provide],
               identity: str = "") -> bool:
        """Does a package called name at version, with provides (and the checksum
        identity, for a `><` pin), meet this (ignoring `!`)?"""
        if self.checksum_pin:
            return name == self.name and identity == self.version
        if name == self.name and self.allows(version):
            return True
        for p in provides:
            if p.name != self.name:
                continue
            if not self.ops:
                return True
            # a provide without a version says nothing about which one it stands for
            if p.version is not None and self.allows(p.version):
                return True
        return False


def parse_list(text: str) -> tuple[Dep, ...]:
    return tuple(Dep.parse(w) for w in text.split())
