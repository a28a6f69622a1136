"""xz files of several blocks decompressed a block per core.

Python's lzma decodes a stream on one thread, though xz writes large inputs in
independent blocks (Debian's bookworm Packages.xz: two of 24 MiB). Each block,
given the stream's header, an index of its one record and a footer, is a
stream of its own; lzma decodes those on threads (it lets go of the
interpreter) and checks each as it would the whole: the header's and the
block's checksums, its sizes against the record. Only a file of one stream
whose index and footer are sound is cut; anything else, and any block that
fails, is decoded in one pass, which gives what lzma.decompress always gave:
the same bytes, or the same error.
"""
from __future__ import annotations

import lzma
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

HEADER_MAGIC = b"\xfd7zXZ\x00"
FOOTER_MAGIC = b"YZ"
HEADER = FOOTER = 12


def decompress(data: bytes, workers: int) -> bytes:
    """lzma.decompress(data), the blocks on up to workers threads."""
    streams = blocks(data) if workers > 1 else None
    if streams is None or len(streams) < 2:
        return lzma.decompress(data)
    try:
        with ThreadPoolExecutor(min(workers, len(streams))) as pool:
            return b"".join(pool.map(_whole_stream, streams))
    except (lzma.LZMAError, RuntimeError):      # RuntimeError: no thread to be had
        return lzma.decompress(data)


def _whole_stream(stream: bytes) -> bytes:
    """A block made a stream, decoded only if it is exactly one stream: bytes
    after a stream's end (which lzma.decompress would skip) mean the record did
    not frame one block."""
    decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    out = decoder.decompress(stream)
    if not decoder.eof or decoder.unused_data:
        raise lzma.LZMAError("a record of the index frames no single block")
    return out


def blocks(data: bytes) -> Optional[list[bytes]]:
    """data's blocks, each made a stream of its own; None where data is not one
    stream with a sound index and footer."""
    if len(data) < HEADER + FOOTER or not data.startswith(HEADER_MAGIC) \
            or data[-2:] != FOOTER_MAGIC:
        return None
    footer = data[-FOOTER:]
    (crc, backward), flags = struct.unpack_from("<II", footer), footer[8:10]
    if flags != data[6:8] or zlib.crc32(footer[4:10]) != crc:
        return None
    index_size = (backward + 1) * 4
    index_start = len(data) - FOOTER - index_size
    if index_start < HEADER:
        return None
    index = data[index_start:len(data) - FOOTER]
    if index[0] != 0 or zlib.crc32(index[:-4]) != struct.unpack_from("<I", index, len(index) - 4)[0]:
        return None
    records = _records(index[:-4])
    if records is None:
        return None
    streams = []
    at = HEADER
    for unpadded, uncompressed in records:
        end = at + ((unpadded + 3) & ~3)
        if end > index_start:
            return None
        streams.append(data[:HEADER] + data[at:end] + _stream_tail(flags, unpadded, uncompressed))
        at = end
    return streams if at == index_start else None


def _records(index: bytes) -> Optional[list[tuple[int, int]]]:
    """The (unpadded size, uncompressed size) records of an index without its CRC32."""
    pos = 1
    count, pos = _varint(index, pos)
    records = []
    for _ in range(count if pos else 0):
        unpadded, pos = _varint(index, pos)
        uncompressed, pos = _varint(index, pos) if pos else (0, 0)
        if not pos or unpadded == 0:
            return None
        records.append((unpadded, uncompressed))
    if not pos or len(index) - pos > 3 or any(index[pos:]):
        return None
    return records


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A multibyte integer at pos and the position after it; pos 0 where there is none."""
    value = 0
    for i in range(9):
        if pos + i >= len(data):
            return 0, 0
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i:
                return 0, 0          # a trailing zero byte: not the shortest form
            return value, pos + i + 1
    return 0, 0


def _stream_tail(flags: bytes, unpadded: int, uncompressed: int) -> bytes:
    """The index of one record and the stream footer after it."""
    index = b"\x00" + _encode(1) + _encode(unpadded) + _encode(uncompressed)
    index += b"\x00" * (-len(index) % 4)
    index += struct.pack("<I", zlib.crc32(index))
    rest = struct.pack("<I", len(index) // 4 - 1) + flags
    return index + struct.pack("<I", zlib.crc32(rest)) + rest + FOOTER_MAGIC


def _encode(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
