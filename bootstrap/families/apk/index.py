"""APKINDEX.tar.gz: a signature part, then a gzip member holding a tar with
DESCRIPTION and APKINDEX, whose records are `X:value` lines ending in a blank
line. The signature is over the compressed bytes from the second member to the
end, and is checked before anything is read from them."""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from typing import Optional

from bootstrap.archive import DAMAGED, Bomb, open_tar
from bootstrap.digest import Digest
from bootstrap.families.apk import gzmembers
from bootstrap.families.apk.depend import Dep, Provide, parse_list
from bootstrap.families.apk.signed import adb_schema, from_q1, signatures
from bootstrap.trust.rsa import RsaKeys
from bootstrap.numbers import number

# community's APKINDEX is about 10 MiB; one this large is an attack or damage
INDEX_LIMIT = 64 << 20
# the signature part holds a key name and a signature or two
SIGNATURE_LIMIT = 1 << 20

# the fields of an index record in the order apk-tools writes them
ORDER = "CPVASITULomtckDpi"
# the letters apk-tools knows (those of the installed database too); a record
# with another is a package apk will not install, unless the letter is lower
# case, which apk ignores (apk_pkg_add_info)
KNOWN = set("PVTULADCSIFMRZpiomtckrqasfg")


@dataclass
class ApkPackage:
    repo: str                                   # main, community, testing
    tag: str                                    # the repository's tag ('' untagged)
    order: int                                  # the repository's place in the list
    fields: list[tuple[str, str]]               # as the index has them
    identity: Digest                            # C: SHA-1 of the control part
    name: str
    version: str
    arch: str
    size: int
    depends: tuple[Dep, ...] = ()
    provides: tuple[Provide, ...] = ()
    install_if: tuple[Dep, ...] = ()
    priority: Optional[int] = None              # k: provider_priority

    def field(self, letter: str) -> str:
        return next((v for k, v in self.fields if k == letter), "")

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.apk"

    @property
    def installs(self) -> Optional[int]:
        """I: the bytes the package installs, where it is a number."""
        text = self.field("I")
        return number(text)

    def __str__(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass
class Index:
    repo: str
    packages: list[ApkPackage]
    refused: dict[str, str] = field(default_factory=dict)  # name -> why it cannot be used
    description: str = ""
    signer: str = ""


def verify(data: bytes, trust: RsaKeys, what: str, mirror: object) -> tuple[bytes, str]:
    """The index's content (the compressed bytes after the signature), once a
    trusted key's signature over them checked; and that key's name."""
    from bootstrap.errors import die
    schema = adb_schema(data[:8])
    if schema:
        die(f"{what} from {mirror} is an apk-tools 3 ADB file ({schema}); rootstrap reads "
            "the v2 APKINDEX.tar.gz every Alpine branch publishes", file=what,
            mirror=str(mirror))
    try:
        first = next(gzmembers.members(io.BytesIO(data), 1, SIGNATURE_LIMIT))
    except (ValueError, StopIteration, EOFError, zlib.error) as e:
        die(f"{what} from {mirror}: not a gzip-compressed index ({e})", file=what,
            mirror=str(mirror))
    sigs = signatures(first.data)
    if not sigs:
        die(f"{what} from {mirror}: not signed (no .SIGN entry)", file=what, mirror=str(mirror))
    signed = data[first.end:]
    known = [s for s in sigs if s.keyname in trust.keys]
    if not known:
        names = ", ".join(s.keyname for s in sigs)
        die(f"{what} from {mirror}: signed by key {names}, which is not among the trusted "
            f"keys {trust.names}", file=what, mirror=str(mirror), key=sigs[0].keyname)
    # one good signature by a trusted key is enough, as for apk; a bad one is fatal
    for sig in known:
        trust.verify(signed, sig.data, sig.keyname, sig.algorithm, what, mirror)
    return signed, known[0].keyname


def parse(content: bytes, repo: str, tag: str, order: int, what: str) -> Index:
    """The records of a verified index's content. ValueError if it is not one."""
    try:
        # through open_tar: the gzip stream's expansion is bounded like a package's
        with open_tar(io.BytesIO(content)) as tar:
            texts = {}
            for m in tar:
                if m.isreg() and m.name in ("APKINDEX", "DESCRIPTION"):
                    if m.size > INDEX_LIMIT:
                        raise ValueError(f"{what}: its {m.name} is {m.size} bytes; no "
                                         f"repository's is near {INDEX_LIMIT >> 20} MiB")
                    f = tar.extractfile(m)
                    texts[m.name] = f.read() if f else b""
    except Bomb as e:
        raise ValueError(f"{what}: {e}") from None
    except (*DAMAGED, OSError) as e:
        raise ValueError(f"{what}: not a readable index ({e})") from None
    if "APKINDEX" not in texts:
        raise ValueError(f"{what}: no APKINDEX in it")
    index = Index(repo, [], description=texts.get("DESCRIPTION", b"").decode(errors="replace"))
    for block in texts["APKINDEX"].decode("utf-8", "replace").split("\n\n"):
        fields = [(line[0], line[2:]) for line in block.splitlines()
                  if len(line) >= 2 and line[1] == ":"]
        if not fields:
            continue
        try:
            index.packages.append(package(fields, repo, tag, order))
        except ValueError as e:
            name = next((v for k, v in fields if k == "P"), "?")
            index.refused[name] = f"{repo}: {e}"
    return index


def package(fields: list[tuple[str, str]], repo: str, tag: str, order: int) -> ApkPackage:
    one = dict(fields)
    unknown = sorted({k for k, _ in fields if k not in KNOWN and not k.islower()})
    if unknown:
        raise ValueError(f"its record has the field {unknown[0]}:, which apk does not know, "
                         "and so it will not install the package")
    for key in "CPV":
        if not one.get(key):
            raise ValueError(f"a record has no {key}:")
    name, version = one["P"], one["V"]
    if "/" in name or name.startswith(".") or "/" in version:
        raise ValueError(f"refusing the record {name!r} {version!r}, which would make a path")
    priority = one.get("k")
    return ApkPackage(
        repo=repo, tag=tag, order=order, fields=fields, identity=from_q1(one["C"]),
        name=name, version=version, arch=one.get("A", ""),
        size=number(one.get("S", ""), 0),
        depends=parse_list(one.get("D", "")),
        provides=tuple(Provide.parse(w) for w in one.get("p", "").split()),
        install_if=parse_list(one.get("i", "")),
        priority=number(priority) if priority else None)
