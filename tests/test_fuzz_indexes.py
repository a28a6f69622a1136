"""Fuzzing the index readers and the version comparators of every family.

Indexes are built from fields hypothesis picks — names, versions, relations,
sizes and checksums as mirrors write them, beside what a damaged or hostile
one holds: digits that are not ASCII, numbers of thousands of digits, control
characters, continuation lines, unknown fields, nested rich dependencies —
and their text, the archive around it or its compressed bytes are then
mutated at random; random bytes come in too. Whatever comes in, a reader
returns packages or ends in rootstrap's one-line error (Die), or in the one
exception type its caller in the family turns into Die (named where it is
caught) — never another exception. What the solver reads lazily from a parsed
package (deb relations, apk sizes, rpm dependencies) is read too, under the
same rule.

Each version comparator takes any text and answers (or refuses with Die), and
orders: compare(a, a) == 0 and compare(b, a) == -compare(a, b).

An XML entity bomb (billion laughs) is refused at once by every rpm-md reader.

The budget is short by default (CI); ROOTSTRAP_FUZZ=long runs many more
examples and keeps what it finds in .hypothesis/ to replay."""
from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import lzma
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, cast
from unittest import mock
from xml.sax.saxutils import escape, quoteattr

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from bootstrap import cores
from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.errors import Die
from bootstrap.families.apk import index as apk_index
from bootstrap.families.apk import version as apk_version
from bootstrap.families.apk.depend import Dep, Provide
from bootstrap.families.deb import parsed as deb_parsed
from bootstrap.families.deb import version as deb_version
from bootstrap.families.deb.family import _decompress
from bootstrap.families.deb.packages import (DebPackage, MalformedIndex, parse_packages,
                                            provided_names)
from bootstrap.families.deb.release import Release as SignedRelease
from bootstrap.families.deb.release import parse_deb822
from bootstrap.families.pacman import localdb
from bootstrap.families.pacman import parsed as pacman_parsed
from bootstrap.families.pacman import version as pacman_version
from bootstrap.families.pacman.pkgfile import Unpacked
from bootstrap.families.rpm import repodata
from bootstrap.families.rpm import version as rpm_version
from bootstrap.families.rpm.depend import Simple
from bootstrap.families.rpm.depend import parse as parse_rpm_dependency
from bootstrap.families.rpm.pool import Pool, deps_of
from bootstrap.treewriter import Unsafe
from bootstrap.trust.rsa import RsaKeys
from rawarchive import tar, tar_entry
from test_fuzz import MUTATIONS, PHASES, Mutation, mutate

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
if os.environ.get("ROOTSTRAP_FUZZ") == "long":
    FUZZ = settings(max_examples=5000, deadline=None, phases=PHASES,
                    database=DirectoryBasedExampleDatabase(
                        str(Path(__file__).resolve().parent.parent / ".hypothesis")),
                    suppress_health_check=_HEALTH)
else:
    FUZZ = settings(max_examples=40, deadline=None, database=None, phases=PHASES,
                    suppress_health_check=_HEALTH)


