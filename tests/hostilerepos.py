"""Hostile packages for every family, built byte by byte and published the way
each family's mirror publishes a real one, signed by the test keys, so every
check before unpacking passes and the attack reaches the tree writer and the
steps after it.

An attack is a few packages, each a list of entries (E) that says what the
package holds in no family's words; each family turns them into its own
format: a tar (deb, pacman, apk), or an rpm header listing the files and a
cpio payload holding them."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import zstandard

import apkmirror
import archmirror
import debmirror
import rpmmirror
from debmirror import Signer
from rawarchive import (BLK, CHR, DIR, EPOCH, FIFO, LNK, REG, RPM_BIN, RPM_INT32, RPM_STRING,
                        RPM_STRING_ARRAY, SYM, cpio_entry, deb,
                        rpm_lead, tar, tar_entry, tar_header)

FAMILIES = ("deb", "pacman", "apk", "rpm")
VERSION = "1.0-1"


@dataclass(frozen=True)
class E:
    """One entry: kind file, dir, symlink, hardlink (link: the name of a file
    of the package, or any text), char, block, fifo or socket. size: what the
    header says of the data, a lie when it differs."""
    name: bytes
    kind: str = "file"
    data: bytes = b""
    link: bytes = b""
    mode: Optional[int] = None
    rdev: tuple[int, int] = (0, 0)
    size: Optional[int] = None


@dataclass(frozen=True)
class Pkg:
    name: str
    entries: tuple[E, ...]
    depends: tuple[str, ...] = ()
    # raw tar (in pieces) to ship instead of the one the entries make (tar families)
    raw_tar: Optional[Callable[[bytes], list[bytes]]] = None
    # deb's data.tar: "none" or "zstd" (a bomb must be compressed to be one);
    # pacman's and rpm's are zstd, apk's gzip
    compress: str = "none"


@dataclass(frozen=True)
class Attack:
    packages: tuple[Pkg, ...]
    expected: str                    # "safe" or "refused"
    # the families whose format can say it (a tar holds no socket, an rpm's
    # hardlinks name no path)
    only: tuple[str, ...] = FAMILIES
    # per family, where the format decides the outcome otherwise
    per_family: dict[str, str] = field(default_factory=dict)
    # the package a refusal must name ("": a step after unpacking may refuse it,
    # in one line of its own)
    culprit: str = "hostile"
    # the families built with configure on (the others with --no-configure)
    configure: tuple[str, ...] = ()

    def outcome(self, family: str) -> str:
        return self.per_family.get(family, self.expected)


def _mode(e: E) -> int:
    if e.mode is not None:
        return e.mode
    return {"dir": 0o755, "symlink": 0o777}.get(e.kind, 0o644)


# --------------------------------------------------------------------------- the corpus

def _one(*entries: E, expected: str, **kw: object) -> Attack:
    return Attack((Pkg("hostile", tuple(entries)),), expected, **kw)  # type: ignore[arg-type]


def _long_pax(prefix: bytes) -> list[bytes]:
    """A pax header of BOMB bytes (zeros, made as they are compressed): read
    whole, as tarfile reads one, it would take that much memory."""
    return [tar_header(b"PaxHeaders/x", size=BOMB, kind=b"x"), ZEROS(BOMB, 512),
            tar_entry(prefix + b"after", b"x\n"), b"\0" * 1024]


def _long_gnu(prefix: bytes) -> list[bytes]:
    """A GNU long-name header of BOMB bytes."""
    return [tar_header(b"././@LongLink", size=BOMB, kind=b"L"), ZEROS(BOMB, 512),
            tar_entry(prefix + b"after", b"x\n"), b"\0" * 1024]


def _sized(name: bytes, field: bytes) -> bytes:
    """A regular file's header whose size field is field (12 bytes) as given."""
    h = bytearray(tar_header(name, size=0))
    h[124:136] = field
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _base256_size(prefix: bytes) -> list[bytes]:
    """A regular file whose size is written base-256: 2**62 bytes."""
    huge = _sized(prefix + b"usr/huge", b"\x80" + (1 << 62).to_bytes(11, "big"))
    return [tar([tar_entry(prefix + b"usr/", kind=DIR), huge + b"x" * 512], end=False)]


