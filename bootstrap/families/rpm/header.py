"""rpm package files: a 96-byte lead, the signature header, the main header, then
the compressed cpio payload. A header is the magic, its entry count and data
size, the entries (tag, type, offset, count) and the data they point into."""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Union

LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
LEAD_SIZE = 96
MAX_ENTRIES = 1 << 16
MAX_DATA = 256 << 20

# tag types
CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = range(1, 10)

Value = Union[bytes, str, list[int], list[str]]


@dataclass
class Header:
    tags: dict[int, Value] = field(default_factory=dict)
    blob: bytes = b""            # the header as stored, magic to the end of its data

    def get(self, tag: int, default: Value = "") -> Value:
        return self.tags.get(tag, default)

    def text(self, tag: int, default: str = "") -> str:
        value = self.tags.get(tag)
        if isinstance(value, list):
            return str(value[0]) if value else default
        if isinstance(value, bytes):
            return value.hex()
        return default if value is None else str(value)

    def strings(self, tag: int) -> list[str]:
        value = self.tags.get(tag)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]  # type: ignore[union-attr]

    def ints(self, tag: int) -> list[int]:
        value = self.tags.get(tag)
        return list(value) if isinstance(value, list) else []  # type: ignore[arg-type]


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError("the file ends inside its headers")
    return data


def read_header(f: BinaryIO, pad: bool = False) -> Header:
    """The header at f's position; pad: skip to the next 8-byte boundary after it
    (the signature header is padded so)."""
    start = _read(f, 16)
    if start[:4] != HEADER_MAGIC:
        raise ValueError("no rpm header where one should begin")
    count, size = struct.unpack(">II", start[8:16])
    if count > MAX_ENTRIES or size > MAX_DATA:
        raise ValueError(f"a header of {count} entries and {size} bytes is not believable")
    index = _read(f, 16 * count)
    data = _read(f, size)
    if pad and size % 8:
        _read(f, 8 - size % 8)
    header = Header(blob=start + index + data)
    for i in range(count):
        tag, kind, offset, n = struct.unpack(">IIII", index[16 * i: 16 * i + 16])
        if offset > size:
            raise ValueError(f"tag {tag} points outside its header")
        header.tags[tag] = _value(data, kind, offset, n, tag)
    return header


def _value(data: bytes, kind: int, offset: int, n: int, tag: int) -> Value:
    if kind in (STRING, STRING_ARRAY, I18NSTRING):
        out = []
        pos = offset
        for _ in range(n if kind != STRING else 1):
            end = data.find(b"\0", pos)
            if end < 0:
                raise ValueError(f"tag {tag}: a string runs off its header")
            out.append(data[pos:end].decode("utf-8", "surrogateescape"))
            pos = end + 1
        return out[0] if kind == STRING else out
    if kind == BIN:
        if offset + n > len(data):
            raise ValueError(f"tag {tag} runs off its header")
        return data[offset:offset + n]
    width = {CHAR: 1, INT8: 1, INT16: 2, INT32: 4, INT64: 8}.get(kind)
    if width is None:
        raise ValueError(f"tag {tag} has an unknown type {kind}")
    if offset + width * n > len(data):
        raise ValueError(f"tag {tag} runs off its header")
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    return list(struct.unpack(f">{n}{fmt}", data[offset:offset + width * n]))


# signature-header tags of an OpenPGP signature over the main header: RSA keys'
# in RSAHEADER, DSA, ECDSA and EdDSA keys' in DSAHEADER
RSAHEADER, DSAHEADER, SHA256HEADER = 268, 267, 273


# rpm 6 keeps any number of signatures here, each base64 text
OPENPGP = 278


def header_signatures(signature: Header) -> list[bytes]:
    """The OpenPGP signatures a package carries over its main header."""
    found = [v for tag in (RSAHEADER, DSAHEADER)
             if isinstance(v := signature.tags.get(tag), bytes)]
    for text in signature.strings(OPENPGP):
        try:
            sig = base64.b64decode(text, validate=False)
        except ValueError:
            continue
        if sig and sig not in found:
            found.append(sig)
    return found


@dataclass
class Package:
    signature: Header
    header: Header
    payload_start: int


def read_package(f: BinaryIO) -> Package:
    lead = _read(f, LEAD_SIZE)
    if lead[:4] != LEAD_MAGIC:
        raise ValueError("not an rpm package")
    signature = read_header(f, pad=True)
    header = read_header(f)
    return Package(signature, header, f.tell())