@contextmanager
def refused_only(*converted: type[Exception]) -> Iterator[None]:
    """What the user sees of a reader: its result, or one line. converted: the
    exception types the reader's caller turns into Die with their message."""
    try:
        yield
    except Die as e:
        assert "\n" not in e.message, e.message
    except converted as e:
        # the caller says it through Die, which makes any message one line
        assert "\n" not in Die(str(e)).message


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class _Memory:
    """Cache.derived and store_derived in memory: a parse kept, then read back
    as a warm build reads it."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], bytes] = {}

    def derived(self, digest: Digest, kind: str) -> Optional[bytes]:
        return self.kept.get((digest.value, kind))

    def store_derived(self, digest: Digest, kind: str, data: bytes) -> None:
        self.kept[(digest.value, kind)] = data


def _never() -> bytes:
    raise AssertionError("parsed again although a parse was kept")


def _sha256(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda d: d,
    ".gz": lambda d: gzip.compress(d, mtime=0),
    ".xz": lzma.compress,
    ".zst": zstandard.ZstdCompressor().compress,
    ".bz2": bz2.compress,
}

# --------------------------------------------------------------------------- what fields hold

class Values:
    """What a field usually holds, and what a careless or hostile index puts
    there. An index is drawn careful or careless as a whole: one odd value in
    every field would have nearly every index refused at its first field,
    before the rest of its reader runs."""

    def __init__(self, usual: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> None:
        self.usual = usual
        self.any = usual | odd

    def of(self, careful: bool) -> st.SearchStrategy[str]:
        return self.usual if careful else self.any


# the characters a careless or hostile index holds beside ordinary text: a
# line break, a NUL, a byte that is not UTF-8 (as surrogateescape keeps it),
# digits that str.isdigit() takes but int() does not, or does as another number
ODD = st.sampled_from(["", " ", "\t", "\n", "\n ", "\r\n", "\x00", "\x7f", "\u00e9", "\u00b2",
                       "\u0663", "\ufeff", "\u2028", "\udc80", "%", ":", "=", "(", ")", "|",
                       ",", "@", "!", "~", "/", ".."])
WORDS = st.sampled_from(["a", "libc6", "glibc", "musl", "x86_64", "amd64", "all", "any", "1",
                         "2.0", "yes", "no"]) | st.text(max_size=6) | ODD
TEXT = Values(st.sampled_from(["a", "libc6", "x86_64", "GPL-2.0-or-later", "The C library",
                               "https://example.org/", "Packages/b/bash-5.2.26-3.fc40.rpm"]),
              st.lists(WORDS, max_size=4).map("".join))
# sizes: int() refuses more than 4300 digits, and "²" although isdigit() holds
NUMBERS = Values(st.integers(0, 10 ** 9).map(str),
                 st.sampled_from([" 12 ", "-1", "0x10", "\u00b2", "\u0663", "9" * 4400, ""])
                 | TEXT.any)


@st.composite
def usual_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "", "1:", "2:"]))
    numbers = ".".join(map(str, draw(st.lists(st.integers(0, 99), min_size=1, max_size=3))))
    suffix = draw(st.sampled_from(["", "", "a", "_rc1", "~rc1", "+dfsg", "_p2"]))
    release = draw(st.sampled_from(["", "-1", "-r0", "-r12", "-3.fc40", "-9+deb12u4"]))
    return epoch + numbers + suffix + release


VERSION_PARTS = st.sampled_from(["0", "1", "2", "10", "007", "a", "b", "z", "~", "^", ".", "-",
                                 "_", "+", ":", "1:", "_alpha", "_rc", "_p1", "-r0", "-r1",
                                 "~git", "~0a1", "rc", "\u00e9", "\u00b2", "\u0663", " ", "\n",
                                 "\x00", "\udc80", "9" * 4400])
# text as the readers decode it: no lone surrogate but those surrogateescape
# keeps bytes that are not UTF-8 in
CHARACTERS = st.characters(codec="utf-8") | st.integers(0xDC80, 0xDCFF).map(chr)
VERSIONS = Values(usual_versions(), st.lists(VERSION_PARTS, max_size=6).map("".join)
                  | st.text(CHARACTERS, max_size=12))
HEX64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
CHECKSUMS = Values(HEX64, HEX64.map(str.upper) | st.sampled_from(["", "abc", "ab" * 33])
                   | TEXT.any)


# --------------------------------------------------------------------------- deb

DEB_NAMES = Values(st.sampled_from(["libc6", "a", "x+y", "foo:any", "bar:amd64", "perl-base",
                                     "libstdc++6"]),
                   st.sampled_from(["c:", ":d", "\u00e9", "a [amd64]", "b <stage1>"])
                   | st.text(max_size=5))
DEB_OPS = Values(st.sampled_from(["<<", "<=", "=", ">=", ">>", ""]),
                 st.sampled_from(["<", ">", "=<", "==", "!="]))


@st.composite
def deb_relations(draw: st.DrawFn, careful: bool) -> str:
    groups = []
    for _ in range(draw(st.integers(0, 3))):
        alternatives = []
        for _ in range(draw(st.integers(1, 3))):
            atom = draw(DEB_NAMES.of(careful))
            if draw(st.booleans()):
                atom += draw(st.sampled_from(["", " ", "\n "])) + "(" + \
                    draw(DEB_OPS.of(careful)) + draw(st.sampled_from(["", " "])) + \
                    draw(VERSIONS.of(careful)) + ")"
            alternatives.append(atom)
        groups.append(draw(st.sampled_from([" | ", "|", "\n | "])).join(alternatives))
    return draw(st.sampled_from([", ", ",", ",\n "])).join(groups) + \
        draw(st.sampled_from(["", ",", "|", " "]))


RELATION_FIELDS = ("Depends", "Pre-Depends", "Provides", "Conflicts", "Breaks", "Recommends",
                   "Suggests", "Replaces", "Enhances", "depends", "PROVIDES")
OTHER_FIELDS = ("Architecture", "Multi-Arch", "Essential", "Priority", "Filename", "SHA256",
                "Protected", "Important", "Source", "Description", "package", "X-Odd")


@st.composite
def deb_indexes(draw: st.DrawFn) -> bytes:
    """A Packages file."""
    careful = draw(st.booleans())
    stanzas = []
    for _ in range(draw(st.integers(0, 3))):
        lines = []
        if draw(st.integers(0, 9)):
            lines.append(("Package", draw(DEB_NAMES.of(careful))))
        if draw(st.integers(0, 9)):
            lines.append(("Version", draw(VERSIONS.of(careful))))
        lines += draw(st.lists(st.tuples(st.sampled_from(RELATION_FIELDS),
                                         deb_relations(careful)), max_size=3))
        lines += draw(st.lists(st.tuples(st.sampled_from(("Size", "Installed-Size")),
                                         NUMBERS.of(careful)), max_size=2))
        lines += draw(st.lists(st.tuples(st.sampled_from(OTHER_FIELDS) | TEXT.of(careful),
                                         TEXT.of(careful)), max_size=3))
        stanzas.append("\n".join(f"{k}: {v}" for k, v in draw(st.permutations(lines))))
    sep = draw(st.sampled_from(["\n\n", "\n \n", "\r\n\r\n", "\n\t\n", "\n\n\n"]))
    return _b(sep.join(stanzas) + draw(st.sampled_from(["", "\n", "\n\n"])))


DEB_RELATIONS = ("depends", "pre_depends", "provides", "conflicts", "breaks")


def _read_relations(packages: list[DebPackage]) -> None:
    """As the solver reads them: parsed on first read (Die where one does not
    parse), then met or not by versions."""
    for p in packages:
        for name in DEB_RELATIONS:
            with refused_only():
                value = getattr(p, name)
                for rel in value if name == "provides" else [r for g in value for r in g]:
                    rel.satisfied_by(p.version)


def _deb_index(data: bytes, name: str) -> None:
    listed: list[DebPackage] = []
    # DebFamily.verify_files turns MalformedIndex into Die, and judge() an OSError
    with refused_only(MalformedIndex, OSError):
        listed = parse_packages(_decompress(data, name))
    _read_relations(listed)

    cache = cast(Cache, _Memory())
    digest = _sha256(data)
    fresh: list[DebPackage] = []
    kept: list[DebPackage] = []
    # DebFamily.load_index turns MalformedIndex into Die, decompressing included
    with refused_only(MalformedIndex):
        fresh = deb_parsed.packages(cache, digest, lambda: _decompress(data, name))
        kept = deb_parsed.packages(cache, digest, _never)
    assert [(p.name, p.version) for p in kept] == [(p.name, p.version) for p in fresh]
    _deb_index_in_spans(data, name, fresh)
    for p in fresh + kept:
        # the solver looks for providers among the names read without parsing
        maybe = provided_names(p)
        with refused_only():
            assert {r.name for r in p.provides} <= maybe
    _read_relations(fresh + kept)


def _deb_index_in_spans(data: bytes, name: str, whole: list[DebPackage]) -> None:
    """Cut into spans that forked children read, the index reads as in one pass,
    or is refused for the same reason."""
    def read(parts: int) -> object:
        with mock.patch.object(deb_parsed, "SPLIT_AT", 0), \
                mock.patch.object(cores, "usable", lambda: parts):
            try:
                got = deb_parsed.packages(cast(Cache, _Memory()), _sha256(data),
                                          lambda: _decompress(data, name))
            except MalformedIndex as e:
                return str(e)
        return [({k: v for k, v in p.__dict__.items() if k != "_stanzas"}, p.stanza)
                for p in got]
    one = read(1)
    if not isinstance(one, str):
        assert [d["name"] for d, _ in one] == [p.name for p in whole]  # type: ignore
    assert read(3) == one


@FUZZ
@given(st.one_of(deb_indexes(), st.binary(max_size=300)), MUTATIONS, st.integers(0, 40))
@example(b"Package: a\nVersion: 1\nSize: \xc2\xb2\n", [], 0)
@example(b"Package: a\nVersion: 1\nInstalled-Size: " + b"9" * 4400 + b"\n", [], 0)
@example(b"Package: a\nVersion: 1\nDepends: b (>= \xc2\xb2:1)\n", [], 0)
@example(b"Package: a\nVersion: 1\n 2\nProvides: ,\n", [], 0)
@example(b"Package: libc6\nVersion: 0\xc2\x850", [], 0)
def test_deb_packages_index(data: bytes, mutation: Mutation, cut: int) -> None:
    _deb_index(mutate(data, mutation, cut), "Packages")


@FUZZ
@given(deb_indexes(), st.sampled_from([".gz", ".xz", ".zst", ".bz2"]), MUTATIONS)
@example(b"Package: a\nVersion: 1\n", ".gz", [(12, 0xFF)])
def test_deb_compressed_packages_index(data: bytes, suffix: str, mutation: Mutation) -> None:
    _deb_index(mutate(COMPRESS[suffix](data), mutation), "Packages" + suffix)


# RFC 2822 dates, and what only looks like one
@st.composite
def dates(draw: st.DrawFn) -> str:
    big = st.integers(-10, 10 ** 20)
    return (f"{draw(st.sampled_from(['Mon', 'Sat', 'Xyz']))}, {draw(big)} "
            f"{draw(st.sampled_from(['Jan', 'Feb', 'Dec', 'Foo']))} {draw(big)} "
            f"{draw(big)}:{draw(big)}:{draw(big)} "
            f"{draw(st.sampled_from(['UTC', 'GMT', '+0000', '-0730', 'EST', '']) | big.map(str))}")


@st.composite
def deb_releases(draw: st.DrawFn) -> str:
    """A Release file (its signed text)."""
    careful = draw(st.booleans())
    text = TEXT.of(careful)
    lines = ["Origin: Debian",
             f"Suite: {draw(st.sampled_from(['bookworm', 'stable']) | text)}",
             f"Codename: {draw(st.sampled_from(['bookworm', '']) | text)}"]
    if draw(st.booleans()):
        lines.append(f"Valid-Until: {draw(dates() | text)}")
    lines.append("SHA256:")
    paths = st.sampled_from(["main/binary-amd64/Packages", "main/binary-amd64/Packages.xz",
                             "main/binary-amd64/Packages.gz", "contrib/binary-amd64/Packages",
                             "main/binary-amd64/Packages.zst"]) | TEXT.any
    for _ in range(draw(st.integers(0, 3))):
        lines.append(f" {draw(CHECKSUMS.of(careful))} {draw(NUMBERS.of(careful))} "
                     f"{draw(paths)}")
    lines += draw(st.lists(TEXT.any, max_size=2 if not careful else 0))
    return "\n".join(draw(st.permutations(lines)) if not careful else lines)


RELEASE = "Suite: bookworm\nSHA256:\n " + "ab" * 32 + " 1 main/binary-amd64/Packages\n"


@FUZZ
@given(st.one_of(deb_releases(), st.text(max_size=200)), MUTATIONS)
@example("SHA256:\n " + "ab" * 32 + " xyz main/binary-amd64/Packages\n", [])
@example(RELEASE + "Valid-Until: Mon, 01 Jan 2024 00:00:00 +99999999999999999\n", [])
@example("Suite: sid\n x\nSHA256:\n " + "ab" * 32 + " 1 main/binary-amd64/Packages\n", [])
def test_deb_release(text: str, mutation: Mutation) -> None:
    # as DebFamily.load_index reads it: the signed text, decoded with replace;
    # it calls these without a try, each dying for itself
    text = mutate(_b(text), mutation).decode("utf-8", "replace")
    what = "dists/bookworm/InRelease from http://mirror.invalid"
    release: Optional[SignedRelease] = None
    with refused_only():
        release = SignedRelease.parse(text, what)
    if release is None:
        return
    with refused_only():
        release.check_suite(("bookworm", "stable"), what)
    with refused_only():
        release.check_fresh(what)
    with refused_only():
        release.index("main", "amd64", what, prefix="dists/bookworm/")


@FUZZ
@given(st.one_of(deb_indexes(), st.binary(max_size=200)), MUTATIONS)
def test_deb822_stanzas(data: bytes, mutation: Mutation) -> None:
    # Release.parse and debfile._fields turn its ValueError into Die (the
    # latter through unpacking())
    with refused_only(ValueError):
        parse_deb822(mutate(data, mutation).decode("utf-8", "surrogateescape"))


# --------------------------------------------------------------------------- pacman

PAC_NAMES = Values(st.sampled_from(["glibc", "a", "lib32-gcc-libs", "x+y", "@b", "libfoo.so"]),
                   st.sampled_from([".hidden", "a/b", "", "caf\u00e9"]) | st.text(max_size=6))
PAC_OPS = Values(st.sampled_from(["", "<", "<=", "=", ">=", ">"]), st.sampled_from(["=<", ">>"]))


def pacman_deps(careful: bool) -> st.SearchStrategy[str]:
    return st.tuples(PAC_NAMES.of(careful), PAC_OPS.of(careful), VERSIONS.of(careful),
                     st.sampled_from(["", ": for foo"] + ([] if careful else [":x", ": "]))
                     ).map(lambda t: "".join(t) if t[1] else t[0] + t[3])


@st.composite
def pacman_entries(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """The members (name, content) of a sync database's tar."""
    careful = draw(st.booleans())
    text = TEXT.of(careful)
    members = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(PAC_NAMES.of(careful))
        version = draw(st.sampled_from(["1-1", "2:1.0-3"]) | VERSIONS.of(careful))
        fields = [
            ("NAME", [name]), ("VERSION", [version]),
            ("FILENAME", [draw(st.just(f"{name}-{version}-x86_64.pkg.tar.zst") | text)]),
            ("SHA256SUM", [draw(CHECKSUMS.of(careful))]), ("CSIZE", [draw(NUMBERS.of(careful))]),
            ("ISIZE", [draw(NUMBERS.of(careful))]),
            ("ARCH", [draw(st.sampled_from(["x86_64", "any"]))]),
            ("GROUPS", draw(st.lists(text, max_size=2))),
            ("PGPSIG", draw(st.lists(text, max_size=1)))]
        relations = [(key, draw(st.lists(pacman_deps(careful), max_size=3)))
                     for key in ("DEPENDS", "PROVIDES", "CONFLICTS", "REPLACES")]
        if not careful:
            dropped = draw(st.sets(st.sampled_from(["NAME", "VERSION", "FILENAME", "SHA256SUM"]),
                                   max_size=1))
            fields = [f for f in fields if f[0] not in dropped]
            fields += draw(st.lists(st.tuples(text, st.lists(text, max_size=2)), max_size=2))

        def desc(fs: list[tuple[str, list[str]]]) -> bytes:
            return _b("".join(f"%{k}%\n" + "".join(f"{v}\n" for v in vs) + "\n"
                              for k, vs in fs))
        folder = f"{name}-{version}" if careful else \
            draw(st.sampled_from([f"{name}-{version}", "", "a/b", ".."]) | text)
        # older databases keep the relations in a depends file beside desc
        if draw(st.booleans()):
            members.append((_b(f"{folder}/desc"), desc(fields + relations)))
        else:
            members += [(_b(f"{folder}/desc"), desc(fields)),
                        (_b(f"{folder}/depends"), desc(relations))]
    return members