def _negative_size(prefix: bytes) -> list[bytes]:
    """A regular file whose size is -1 (base-256 negative), then another."""
    return [tar([tar_entry(prefix + b"usr/", kind=DIR), _sized(prefix + b"usr/neg", b"\xff" * 12),
                 tar_entry(prefix + b"usr/after", b"x\n")])]


BOMB = 300 << 20      # bytes of zeros in the bomb's one file
PAST = 40 << 20       # bytes of zeros in a file its index says is not there


def attacks(canary: bytes) -> dict[str, Attack]:
    """canary: the absolute path of a directory outside the tree (holding a file
    `file`) that an escape would reach."""
    up = b"../" * 24 + canary.lstrip(b"/")
    usr = E(b"usr", "dir")
    planted = Pkg("early-planter", (usr, E(b"usr/out", "symlink", link=canary),
                                      E(b"usr/cf", "symlink", link=canary + b"/file")))
    return {
        "dotdot": _one(E(b"../../../escaped", data=b"x\n"), expected="refused"),
        "absolute-name": _one(E(canary + b"/escaped", data=b"x\n"), expected="safe"),
        "symlink-out-then-through": _one(
            usr, E(b"usr/out", "symlink", link=canary), E(b"usr/out/escaped", data=b"x\n"),
            expected="safe"),
        "relative-symlink-up-then-through": _one(
            usr, E(b"usr/up", "symlink", link=up), E(b"usr/up/escaped", data=b"x\n"),
            expected="safe"),
        "symlink-out-then-overwrite": _one(
            usr, E(b"usr/cf", "symlink", link=canary + b"/file"),
            E(b"usr/cf", data=b"overwritten\n"), expected="safe",
            # rpm's header is the authority and names /usr/cf twice: the payload's
            # link is then not the file the header describes
            per_family={"rpm": "refused"}),
        "symlink-planted-by-another-package": Attack(
            (planted, Pkg("hostile", (usr, E(b"usr/out/escaped", data=b"x\n"),
                                      E(b"usr/cf", data=b"overwritten\n")),
                          depends=("early-planter",))), "safe"),
        "hardlink-out": _one(
            usr, E(b"usr/hl", "hardlink", link=b"../../../" + canary.lstrip(b"/") + b"/file"),
            expected="refused", only=("deb", "pacman", "apk")),
        "hardlink-through-symlink": _one(
            usr, E(b"usr/cf", "symlink", link=canary + b"/file"),
            E(b"usr/hl", "hardlink", link=b"usr/cf"), expected="refused",
            only=("deb", "pacman", "apk")),
        "hardlink-through-planted-symlink": Attack(
            (planted, Pkg("hostile", (usr, E(b"usr/hl", "hardlink", link=b"usr/cf")),
                          depends=("early-planter",))), "refused",
            only=("deb", "pacman", "apk")),
        "directory-replaced-by-symlink": _one(
            usr, E(b"usr/d", "dir"), E(b"usr/d/a", data=b"a\n"),
            E(b"usr/d", "symlink", link=canary), E(b"usr/d/escaped", data=b"x\n"),
            # rpm: the header's last word on /usr/d (a link) stands for both
            expected="refused", per_family={"rpm": "safe"}),
        "hardlink-to-directory": _one(usr, E(b"usr/hd", "hardlink", link=b"usr"),
                                      expected="refused", only=("deb", "pacman", "apk")),
        "symlink-loop": _one(usr, E(b"usr/a", "symlink", link=b"b"),
                             E(b"usr/b", "symlink", link=b"a"), E(b"usr/a/x", data=b"x\n"),
                             expected="refused"),
        "non-utf8-name": _one(usr, E(b"usr/caf\xe9", data=b"x\n"), expected="safe"),
        "device-and-fifo": _one(
            E(b"dev", "dir"), E(b"dev/evil-mem", "char", mode=0o666, rdev=(1, 1)),
            E(b"dev/evil-disk", "block", mode=0o666, rdev=(8, 0)),
            E(b"dev/evil-fifo", "fifo", mode=0o666), expected="safe"),
        "socket": _one(usr, E(b"usr/evil.sock", "socket", mode=0o777), expected="refused",
                       only=("rpm",)),
        "setuid-file": _one(usr, E(b"usr/suid", data=b"#!/bin/sh\n", mode=0o4755),
                            expected="safe"),
        "overlong-component": _one(usr, E(b"usr/" + b"n" * 300, data=b"x\n"),
                                   expected="refused"),
        "overlong-path": _one(usr, E(b"usr/" + b"d" * 200 + b"/" + b"/".join([b"e" * 200] * 24),
                                     data=b"x\n"), expected="refused"),
        "duplicate-file": _one(usr, E(b"usr/twice", data=b"first\n"),
                               E(b"usr/twice", data=b"second\n"), expected="safe",
                               per_family={"rpm": "refused"}),
        "file-then-directory": _one(usr, E(b"usr/x/", "dir"), E(b"usr/x", data=b"x\n"),
                                    E(b"usr/x/y", data=b"y\n"), expected="refused"),
        "lying-size-longer": _one(usr, E(b"usr/lie", data=b"short\n", size=1 << 20),
                                  E(b"usr/after", data=b"x\n"), expected="refused"),
        "lying-size-shorter": _one(usr, E(b"usr/lie", data=b"A" * 2048, size=3),
                                   E(b"usr/after", data=b"x\n"), expected="refused"),
        "huge-pax-header": Attack((Pkg("hostile", (), raw_tar=_long_pax, compress="zstd"),),
                                  "refused", only=("deb", "pacman", "apk")),
        "huge-gnu-long-name": Attack((Pkg("hostile", (), raw_tar=_long_gnu, compress="zstd"),),
                                     "refused", only=("deb", "pacman", "apk")),
        "base-256-size": Attack((Pkg("hostile", (), raw_tar=_base256_size),), "refused",
                                only=("deb", "pacman", "apk")),
        "negative-size": Attack((Pkg("hostile", (), raw_tar=_negative_size),), "refused",
                                only=("deb", "pacman", "apk")),
        "decompression-bomb": Attack(
            (Pkg("hostile", (usr, E(b"usr/zeros", data=b"", size=BOMB)), compress="zstd"),),
            "refused"),
        # under the decompression bound (256 MiB of output however small the input),
        # far past what the signed index says the package installs (1 byte or KiB)
        "past-its-declared-size": _one(usr, E(b"usr/zeros", data=bytes(PAST)),
                                       expected="refused"),
    }


