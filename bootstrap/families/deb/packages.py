"""The binary package index: a `Packages` file (deb822) parsed into DebPackage.

Only the fields the pipeline needs are pulled out; the stanza text is kept
verbatim because dpkg's status file is written from it later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple, Optional, Union

from bootstrap.errors import Die

from .relation import Relation, parse_provides, parse_relations

# Fields we extract; a value runs on over continuation lines (leading blank).
_WANTED = (
    "Package", "Version", "Architecture", "Multi-Arch", "Essential",
    "Priority", "Depends", "Pre-Depends", "Provides", "Conflicts", "Breaks",
    "Filename", "Size", "SHA256", "Protected", "Important", "Source", "Installed-Size",
)
_FIELD = re.compile(
    r"^(%s):[ \t]*(.*(?:\n[ \t].*)*)" % "|".join(re.escape(f) for f in _WANTED),
    re.M,
)
_STANZA_SEP = re.compile(r"\n[ \t]*\n")
_STANZA_SEP_BYTES = re.compile(_STANZA_SEP.pattern.encode())
# field names are case-insensitive (deb822): read so only where the usual
# spelling finds no Package or Version, as no real index needs it
_FIELD_ANY_CASE = re.compile(_FIELD.pattern, re.M | re.I)
_SPELLING = {f.lower(): f for f in _WANTED}


class _Relations:
    """A relationship field parsed on first read.

    Parsing every Depends/Provides of a 63,000-stanza index up front costs
    more than the rest of the parse; the solver reads only a few hundred of
    them (and Provides of the few thousand packages that have one).
    """

    def __init__(self, flat: bool = False) -> None:
        self.flat = flat

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type) -> object:
        if obj is None:
            return ()  # the dataclass default; __set__ turns it into a list
        value = obj.__dict__[self.slot]
        if isinstance(value, _Raw):
            parse = parse_provides if self.flat else parse_relations
            try:
                value = parse(value.text, value.native_arch)
            except ValueError as exc:
                field_name = self.slot[1:].replace("_", "-")
                raise Die(f"package '{obj.__dict__.get('name')}': bad {field_name} field: {exc}") from None
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__[self.slot] = value if isinstance(value, _Raw) else list(value)


class _Raw(NamedTuple):  # a tuple: built 30,000 times per index, cheaply
    text: str
    native_arch: str


# eq=False: a package record is an identity (hashable, cheap to compare);
# field-wise equality would compare whole stanzas and parse relations.
@dataclass(eq=False)
class DebPackage:
    name: str
    version: str
    architecture: str
    multi_arch: str = "no"
    essential: bool = False
    priority: str = "optional"
    depends: list[list[Relation]] = _Relations()  # type: ignore[assignment]
    pre_depends: list[list[Relation]] = _Relations()  # type: ignore[assignment]
    provides: list[Relation] = _Relations(flat=True)  # type: ignore[assignment]
    conflicts: list[list[Relation]] = _Relations()  # type: ignore[assignment]
    breaks: list[list[Relation]] = _Relations()  # type: ignore[assignment]
    filename: str = ""
    size: int = 0
    sha256: str = ""
    # Protected: yes (formerly Important: yes): dpkg refuses to remove these
    # and apt prefers them when it has to choose.
    protected: bool = False
    source: str = ""
    installs: Optional[int] = None     # Installed-Size in bytes
    stanza: str = field(default="", repr=False)  # verbatim, without the final newline

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.architecture})"

def _fold(value: str) -> str:
    """Join a multi-line relationship value into one line."""
    return " ".join(value.split()) if "\n" in value else value


_NEW = object.__new__


def _size(text: Optional[str]) -> int:
    """Size's value; -1 when it is not a number (apt reads such an index and
    refuses only to fetch the package)."""
    text = (text or "0").strip()
    return int(text) if text.isdigit() else -1


def _installs(text: Optional[str]) -> Optional[int]:
    """Installed-Size (KiB, each file rounded up) in bytes, where it is a number."""
    text = (text or "").strip()
    return int(text) << 10 if text.isdigit() else None


def parse_stanza(stanza: str, native_arch: str) -> Optional[DebPackage]:
    """One deb822 stanza to a DebPackage, or None if it names no package."""
    record = stanza_record(stanza, native_arch)
    if record is None:
        return None
    # Built without __init__: this runs 63,000 times per index.
    pkg = _NEW(DebPackage)
    pkg.__dict__ = record
    return pkg


def stanza_record(stanza: str, native_arch: str) -> Optional[dict[str, object]]:
    """A DebPackage's fields (its __dict__) from one deb822 stanza, or None if it
    names no package."""
    fields = dict(_FIELD.findall(stanza))
    if "Package" not in fields or "Version" not in fields:
        fields = {_SPELLING[k.lower()]: v for k, v in _FIELD_ANY_CASE.findall(stanza)}
    name = fields.get("Package")
    if not name or not fields.get("Version", "").strip():
        return None             # as apt, which skips a stanza without a version
    get = fields.get
    pre, dep, prov = get("Pre-Depends"), get("Depends"), get("Provides")
    con, brk = get("Conflicts"), get("Breaks")
    return {
        "name": name.strip(),
        "version": get("Version", "").strip(),
        "architecture": get("Architecture", "").strip(),
        "multi_arch": get("Multi-Arch", "no").strip() or "no",
        "essential": get("Essential", "").strip().lower() == "yes",
        "priority": get("Priority", "optional").strip() or "optional",
        "_depends": _Raw(_fold(dep), native_arch) if dep else [],
        "_pre_depends": _Raw(_fold(pre), native_arch) if pre else [],
        "_provides": _Raw(_fold(prov), native_arch) if prov else [],
        "_conflicts": _Raw(_fold(con), native_arch) if con else [],
        "_breaks": _Raw(_fold(brk), native_arch) if brk else [],
        "filename": get("Filename", "").strip(),
        "size": _size(get("Size")),
        "sha256": get("SHA256", "").strip(),
        "protected": (get("Protected") or get("Important") or "").strip().lower() == "yes",
        "source": get("Source", "").strip(),
        "installs": _installs(get("Installed-Size")),
        "stanza": stanza,
    }


def _stanzas(data: bytes) -> Iterator[str]:
    """data's stanzas one at a time, each decoded alone: one character past
    U+FFFF in a description would make the whole index a string of four bytes
    a character (Debian's 56 MB Packages: 216 MiB)."""
    start = 0
    for m in _STANZA_SEP_BYTES.finditer(data):
        yield data[start:m.start()].decode("utf-8", "replace")
        start = m.end()
    yield data[start:].decode("utf-8", "replace")


def stanzas(text: Union[str, bytes]) -> Iterator[str]:
    """The stanzas of a whole Packages file (its bytes, or text), separated by
    blank lines, each without the newlines around it; empty ones left out."""
    parts: Iterable[str]
    if isinstance(text, bytes):
        parts = _stanzas(text.replace(b"\r\n", b"\n") if b"\r" in text else text)
    else:
        parts = _STANZA_SEP.split(text.replace("\r\n", "\n") if "\r" in text else text)
    for stanza in parts:
        stanza = stanza.strip("\n")
        if stanza:
            yield stanza


def parse_packages(text: Union[str, bytes], native_arch: str) -> list[DebPackage]:
    """Parse a whole Packages file (its bytes, or text)."""
    out: list[DebPackage] = []
    for stanza in stanzas(text):
        pkg = parse_stanza(stanza, native_arch)
        if pkg is not None:
            out.append(pkg)
    return out