def _pacman_tar(members: list[tuple[bytes, bytes]]) -> bytes:
    return tar([tar_entry(name.replace(b"\0", b"") or b"x", data) for name, data in members])


def _pacman_db(data: bytes) -> None:
    cache = cast(Cache, _Memory())
    where = "core/core.db from http://mirror.invalid/core/os/x86_64"
    db = None
    # PacmanFamily.load_index (and verify_files) turn a ValueError into Die
    with refused_only(ValueError):
        db = pacman_parsed.sync_db(cache, data, "core", where)
        assert pacman_parsed.sync_db(cache, data, "core", where) == db
    for p in db.packages if db else ():
        for d in p.depends + p.conflicts + p.replaces:
            with refused_only():
                d.satisfied_by(p.name, p.version, p.provides)


@FUZZ
@given(pacman_entries(), st.sampled_from(sorted(COMPRESS)), MUTATIONS, st.booleans())
def test_pacman_sync_db(members: list[tuple[bytes, bytes]], suffix: str, mutation: Mutation,
                        damage_compressed: bool) -> None:
    plain = _pacman_tar(members)
    if damage_compressed:
        data = mutate(COMPRESS[suffix](plain), mutation)
    else:
        data = COMPRESS[suffix](mutate(plain, mutation))
    _pacman_db(data)