def host_side(canary: bytes) -> dict[str, Attack]:
    """Links out where rootstrap itself writes: its databases, seeded files and
    sources, configure's policy-rc.d and stand-in tools, the sandbox's mount
    points. Configure is on, but for deb: the fixture has no dpkg, so there
    configuring fails (after policy-rc.d and the stand-ins are written) and
    the steps after it are reached with --no-configure. apk lays out /etc/apk
    before the first package: a link cannot replace it."""
    most = ("pacman", "apk", "rpm")
    return {
        "etc-symlink-out": _one(E(b"etc", "symlink", link=canary), expected="safe",
                                per_family={"apk": "refused"}, configure=most),
        # deb: a merged /usr's links are laid out first, usr/sbin among them
        "usr-sbin-symlink-out": _one(E(b"usr", "dir"), E(b"usr/sbin", "symlink", link=canary),
                                     expected="safe", per_family={"deb": "refused"},
                                     configure=most),
        "var-lib-symlink-out": _one(E(b"var", "dir"), E(b"var/lib", "symlink", link=canary),
                                    expected="safe", configure=most),
        "seeded-files-symlink-out": _one(
            E(b"etc", "dir"), E(b"usr", "dir"), E(b"usr/sbin", "dir"),
            *(E(b"etc/" + d, "symlink", link=canary) for d in (
                b"pacman.d", b"apk", b"yum.repos.d")),
            *(E(f, "symlink", link=canary + b"/file") for f in (
                b"etc/hostname", b"etc/hosts", b"etc/resolv.conf", b"etc/machine-id",
                b"etc/pacman.conf", b"etc/fstab", b"usr/sbin/policy-rc.d")),
            E(b".rootstrap", "symlink", link=canary),
            expected="safe", per_family={"apk": "refused", "deb": "refused"}, culprit="",
            configure=FAMILIES),
        "mountpoints-symlink-out": _one(
            *(E(d, "symlink", link=canary) for d in (b"dev", b"proc", b"sys", b"run")),
            expected="safe", per_family={"apk": "refused"}, configure=most),
        # where rootstrap records /dev's nodes: a link to itself (refused in one
        # line by the step that meets it)
        "dev-link-loop": _one(E(b"dev", "symlink", link=b"dev"), expected="refused",
                              culprit="", configure=most),
    }


