"""The one path for user errors: raise Die, the CLI prints one line (or, with
--json, one object) and exits."""
from __future__ import annotations

import difflib
from typing import Iterable, NoReturn, Optional


# A message is one line on a terminal whatever a mirror put in the names it
# quotes: line breaks and other control characters are written as escapes.
_ONE_LINE = {c: f"\\x{c:02x}" for c in [*range(32), 0x7f, 0x85]}
_ONE_LINE.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\t",
                  0x2028: "\\u2028", 0x2029: "\\u2029"})


class Die(Exception):
    """A user-facing error: bad input, verification failure, no privilege.

    file, mirror and key say what a verification or download failure was about,
    where that is known: the path on the mirror, the mirror, the signing key."""

    def __init__(self, message: str, code: int = 1, *, file: Optional[str] = None,
                 mirror: Optional[str] = None, key: Optional[str] = None) -> None:
        message = message.translate(_ONE_LINE)
        super().__init__(message)
        self.message = message
        self.code = code
        self.file = file
        self.mirror = mirror
        self.key = key

    def as_json(self) -> dict[str, Optional[str]]:
        return {"error": self.message, "file": self.file, "mirror": self.mirror,
                "key": self.key}


def suggest(wanted: str, known: Iterable[str]) -> str:
    """"; did you mean 'x' or 'y'?" for the known names nearest wanted, else ""."""
    near = difflib.get_close_matches(wanted, list(known), n=3, cutoff=0.6)
    if not near:
        return ""
    return "; did you mean " + " or ".join(f"'{n}'" for n in near) + "?"


def die(message: str, code: int = 1, *, file: Optional[str] = None,
        mirror: Optional[str] = None, key: Optional[str] = None) -> NoReturn:
    raise Die(message, code, file=file, mirror=mirror, key=key)
