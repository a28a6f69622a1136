"""Parsed Packages indexes kept in the cache, by the digest the signed Release
promises for the file: a warm build reads back the packages instead of
decompressing and parsing the index again. Only a parse this user stored is
taken (Cache.derived), and only in the form this module writes; anything else
is parsed afresh from the verified file."""
from __future__ import annotations

import json
import os
import pickle
import signal
from dataclasses import dataclass
from typing import Callable, Optional, Union

import zstandard

from bootstrap import cores
from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.families.deb.packages import (DebPackage, MalformedIndex, _Raw, part_records,
                                              prepared, split, unusual)

FORMAT = "rootstrap-deb-packages-5"
# an index smaller than this is read in one process: starting another costs more
SPLIT_AT = 8 << 20
MAX_PARTS = 4
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
            # a frame per part, each written as a stream: no frame says its size
            self.text = zstandard.ZstdDecompressor().decompressobj(
                read_across_frames=True).decompress(self.compressed)
            self.compressed = None
        return self.text[start:end].decode("utf-8", "surrogatepass")


class KeptPackage(DebPackage):
    """A package read back from a kept parse: the same fields, the stanza read
    when asked for."""

    @property  # type: ignore[override]
    def stanza(self) -> str:
        d = self.__dict__
        return d["_stanzas"].get(d["_start"], d["_end"])


def packages(cache: Cache, digest: Digest,
             text: Callable[[], Union[str, bytes]]) -> list[DebPackage]:
    """The index's packages: kept from an earlier parse of the file digest names,
    else parsed from text() (its decompressed content), on every core, and
    kept. Either way they are built from columns, the stanzas kept compressed:
    a parse holds each field once and never the whole index's records as
    dictionaries.
    MalformedIndex where apt would refuse the file (nothing is kept then)."""
    kinds = ("deb-packages", "deb-stanzas")
    kept = [cache.derived(digest, kind) for kind in kinds]
    loaded = load(kept[0], kept[1]) if kept[0] and kept[1] else None
    if loaded is not None:
        return loaded
    parts = _parse(text())
    cache.store_derived(digest, kinds[0], b"".join(p.fields for p in parts))
    stanzas = b"".join(p.stanzas for p in parts)
    cache.store_derived(digest, kinds[1], stanzas)
    return _build([(p.columns, p.ends) for p in parts], Stanzas(stanzas))


@dataclass
class _Part:
    """The packages of one span of an index: their columns, the stanzas' ends
    (counted from the span's first), both as kept (a zstd frame each), and
    whether its fields were read exactly; or why apt refuses the file there."""
    columns: list[list[object]]
    ends: list[int]
    fields: bytes
    stanzas: bytes
    exact: bool
    error: Optional[MalformedIndex] = None


def _parse(text: Union[str, bytes]) -> list[_Part]:
    """The file's packages in parts, a large index's read on every core: each
    span but the first in a forked child, which has the text already and sends
    back its part. A span is read exactly where it has an unusual line; when
    another has one, every span is read again so. The first span's error, in the
    file's order, is the file's (MalformedIndex)."""
    text = prepared(text)
    workers = min(MAX_PARTS, cores.usable())
    if not isinstance(text, bytes) or len(text) < SPLIT_AT or workers < 2:
        spans = [(0, len(text))]
    else:
        spans = split(text, workers)
    children: list[_Child] = []
    try:
        for span in spans[1:]:
            children.append(_Child(text, *span, [c.read for c in children]))
        parts = [parse_part(text, *spans[0])] + [child.part() for child in children]
    finally:
        for child in children:
            child.close()
    if any(p.exact for p in parts):
        parts = [p if p.exact else parse_part(text, *span, exact=True)
                 for p, span in zip(parts, spans)]
    for p in parts:
        if p.error:
            raise p.error
    return parts


