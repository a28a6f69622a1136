"""Parsed Packages indexes kept in the cache, by the digest the signed Release
promises for the file: a warm build reads back the packages instead of
decompressing and parsing the index again. Only a parse this user stored is
taken (Cache.derived), and only in the form this module writes; anything else
is parsed afresh from the verified file."""
from __future__ import annotations

import json
from typing import Callable, Optional

import zstandard

from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.families.deb.packages import DebPackage, _Raw, records

FORMAT = "rootstrap-deb-packages-4"
RELATIONS = ("_depends", "_pre_depends", "_provides", "_conflicts", "_breaks")
PLAIN = ("name", "version", "architecture", "multi_arch", "essential", "priority",
         "filename", "size", "sha256", "protected", "source", "installs")


class Stanzas:
    """The index's stanzas, kept compressed and decompressed the first time one
    is read (only breaking a tie between providers reads them): most of what
    a parsed index holds is its text, which a build rarely needs."""

    def __init__(self, compressed: bytes) -> None:
        self.compressed: Optional[bytes] = compressed
        self.text = b""

    def get(self, start: int, end: int) -> str:
        if self.compressed is not None:
            # written as a stream: its frame does not say its size
            self.text = zstandard.ZstdDecompressor().decompressobj().decompress(self.compressed)
            self.compressed = None
        return self.text[start:end].decode("utf-8", "surrogatepass")


class KeptPackage(DebPackage):
    """A package read back from a kept parse: the same fields, the stanza read
    when asked for."""

    @property  # type: ignore[override]
    def stanza(self) -> str:
        d = self.__dict__
        return d["_stanzas"].get(d["_start"], d["_end"])


def packages(cache: Cache, digest: Digest, text: Callable[[], bytes]) -> list[DebPackage]:
    """The index's packages: kept from an earlier parse of the file digest names,
    else parsed from text() (its decompressed content) and kept. Either way
    they are built from columns, the stanzas kept compressed: a parse holds
    each field once and never the whole index's records as dictionaries.
    MalformedIndex where apt would refuse the file (nothing is kept then)."""
    kinds = ("deb-packages", "deb-stanzas")
    kept = [cache.derived(digest, kind) for kind in kinds]
    loaded = load(kept[0], kept[1]) if kept[0] and kept[1] else None
    if loaded is not None:
        return loaded
    columns = _Columns()
    for record in records(text()):
        columns.add(record)
    fields, compressed = columns.dump()
    cache.store_derived(digest, kinds[0], fields)
    cache.store_derived(digest, kinds[1], compressed)
    return _build(columns.columns, columns.ends, Stanzas(compressed))


class _Columns:
    """Packages' fields a column each, relations as the index wrote them, and
    their stanzas compressed as they come."""

    def __init__(self) -> None:
        self.columns: list[list[object]] = [[] for _ in PLAIN + RELATIONS]
        self.ends: list[int] = []
        self.z = zstandard.ZstdCompressor(level=3)
        self.stanzas, self.size, self.chunks = self.z.compressobj(), 0, []

    def add(self, record: dict[str, object]) -> bool:
        """Take one package's fields; False if a relation of it has been read
        already and so can no longer be written as text."""
        if any(not isinstance(record[key], _Raw) and record[key] != [] for key in RELATIONS):
            return False
        for column, key in zip(self.columns, PLAIN):
            column.append(record[key])
        for column, key in zip(self.columns[len(PLAIN):], RELATIONS):
            value = record[key]
            column.append(value.text if isinstance(value, _Raw) else "")
        stanza = str(record["stanza"]).encode("utf-8", "surrogatepass")
        self.chunks.append(self.stanzas.compress(stanza))
        self.size += len(stanza)
        self.ends.append(self.size)
        return True

    def dump(self) -> tuple[bytes, bytes]:
        """The fields and the stanzas, as load() reads them."""
        self.chunks.append(self.stanzas.flush())
        text = json.dumps({"format": FORMAT, "columns": self.columns, "ends": self.ends},
                          separators=(",", ":"), ensure_ascii=False)
        return self.z.compress(text.encode("utf-8", "surrogatepass")), b"".join(self.chunks)


def dump(parsed: list[DebPackage]) -> Optional[tuple[bytes, bytes]]:
    """The packages as packages() keeps them; None when a relation has been read
    already and so can no longer be written as text."""
    columns = _Columns()
    for p in parsed:
        if not columns.add(p.__dict__):
            return None
    return columns.dump()


_NEW = object.__new__


def load(data: bytes, stanzas: bytes) -> Optional[list[DebPackage]]:
    """The packages dump() kept, or None if data is not such a dump."""
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data)
                         .decode("utf-8", "surrogatepass"))
        if doc.get("format") != FORMAT:
            return None
        columns, ends = doc["columns"], doc["ends"]
        if len(columns) != len(PLAIN) + len(RELATIONS) or \
                any(len(c) != len(ends) for c in columns):
            return None
        del doc
        return _build(columns, ends, Stanzas(stanzas))
    except (ValueError, TypeError, KeyError, AttributeError, zstandard.ZstdError):
        return None


def _build(columns: list[list[object]], ends: list[int], shared: Stanzas) -> list[DebPackage]:
    width = len(PLAIN)
    out: list[DebPackage] = []
    start = 0
    for row, end in zip(zip(*columns), ends):
        d = dict(zip(PLAIN, row))
        for key, rel in zip(RELATIONS, row[width:]):
            d[key] = _Raw(rel) if rel else []  # type: ignore[arg-type]
        d["_stanzas"], d["_start"], d["_end"] = shared, start, end
        start = end
        pkg = _NEW(KeptPackage)
        pkg.__dict__ = d
        out.append(pkg)
    return out