@FUZZ
@given(st.binary(max_size=400))
def test_pacman_sync_db_random_bytes(data: bytes) -> None:
    _pacman_db(data)


@st.composite
def pkginfos(draw: st.DrawFn) -> bytes:
    careful = draw(st.booleans())
    keys = st.sampled_from(["pkgname", "pkgver", "pkgbase", "pkgdesc", "url", "arch", "size",
                            "builddate", "packager", "group", "license", "depend",
                            "optdepend", "provides", "conflict", "replaces", "backup",
                            "xdata", "# comment"])
    lines = draw(st.lists(st.tuples(keys if careful else keys | TEXT.any,
                                    st.just(" = ") if careful else
                                    st.sampled_from([" = ", "=", " =", ""]),
                                    TEXT.of(careful)), max_size=8))
    return _b("\n".join(k + sep + v for k, sep, v in lines))


@FUZZ
@given(st.one_of(pkginfos(), st.binary(max_size=300)), MUTATIONS)
def test_pacman_pkginfo(data: bytes, mutation: Mutation) -> None:
    pkg = Unpacked({".PKGINFO": mutate(data, mutation)})
    # first read by pkgfile.unpack, inside the unpacking() of PacmanFamily.unpack,
    # which turns these into Die
    info: dict[str, list[str]] = {}
    with refused_only(ValueError, OSError, Unsafe):
        info = pkg.info
    # what the local database is written from (PacmanFamily.register, once the
    # name and version were found to be the database's)
    if info.get("pkgname") and info.get("pkgver"):
        with refused_only():
            localdb.desc(pkg, False, 1700000000, "pgp")
            localdb.entry_dir(pkg)