class _Child:
    """A forked process reading one span of an index. It runs only the parse
    (no locks another thread of the parent might hold: every module it needs is
    loaded, gc is off as the parent has it) and leaves by os._exit, whatever
    happens. It closes the pipes of the children forked before it, so that each
    pipe has one reader: the parent, which kills a child it stops reading."""

    def __init__(self, text: bytes, start: int, end: int, others: list[int]) -> None:
        self.text, self.span = text, (start, end)
        self.pid, self.read = 0, -1
        try:
            self.read, write = os.pipe()
        except OSError:
            return          # no process to be had: the span is read here
        try:
            self.pid = os.fork()
        except OSError:
            os.close(write)
            return
        if self.pid == 0:
            status = 1
            try:
                for fd in [self.read, *others]:
                    if fd >= 0:
                        os.close(fd)
                with os.fdopen(write, "wb") as out:
                    pickle.dump(parse_part(text, start, end), out,
                                protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            finally:
                os._exit(status)
        os.close(write)

    def part(self) -> _Part:
        """The child's part. Where the child could not answer, the span is
        read here."""
        result = None
        if self.pid:
            try:
                answer, self.read = os.fdopen(self.read, "rb"), -1
                with answer:
                    result = pickle.load(answer)
            except (OSError, EOFError, pickle.UnpicklingError):
                pass
            finally:
                self.close()
        return result if isinstance(result, _Part) else parse_part(self.text, *self.span)

    def close(self) -> None:
        """End the child, done or not, and let go of its pipe."""
        if self.read >= 0:
            os.close(self.read)
            self.read = -1
        if self.pid:
            pid, self.pid = self.pid, 0
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def parse_part(text: Union[str, bytes], start: int, end: int,
               exact: Optional[bool] = None) -> _Part:
    """The span text[start:end] of a prepared() index read into columns, and
    kept; exact: as unusual() finds it in the span, unless given."""
    if exact is None:
        exact = unusual(text, start, end)
    columns = _Columns()
    whole = start == 0 and end == len(text)
    try:
        for record in part_records(text if whole else text[start:end], exact):
            columns.add(record)
    except MalformedIndex as e:
        return _Part([], [], b"", b"", exact, e)
    return columns.part(exact)


class _Columns:
    """Packages' fields a column each, relations as the index wrote them, and
    their stanzas compressed as they come."""

    def __init__(self) -> None:
        self.columns: list[list[object]] = [[] for _ in PLAIN + RELATIONS]
        self.ends: list[int] = []
        self.z = zstandard.ZstdCompressor(level=3)
        self.stanzas, self.size, self.chunks = self.z.compressobj(), 0, []

    def add(self, record: dict[str, object]) -> None:
        for column, key in zip(self.columns, PLAIN):
            column.append(record[key])
        for column, key in zip(self.columns[len(PLAIN):], RELATIONS):
            value = record[key]
            column.append(value.text if isinstance(value, _Raw) else "")
        stanza = str(record["stanza"]).encode("utf-8", "surrogatepass")
        self.chunks.append(self.stanzas.compress(stanza))
        self.size += len(stanza)
        self.ends.append(self.size)

    def part(self, exact: bool) -> _Part:
        """The columns, and the fields and stanzas as load() reads them: one JSON
        line of the fields, and the stanzas' text, a zstd frame each."""
        self.chunks.append(self.stanzas.flush())
        text = json.dumps({"format": FORMAT, "columns": self.columns, "ends": self.ends},
                          separators=(",", ":"), ensure_ascii=False) + "\n"
        return _Part(self.columns, self.ends,
                     self.z.compress(text.encode("utf-8", "surrogatepass")),
                     b"".join(self.chunks), exact)


_NEW = object.__new__


def load(data: bytes, stanzas: bytes) -> Optional[list[DebPackage]]:
    """The packages packages() kept, or None if data is not what it keeps."""
    try:
        # a part a line: JSON writes every newline in a string as an escape
        lines = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True) \
            .decompress(data).split(b"\n")
        if lines[-1] != b"":
            return None
        parts = []
        for line in lines[:-1] or [b""]:
            doc = json.loads(line.decode("utf-8", "surrogatepass"))
            if doc.get("format") != FORMAT:
                return None
            columns, ends = doc["columns"], doc["ends"]
            if len(columns) != len(PLAIN) + len(RELATIONS) or \
                    any(len(c) != len(ends) for c in columns):
                return None
            parts.append((columns, ends))
        del lines, doc
        return _build(parts, Stanzas(stanzas))
    except (ValueError, TypeError, KeyError, AttributeError, zstandard.ZstdError):
        return None


def _build(parts: list[tuple[list[list[object]], list[int]]],
           shared: Stanzas) -> list[DebPackage]:
    width = len(PLAIN)
    out: list[DebPackage] = []
    start = base = 0
    for columns, ends in parts:
        for row, end in zip(zip(*columns), ends):
            d = dict(zip(PLAIN, row))
            for key, rel in zip(RELATIONS, row[width:]):
                d[key] = _Raw(rel) if rel else []  # type: ignore[arg-type]
            d["_stanzas"], d["_start"], d["_end"] = shared, start, base + end
            start = base + end
            pkg = _NEW(KeptPackage)
            pkg.__dict__ = d
            out.append(pkg)
        base = start
    return out
