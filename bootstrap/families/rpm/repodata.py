"""rpm-md repositories: repomd.xml (what metadata there is, by checksum),
primary (the packages, their dependencies and the files that matter for them),
filelists (every file), comps (groups), and MirrorManager's metalink (which
repomd.xml is the right one, and who mirrors it). Read streaming: a full
Fedora primary is some 10^5 packages."""
from __future__ import annotations

import gzip
import json
import lzma
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Optional

import zstandard

from bootstrap.digest import LENGTHS, Digest
from bootstrap.numbers import number

REPO = "{http://linux.duke.edu/metadata/repo}"
COMMON = "{http://linux.duke.edu/metadata/common}"
RPM = "{http://linux.duke.edu/metadata/rpm}"
FILELISTS = "{http://linux.duke.edu/metadata/filelists}"
METALINK = "{http://www.metalinker.org/}"
MM0 = "{http://fedorahosted.org/mirrormanager}"
KINDS = ("requires", "provides", "conflicts", "obsoletes", "recommends", "suggests",
         "supplements", "enhances")


def _digest(element: Optional[ET.Element], what: str) -> Digest:
    if element is None or not element.text:
        raise ValueError(f"{what}: no checksum")
    algorithm = {"sha": "sha1"}.get(element.get("type", ""), element.get("type", ""))
    if algorithm not in LENGTHS:
        raise ValueError(f"{what}: a {element.get('type')} checksum, which is not trusted")
    return Digest.parse(algorithm, element.text)


# what reading a metadata file may end in, besides the XML: an encoding its
# declaration names that Python does not have, a broken compressed stream
UNREADABLE = (ET.ParseError, LookupError, OSError, EOFError, lzma.LZMAError, zlib.error,
               zstandard.ZstdError)