# --------------------------------------------------------------------------- apk

APK_NAMES = Values(st.sampled_from(["musl", "so:libc.musl-x86_64.so.1", "cmd:sh", "/bin/sh",
                                     "pc:zlib", "a@testing", "busybox"]),
                   st.sampled_from(["", ".x", "a/b"]) | st.text(max_size=5))
APK_OPS = Values(st.sampled_from(["", "=", "<", "<=", ">", ">=", "~", "><"]),
                 st.sampled_from(["<~", ">~", "=~=", "<<"]))


def apk_deps(careful: bool) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", "!"]), APK_NAMES.of(careful), APK_OPS.of(careful),
                     VERSIONS.of(careful)).map(lambda t: "".join(t) if t[2] else t[0] + t[1])


Q1 = Values(st.binary(min_size=20, max_size=20).map(
    lambda raw: "Q1" + base64.b64encode(raw).decode()),
    st.sampled_from(["Q1", "Q1===", "Q1" + "A" * 27 + "=", "sha1"]) | TEXT.any)


@st.composite
def apk_indexes(draw: st.DrawFn) -> bytes:
    """An APKINDEX's text."""
    careful = draw(st.booleans())
    text, numbers = TEXT.of(careful), NUMBERS.of(careful)
    records = []
    words = st.lists(apk_deps(careful), max_size=3).map(" ".join)
    provides = st.lists(st.tuples(APK_NAMES.of(careful), st.sampled_from(["", "="]),
                                  VERSIONS.of(careful)).map("".join), max_size=3).map(" ".join)
    for _ in range(draw(st.integers(0, 3))):
        fields = [("C", draw(Q1.of(careful))), ("P", draw(APK_NAMES.of(careful))),
                  ("V", draw(st.sampled_from(["1.0-r0", "2.38_rc1-r3"]) | VERSIONS.of(careful))),
                  ("A", "x86_64"), ("S", draw(numbers)), ("I", draw(numbers)),
                  ("T", draw(text)), ("L", draw(text)), ("o", draw(text)), ("t", draw(numbers)),
                  ("k", draw(numbers)), ("D", draw(words)), ("p", draw(provides)),
                  ("i", draw(words))]
        if not careful:
            dropped = draw(st.sets(st.sampled_from(["C", "P", "V"]), max_size=1))
            fields = [f for f in fields if f[0] not in dropped]
            fields += draw(st.lists(st.tuples(CHARACTERS, text), max_size=2))
        records.append("\n".join(f"{k}:{v}" for k, v in draw(st.permutations(fields))))
    return _b("\n\n".join(records) + "\n")


APK_WHAT = "v3.20/main/x86_64/APKINDEX.tar.gz from http://mirror.invalid"


def _apk_index(content: bytes) -> None:
    index = None
    # ApkFamily.load_index (and _index) turn a ValueError into Die
    with refused_only(ValueError):
        index = apk_index.parse(content, "main", "", 0, APK_WHAT)
    for p in index.packages if index else ():
        # what select and describe read of a package, converting nothing
        with refused_only():
            p.installs, p.filename
            for d in p.depends + p.install_if:
                d.met_by(p.name, p.version, p.provides, p.field("C"))


@FUZZ
@given(apk_indexes(), st.binary(max_size=60), MUTATIONS,
       st.sampled_from(["text", "tar", "gzip"]))
@example(b"C:Q1" + base64.b64encode(bytes(20)) + b"\nP:a\nV:1\nI:\xc2\xb2\n", b"", [], "text")
def test_apk_index(text: bytes, description: bytes, mutation: Mutation, damaged: str) -> None:
    if damaged == "text":
        text = mutate(text, mutation)
    plain = tar([tar_entry(b"DESCRIPTION", description), tar_entry(b"APKINDEX", text)])
    if damaged == "tar":
        plain = mutate(plain, mutation)
    content = gzip.compress(plain, mtime=0)
    if damaged == "gzip":
        content = mutate(content, mutation)
    _apk_index(content)


@FUZZ
@given(st.binary(max_size=400))
def test_apk_index_random_bytes(data: bytes) -> None:
    _apk_index(data)


class _NoKeys:
    """Trusts no key: verify() reads the signature part, and refuses it."""
    keys: dict[str, object] = {}
    names = "(none)"


@st.composite
def signed_indexes(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from([b".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub",
                                 b".SIGN.RSA256.k.rsa.pub", b".SIGN.DSA.k", b".SIGN.RSA.",
                                 b"APKINDEX"]))
    signature = tar([tar_entry(name, draw(st.binary(max_size=40)))], end=False)
    return gzip.compress(signature, mtime=0) + gzip.compress(draw(st.binary(max_size=40)), mtime=0)


