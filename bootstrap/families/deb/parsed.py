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

FORMAT = "rootstrap-deb-packages-1"
RELATIONS = ("_depends", "_pre_depends", "_provides", "_conflicts", "_breaks")
PLAIN = ("name", "version", "architecture", "multi_arch", "essential", "priority",
         "filename", "size", "sha256", "protected", "source", "stanza")


def packages(cache: Cache, digest: Digest, native_arch: str,
             text: Callable[[], str]) -> list[DebPackage]:
    """The index's packages: kept from an earlier parse of the file digest names,
    else parsed from text() (its decompressed content) and kept."""
    kind = f"deb-packages-{native_arch}"
    kept = cache.derived(digest, kind)
    loaded = load(kept, native_arch) if kept else None
    if loaded is not None:
        return loaded
    parsed = parse_packages(text(), native_arch)
    data = dump(parsed)
    if data is not None:
        cache.store_derived(digest, kind, data)
    return parsed


def dump(parsed: list[DebPackage]) -> Optional[bytes]:
    """The packages as rows of their fields, relations as the index wrote them
    (parsed on first read, as parse_packages leaves them); None when one has
    been read already and so can no longer be written as text."""
    rows = []
    for p in parsed:
        d = p.__dict__
        rels = []
        for key in RELATIONS:
            value = d[key]
            if isinstance(value, _Raw):
                rels.append(value.text)
            elif value == []:
                rels.append("")
            else:
                return None
        rows.append([d[k] for k in PLAIN] + rels)
    text = json.dumps({"format": FORMAT, "packages": rows}, separators=(",", ":"),
                      ensure_ascii=False)
    return zstandard.ZstdCompressor(level=3).compress(text.encode("utf-8", "surrogatepass"))


_NEW = object.__new__


def load(data: bytes, native_arch: str) -> Optional[list[DebPackage]]:
    """The packages dump() kept, or None if data is not such a dump."""
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data)
                         .decode("utf-8", "surrogatepass"))
        if doc.get("format") != FORMAT:
            return None
        out = []
        width = len(PLAIN)
        for row in doc["packages"]:
            pkg = _NEW(DebPackage)
            d = dict(zip(PLAIN, row))
            for key, text in zip(RELATIONS, row[width:]):
                d[key] = _Raw(text, native_arch) if text else []
            if len(d) != width + len(RELATIONS):
                return None
            pkg.__dict__ = d
            out.append(pkg)
        return out
    except (ValueError, TypeError, KeyError, AttributeError, zstandard.ZstdError):
        return None
