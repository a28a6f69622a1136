"""Archives written byte by byte, for packages no well-behaved tool would make:
tar headers (ustar, with pax records where asked), ar archives and newc cpio
streams, every name given as bytes and written as given (tarfile would encode
it, and refuse or normalize what is not UTF-8)."""
from __future__ import annotations

from typing import Optional, Sequence

EPOCH = 1700000000
REG, LNK, SYM, CHR, BLK, DIR, FIFO, PAX = b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"x"


def _octal(value: int, width: int) -> bytes:
    """A numeric field: octal digits, NUL-terminated, as ustar has them."""
    return b"%0*o\0" % (width - 1, value)


def tar_header(name: bytes, *, size: int = 0, kind: bytes = REG, mode: Optional[int] = None,
               uid: int = 0, gid: int = 0, mtime: int = EPOCH, link: bytes = b"",
               uname: bytes = b"root", gname: bytes = b"root", major: int = 0,
               minor: int = 0) -> bytes:
    """One 512-byte ustar header; a name over 100 bytes is split at a '/' into
    prefix and name (ValueError where it cannot be, or a link is over 100)."""
    if len(link) > 100:
        raise ValueError(f"link target {link!r} does not fit a ustar header")
    prefix = b""
    if len(name) > 100:
        cut = name.rfind(b"/", 0, 156)
        if cut <= 0 or len(name) - cut - 1 > 100:
            raise ValueError(f"{name!r} does not fit a ustar header")
        prefix, name = name[:cut], name[cut + 1:]
    if mode is None:
        mode = 0o755 if kind == DIR else 0o777 if kind == SYM else 0o644
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(uid, 8)
    h[116:124] = _octal(gid, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(mtime, 12)
    h[148:156] = b" " * 8
    h[156:157] = kind
    h[157:157 + len(link)] = link
    h[257:265] = b"ustar\x0000"
    h[265:265 + len(uname)] = uname
    h[297:297 + len(gname)] = gname
    h[329:337] = _octal(major, 8)
    h[337:345] = _octal(minor, 8)
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def pax_records(records: dict[bytes, bytes]) -> bytes:
    """The body of a pax extended header: `LEN key=value\\n` each, LEN counting itself."""
    out = b""
    for key, value in records.items():
        body = b" " + key + b"=" + value + b"\n"
        n = len(body) + 1
        while len(b"%d" % n) + len(body) != n:
            n += 1
        out += b"%d" % n + body
    return out


def tar_entry(name: bytes, data: bytes = b"", *, pax: Optional[dict[bytes, bytes]] = None,
              **header: object) -> bytes:
    """An entry (with a pax header before it, given records), its data padded;
    a name or link target ustar cannot hold goes in pax records, as GNU tar
    writes it."""
    out = b""
    link = header.get("link", b"")
    assert isinstance(link, bytes)
    if len(link) > 100:
        pax = {**(pax or {}), b"linkpath": link}
        header["link"] = link[:100]
    try:
        tar_header(name)
    except ValueError:
        pax = {**(pax or {}), b"path": name}
        name = name[-100:].lstrip(b"/") or b"long"
    if pax:
        body = pax_records(pax)
        out += tar_header(b"PaxHeaders/" + name.rsplit(b"/", 1)[-1][:80], size=len(body),
                          kind=PAX) + _padded(body)
    return out + tar_header(name, size=len(data), **header) + _padded(data)  # type: ignore[arg-type]


def tar(entries: Sequence[bytes], end: bool = True) -> bytes:
    """Entries made by tar_entry, and the two zero blocks that end an archive."""
    return b"".join(entries) + (b"\0" * 1024 if end else b"")


def ar(members: Sequence[tuple[bytes, bytes]]) -> bytes:
    """An ar archive as dpkg-deb writes one (names of up to 16 bytes)."""
    out = b"!<arch>\n"
    for name, data in members:
        out += b"%-16s%-12d%-6d%-6d%-8o%-10d`\n" % (name, 0, 0, 0, 0o100644, len(data))
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


def cpio_entry(name: bytes, data: bytes = b"", *, mode: int = 0o100644, ino: int = 1,
               nlink: int = 1, mtime: int = EPOCH) -> bytes:
    """One newc (070701) entry; its name NUL-terminated, name and data 4-aligned."""
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = head + name + b"\0"
    out += b"\0" * (-len(out) % 4)
    return out + data + b"\0" * (-len(data) % 4)


def cpio(entries: Sequence[bytes]) -> bytes:
    return b"".join(entries) + cpio_entry(b"TRAILER!!!", mode=0, ino=0, nlink=1, mtime=0)


# rpm header entry types
RPM_INT32, RPM_STRING, RPM_BIN, RPM_STRING_ARRAY = 4, 6, 7, 8


def rpm_header(entries: Sequence[tuple[int, int, object]]) -> bytes:
    """An rpm header (magic, entry count, data size, entries, data) of
    (tag, type, value) entries: INT32 a list of ints, STRING bytes, STRING_ARRAY
    a list of bytes, BIN bytes; no immutable region, as the oldest rpms."""
    import struct
    index, data = b"", b""
    for tag, kind, value in sorted(entries, key=lambda e: e[0]):
        if kind == RPM_INT32:
            data += b"\0" * (-len(data) % 4)
            body, count = struct.pack(f">{len(value)}I", *value), len(value)  # type: ignore[arg-type]
        elif kind == RPM_STRING:
            body, count = value + b"\0", 1  # type: ignore[operator]
        elif kind == RPM_STRING_ARRAY:
            body, count = b"".join(v + b"\0" for v in value), len(value)  # type: ignore[attr-defined]
        else:
            body, count = bytes(value), len(value)  # type: ignore[call-overload,arg-type]
        index += struct.pack(">IIII", tag, kind, len(data), count)
        data += body
    return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", len(entries), len(data)) + \
        index + data


def rpm_lead(name: bytes) -> bytes:
    """The 96-byte lead of a binary rpm."""
    import struct
    return b"\xed\xab\xee\xdb\x03\x00" + struct.pack(">HH", 0, 1) + name[:65].ljust(66, b"\0") + \
        struct.pack(">HH", 1, 5) + b"\0" * 16


def deb(control: bytes, data_tar: bytes, data_name: bytes = b"data.tar") -> bytes:
    """A .deb of a control file and a data.tar (uncompressed, as dpkg takes it,
    or compressed as data_name says)."""
    import gzip
    control_tar = tar([tar_entry(b"./", kind=DIR), tar_entry(b"./control", control)])
    return ar([(b"debian-binary", b"2.0\n"),
               (b"control.tar.gz", gzip.compress(control_tar, mtime=0)),
               (data_name, data_tar)])