# --------------------------------------------------------------------------- tar families

KINDS = {"file": REG, "dir": DIR, "symlink": SYM, "hardlink": LNK, "char": CHR,
         "block": BLK, "fifo": FIFO}


def tar_of(pkg: Pkg, prefix: bytes) -> list[bytes]:
    """The package's data tar, in pieces (a bomb's zeros are not held in memory
    at once: they are made as they are compressed)."""
    if pkg.raw_tar is not None:
        return pkg.raw_tar(prefix)
    pieces = [tar_entry(prefix, kind=DIR)] if prefix else []
    for e in pkg.entries:
        name = e.name if e.name.startswith(b"/") else prefix + e.name
        if e.kind == "dir" and not name.endswith(b"/"):
            name += b"/"
        if e.size is not None:
            # the header lies about the data that follows (a bomb's: its zeros)
            pieces.append(tar_header(name, size=e.size, mode=_mode(e)))
            pieces.append(e.data + b"\0" * (-len(e.data) % 512) if e.data
                          else ZEROS(e.size, 512))
            continue
        link = e.link
        if e.kind == "hardlink" and not link.startswith((b"/", b"../")):
            link = prefix + link
        pieces.append(tar_entry(name, e.data, kind=KINDS[e.kind], mode=_mode(e), link=link,
                                major=e.rdev[0], minor=e.rdev[1]))
    return pieces + [b"\0" * 1024]


class ZEROS(bytes):
    """A run of zero bytes (padded to align), made only as it is compressed."""
    size: int
    align: int

    def __new__(cls, size: int, align: int) -> "ZEROS":
        self = super().__new__(cls)
        self.size, self.align = size, align
        return self


def _stream(pieces: Sequence[bytes], write: Callable[[bytes], object]) -> None:
    chunk = b"\0" * (1 << 20)
    for p in pieces:
        if isinstance(p, ZEROS):
            left = p.size + -p.size % p.align
            while left > 0:
                write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
        else:
            write(p)


def compressed(pieces: Sequence[bytes], how: str) -> bytes:
    if how == "zstd":
        import io
        raw = io.BytesIO()
        with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as z:
            _stream(pieces, z.write)
        return raw.getvalue()
    if how == "gzip":
        import io
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as g:
            _stream(pieces, g.write)
        return raw.getvalue()
    assert how == "none"
    out: list[bytes] = []
    _stream(pieces, out.append)
    return b"".join(out)


# --------------------------------------------------------------------------- publishing

@dataclass
class Published:
    """A mirror to build from: the rootstrap arguments that point a recipe at it."""
    root: Path
    args: Callable[[str], list[object]]       # server URL -> recipe name and options
    filenames: dict[str, str]                 # package name -> its file name


def publish(family: str, packages: Sequence[Pkg], root: Path, signer: Signer,
            apk_key: "apkmirror.ApkKey", debs: Sequence[Path] = ()) -> Published:
    return {"deb": _deb, "pacman": _pacman, "apk": _apk, "rpm": _rpm}[family](
        packages, root, signer, apk_key, debs)  # type: ignore[operator]