def _xml(data: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except UNREADABLE as e:
        raise ValueError(f"{what}: not well-formed XML ({e})") from None


def decompressed(stream: BinaryIO, name: str) -> BinaryIO:
    """A metadata file's content by its name's suffix (.zst, .xz, .gz or none)."""
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().stream_reader(stream)  # type: ignore[return-value]
    if name.endswith(".xz"):
        return lzma.LZMAFile(stream)  # type: ignore[return-value]
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


@dataclass(frozen=True)
class Record:
    """One metadata file repomd.xml promises."""
    kind: str                 # primary, filelists, group, group_gz, ...
    href: str                 # repodata/...-primary.xml.zst, relative to the repository
    digest: Digest
    size: int


def parse_repomd(data: bytes, what: str) -> dict[str, Record]:
    root = _xml(data, what)
    out: dict[str, Record] = {}
    for d in root.iter(f"{REPO}data"):
        kind = d.get("type", "")
        location = d.find(f"{REPO}location")
        href = location.get("href", "") if location is not None else ""
        if not kind or not href:
            continue
        size = d.findtext(f"{REPO}size") or "0"
        out[kind] = Record(kind, href, _digest(d.find(f"{REPO}checksum"), f"{what} {kind}"),
                           number(size, 0))
    if "primary" not in out:
        raise ValueError(f"{what}: lists no primary metadata")
    return out


@dataclass(frozen=True)
class Dep:
    """One rpm:entry: a name, and where a version is given, flags and EVR."""
    name: str
    flags: str = ""           # EQ LT GT LE GE, "" for any version
    epoch: Optional[str] = None
    ver: Optional[str] = None
    rel: Optional[str] = None
    pre: bool = False         # Requires(pre) and friends


@dataclass
class RpmPackage:
    name: str
    arch: str
    epoch: int
    version: str
    release: str
    digest: Digest            # of the whole .rpm
    href: str
    size: int
    sourcerpm: str = ""
    license: str = ""
    repo: str = ""
    deps: dict[str, list[Dep]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)   # those primary lists
    installed: int = 0        # <size installed=>: bytes (0: not said)

    @property
    def evr(self) -> str:
        return (f"{self.epoch}:" if self.epoch else "") + f"{self.version}-{self.release}"

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"

    def __str__(self) -> str:
        return self.nevra


def _dep(e: ET.Element) -> Dep:
    return Dep(e.get("name", ""), e.get("flags", ""), e.get("epoch"), e.get("ver"),
               e.get("rel"), e.get("pre") == "1")


def _number(e: Optional[ET.Element], attribute: str) -> int:
    text = e.get(attribute, "0") if e is not None else "0"
    return number(text, 0)


def _package(p: ET.Element, repo: str, what: str) -> RpmPackage:
    version = p.find(f"{COMMON}version")
    location = p.find(f"{COMMON}location")
    size = p.find(f"{COMMON}size")
    if version is None or location is None:
        raise ValueError(f"{what}: a package without version or location")
    fmt = p.find(f"{COMMON}format")
    deps: dict[str, list[Dep]] = {}
    files: list[str] = []
    if fmt is not None:
        for kind in KINDS:
            block = fmt.find(f"{RPM}{kind}")
            if block is not None:
                deps[kind] = [_dep(e) for e in block.findall(f"{RPM}entry")]
        files = [f.text or "" for f in fmt.findall(f"{COMMON}file")]
    epoch = version.get("epoch") or "0"
    return RpmPackage(
        name=p.findtext(f"{COMMON}name") or "", arch=p.findtext(f"{COMMON}arch") or "",
        epoch=number(epoch, 0), version=version.get("ver", ""),
        release=version.get("rel", ""),
        digest=_digest(p.find(f"{COMMON}checksum"), what), href=location.get("href", ""),
        size=_number(size, "package"),
        sourcerpm=(fmt.findtext(f"{RPM}sourcerpm") or "") if fmt is not None else "",
        license=(fmt.findtext(f"{RPM}license") or "") if fmt is not None else "",
        repo=repo, deps=deps, files=files, installed=_number(size, "installed"))


def parse_primary(stream: BinaryIO, repo: str, what: str) -> Iterator[RpmPackage]:
    """Each package of a primary.xml, one at a time (the document is never held)."""
    try:
        for event, element in ET.iterparse(stream, events=("end",)):
            if element.tag == f"{COMMON}package":
                if element.get("type", "rpm") == "rpm":
                    yield _package(element, repo, what)
                element.clear()
    except UNREADABLE as e:
        raise ValueError(f"{what}: not well-formed XML ({e})") from None


def parse_filelists(stream: BinaryIO, what: str) -> Iterator[tuple[str, list[str]]]:
    """(pkgid, every file) for each package of a filelists.xml."""
    try:
        for event, element in ET.iterparse(stream, events=("end",)):
            if element.tag == f"{FILELISTS}package":
                yield element.get("pkgid", ""), [f.text or "" for f in
                                                  element.findall(f"{FILELISTS}file")]
                element.clear()
    except UNREADABLE as e:
        raise ValueError(f"{what}: not well-formed XML ({e})") from None


@dataclass
class Group:
    id: str
    mandatory: list[str] = field(default_factory=list)
    default: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    conditional: list[tuple[str, str]] = field(default_factory=list)   # (package, requires)


def parse_comps(data: bytes, what: str) -> dict[str, Group]:
    root = _xml(data, what)
    groups: dict[str, Group] = {}
    for g in root.iter("group"):
        group = Group(g.findtext("id") or "")
        for req in g.iter("packagereq"):
            kind, name = req.get("type", "mandatory"), (req.text or "").strip()
            if kind == "conditional":
                group.conditional.append((name, req.get("requires", "")))
            elif kind in ("mandatory", "default", "optional"):
                getattr(group, kind).append(name)
        groups[group.id] = group
    return groups


@dataclass
class Metalink:
    size: int
    digests: list[Digest]     # of repomd.xml: the current one and the alternates
    urls: list[str]           # the mirrors' repomd.xml URLs, best first


def parse_metalink(data: bytes, what: str) -> Metalink:
    """The repomd.xml a metalink vouches for (its size and SHA-256, or those of one
    of its mm0:alternates), and the http(s) mirrors in MirrorManager's order."""
    root = _xml(data, what)
    file = next((f for f in root.iter(f"{METALINK}file") if f.get("name") == "repomd.xml"),
                None)
    if file is None:
        raise ValueError(f"{what}: says nothing of repomd.xml")
    versions = [file] + list(file.iter(f"{MM0}alternate"))
    digests: list[Digest] = []
    size = 0
    for v in versions:
        for h in v.iter(f"{METALINK}hash"):
            if h.get("type") == "sha256" and h.text:
                digests.append(Digest.parse("sha256", h.text))
        text = v.findtext(f"{METALINK}size")
        if v is file and text and (given := number(text)) is not None:
            size = given
    if not digests:
        raise ValueError(f"{what}: gives no SHA-256 of repomd.xml")
    urls = [(number(u.get("preference", "0"), 0), i, (u.text or "").strip())
            for i, u in enumerate(file.iter(f"{METALINK}url"))
            if u.get("protocol") in ("http", "https") or
            (u.text or "").startswith(("http://", "https://"))]
    ordered = [url for _, _, url in sorted(urls, key=lambda x: (-x[0], x[1]))]
    return Metalink(size, digests, ordered)


# A parsed primary, kept in the cache under the digest repomd.xml gave the file,
# so that a warm build does not parse 10^5 packages again.
PARSED_FORMAT = 2


def dump_packages(packages: list[RpmPackage]) -> bytes:
    rows = [[p.name, p.arch, p.epoch, p.version, p.release, p.digest.algorithm,
             p.digest.value, p.href, p.size, p.sourcerpm, p.license,
             {k: [[d.name, d.flags, d.epoch, d.ver, d.rel, d.pre] for d in v]
              for k, v in p.deps.items()}, p.files, p.installed] for p in packages]
    text = json.dumps({"format": PARSED_FORMAT, "packages": rows}, separators=(",", ":"))
    return zstandard.ZstdCompressor(level=3).compress(text.encode())


def load_packages(data: bytes, repo: str) -> Optional[list[RpmPackage]]:
    """The packages dump_packages kept, or None if the data is not such a dump."""
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data))
        if doc.get("format") != PARSED_FORMAT:
            return None
        return [RpmPackage(
            r[0], r[1], r[2], r[3], r[4], Digest(r[5], r[6]), r[7], r[8], r[9], r[10], repo,
            {k: [Dep(*d) for d in v] for k, v in r[11].items()}, r[12], r[13])
            for r in doc["packages"]]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            zstandard.ZstdError):
        return None
