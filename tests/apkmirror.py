"""Alpine repositories for tests, in apk's exact formats, built the way abuild
builds them (there is no apk tooling to build them with here).

A package is three gzip members laid end to end (`gzip -n -9`): a signature tar
holding `.SIGN.RSA.<keyname>` (what `openssl dgst -sha1 -sign` makes over the
compressed control member, as abuild-sign does), the control tar (.PKGINFO
first, then the scripts) and the data tar; the first two have their end blocks
cut, as `abuild-tar --cut` leaves them. Data entries carry the
APK-TOOLS.checksum.SHA1 PAX record abuild-tar adds (for symlinks, of the link
target). APKINDEX.tar.gz is a signature member over the compressed rest, then a
tar of DESCRIPTION and APKINDEX, records in apk's field order. Keys are
throwaway RSA keys from openssl.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

EPOCH = 1700000000
ARCH = "x86_64"
BRANCH = "v3.20"


# --------------------------------------------------------------------------- keys

@dataclass
class ApkKey:
    private: Path
    public: Path          # <name>.rsa.pub; its file name is the key's name

    @property
    def name(self) -> str:
        return self.public.name

    @property
    def folder(self) -> Path:
        """A folder holding only this public key (a --keyring)."""
        return self.public.parent


def make_key(directory: Path, name: str) -> ApkKey:
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / f"{name}.rsa"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True,
                   capture_output=True)
    public_dir = directory / f"{name}-public"
    public_dir.mkdir(exist_ok=True)
    public = public_dir / f"{name}.rsa.pub"
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True)
    for p in (public_dir, public):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return ApkKey(private, public)


def openssl_sign(key: ApkKey, data: bytes, algorithm: str = "sha1") -> bytes:
    """The signature abuild-sign makes: `openssl dgst -sha1 -sign KEY FILE`."""
    proc = subprocess.run(["openssl", "dgst", f"-{algorithm}", "-sign", str(key.private)],
                          input=data, capture_output=True, check=True)
    return proc.stdout


# --------------------------------------------------------------------------- tars

def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def tar_bytes(entries: Sequence[tuple[tarfile.TarInfo, Optional[bytes]]], cut: bool) -> bytes:
    """A tar of entries; cut: without the end blocks (abuild-tar --cut)."""
    raw = io.BytesIO()
    tar = tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
    for info, data in entries:
        if data is not None:
            info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    end = tar.offset
    tar.close()
    return raw.getvalue()[:end] if cut else raw.getvalue()


def signature_member(key: ApkKey, signed: bytes, kind: str = "RSA") -> bytes:
    algorithm = {"RSA": "sha1", "RSA256": "sha256"}[kind]
    sig = openssl_sign(key, signed, algorithm)
    info = tarfile.TarInfo(f".SIGN.{kind}.{key.name}")
    info.size, info.mode, info.mtime = len(sig), 0o644, EPOCH
    return gz(tar_bytes([(info, sig)], cut=True))


def q1(raw: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(raw).digest()).decode()


# --------------------------------------------------------------------------- packages

@dataclass(frozen=True)
class F:
    """One data entry: kind file, dir, symlink or hardlink (target: the link's text,
    or the path a hardlink names)."""
    path: str
    content: bytes = b""
    mode: Optional[int] = None
    kind: str = "file"
    target: str = ""
    uid: int = 0
    gid: int = 0
    uname: str = "root"
    gname: str = "root"
    xattrs: tuple[tuple[str, bytes], ...] = ()
    checksum: Optional[str] = None      # a lying APK-TOOLS.checksum.SHA1


@dataclass(frozen=True)
class Spec:
    name: str
    version: str
    files: tuple[F, ...] = ()
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    install_if: tuple[str, ...] = ()
    priority: Optional[int] = None
    replaces: tuple[str, ...] = ()
    replaces_priority: Optional[int] = None
    triggers: tuple[str, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()    # (".post-install", text)
    description: str = ""
    repo: str = "main"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.apk"


@dataclass
class Built:
    spec: Spec
    path: Path
    identity: str          # C:
    size: int              # S:
    installed: int         # I:


def _data_entries(spec: Spec) -> list[tuple[tarfile.TarInfo, Optional[bytes]]]:
    out = []
    for f in sorted(spec.files, key=lambda f: f.path.encode()):
        info = tarfile.TarInfo(f.path + ("/" if f.kind == "dir" else ""))
        info.mtime, info.uid, info.gid = EPOCH, f.uid, f.gid
        info.uname, info.gname = f.uname, f.gname
        pax = {f"SCHILY.xattr.{k}": v.decode("latin-1") for k, v in f.xattrs}
        data: Optional[bytes] = None
        if f.kind == "dir":
            info.type, info.mode = tarfile.DIRTYPE, f.mode or 0o755
        elif f.kind == "symlink":
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, f.target, 0o777
            pax["APK-TOOLS.checksum.SHA1"] = hashlib.sha1(f.target.encode()).hexdigest()
        elif f.kind == "hardlink":
            info.type, info.linkname, info.mode = tarfile.LNKTYPE, f.target, f.mode or 0o644
        else:
            info.mode, info.size, data = f.mode or 0o644, len(f.content), f.content
            pax["APK-TOOLS.checksum.SHA1"] = f.checksum or hashlib.sha1(f.content).hexdigest()
        info.pax_headers = pax
        out.append((info, data))
    return out


def _pkginfo(spec: Spec, size: int, datahash: str) -> str:
    lines = ["# Generated by rootstrap's tests (tests/apkmirror.py)",
             f"pkgname = {spec.name}", f"pkgver = {spec.version}",
             f"pkgdesc = {spec.description or spec.name + ' (fixture)'}",
             "url = https://rootstrap.invalid/", f"builddate = {EPOCH}",
             "packager = rootstrap tests <tests@rootstrap.invalid>", f"size = {size}",
             f"arch = {ARCH}", f"origin = {spec.name}"]
    if spec.replaces_priority is not None:
        lines.append(f"replaces_priority = {spec.replaces_priority}")
    if spec.priority is not None:
        lines.append(f"provider_priority = {spec.priority}")
    lines.append("license = MIT")
    lines += [f"replaces = {r}" for r in spec.replaces]
    lines += [f"depend = {d}" for d in spec.depends]
    lines += [f"provides = {p}" for p in spec.provides]
    if spec.triggers:
        lines.append(f"triggers = {' '.join(spec.triggers)}")
    if spec.install_if:
        lines.append(f"install_if = {' '.join(spec.install_if)}")
    lines.append(f"datahash = {datahash}")
    return "\n".join(lines) + "\n"


def build_apk(spec: Spec, key: ApkKey, out: Path, *, kind: str = "RSA",
              signed: bool = True, data_tar: Optional[bytes] = None) -> Built:
    """data_tar: the data part's tar as given (built byte by byte), instead of
    the one spec.files make."""
    data = gz(data_tar if data_tar is not None else tar_bytes(_data_entries(spec), cut=False))
    installed = sum(len(f.content) for f in spec.files if f.kind == "file") or 1
    members = [(_info(".PKGINFO", 0o644), _pkginfo(spec, installed,
                                                   hashlib.sha256(data).hexdigest()).encode())]
    for name, text in spec.scripts:
        members.append((_info(name, 0o755), text.encode()))
    control = gz(tar_bytes([(i, d) for i, d in members], cut=True))
    apk = (signature_member(key, control, kind) if signed else b"") + control + data
    out.mkdir(parents=True, exist_ok=True)
    path = out / spec.filename
    path.write_bytes(apk)
    path.chmod(0o644)
    return Built(spec, path, q1(control), len(apk), installed)


def _info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, EPOCH
    return info


# --------------------------------------------------------------------------- indexes

def index_record(b: Built, identity: Optional[str] = None,
                 version: Optional[str] = None) -> str:
    s = b.spec
    fields = [("C", identity or b.identity), ("P", s.name), ("V", version or s.version),
              ("A", ARCH),
              ("S", str(b.size)), ("I", str(b.installed)),
              ("T", s.description or f"{s.name} (fixture)"),
              ("U", "https://rootstrap.invalid/"), ("L", "MIT"), ("o", s.name),
              ("m", "rootstrap tests <tests@rootstrap.invalid>"), ("t", str(EPOCH)),
              ("c", "0123456789abcdef0123456789abcdef01234567")]
    if s.priority is not None:
        fields.append(("k", str(s.priority)))
    if s.depends:
        fields.append(("D", " ".join(s.depends)))
    if s.provides:
        fields.append(("p", " ".join(s.provides)))
    if s.install_if:
        fields.append(("i", " ".join(s.install_if)))
    return "".join(f"{k}:{v}\n" for k, v in fields)


def build_index(built: Sequence[Built], folder: Path, key: ApkKey, description: str,
                kind: str = "RSA", identities: Optional[dict[str, str]] = None,
                versions: Optional[dict[str, str]] = None) -> Path:
    """versions: what the index says of packages' versions instead (a lie)."""
    text = "\n".join(index_record(b, (identities or {}).get(b.spec.name),
                                  (versions or {}).get(b.spec.name)) for b in built)
    entries = [(_info("DESCRIPTION", 0o644), description.encode()),
               (_info("APKINDEX", 0o644), (text + "\n").encode())]
    for info, data in entries:
        info.size = len(data)
    content = gz(tar_bytes(entries, cut=False))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "APKINDEX.tar.gz"
    path.write_bytes(signature_member(key, content, kind) + content)
    path.chmod(0o644)
    return path