@FUZZ
@given(st.one_of(signed_indexes(), st.binary(max_size=200)), MUTATIONS)
@example(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage", [])
def test_apk_index_signature_part(data: bytes, mutation: Mutation) -> None:
    # it runs as Fetcher.index's check, which lets every exception through
    with refused_only():
        apk_index.verify(mutate(data, mutation), cast(RsaKeys, _NoKeys()),
                         "v3.20/main/x86_64/APKINDEX.tar.gz", "http://mirror.invalid")


@FUZZ
@given(apk_deps(False) | st.text(max_size=12), VERSIONS.any)
def test_apk_dependency(text: str, version: str) -> None:
    dep = None
    # index.parse refuses the record for a ValueError from its dependencies
    with refused_only(ValueError):
        dep = Dep.parse(text)
        Provide.parse(text)
    if dep is not None:
        with refused_only():
            str(dep)
            dep.met_by(dep.name, version, [Provide.parse(text)], version)


# --------------------------------------------------------------------------- rpm

RPM_NAMES = Values(st.sampled_from(["bash", "glibc", "/usr/bin/sh", "libc.so.6()(64bit)",
                                     "rpmlib(PayloadIsZstd)", "config(bash)"]),
                   st.sampled_from(["and", "(", ")", "a b"]) | st.text(max_size=5))
RPM_OPS = Values(st.sampled_from(["", " >= ", " = ", " < ", " <= ", " > "]),
                 st.sampled_from([" == ", " =< "]))
RICH_OPS = Values(st.sampled_from(["and", "or", "if", "unless", "with", "without"]),
                  st.sampled_from(["else", "xor"]))
FLAGS = Values(st.sampled_from(["EQ", "LT", "GT", "LE", "GE"]), st.sampled_from(["", "XX"]))
EPOCHS = Values(st.integers(0, 3).map(str),
                st.sampled_from(["", "-1", "\u00b2", "9" * 4400]) | TEXT.any)
# a nesting deeper than Python's recursion limit
DEEP = "(" * 1200 + "a" + ")" * 1200


def rpm_dependencies(careful: bool) -> st.SearchStrategy[str]:
    simple = st.tuples(RPM_NAMES.of(careful), RPM_OPS.of(careful), VERSIONS.of(careful)) \
        .map(lambda t: t[0] + (t[1] + t[2] if t[1] else ""))
    return st.recursive(simple, lambda inner: st.tuples(
        st.lists(inner, min_size=1, max_size=3), RICH_OPS.of(careful))
        .map(lambda t: "(" + f" {t[1]} ".join(t[0]) + ")"), max_leaves=6)


def _a(text: str) -> str:
    return quoteattr(text)


@st.composite
def rpm_entries(draw: st.DrawFn, careful: bool) -> str:
    attributes = [("name", draw(RPM_NAMES.of(careful) | rpm_dependencies(careful))),
                  ("flags", draw(FLAGS.of(careful))), ("epoch", draw(EPOCHS.of(careful))),
                  ("ver", draw(VERSIONS.of(careful))), ("rel", draw(VERSIONS.of(careful))),
                  ("pre", draw(st.sampled_from(["1", "0"])))]
    kept = draw(st.lists(st.booleans(), min_size=6, max_size=6))
    return "<rpm:entry " + " ".join(f"{k}={_a(v)}" for (k, v), keep in zip(attributes, kept)
                                    if keep or k == "name") + "/>"


CHECKSUM_TYPES = Values(st.just("sha256"), st.sampled_from(["sha", "sha512", "md5", ""]))


@st.composite
def primaries(draw: st.DrawFn) -> bytes:
    careful = draw(st.booleans())
    text, names, versions = TEXT.of(careful), RPM_NAMES.of(careful), VERSIONS.of(careful)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<metadata '
           'xmlns="http://linux.duke.edu/metadata/common" '
           'xmlns:rpm="http://linux.duke.edu/metadata/rpm">']
    for _ in range(draw(st.integers(0, 3))):
        out.append(f'<package type={_a(draw(st.sampled_from(["rpm", "src", ""])))}>'
                   f"<name>{escape(draw(names))}</name>"
                   f"<arch>{escape(draw(st.sampled_from(['x86_64', 'noarch', 'i686'])))}</arch>")
        if careful or draw(st.booleans()):
            out.append(f"<version epoch={_a(draw(EPOCHS.of(careful)))} "
                       f"ver={_a(draw(versions))} rel={_a(draw(versions))}/>")
        out.append(f"<checksum type={_a(draw(CHECKSUM_TYPES.of(careful)))} pkgid=\"YES\">"
                   f"{escape(draw(CHECKSUMS.of(careful)))}</checksum>"
                   f"<size package={_a(draw(NUMBERS.of(careful)))} "
                   f'installed={_a(draw(NUMBERS.of(careful)))} archive="1"/>')
        if careful or draw(st.booleans()):
            out.append(f"<location href={_a(draw(text))}/>")
        out.append(f"<format><rpm:license>{escape(draw(text))}</rpm:license>"
                   f"<rpm:sourcerpm>{escape(draw(text))}</rpm:sourcerpm>")
        for kind in draw(st.lists(st.sampled_from(repodata.KINDS), max_size=3, unique=True)):
            out.append(f"<rpm:{kind}>"
                       f"{''.join(draw(st.lists(rpm_entries(careful), max_size=3)))}"
                       f"</rpm:{kind}>")
        out += [f"<file>{escape(f)}</file>" for f in draw(st.lists(names, max_size=2))]
        out.append("</format></package>")
    out.append("</metadata>")
    return _b("".join(out))


FILE_TYPES = st.sampled_from(["", ' type="dir"', ' type="ghost"'])


@st.composite
def filelists(draw: st.DrawFn) -> bytes:
    careful = draw(st.booleans())
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
           '<filelists xmlns="http://linux.duke.edu/metadata/filelists">']
    for _ in range(draw(st.integers(0, 3))):
        out.append(f"<package pkgid={_a(draw(CHECKSUMS.of(careful)))} "
                   f"name={_a(draw(RPM_NAMES.of(careful)))} "
                   'arch="x86_64"><version epoch="0" ver="1" rel="1"/>')
        out += [f"<file{draw(FILE_TYPES)}>{escape(f)}</file>"
                for f in draw(st.lists(RPM_NAMES.of(careful), max_size=3))]
        out.append("</package>")
    out.append("</filelists>")
    return _b("".join(out))


