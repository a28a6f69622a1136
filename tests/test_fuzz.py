"""Fuzzing the readers of every package format and the tree writer they feed.

Archives are built byte by byte (rawarchive) from names, kinds and link
targets hypothesis picks — '..', absolute names, links out of the tree and
through each other, names that are not UTF-8, NUL and newline — and their bytes
are then mutated at random. Whatever comes in, a package's unpacking ends in a
tree or in rootstrap's one-line error (Die), never another exception, and
nothing beside the tree changes: a canary directory and file sit where an
escape would land.

The budget is short by default (CI); ROOTSTRAP_FUZZ=long runs many more
examples and keeps what it finds in .hypothesis/ to replay."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

import apkmirror
from bootstrap.archive import DAMAGED, ar_members, open_tar, tar_to_tree
from bootstrap.errors import Die
from bootstrap.families import unpacking
from bootstrap.ledger import Ledger
from bootstrap.treewriter import TreeWriter, Unsafe
from rawarchive import (BLK, CHR, DIR, FIFO, LNK, REG, SYM, RPM_INT32, RPM_STRING,
                        RPM_STRING_ARRAY, ar, cpio, cpio_entry, rpm_header, rpm_lead, tar,
                        tar_entry)

# no "explain" phase: it replays every failing example many times over
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
settings.register_profile("ci", max_examples=40, deadline=None, database=None, phases=PHASES,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("long", max_examples=5000, deadline=None, phases=PHASES,
                          database=DirectoryBasedExampleDatabase(
                              str(Path(__file__).resolve().parent.parent / ".hypothesis")),
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile("long" if os.environ.get("ROOTSTRAP_FUZZ") == "long" else "ci")

# stands for the canary directory's absolute path (known only once a box exists)
CANARY = b"@CANARY@"

# name parts an attacker would try, beside anything at all
PARTS = st.one_of(
    st.sampled_from([b"..", b".", b"", b"etc", b"usr", b"bin", b"a", b"b", b"link",
                     b"caf\xe9", b"\xff\xfe", b"a\nb", b"a\0b", b"x" * 255, b"x" * 300,
                     CANARY]),
    st.binary(min_size=1, max_size=12))
NAMES = st.lists(PARTS, min_size=1, max_size=5).map(b"/".join) | \
    st.sampled_from([b"/", b"./", b"/etc/passwd", b"../canary/escaped", CANARY + b"/escaped"])
TARGETS = NAMES | st.sampled_from([b"..", b"../..", b"../../..", b"/", CANARY, b"../canary"])
KINDS = st.sampled_from([REG, REG, DIR, SYM, SYM, LNK, CHR, BLK, FIFO, b"7", b"g", b"L"])


@st.composite
def entries(draw: st.DrawFn) -> list[tuple[bytes, bytes, bytes, bytes, int]]:
    """(name, kind, link target, contents, mode) of up to 8 members."""
    return draw(st.lists(st.tuples(NAMES, KINDS, TARGETS, st.binary(max_size=40),
                                   st.sampled_from([0o644, 0o755, 0o4755, 0o777, 0o7777, 0])),
                         max_size=8))


Mutation = list[tuple[int, int]]
MUTATIONS = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6)


def mutate(data: bytes, mutation: Mutation, cut: int = 0) -> bytes:
    out = bytearray(data)
    for where, value in mutation:
        if out:
            out[where % len(out)] = value
    return bytes(out[:len(out) - cut if cut < len(out) else len(out)])


class Box:
    """A folder holding the tree, a canary directory and a canary file beside it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.root.mkdir()
        self.incoming = base / "in"         # the packages, as downloaded
        self.incoming.mkdir()
        self.canary = base / "canary"
        self.canary.mkdir()
        (self.canary / "file").write_bytes(b"canary\n")
        (base / "canary-file").write_bytes(b"canary\n")
        self.before = self.outside()

    def name(self, raw: bytes) -> bytes:
        return raw.replace(CANARY, os.fsencode(self.canary))

    def outside(self) -> dict[str, tuple[int, int, str]]:
        """Everything beside the tree: type and mode, size, and contents."""
        seen = {}
        for top, dirs, files in os.walk(self.base):
            if Path(top) == self.base:
                dirs.remove("root")
                dirs.remove("in")
            for name in dirs + files:
                path = os.path.join(top, name)
                st_ = os.lstat(path)
                digest = ""
                if stat.S_ISREG(st_.st_mode):
                    with open(path, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                seen[path] = (st_.st_mode, st_.st_size, digest)
        return seen

    def check(self) -> None:
        assert self.outside() == self.before, "something beside the tree changed"


@contextmanager
def box() -> Iterator[Box]:
    # hypothesis runs many examples per test: a fresh folder for each
    base = Path(tempfile.mkdtemp(prefix="rootstrap-fuzz-"))
    try:
        yield Box(base)
    finally:
        for top, dirs, _ in os.walk(base):
            for d in dirs:      # a mode 000 directory would stop rmtree
                os.chmod(os.path.join(top, d), 0o700, follow_symlinks=False) \
                    if not os.path.islink(os.path.join(top, d)) else None
        shutil.rmtree(base)


def _tar(b: Box, members: list[tuple[bytes, bytes, bytes, bytes, int]],
         prefix: bytes = b"") -> bytes:
    out = []
    for name, kind, link, data, mode in members:
        name, link = b.name(name), b.name(link)
        pax = None
        if len(name) > 100 or len(link) > 100 or b"\0" in name or b"\0" in link:
            pax = {b"path": prefix + name, b"linkpath": link}
            name, link = b"long", b"long"
        body = data if kind == REG else b""
        try:
            out.append(tar_entry(prefix + name, body, pax=pax, kind=kind, mode=mode,
                                 link=link[:100], major=1, minor=3))
        except ValueError:           # does not fit ustar even split: as pax only
            out.append(tar_entry(b"long", body, pax={b"path": prefix + name}, kind=kind,
                                 mode=mode))
    return tar(out)


def _unpacks_or_refuses(b: Box, run: Callable[[], object], name: str) -> None:
    """The contract a user sees: a tree, or one line; nothing outside touched."""
    try:
        with unpacking(name, "http://mirror.invalid"):
            run()
    except Die as e:
        assert "\n" not in e.message, e.message
    b.check()


def _writer(b: Box) -> TreeWriter:
    return TreeWriter(b.root, Ledger())


# --------------------------------------------------------------------------- tree writer

@given(entries())
def test_tree_writer_confines_every_tar(members):
    with box() as b:
        data = _tar(b, members)
        writer = _writer(b)

        def run() -> None:
            tar_to_tree(open_tar(io.BytesIO(data)), writer)
        try:
            run()
        except (Unsafe, ValueError, OSError, *DAMAGED):
            pass
        b.check()
        for path in writer.ledger.entries:
            assert not path.startswith("/") and ".." not in path.split("/"), path


@given(entries(), MUTATIONS, st.integers(0, 600))
def test_mutated_tar_streams_end_in_a_tree_or_a_refusal(members, mutation, cut):
    with box() as b:
        raw = mutate(_tar(b, members), mutation, cut)
        writer = _writer(b)

        def run() -> None:
            try:
                tar_to_tree(open_tar(io.BytesIO(raw)), writer)
            except DAMAGED as e:       # as each family words it
                raise ValueError(f"damaged data.tar: {e}") from None
        _unpacks_or_refuses(b, run, "fuzz.tar")


@given(st.binary(max_size=300), MUTATIONS)
def test_ar_reader_takes_any_bytes(tail, mutation):
    data = mutate(ar([(b"debian-binary", b"2.0\n"), (b"control.tar.gz", tail)]), mutation)
    try:
        for _, member in ar_members(io.BytesIO(data), "fuzz"):
            member.read()
    except ValueError:
        pass


# --------------------------------------------------------------------------- families

CONTROL = (b"Package: fuzz\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t.invalid>\n"
           b"Description: fuzz\n fuzz\n")


@given(entries(), MUTATIONS, st.booleans(), st.binary(max_size=80))
def test_deb_unpack(members, mutation, mutate_control, extra_control):
    from bootstrap.families.deb import debfile, dpkgdb
    with box() as b:
        control = tar([tar_entry(b"./control", CONTROL + extra_control if mutate_control
                                 else CONTROL),
                       tar_entry(b"./triggers", extra_control)])
        data = mutate(_tar(b, members, b"./"), mutation)
        deb = b.incoming / "fuzz.deb"
        deb.write_bytes(ar([(b"debian-binary", b"2.0\n"),
                            (b"control.tar.gz", gzip.compress(control, mtime=0)),
                            (b"data.tar", data)]))
        writer = _writer(b)

        def run() -> None:
            unpacked = debfile.unpack(deb, writer)
            dpkgdb.skeleton(writer, "amd64")
            dpkgdb.register(writer, [unpacked])
        _unpacks_or_refuses(b, run, "fuzz.deb")


PKGINFO = b"pkgname = fuzz\npkgver = 1-1\narch = any\nsize = 1\n"


@given(entries(), MUTATIONS, st.binary(max_size=80))
def test_pacman_unpack(members, mutation, extra_info):
    from bootstrap.families.pacman import localdb, pkgfile
    with box() as b:
        data = _tar(b, [(b".PKGINFO", REG, b"", PKGINFO + extra_info, 0o644)] + members)
        pkg = b.incoming / "fuzz-1-1-any.pkg.tar.gz"
        pkg.write_bytes(gzip.compress(mutate(data, mutation), mtime=0))
        writer = _writer(b)

        def run() -> None:
            unpacked = pkgfile.unpack(pkg, writer)
            # the family refuses a package that is not the one the database names
            # before registering it (PacmanFamily.unpack)
            if unpacked.info.get("pkgname") != ["fuzz"] or \
                    unpacked.info.get("pkgver") != ["1-1"]:
                raise ValueError("the package says it is another")
            localdb.skeleton(writer)
            localdb.register(writer, unpacked, True, 1700000000)
        _unpacks_or_refuses(b, run, pkg.name)


@pytest.fixture(scope="module")
def apk_key(tmp_path_factory):  # type: ignore[no-untyped-def]
    return apkmirror.make_key(tmp_path_factory.mktemp("apkkey"), "fuzz-0001")


@given(entries(), MUTATIONS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
def test_apk_unpack(apk_key, members, mutation):
    from bootstrap.families.apk import package
    with box() as b:
        data = mutate(_tar(b, members), mutation)
        built = apkmirror.build_apk(apkmirror.Spec("fuzz", "1-r0"), apk_key, b.incoming,
                                    data_tar=data)

        def run() -> None:
            with open(built.path, "rb") as f:
                parts = package.read_parts(f)
            package.unpack(built.path, parts, _writer(b))
        _unpacks_or_refuses(b, run, built.path.name)


@st.composite
def rpm_files(draw: st.DrawFn) -> list[tuple[bytes, int, bytes, bytes]]:
    """(path, mode, contents, link target) of up to 6 files."""
    modes = st.sampled_from([0o100644, 0o100755, 0o104755, 0o40755, 0o120777, 0o20644,
                             0o60644, 0o10644, 0o140644, 0o644])
    return draw(st.lists(st.tuples(NAMES, modes, st.binary(max_size=30), TARGETS),
                         max_size=6))


@given(rpm_files(), MUTATIONS, st.booleans())
def test_rpm_unpack(files, mutation, mutate_header):
    from bootstrap.families.rpm import header, payload
    with box() as b:
        files = [(b"/" + b.name(p).lstrip(b"/"), m, c, b.name(t)) for p, m, c, t in files]
        dirs = sorted({p.rsplit(b"/", 1)[0] + b"/" for p, *_ in files})
        h = rpm_header([
            (1000, RPM_STRING, b"fuzz"), (1001, RPM_STRING, b"1"), (1002, RPM_STRING, b"1"),
            (1022, RPM_STRING, b"x86_64"),
            (1116, RPM_INT32, [dirs.index(p.rsplit(b"/", 1)[0] + b"/") for p, *_ in files]),
            (1117, RPM_STRING_ARRAY, [p.rsplit(b"/", 1)[1] for p, *_ in files]),
            (1118, RPM_STRING_ARRAY, dirs),
            (1030, RPM_INT32, [m for _, m, _, _ in files]),
            (1028, RPM_INT32, [len(c) for _, _, c, _ in files]),
            (1035, RPM_STRING_ARRAY, [hashlib.sha256(c).hexdigest().encode() for _, _, c, _ in
                                      files]),
            (1036, RPM_STRING_ARRAY, [t for *_, t in files]),
            (1039, RPM_STRING_ARRAY, [b"root"] * len(files)),
            (1040, RPM_STRING_ARRAY, [b"root"] * len(files)),
            (5011, RPM_INT32, [8])])
        body = cpio([cpio_entry(b"." + p, c, mode=m, ino=i + 1)
                     for i, (p, m, c, _) in enumerate(files)])
        if mutate_header:
            h = mutate(h, mutation)
        else:
            body = mutate(body, mutation)
        sig = rpm_header([(1000, RPM_INT32, [len(h) + len(body)])])
        path = b.incoming / "fuzz-1-1.x86_64.rpm"
        path.write_bytes(rpm_lead(b"fuzz-1-1") + sig + b"\0" * (-len(sig) % 8) + h + body)
        writer = _writer(b)

        def run() -> None:
            with open(path, "rb") as f:
                pkg = header.read_package(f)
            payload.unpack(path, pkg.payload_start, pkg.header, writer, lambda u, g: (0, 0))
        _unpacks_or_refuses(b, run, path.name)