# --------------------------------------------------------------------------- fixture

CAPABILITY = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
BASE_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
BASE_GROUP = "root:x:0:root\ntty:x:5:\nnogroup:x:65533:\n"
BASE_SHADOW = "root:*::0:::::\nnobody:!::0:::::\n"
MINIROOTFS_WORLD = ("alpine-baselayout", "alpine-keys", "apk-tools", "busybox", "libc-utils")


def fixture_specs(busybox: str, key: ApkKey) -> list[Spec]:
    """A small Alpine: the minirootfs world and what exercises apk's corners."""
    bb = Path(busybox).read_bytes()
    d = lambda p, **kw: F(p, kind="dir", **kw)                     # noqa: E731
    return [
        Spec("alpine-baselayout-data", "3.6.5-r0", replaces=("alpine-baselayout",),
             replaces_priority=1000, files=(
                 d("etc"), F("etc/passwd", BASE_PASSWD.encode()),
                 F("etc/group", BASE_GROUP.encode()),
                 F("etc/shadow", BASE_SHADOW.encode(), mode=0o640, gid=42, gname="shadow"),
                 F("etc/hostname", b"localhost\n"), F("etc/mtab", kind="symlink",
                                                      target="../proc/mounts"))),
        Spec("alpine-baselayout", "3.6.5-r0",
             depends=("alpine-baselayout-data=3.6.5-r0", "/bin/sh"), files=(
                 d("bin"), d("dev"), d("etc"), d("home"), d("lib"), d("proc"),
                 d("root", mode=0o700), d("run"), d("sbin"), d("sys"),
                 d("tmp", mode=0o1777), d("usr"), d("usr/bin"), d("usr/lib"), d("usr/sbin"),
                 d("usr/share"), d("var"), d("var/log"),
                 F("var/run", kind="symlink", target="/run")),
             scripts=((".pre-install", "#!/bin/sh\n"
                       "grep -q '^shadow:' etc/group || echo 'shadow:x:42:' >> etc/group\n"),
                      (".post-install", "#!/bin/sh\nchown root:shadow etc/shadow\n"
                       "echo post-install \"$1\" >> var/log/fixture-scripts\n"))),
        Spec("alpine-keys", "2.4-r1", files=(
            d("etc"), d("etc/apk"), d("etc/apk/keys"),
            F(f"etc/apk/keys/{key.name}", key.public.read_bytes()))),
        Spec("alpine-release", "3.20.3-r0", files=(
            d("etc"), F("etc/alpine-release", b"3.20.3\n"),
            F("etc/os-release", b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n'))),
        Spec("busybox", "1.36.1-r29", provides=("cmd:busybox=1.36.1-r29",),
             triggers=("/bin", "/usr/bin", "/sbin", "/usr/sbin", "/lib/modules/*"), files=(
                 d("bin"), F("bin/busybox", bb, mode=0o755),
                 d("usr"), d("usr/share"), d("usr/share/fixture"),
                 F("usr/share/fixture/busybox", b"a directory of several packages\n")),
             scripts=((".trigger", "#!/bin/busybox sh\n"
                       "echo trigger \"$@\" >> /var/log/fixture-scripts\n"
                       "exec /bin/busybox --install -s\n"),)),
        Spec("busybox-binsh", "1.36.1-r29", priority=100, depends=("busybox=1.36.1-r29",),
             provides=("/bin/sh", "cmd:sh=1.36.1-r29"), replaces=("busybox-initscripts",),
             files=(d("bin"), F("bin/sh", kind="symlink", target="/bin/busybox"))),
        Spec("musl", "1.2.5-r0", provides=("so:libc.musl-x86_64.so.1=1",), files=(
            d("lib"), F("lib/ld-musl-x86_64.so.1", b"\x7fELF not really\n", mode=0o755),
            F("lib/libc.musl-x86_64.so.1", kind="symlink", target="ld-musl-x86_64.so.1"))),
        Spec("musl-utils", "1.2.5-r0", depends=("so:libc.musl-x86_64.so.1",),
             provides=("libc-utils=1.2.5-r0", "cmd:getent=1.2.5-r0"),
             files=(d("usr"), d("usr/bin"), F("usr/bin/getent", b"#!/bin/sh\n", mode=0o755))),
        Spec("libfoo", "1.1-r0", provides=("so:libfoo.so.1=1",),
             files=(d("usr"), d("usr/lib"), F("usr/lib/libfoo.so.1", b"old\n"))),
        Spec("libfoo", "1.3-r0", repo="community", provides=("so:libfoo.so.1=1",),
             files=(d("usr"), d("usr/lib"), F("usr/lib/libfoo.so.1", b"new\n"))),
        Spec("libssl3", "3.3.2-r0", depends=("so:libc.musl-x86_64.so.1",),
             provides=("so:libssl.so.3=3",), replaces=("openssl",),
             files=(d("usr"), d("usr/lib"), F("usr/lib/libssl.so.3", b"ssl\n"))),
        Spec("apk-tools", "2.14.4-r0",
             depends=("musl>=1.2.3_git20230424", "libfoo>=1.2", "so:libc.musl-x86_64.so.1",
                      "so:libssl.so.3", "alpine-release"),
             provides=("cmd:apk=2.14.4-r0",), files=(
                 d("sbin"), F("sbin/apk", b"#!/bin/sh\necho apk stand-in\n", mode=0o755),
                 d("usr"), d("usr/share"), d("usr/share/fixture"),
                 F("usr/share/fixture/apk-tools", b"the same directory\n"),
                 d("usr/share/doc"), d("usr/share/doc/apk-tools"),
                 F("usr/share/doc/apk-tools/a", b"one inode, two names\n"),
                 F("usr/share/doc/apk-tools/b", kind="hardlink",
                   target="usr/share/doc/apk-tools/a"))),
        Spec("ssl_client", "1.36.1-r29", depends=("so:libssl.so.3",),
             install_if=("busybox=1.36.1-r29", "libssl3"),
             files=(d("usr"), d("usr/bin"), F("usr/bin/ssl_client", b"#!/bin/sh\n", mode=0o755))),
        Spec("iputils-ping", "20240117-r0", repo="community", files=(
            d("bin"), F("bin/ping", b"#!/bin/sh\n", mode=0o755,
                        xattrs=(("security.capability", CAPABILITY),)))),
        Spec("fixd", "1.0-r0", depends=("/bin/sh",), files=(
            d("var"), d("var/lib"), d("var/lib/fixd", mode=0o750, uid=999, gid=999,
                                       uname="fixd", gname="fixd"),
            F("var/lib/fixd/state", b"mine\n", mode=0o600, uid=999, gid=999, uname="fixd",
              gname="fixd"),
            d("usr"), d("usr/bin"),
            F("usr/bin/fixd-su", b"#!/bin/sh\n", mode=0o4755)),
             scripts=((".pre-install", "#!/bin/sh\n"
                       "echo 'fixd:x:4321:' >> etc/group\n"
                       "echo 'fixd:x:4321:4321:fixture daemon:/var/lib/fixd:/sbin/nologin'"
                       " >> etc/passwd\n"),)),
        Spec("grumpy", "1.0-r0", depends=("!busybox-binsh",),
             files=(d("usr"), d("usr/share"), F("usr/share/grumpy", b"no sh for me\n"))),
    ]


@dataclass
class AlpineRepos:
    root: Path                       # serve this; mirror URL = server.url
    key: ApkKey
    built: dict[tuple[str, str], Built] = field(default_factory=dict)   # (name, version)

    def package(self, name: str, version: Optional[str] = None) -> Built:
        return next(b for (n, v), b in self.built.items()
                    if n == name and (version is None or v == version))

    def copy(self, root: Path) -> "AlpineRepos":
        """The same repositories copied to root, to change without touching these."""
        import shutil
        shutil.copytree(self.root, root, symlinks=True)
        return AlpineRepos(root, self.key, {
            k: Built(b.spec, root / b.path.relative_to(self.root), b.identity, b.size,
                     b.installed)
            for k, b in self.built.items()})

    def repo_dir(self, repo: str) -> Path:
        return self.root / BRANCH / repo / ARCH

    def reindex(self, repo: str, key: Optional[ApkKey] = None, kind: str = "RSA",
                identities: Optional[dict[str, str]] = None,
                versions: Optional[dict[str, str]] = None) -> Path:
        built = [b for b in self.built.values() if b.spec.repo == repo]
        return build_index(built, self.repo_dir(repo), key or self.key,
                           f"rootstrap fixture {BRANCH} {repo}", kind, identities, versions)


TESTING_ONLY = Spec("newthing", "0.1-r0", repo="testing", depends=("/bin/sh",),
                    files=(F("usr", kind="dir"), F("usr/share", kind="dir"),
                           F("usr/share/newthing", b"only in edge's testing\n")))


def alpine_fixture(root: Path, key: ApkKey, busybox: str = "/bin/busybox") -> AlpineRepos:
    """v3.20 (main, community) and edge (the same, and testing with one more)."""
    repos = AlpineRepos(root, key)
    for spec in fixture_specs(busybox, key):
        repos.built[(spec.name, spec.version)] = build_apk(spec, key, repos.repo_dir(spec.repo))
    for repo in ("main", "community"):
        repos.reindex(repo)
        edge = root / "edge" / repo / ARCH
        shutil.copytree(repos.repo_dir(repo), edge)
    testing = build_apk(TESTING_ONLY, key, root / "edge" / "testing" / ARCH)
    build_index([testing], root / "edge" / "testing" / ARCH, key, "rootstrap fixture testing")
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
    return repos