@st.composite
def comps(draw: st.DrawFn) -> bytes:
    careful = draw(st.booleans())
    names = RPM_NAMES.of(careful)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<comps>']
    for _ in range(draw(st.integers(0, 3))):
        out.append(f"<group><id>{escape(draw(TEXT.of(careful)))}</id><packagelist>")
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["mandatory", "default", "optional", "conditional",
                                         "other"]))
            requires = f" requires={_a(draw(names))}" if kind == "conditional" else ""
            out.append(f"<packagereq type={_a(kind)}{requires}>{escape(draw(names))}"
                       "</packagereq>")
        out.append("</packagelist></group>")
    out.append("</comps>")
    return _b("".join(out))


@st.composite
def repomds(draw: st.DrawFn) -> bytes:
    careful = draw(st.booleans())
    kinds = st.sampled_from(["primary", "filelists", "group", "group_gz"])
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
           '<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>']
    for i in range(draw(st.integers(0, 3))):
        kind = "primary" if careful and i == 0 else draw(kinds | TEXT.of(careful))
        out.append(f"<data type={_a(kind)}>"
                   f"<checksum type={_a(draw(CHECKSUM_TYPES.of(careful)))}>"
                   f"{escape(draw(CHECKSUMS.of(careful)))}</checksum>"
                   f"<location href={_a(draw(TEXT.of(careful)))}/>"
                   f"<size>{escape(draw(NUMBERS.of(careful)))}</size></data>")
    out.append("</repomd>")
    return _b("".join(out))


@st.composite
def metalinks(draw: st.DrawFn) -> bytes:
    careful = draw(st.booleans())
    numbers = NUMBERS.of(careful)

    def verification() -> str:
        return "".join(f"<verification><hash type={_a(t)}>"
                       f"{escape(draw(CHECKSUMS.of(careful)))}</hash></verification>"
                       for t in draw(st.lists(CHECKSUM_TYPES.of(careful), max_size=2)))
    alternates = "".join(f"<mm0:alternate>{verification()}<size>{escape(draw(numbers))}</size>"
                         "</mm0:alternate>" for _ in range(draw(st.integers(0, 2))))
    urls = "".join(f"<url protocol={_a(draw(st.sampled_from(['https', 'http', 'rsync', ''])))} "
                   f"preference={_a(draw(numbers))}>{escape(draw(TEXT.any))}</url>"
                   for _ in range(draw(st.integers(0, 3))))
    name = "repomd.xml" if careful else draw(st.sampled_from(["repomd.xml", "other.xml"]))
    return _b('<?xml version="1.0" encoding="utf-8"?>\n<metalink version="3.0" '
              'xmlns="http://www.metalinker.org/" '
              'xmlns:mm0="http://fedorahosted.org/mirrormanager"><files>'
              f"<file name={_a(name)}><mm0:alternates>{alternates}</mm0:alternates>"
              f"<size>{escape(draw(numbers))}</size>{verification()}"
              f"<resources>{urls}</resources></file></files></metalink>")


def _rpm_primary(data: bytes, href: str) -> None:
    packages: list[repodata.RpmPackage] = []
    # RpmFamily._primary turns these into Die
    with refused_only(ValueError, *repodata.UNREADABLE):
        packages = list(repodata.parse_primary(
            repodata.decompressed(io.BytesIO(data), href), "fedora", f"{href} of fedora"))
    # the solver's pool, reading every dependency of every package, converting nothing
    with refused_only():
        pool = Pool(packages, "x86_64")
        for p in pool.solvables:
            for kind in repodata.KINDS:
                for dep, _ in deps_of(p, kind):
                    if isinstance(dep, Simple):
                        pool.providers(dep)


def _rpm_filelists(data: bytes, href: str) -> None:
    # RpmFamily._full_files turns these into Die
    with refused_only(ValueError, *repodata.UNREADABLE):
        for _ in repodata.parse_filelists(repodata.decompressed(io.BytesIO(data), href), href):
            pass


def _rpm_comps(data: bytes, href: str) -> None:
    # RpmFamily._comps turns these into Die
    with refused_only(ValueError, *repodata.UNREADABLE):
        repodata.parse_comps(repodata.decompressed(io.BytesIO(data), href).read(), href)


RPM_SUFFIXES = st.sampled_from(["", ".gz", ".xz", ".zst"])


def _package(requires: str = "b", epoch: str = "0", checksum: str = "sha256") -> bytes:
    """A primary.xml of one package, which requires and provides one thing."""
    return _b('<metadata xmlns="http://linux.duke.edu/metadata/common" '
              'xmlns:rpm="http://linux.duke.edu/metadata/rpm"><package type="rpm"><name>a</name>'
              '<version epoch="0" ver="1" rel="1"/><location href="a.rpm"/>'
              f'<checksum type={_a(checksum)}>{"ab" * 32}</checksum><arch>noarch</arch><format>'
              f"<rpm:requires><rpm:entry name={_a(requires)}/></rpm:requires>"
              f'<rpm:provides><rpm:entry name="b" flags="EQ" epoch={_a(epoch)} ver="1"/>'
              "</rpm:provides></format></package></metadata>")


# an encoding Python does not know, or that is not one
UNKNOWN_ENCODING = b'<?xml version="1.0" encoding="x-unknown"?><a/>'


@FUZZ
@given(st.one_of(primaries(), st.binary(max_size=300)), RPM_SUFFIXES, MUTATIONS)
@example(_package("(a and"), "", [])
@example(_package(DEEP), "", [])
@example(_package(epoch="\u00b2"), "", [])
@example(_package(checksum="md5\n"), "", [])
@example(UNKNOWN_ENCODING, "", [])
def test_rpm_primary(data: bytes, suffix: str, mutation: Mutation) -> None:
    _rpm_primary(COMPRESS[suffix](mutate(data, mutation)), "repodata/x-primary.xml" + suffix)


