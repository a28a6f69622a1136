"""The signature part apk puts first in a package or an index: a tar (its end
cut off) of `.SIGN.<ALG>.<keyname>` entries, each a signature over the
compressed bytes that follow it."""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

from bootstrap.digest import Digest

ALGORITHMS = {"RSA": "sha1", "RSA256": "sha256", "RSA512": "sha512"}
PREFIX = ".SIGN."
ADB_MAGIC = (b"ADB.", b"ADBd", b"ADBc")


@dataclass(frozen=True)
class Signature:
    algorithm: str          # sha1, sha256, sha512
    keyname: str
    data: bytes


def signatures(tar_bytes: bytes) -> list[Signature]:
    """The signatures in a signature part; [] when the part is not one (an
    unsigned package begins with its control part)."""
    out: list[Signature] = []
    try:
        # the end blocks were cut: pad so tarfile sees a whole archive
        with tarfile.open(fileobj=io.BytesIO(tar_bytes + b"\0" * 1024), mode="r:") as tar:
            for m in tar:
                if not m.name.startswith(PREFIX) or not m.isreg():
                    return []
                kind, _, keyname = m.name[len(PREFIX):].partition(".")
                f = tar.extractfile(m)
                if kind in ALGORITHMS and keyname and "/" not in keyname and f:
                    out.append(Signature(ALGORITHMS[kind], keyname, f.read()))
    except tarfile.TarError:
        return []
    return out


def q1(digest: Digest) -> str:
    """apk's way to write a SHA-1: Q1 and its base64."""
    import base64
    return "Q1" + base64.b64encode(bytes.fromhex(digest.value)).decode()


def from_q1(text: str) -> Digest:
    """A `Q1…` checksum as a SHA-1 digest; ValueError if it is not one."""
    import base64
    import binascii
    if not text.startswith("Q1"):
        raise ValueError(f"not a Q1 checksum: {text!r}")
    try:
        raw = base64.b64decode(text[2:], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"not a Q1 checksum: {text!r}") from None
    if len(raw) != 20:
        raise ValueError(f"not a SHA-1 checksum: {text!r}")
    return Digest("sha1", raw.hex())


def adb_schema(head: bytes) -> str:
    """The schema of an apk-tools 3 ADB file ('indx', 'pckg', 'idb'), '' if not one."""
    if head[:4] == b"ADB.":
        return head[4:8].rstrip(b"\0").decode("ascii", "replace")
    if head[:4] in (b"ADBd", b"ADBc"):
        return "compressed"
    return ""
