"""The binary package index: a `Packages` file (deb822) parsed into DebPackage.

Only the fields the pipeline needs are pulled out; the stanza text is kept
verbatim because dpkg's status file is written from it later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple, Optional, TypeVar, Union

from bootstrap.errors import Die
from bootstrap.numbers import number

from .relation import Relation, parse_provides, parse_relations, well_formed

# Fields we extract; a value runs on over continuation lines (leading blank).
_WANTED = (
    "Package", "Version", "Architecture", "Multi-Arch", "Essential",
    "Priority", "Depends", "Pre-Depends", "Provides", "Conflicts", "Breaks",
    "Filename", "Size", "SHA256", "Protected", "Important", "Source", "Installed-Size",
)
# every relation field apt reads in a binary index: one it cannot read makes
# it refuse the whole file (Provides empty too)
_CHECKED = ("Depends", "Pre-Depends", "Recommends", "Suggests", "Conflicts", "Breaks",
            "Replaces", "Enhances", "Provides")
# Matched in "\n" + stanza: a pattern that starts with a newline is searched for
# as fast as a string, where one that starts with ^ is tried at every character.
_FIELD = re.compile(
    r"\n(%s):[ \t]*(.*(?:\n[ \t].*)*)" % "|".join(re.escape(f) for f in dict.fromkeys(_WANTED + _CHECKED)))
# How apt reads a field whatever its spelling: its name runs to the first colon,
# over lines that have none (a line without a colon is not skipped but swallows
# the next field's name). Needed only where a file has such a line, or a name
# not spelt as usual (lower case, or all capitals): _UNUSUAL finds them.
_ANY_FIELD = re.compile(r"\n([^:\s][^:]*):[ \t]*(.*(?:\n[ \t].*)*)")
_UNUSUAL = re.compile(r"\n(?:[a-z]|[A-Z]{2}[A-Z-]*:|[^\s:][^:\n]*\n)")
_UNUSUAL_BYTES = re.compile(_UNUSUAL.pattern.encode())
_STANZA_SEP = re.compile(r"\n[ \t]*\n")
_STANZA_SEP_BYTES = re.compile(_STANZA_SEP.pattern.encode())
# where split() may cut: a bare blank line between two stanzas, which every
# reading of the file separates there (a line of blanks could be cut inside,
# and a carriage return before it is a line end that stanzas() folds again)
_CUT = re.compile(rb"[^ \t\n\r]\n\n(?=[^ \t\n\r])")
_CHECKED_SET = frozenset(_CHECKED)
# field names are case-insensitive (deb822)
_SPELLING = {f.lower(): f for f in _WANTED + _CHECKED}


AnyText = TypeVar("AnyText", str, bytes)


class MalformedIndex(ValueError):
    """A Packages file apt would refuse whole, and why."""


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
                value = parse(value.text)
            except ValueError as exc:
                field_name = self.slot[1:].replace("_", "-")
                raise Die(f"package '{obj.__dict__.get('name')}': bad {field_name} field: {exc}") from None
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__[self.slot] = value if isinstance(value, _Raw) else list(value)


class _Raw(NamedTuple):  # a tuple: built 30,000 times per index, cheaply
    text: str


# what may start a relation's name: after a ',' or '|', up to its ':arch'
_NAME_START = re.compile(r"[,|][ \t\n\r\f\v]*([^ \t\n\r\f\v(),|\[\]<>:]*)")


def provided_names(pkg: "DebPackage") -> set[str]:
    """Every name pkg's Provides names, and perhaps more, read without parsing the
    field (a version with a ',' or '|' in it adds a name that is not one)."""
    value = pkg.__dict__.get("_provides")
    if isinstance(value, _Raw):
        return set(_NAME_START.findall("," + value.text)) if value.text else set()
    return {r.name for r in value or ()}


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
    return number((text or "0").strip(), -1)


def _installs(text: Optional[str]) -> Optional[int]:
    """Installed-Size (KiB, each file rounded up) in bytes, where it is a number."""
    kib = number((text or "").strip())
    return None if kib is None else kib << 10


def _fields(stanza: str, exact: bool) -> dict[str, str]:
    """The stanza's fields by their usual spelling (the later one where a field
    comes twice, as for apt); exact: as apt reads them whatever the file holds."""
    if not exact:
        return dict(_FIELD.findall("\n" + stanza))
    return {_SPELLING.get(k.lower(), k): v for k, v in _ANY_FIELD.findall("\n" + stanza)}


def _record(stanza: str, exact: bool) -> Optional[dict[str, object]]:
    """A DebPackage's fields (its __dict__) from one deb822 stanza, or None where
    apt skips the stanza (it has no Version); MalformedIndex where apt refuses
    the whole index for it."""
    fields = _fields(stanza, exact)
    get = fields.get
    name = get("Package", "").strip()
    if not name:
        raise MalformedIndex(f"a stanza has no Package field: {stanza[:60]!r}")
    version = get("Version", "").strip()
    if not version:
        return None             # as apt, which skips a stanza without a version
    for key in _CHECKED_SET.intersection(fields):
        value = fields[key]
        if not well_formed(value, key == "Provides"):
            raise MalformedIndex(f"package '{name}' {version}: its {key} field is not "
                                 f"one apt reads: {' '.join(value.split())[:80]!r}")
    pre, dep, prov = get("Pre-Depends"), get("Depends"), get("Provides")
    con, brk = get("Conflicts"), get("Breaks")
    return {
        "name": name,
        "version": version,
        "architecture": get("Architecture", "").strip(),
        "multi_arch": get("Multi-Arch", "no").strip() or "no",
        "essential": get("Essential", "").strip().lower() == "yes",
        "priority": get("Priority", "optional").strip() or "optional",
        "_depends": _Raw(_fold(dep)) if dep else [],
        "_pre_depends": _Raw(_fold(pre)) if pre else [],
        "_provides": _Raw(_fold(prov)) if prov else [],
        "_conflicts": _Raw(_fold(con)) if con else [],
        "_breaks": _Raw(_fold(brk)) if brk else [],
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


def records(text: Union[str, bytes]) -> Iterator[dict[str, object]]:
    """Each package's fields (a DebPackage's __dict__) from a whole Packages file
    (its bytes, or text); MalformedIndex where apt would refuse the file."""
    text = prepared(text)
    return part_records(text, unusual(text, 0, len(text)))


def prepared(text: AnyText) -> AnyText:
    """A whole Packages file ready for part_records(), its lines ended by "\n"
    alone; MalformedIndex where apt refuses it for its end."""
    if isinstance(text, bytes):
        text = text.replace(b"\r\n", b"\n") if b"\r" in text else text
        tail = text[text.rfind(b":") + 1:].decode("utf-8", "replace")
    else:
        text = text.replace("\r\n", "\n") if "\r" in text else text
        tail = text[text.rfind(":") + 1:]
    # apt finds no colon to end such a line's name, and refuses the file
    dangling = re.search(r"\n([^\s].*)", tail)
    if dangling:
        raise MalformedIndex(f"it ends in a line that is neither a field nor a continuation: "
                             f"{dangling[1][:60]!r}")
    return text


def unusual(text: Union[str, bytes], start: int, end: int) -> bool:
    """Whether a line of text[start:end] (a prepared() file, or a span split()
    gave) makes its fields be read as apt reads any spelling. The newlines around
    a span are its lines' too: a match never crosses them, so a file is unusual
    exactly where one of its spans is."""
    pattern = _UNUSUAL_BYTES if isinstance(text, bytes) else _UNUSUAL
    return pattern.search(text, max(0, start - 1), end + 1) is not None


def part_records(text: Union[str, bytes], exact: bool) -> Iterator[dict[str, object]]:
    """The records of a prepared() file, or of a span of it split() gave;
    exact: whether unusual() holds anywhere in the file."""
    for stanza in stanzas(text):
        record = _record(stanza, exact)
        if record is not None:
            yield record


def split(text: bytes, parts: int) -> list[tuple[int, int]]:
    """A prepared() file cut between stanzas into at most parts spans (start,
    end) of about equal size, whose stanzas are the file's, in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for n in range(1, parts):
        m = _CUT.search(text, max(start, len(text) * n // parts))
        if m is None:
            break
        spans.append((start, m.start() + 1))
        start = m.end()
    spans.append((start, len(text)))
    return spans


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


def parse_packages(text: Union[str, bytes]) -> list[DebPackage]:
    """Parse a whole Packages file (its bytes, or text); MalformedIndex where apt
    would refuse it."""
    out: list[DebPackage] = []
    for record in records(text):
        # Built without __init__: this runs 63,000 times per index.
        pkg = _NEW(DebPackage)
        pkg.__dict__ = record
        out.append(pkg)
    return out