@FUZZ
@given(st.one_of(filelists(), st.binary(max_size=300)), RPM_SUFFIXES, MUTATIONS)
@example(b"<filelists", "", [])
@example(UNKNOWN_ENCODING, "", [])
def test_rpm_filelists(data: bytes, suffix: str, mutation: Mutation) -> None:
    _rpm_filelists(COMPRESS[suffix](mutate(data, mutation)), "repodata/x-filelists.xml" + suffix)


@FUZZ
@given(st.one_of(comps(), st.binary(max_size=300)), RPM_SUFFIXES, MUTATIONS)
@example(b'<?xml version="1.0" encoding="rot13"?><comps/>', "", [])
def test_rpm_comps(data: bytes, suffix: str, mutation: Mutation) -> None:
    _rpm_comps(COMPRESS[suffix](mutate(data, mutation)), "repodata/x-comps.xml" + suffix)


READERS: dict[str, Callable[[bytes, str], None]] = {
    "primary": _rpm_primary, "filelists": _rpm_filelists, "comps": _rpm_comps}


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("suffix", [".gz", ".xz", ".zst"])
@FUZZ
@given(document=st.one_of(primaries(), filelists(), comps()), mutation=MUTATIONS)
@example(document=b'<metadata xmlns="http://linux.duke.edu/metadata/common"/>',
         mutation=[(0, 0xFF), (4, 0)])
def test_rpm_compressed_metadata(kind: str, suffix: str, document: bytes,
                                 mutation: Mutation) -> None:
    # a damaged stream, its first bytes (and so what it is) left alone
    mutation = [(6 + where % 1000, value) for where, value in mutation]
    READERS[kind](mutate(COMPRESS[suffix](document), mutation), f"repodata/x-{kind}.xml{suffix}")


@FUZZ
@given(st.one_of(repomds(), st.binary(max_size=300)), MUTATIONS)
@example(UNKNOWN_ENCODING, [])
@example(b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="&#10;">'
         b'<checksum type="sha256"/><location href="a"/></data></repomd>', [])
def test_rpm_repomd(data: bytes, mutation: Mutation) -> None:
    # RpmFamily._repo turns a ValueError into Die
    with refused_only(ValueError):
        repodata.parse_repomd(mutate(data, mutation), "repodata/repomd.xml of fedora")


@FUZZ
@given(st.one_of(metalinks(), st.binary(max_size=300)), MUTATIONS)
@example(UNKNOWN_ENCODING, [])
def test_rpm_metalink(data: bytes, mutation: Mutation) -> None:
    # RpmFamily._repo turns a ValueError into Die
    with refused_only(ValueError):
        repodata.parse_metalink(mutate(data, mutation), "the metalink of fedora")


@FUZZ
@given(rpm_dependencies(True) | rpm_dependencies(False) | st.text(max_size=12))
@example(DEEP)
def test_rpm_rich_dependency(text: str) -> None:
    # RpmFamily.describe and order._dependency turn its ValueError into Die or
    # a plain name (the solver's deps_of does not: test_rpm_primary)
    with refused_only(ValueError):
        parse_rpm_dependency(text)


def _billion_laughs(root: str) -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return _b(f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>'
              f"<{root}><data type=\"primary\">&lol9;</data></{root.split()[0]}>")


BOMBS: dict[str, Callable[[bytes], object]] = {
    "repomd": lambda d: repodata.parse_repomd(d, "repomd.xml"),
    "primary": lambda d: list(repodata.parse_primary(io.BytesIO(d), "fedora", "primary.xml")),
    "filelists": lambda d: list(repodata.parse_filelists(io.BytesIO(d), "filelists.xml")),
    "comps": lambda d: repodata.parse_comps(d, "comps.xml"),
    "metalink": lambda d: repodata.parse_metalink(d, "metalink"),
}


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_rpm_xml_entity_bomb_is_refused_at_once(kind: str) -> None:
    """10^9 'lol's from a 1 KiB document: expat (>= 2.4) refuses the amplification,
    and the reader says so as the not well-formed XML it is."""
    started = time.monotonic()
    with pytest.raises(ValueError, match="amplification"):
        BOMBS[kind](_billion_laughs('repomd xmlns="http://linux.duke.edu/metadata/repo"'))
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- versions

def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _orders(compare: Callable[[str, str], int], a: str, b: str) -> None:
    with refused_only():
        assert compare(a, a) == 0, a
        ab, ba = compare(a, b), compare(b, a)
        assert _sign(ab) == -_sign(ba), f"compare({a!r}, {b!r}) = {ab}, the other way {ba}"


def _apk(a: str, b: str) -> int:
    with refused_only():
        apk_version.valid(a)
        apk_version.compare(a, b, fuzzy=True)
    return apk_version.compare(a, b)


COMPARATORS: dict[str, Callable[[str, str], int]] = {
    "deb": deb_version.compare, "pacman": pacman_version.vercmp, "apk": _apk,
    "rpmvercmp": rpm_version.rpmvercmp, "rpm-evr": rpm_version.compare_text}


@pytest.mark.parametrize("kind", sorted(COMPARATORS))
@FUZZ
@given(a=VERSIONS.any, b=VERSIONS.any)
@example(a="\u00b2:1", b="1")                  # a digit to isdigit(), not to int()
@example(a="9" * 4400, b="1")                   # past int()'s 4300 digits
@example(a="9" * 4400 + ":1", b="1")
@example(a="1.0\udc80", b="1.0")               # a name's bytes that are not UTF-8
@example(a="1.0_rc1", b="1.0~abc")
@example(a="\u00e9", b="\u00fc")               # letters, but not ASCII ones
def test_version_order(kind: str, a: str, b: str) -> None:
    _orders(COMPARATORS[kind], a, b)