def _deb(packages: Sequence[Pkg], root: Path, signer: Signer, apk_key: object,
         debs: Sequence[Path]) -> Published:
    folder = root / "debs"
    folder.mkdir(parents=True)
    names = {}
    files = list(debs)
    for p in packages:
        control = (f"Package: {p.name}\nVersion: {VERSION}\nArchitecture: all\n"
                   "Maintainer: rootstrap tests <tests@rootstrap.invalid>\nInstalled-Size: 1\n"
                   + (f"Depends: {', '.join(p.depends)}\n" if p.depends else "")
                   + "Description: a hostile package\n built byte by byte\n").encode()
        names[p.name] = f"{p.name}_{VERSION}_all.deb"
        data = tar_of(p, b"./")
        if p.compress == "zstd":
            body = deb(control, compressed(data, "zstd"), b"data.tar.zst")
        else:
            body = deb(control, compressed(data, "none"))
        (folder / names[p.name]).write_bytes(body)
        files.append(folder / names[p.name])
    repo = debmirror.mirror_real_debs(root / "mirror", "bookworm", files, signer=signer)
    # the essential set where debs are given (to configure with), else only the packages
    variant = [] if debs else ["--variant", "custom"]
    keyring = signer.keyring
    return Published(repo.root, lambda url: [
        "debian", "--release", "bookworm", *variant, "--mirror", url, "--keyring", keyring],
        names)


def _pacman(packages: Sequence[Pkg], root: Path, signer: Signer, apk_key: object,
            debs: object) -> Published:
    build = root / "build"
    build.mkdir(parents=True)
    names, files = {}, []
    for p in packages:
        info = (f"pkgname = {p.name}\npkgbase = {p.name}\npkgver = {VERSION}\n"
                f"pkgdesc = a hostile package\nurl = https://rootstrap.invalid/\n"
                f"builddate = {EPOCH}\npackager = rootstrap tests\nsize = 1\narch = any\n"
                "license = MIT\n" + "".join(f"depend = {d}\n" for d in p.depends)).encode()
        pieces = tar_of(p, b"")
        pieces = [tar_entry(b".PKGINFO", info)] + pieces
        names[p.name] = f"{p.name}-{VERSION}-any.pkg.tar.zst"
        (build / names[p.name]).write_bytes(compressed(pieces, "zstd"))
        files.append(build / names[p.name])
    archmirror.build_repo(root / "mirror", "core", archmirror.ARCH, files, signer)
    # the recipe's release reads core and extra: an empty extra beside
    extra = root / "mirror" / "extra" / "os" / archmirror.ARCH
    extra.mkdir(parents=True)
    (extra / "extra.db").write_bytes(gzip.compress(b"\0" * 1024, mtime=0))
    archmirror.sign_file(extra / "extra.db", signer)
    shutil.rmtree(build)
    _readable(root)
    keyring = signer.keyring
    return Published(root / "mirror", lambda url: [
        "arch", "--variant", "custom", "--mirror", f"{url}/$repo/os/$arch",
        "--keyring", keyring], names)


def _apk(packages: Sequence[Pkg], root: Path, signer: object, key: "apkmirror.ApkKey",
         debs: object) -> Published:
    repos = apkmirror.AlpineRepos(root / "mirror", key)
    names = {}
    for p in packages:
        spec = apkmirror.Spec(p.name, "1.0-r1", depends=p.depends)
        built = _apk_file(spec, key, repos.repo_dir("main"),
                          compressed(tar_of(p, b""), "gzip"))
        repos.built[(p.name, spec.version)] = built
        names[p.name] = spec.filename
    repos.reindex("main")
    repos.reindex("community")
    _readable(root)
    return Published(repos.root, lambda url: [
        "alpine", "--variant", "custom", "--release", apkmirror.BRANCH, "--mirror", url,
        "--keyring", key.folder], names)


