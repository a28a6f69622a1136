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
from bootstrap.families.deb.packages import DebPackage, _Raw, parse_packages

FORMAT = "rootstrap-deb-packages-3"
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


def packages(cache: Cache, digest: Digest, native_arch: str,
             text: Callable[[], bytes]) -> list[DebPackage]:
    """The index's packages: kept from an earlier parse of the file digest names,
    else parsed from text() (its decompressed content) and kept."""
    kinds = (f"deb-packages-{native_arch}", f"deb-stanzas-{native_arch}")
    kept = [cache.derived(digest, kind) for kind in kinds]
    loaded = load(kept[0], kept[1], native_arch) if kept[0] and kept[1] else None
    if loaded is not None:
        return loaded
    parsed = parse_packages(text(), native_arch)
    dumped = dump(parsed)
    if dumped is not None:
        for kind, data in zip(kinds, dumped):
            cache.store_derived(digest, kind, data)
    return parsed


def dump(parsed: list[DebPackage]) -> Optional[tuple[bytes, bytes]]:
    """The packages' fields, a column each, relations as the index wrote them
    (parsed on first read, as parse_packages leaves them), and their stanzas
    apart; None when a relation has been read already and so can no longer be
    written as text."""
    columns: list[list[object]] = [[] for _ in PLAIN + RELATIONS]
    ends: list[int] = []
    z = zstandard.ZstdCompressor(level=3)
    stanzas, size, chunks = z.compressobj(), 0, []     # compressed as they come
    for p in parsed:
        d = p.__dict__
        for column, key in zip(columns, PLAIN):
            column.append(d[key])
        for column, key in zip(columns[len(PLAIN):], RELATIONS):
            value = d[key]
            if isinstance(value, _Raw):
                column.append(value.text)
            elif value == []:
                column.append("")
            else:
                return None
        stanza = p.stanza.encode("utf-8", "surrogatepass")
        chunks.append(stanzas.compress(stanza))
        size += len(stanza)
        ends.append(size)
    chunks.append(stanzas.flush())
    text = json.dumps({"format": FORMAT, "columns": columns, "ends": ends},
                      separators=(",", ":"), ensure_ascii=False)
    return z.compress(text.encode("utf-8", "surrogatepass")), b"".join(chunks)


_NEW = object.__new__


def load(data: bytes, stanzas: bytes, native_arch: str) -> Optional[list[DebPackage]]:
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
        shared = Stanzas(stanzas)
        width = len(PLAIN)
        out: list[DebPackage] = []
        start = 0
        for row, end in zip(zip(*columns), ends):
            d = dict(zip(PLAIN, row))
            for key, rel in zip(RELATIONS, row[width:]):
                d[key] = _Raw(rel, native_arch) if rel else []
            d["_stanzas"], d["_start"], d["_end"] = shared, start, end
            start = end
            pkg = _NEW(KeptPackage)
            pkg.__dict__ = d
            out.append(pkg)
        return out
    except (ValueError, TypeError, KeyError, AttributeError, zstandard.ZstdError):
        return None
