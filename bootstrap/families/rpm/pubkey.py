"""A trusted key as rpm's database keeps it after `rpmkeys --import` (what dnf
does with a repository's gpgkey): a gpg-pubkey-<short id>-<created> header
whose immutable region holds the certificate, its armor and its provides."""
from __future__ import annotations

import base64
import hashlib
import struct

from bootstrap.families.rpm.header import BIN, I18NSTRING, INT32, STRING, STRING_ARRAY
from bootstrap.trust.pgpkey import Certificate

HEADERIMMUTABLE, PUBKEYS, SHA1HEADER, SHA256HEADER = 63, 266, 269, 273
INSTALLTIME, INSTALLTID = 1008, 1128
# RPMSENSE_EQUAL | RPMSENSE_KEYRING
PROVIDE_FLAGS = 8 | (1 << 26)
ALIGN = {INT32: 4}


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _base64(data: bytes) -> str:
    """base64 as rpm writes it: lines of 64, each ending in a newline."""
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + 64] + "\n" for i in range(0, len(text), 64))


def armor(cert: Certificate, rpm_version: str) -> str:
    """The certificate armored as rpm re-armors it for the description."""
    lines = _base64(cert.data).rstrip("\n")
    crc = base64.b64encode(_crc24(cert.data).to_bytes(3, "big")).decode()
    version = f"Version: rpm-{rpm_version}\n" if rpm_version else ""
    return (f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n{version}\n{lines}\n={crc}\n"
            "-----END PGP PUBLIC KEY BLOCK-----\n")


def _value(kind: int, value: object) -> bytes:
    if kind in (STRING, I18NSTRING) and isinstance(value, str):
        return value.encode() + b"\0"
    if kind in (STRING_ARRAY, I18NSTRING):
        return b"".join(str(v).encode() + b"\0" for v in value)  # type: ignore[union-attr]
    if kind == INT32:
        return struct.pack(f">{len(value)}I", *value)  # type: ignore[arg-type]
    return bytes(value)  # type: ignore[arg-type]


def _count(kind: int, value: object) -> int:
    if kind == STRING:
        return 1
    if kind == BIN:
        return len(value)  # type: ignore[arg-type]
    return len(value)  # type: ignore[arg-type]


def _lay_out(entries: list[tuple[int, int, object]], data: bytearray
             ) -> list[tuple[int, int, int, int]]:
    index = []
    for tag, kind, value in entries:
        while len(data) % ALIGN.get(kind, 1):
            data.append(0)
        index.append((tag, kind, len(data), _count(kind, value)))
        data += _value(kind, value)
    return index


def installed_blob(cert: Certificate, when: int, tid: int, rpm_version: str) -> bytes:
    """The header rpm stores for the key (headerExport's layout, no magic)."""
    short = cert.keyid[-8:]
    created = f"{cert.created:08x}"
    evr = f"{cert.version}:{cert.keyid}-{created}"
    provides = [f"gpg({cert.userid})", f"gpg({short})", f"gpg({cert.keyid})"]
    immutable: list[tuple[int, int, object]] = [
        (PUBKEYS, STRING_ARRAY, [_base64(cert.data)]),
        (1000, STRING, "gpg-pubkey"), (1001, STRING, short), (1002, STRING, created),
        (1004, I18NSTRING, [f"{cert.userid} public key"]),
        (1005, I18NSTRING, [armor(cert, rpm_version)]),
        (1006, INT32, [cert.created]), (1007, STRING, "localhost"), (1009, INT32, [0]),
        (1014, STRING, "pubkey"), (1015, STRING, cert.userid),
        (1016, I18NSTRING, ["Public Keys"]), (1044, STRING, "(none)"),
        (1047, STRING_ARRAY, provides), (1064, STRING, rpm_version or "4.18.0"),
        (1112, INT32, [PROVIDE_FLAGS] * 3), (1113, STRING_ARRAY, [evr] * 3),
    ]
    data = bytearray()
    index = _lay_out(immutable, data)
    ril = len(index) + 1
    region = (HEADERIMMUTABLE, BIN, len(data), 16)
    data += struct.pack(">IIiI", HEADERIMMUTABLE, BIN, -16 * ril, 16)
    index.insert(0, region)
    # the digests rpm keeps of the immutable header, as a header of its own
    alone = struct.pack(">II", ril, len(data)) + b"".join(struct.pack(">IIII", *e)
                                                          for e in index) + bytes(data)
    magic = b"\x8e\xad\xe8\x01\0\0\0\0"
    added: list[tuple[int, int, object]] = [
        (SHA1HEADER, STRING, hashlib.sha1(magic + alone).hexdigest()),
        (SHA256HEADER, STRING, hashlib.sha256(magic + alone).hexdigest()),
        (INSTALLTIME, INT32, [when]), (INSTALLTID, INT32, [tid]),
    ]
    # the region's entries first, then the ones added on install (headerExport)
    index += _lay_out(added, data)
    return struct.pack(">II", len(index), len(data)) + \
        b"".join(struct.pack(">IIII", *e) for e in index) + bytes(data)