def _apk_file(spec: "apkmirror.Spec", key: "apkmirror.ApkKey", out: Path,
              data: bytes) -> "apkmirror.Built":
    """As apkmirror.build_apk, of a data part already compressed."""
    info = apkmirror._pkginfo(spec, 1, hashlib.sha256(data).hexdigest()).encode()
    control = apkmirror.gz(apkmirror.tar_bytes([(apkmirror._info(".PKGINFO", 0o644), info)],
                                               cut=True))
    apk = apkmirror.signature_member(key, control) + control + data
    out.mkdir(parents=True, exist_ok=True)
    (out / spec.filename).write_bytes(apk)
    return apkmirror.Built(spec, out / spec.filename, apkmirror.q1(control), len(apk), 1)


# rpm's file modes
S_IF = {"file": 0o100000, "dir": 0o040000, "symlink": 0o120000, "hardlink": 0o100000,
        "char": 0o020000, "block": 0o060000, "fifo": 0o010000, "socket": 0o140000}
RPM_INT16 = 3


def rpm_header(entries: Sequence[tuple[int, int, object]], region: int) -> bytes:
    """An rpm header with its immutable region (tag 63, or 62 in the signature
    header), as rpm writes them and as rpm and createrepo_c insist on reading."""
    index, data = b"", b""
    ordered = sorted(entries, key=lambda e: e[0])
    for tag, kind, value in ordered:
        if kind in (RPM_INT16, RPM_INT32):
            width, fmt = (2, "H") if kind == RPM_INT16 else (4, "I")
            data += b"\0" * (-len(data) % width)
            body, count = struct.pack(f">{len(value)}{fmt}", *value), len(value)  # type: ignore
        elif kind == RPM_STRING:
            body, count = value + b"\0", 1  # type: ignore[operator]
        elif kind == RPM_STRING_ARRAY:
            body, count = b"".join(v + b"\0" for v in value), len(value)  # type: ignore
        else:
            body, count = bytes(value), len(value)  # type: ignore[call-overload,arg-type]
        index += struct.pack(">IIII", tag, kind, len(data), count)
        data += body
    n = len(ordered) + 1
    index = struct.pack(">IIII", region, RPM_BIN, len(data), 16) + index
    data += struct.pack(">IIiI", region, RPM_BIN, -n * 16, 16)
    return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", n, len(data)) + index + data


