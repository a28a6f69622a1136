"""OpenPGP certificates read as far as rpm's key import needs them: the packets
of each certificate, its primary key's version, creation time and fingerprint,
and its first user id (RFC 4880 section 4; RFC 9580 for v6 keys)."""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

SIGNATURE, PUBLIC_KEY, USER_ID, PUBLIC_SUBKEY = 2, 6, 13, 14
_ARMOR = re.compile(rb"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY "
                    rb"BLOCK-----", re.S)


@dataclass(frozen=True)
class Certificate:
    data: bytes            # its packets, binary
    version: int
    created: int           # Unix time of the primary key
    fingerprint: str       # hex, lower case
    userid: str

    @property
    def keyid(self) -> str:
        """The long key id as rpm names keys (the fingerprint's last 8 bytes)."""
        return self.fingerprint[-16:] if self.version == 4 else self.fingerprint[:16]


def dearmor(data: bytes) -> bytes:
    """The binary packets of an armored key file (or the data, if binary)."""
    blocks = _ARMOR.findall(data)
    if not blocks:
        return data
    out = b""
    for block in blocks:
        body = block.split(b"\n\n", 1)[-1] if b"\n\n" in block else block
        lines = [ln.strip() for ln in body.replace(b"\r", b"").split(b"\n")]
        out += base64.b64decode(b"".join(ln for ln in lines if ln and not ln.startswith(b"=")))
    return out


def packets(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(tag, start, end, body) of each packet."""
    out = []
    i = 0
    while i < len(data):
        start, head = i, data[i]
        if not head & 0x80:
            raise ValueError("not an OpenPGP packet")
        if head & 0x40:                      # new format
            tag = head & 0x3F
            first = data[i + 1]
            if first < 192:
                length, i = first, i + 2
            elif first < 224:
                length, i = ((first - 192) << 8) + data[i + 2] + 192, i + 3
            elif first == 255:
                length, i = int.from_bytes(data[i + 2:i + 6], "big"), i + 6
            else:
                raise ValueError("partial lengths have no place in a key")
        else:
            tag, kind = (head >> 2) & 0x0F, head & 3
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                raise ValueError("an indeterminate length has no place in a key")
            length = int.from_bytes(data[i + 1:i + 1 + size], "big")
            i += 1 + size
        if i + length > len(data):
            raise ValueError("the key file ends inside a packet")
        out.append((tag, start, i + length, data[i:i + length]))
        i += length
    return out


def certificates(data: bytes) -> list[Certificate]:
    """Each certificate of a key file (armored or binary)."""
    binary = dearmor(data)
    found = packets(binary)
    starts = [n for n, p in enumerate(found) if p[0] == PUBLIC_KEY] + [len(found)]
    out = []
    for a, b in zip(starts, starts[1:]):
        group = found[a:b]
        body = group[0][3]
        version, created = body[0], int.from_bytes(body[1:5], "big")
        if version == 4:
            fpr = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()
        elif version == 6:
            fpr = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest()
        else:
            raise ValueError(f"a version {version} key, which rpm does not take")
        userid = next((p[3].decode("utf-8", "replace") for p in group if p[0] == USER_ID), "")
        out.append(Certificate(binary[group[0][1]:group[-1][2]], version, created, fpr, userid))
    return out


def subkey_ids(data: bytes) -> set[str]:
    """The long key ids (upper case) of the v4 subkeys a key file holds, bound or
    not; empty for a file that cannot be read as keys."""
    try:
        found = packets(dearmor(data))
    except (ValueError, IndexError):
        return set()
    return {hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()[-16:].upper()
            for tag, _, _, body in found if tag == PUBLIC_SUBKEY and body[:1] == b"\x04"}


def signature_version(data: bytes) -> int:
    """The version of the first signature packet in data (0 if there is none)."""
    try:
        found = packets(data)
    except (ValueError, IndexError):
        return 0
    return next((body[0] for tag, _, _, body in found if tag == SIGNATURE and body), 0)