def rpm_package(p: Pkg, signer: Signer) -> bytes:
    """A signed rpm of the package's entries: the header is the authority on
    names, kinds and modes; the payload holds them in that order (a lying size
    is the cpio header's). rpm's hardlinks share an inode and name no path:
    they are not made here."""
    files: list[tuple[bytes, int, bytes, bytes, int]] = []   # path, mode, data, link, rdev
    payload: list[bytes] = []
    for i, e in enumerate(p.entries):
        assert e.kind != "hardlink", "an rpm's hardlinks name no path"
        path = b"/" + e.name.lstrip(b"/").rstrip(b"/")
        mode = S_IF[e.kind] | _mode(e)
        data = e.link if e.kind == "symlink" else e.data
        files.append((path, mode, data, e.link, os.makedev(*e.rdev)))
        entry = cpio_entry(b"." + path, data, mode=mode, ino=i + 1)
        if e.size is not None:
            entry = entry[:54] + b"%08X" % e.size + entry[62:]
        payload.append(entry)
        if e.size is not None and not data:
            payload.append(ZEROS(e.size, 4))       # the bomb: its zeros follow
    payload.append(cpio_entry(b"TRAILER!!!", mode=0, ino=0, nlink=1, mtime=0))
    body = compressed(payload, "zstd")
    dirs = sorted({f[0].rpartition(b"/")[0] + b"/" for f in files})
    dirindex = [dirs.index(f[0].rpartition(b"/")[0] + b"/") for f in files]
    reqs = list(p.depends)
    h = rpm_header([
        (1000, RPM_STRING, p.name.encode()), (1001, RPM_STRING, b"1.0"),
        (1002, RPM_STRING, b"1"), (1004, RPM_STRING, b"a hostile package"),
        (1005, RPM_STRING, b"built byte by byte"), (1006, RPM_INT32, [EPOCH]),
        (1009, RPM_INT32, [1]), (1014, RPM_STRING, b"MIT"),
        (1016, RPM_STRING, b"Unspecified"), (1021, RPM_STRING, b"linux"),
        (1022, RPM_STRING, b"x86_64"),
        (1044, RPM_STRING, p.name.encode() + b"-1.0-1.src.rpm"),
        (1047, RPM_STRING_ARRAY, [p.name.encode()]), (1112, RPM_INT32, [8]),
        (1113, RPM_STRING_ARRAY, [b"1.0-1"]),
        *([(1049, RPM_STRING_ARRAY, [r.encode() for r in reqs]),
           (1048, RPM_INT32, [0] * len(reqs)),
           (1050, RPM_STRING_ARRAY, [b""] * len(reqs))] if reqs else []),
        *([(1116, RPM_INT32, dirindex),
           (1117, RPM_STRING_ARRAY, [f[0].rpartition(b"/")[2] for f in files]),
           (1118, RPM_STRING_ARRAY, dirs),
           (1030, RPM_INT16, [f[1] & 0xFFFF for f in files]),
           (1028, RPM_INT32, [len(f[2]) if f[1] >> 12 == 8 else 0 for f in files]),
           (1033, RPM_INT16, [f[4] & 0xFFFF for f in files]),
           (1034, RPM_INT32, [EPOCH] * len(files)),
           (1035, RPM_STRING_ARRAY, [hashlib.sha256(f[2]).hexdigest().encode()
                                     if f[1] >> 12 == 8 else b"" for f in files]),
           (1036, RPM_STRING_ARRAY, [f[3] for f in files]),
           (1037, RPM_INT32, [0] * len(files)),
           (1039, RPM_STRING_ARRAY, [b"root"] * len(files)),
           (1040, RPM_STRING_ARRAY, [b"root"] * len(files)),
           (1096, RPM_INT32, list(range(1, len(files) + 1))),
           (1095, RPM_INT32, [1] * len(files))] if files else []),
        (1124, RPM_STRING, b"cpio"), (1125, RPM_STRING, b"zstd"),
        (1126, RPM_STRING, b"19"),
        (5011, RPM_INT32, [8]),
        (5092, RPM_STRING_ARRAY, [hashlib.sha256(body).hexdigest().encode()]),
        (5093, RPM_INT32, [8])], 63)
    sig = debmirror._gpg(signer.home, "--local-user", signer.fingerprint, "--detach-sign",
                         "-o", "-", input=h)
    s = rpm_header([(267, RPM_BIN, sig),
                    (273, RPM_STRING, hashlib.sha256(h).hexdigest().encode()),
                    (1000, RPM_INT32, [len(h) + len(body)])], 62)
    return rpm_lead(p.name.encode() + b"-1.0-1") + s + b"\0" * (-len(s) % 8) + h + body


def _rpm(packages: Sequence[Pkg], root: Path, signer: Signer, apk_key: object,
         debs: object) -> Published:
    names = {}
    for repo in ("fedora", "updates"):
        (root / "mirror" / repo / "Packages").mkdir(parents=True)
    for p in packages:
        names[p.name] = f"{p.name}-1.0-1.x86_64.rpm"
        (root / "mirror" / "fedora" / "Packages" / names[p.name]).write_bytes(
            rpm_package(p, signer))
    for repo in ("fedora", "updates"):
        repomd = rpmmirror.createrepo(root / "mirror" / repo)
        rpmmirror.sign_repomd(repomd, signer)
    _readable(root)
    keyring = signer.keyring
    return Published(root / "mirror", lambda url: [
        "fedora", "--variant", "custom", "--mirror", f"{url}/fedora",
        "--mirror", f"{url}/updates", "--keyring", keyring], names)


def _readable(root: Path) -> None:
    for top, dirs, files in os.walk(root):
        os.chmod(top, 0o755)
        for f in files:
            os.chmod(os.path.join(top, f), 0o644)
