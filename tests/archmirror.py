"""Build signed Arch Linux repositories for tests, with Arch's own tools.

Every package is built by the real `makepkg` from a generated PKGBUILD whose
package() recreates the declared files with install/ln/chown/chmod. makepkg runs
package() and the archiving under fakeroot, so the .pkg.tar.* carries non-root
owners, setuid bits, symlinks and real hardlinks exactly as for a real Arch
package, together with the .PKGINFO, .BUILDINFO, .MTREE (and .INSTALL) that
makepkg writes. makepkg refuses to run as root, so as root it runs as an
unprivileged builder user (`runuser`).

Repository databases come from the real `repo-add`, signatures from `gpg` with
the throwaway keys of debmirror.make_signer. The repositories are laid out like
an Arch mirror, `ROOT/<repo>/os/<arch>/`, so a pacman `Server =
<url>/$repo/os/$arch` reaches them when ROOT is served (debmirror.MirrorServer).

`reference_root` installs packages with the host's own pacman into a fresh root:
the content oracle that rootstrap's pacman family is compared against.
"""
from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from debmirror import FIXTURE_EPOCH, MirrorServer, Signer, _gpg

ARCH = "x86_64"
PACKAGER = "rootstrap tests <tests@rootstrap.invalid>"
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
PKGEXTS = (".pkg.tar.zst", ".pkg.tar.xz", ".pkg.tar.gz")

# Arch's own ids, chosen so the names a Debian host would give never leak in:
# gid 11 is "ftp" on Arch and has no name on Debian (Debian's 50 is "staff",
# Arch's 50 is "games"); gid 5 is "tty" on both; 1234 is nobody's on either.
FTP_GID = 11
FTP_UID = 14
TTY_GID = 5
FIXTURE_UID = 1234
FIXTURE_GID = 1234

FIXTURE_LOG_DIR = "/var/lib/fixture"
SCRIPTLET_LOG = f"{FIXTURE_LOG_DIR}/scriptlets.log"
HOOK_LOG = f"{FIXTURE_LOG_DIR}/hook.log"
PACMAN_KEY_LOG = f"{FIXTURE_LOG_DIR}/pacman-key.log"


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class FileSpec:
    """One entry of a package.

    kind: "file", "dir", "symlink" (target = the link text) or "hardlink"
    (target = the path, in the package, of a file declared earlier).
    mode: None means 0644 for a file and 0755 for a directory; it is ignored for
    symlinks and hardlinks (a hardlink shares its target's inode).
    content: the bytes of a file (None: empty); source: a host file whose bytes
    to ship instead (e.g. /bin/busybox), copied next to the PKGBUILD.
    Parent directories that are not declared are created 0755 root:root, as
    `install -D` does in a real PKGBUILD; the archive holds them too.
    """

    path: str
    content: Optional[bytes] = None
    mode: Optional[int] = None
    uid: int = 0
    gid: int = 0
    kind: str = "file"
    target: str = ""
    source: Optional[str] = None

    @property
    def relpath(self) -> str:
        return self.path.strip("/")

    @property
    def effective_mode(self) -> int:
        if self.mode is not None:
            return self.mode
        return 0o755 if self.kind == "dir" else 0o644


@dataclass(frozen=True)
class PkgSpec:
    """What a PKGBUILD declares. version is "[epoch:]pkgver-pkgrel"."""

    name: str
    version: str = "1.0-1"
    arch: str = ARCH
    desc: str = ""
    depends: Sequence[str] = ()
    provides: Sequence[str] = ()
    conflicts: Sequence[str] = ()
    replaces: Sequence[str] = ()
    groups: Sequence[str] = ()
    optdepends: Sequence[str] = ()
    backup: Sequence[str] = ()
    install: Optional[str] = None  # the .INSTALL script text
    files: Sequence[FileSpec] = ()

    @property
    def epoch(self) -> str:
        return self.version.split(":", 1)[0] if ":" in self.version else ""

    @property
    def pkgver(self) -> str:
        return self.version.split(":", 1)[-1].rsplit("-", 1)[0]

    @property
    def pkgrel(self) -> str:
        return self.version.rsplit("-", 1)[1]

    def filename(self, pkgext: str = ".pkg.tar.zst") -> str:
        """The file makepkg writes: name-[epoch:]pkgver-pkgrel-arch.pkg.tar.*"""
        return f"{self.name}-{self.version}-{self.arch}{pkgext}"


# --------------------------------------------------------------------------- makepkg

# A complete makepkg.conf, so nothing depends on the host's (Debian's has
# CHOST=x86_64-linux-gnu and strips binaries). Options keep the archive to
# exactly the files package() made: no strip, no debug package, docs, .la and
# static libraries kept, empty directories kept, nothing zipped or purged.
MAKEPKG_CONF = f"""\
CARCH="{ARCH}"
CHOST="x86_64-pc-linux-gnu"
CFLAGS="-O2"
CXXFLAGS="-O2"
LDFLAGS=""
MAKEFLAGS=""
BUILDENV=(!distcc !color !ccache !check !sign)
OPTIONS=(!strip docs libtool staticlibs emptydirs !zipman !purge !debug !lto)
INTEGRITY_CHECK=(sha256)
DLAGENTS=('file::/usr/bin/curl -gqC - -o %o %u')
PURGE_TARGETS=()
COMPRESSGZ=(gzip -c -f -n)
COMPRESSXZ=(xz -c -z -T1 -)
COMPRESSZST=(zstd -c -z -q -T1 -)
PKGEXT='.pkg.tar.zst'
SRCEXT='.src.tar.gz'
"""


def _bash_array(values: Sequence[str]) -> str:
    return "(" + " ".join(shlex.quote(v) for v in values) + ")"


def _pkgbuild(spec: PkgSpec, sources: Sequence[tuple[str, str]]) -> str:
    """PKGBUILD text; SOURCES: (file name next to the PKGBUILD, sha256)."""
    lines = [
        "# Generated by rootstrap's tests (tests/archmirror.py).",
        f"pkgname={shlex.quote(spec.name)}",
        f"pkgver={shlex.quote(spec.pkgver)}",
        f"pkgrel={shlex.quote(spec.pkgrel)}",
    ]
    if spec.epoch:
        lines.append(f"epoch={shlex.quote(spec.epoch)}")
    lines += [
        f"pkgdesc={shlex.quote(spec.desc or f'rootstrap test package {spec.name}')}",
        f"arch=({shlex.quote(spec.arch)})",
        "url='https://rootstrap.invalid/'",
        "license=('custom:none')",
    ]
    for key in ("depends", "provides", "conflicts", "replaces", "groups", "optdepends",
                "backup"):
        values = list(getattr(spec, key))
        if key == "backup":
            values = [v.strip("/") for v in values]
        if values:
            lines.append(f"{key}={_bash_array(values)}")
    if spec.install is not None:
        lines.append(f"install={shlex.quote(spec.name + '.install')}")
    names = [n for n, _ in sources]
    if names:
        lines += [f"source={_bash_array(names)}",
                  f"noextract={_bash_array(names)}",
                  f"sha256sums={_bash_array([s for _, s in sources])}"]
    lines += ["options=(!strip emptydirs !debug)",
              "",
              "package() {",
              "\tset -e",
              "\tcd \"$pkgdir\""]
    body: list[str] = []
    fixups: list[str] = []
    source_of = iter(names)
    for f in spec.files:
        rel = shlex.quote(f.relpath)
        parent = os.path.dirname(f.relpath)
        mkparent = [f"mkdir -p {shlex.quote(parent)}"] if parent else []
        if f.kind == "dir":
            body.append(f"install -d -m {f.effective_mode:o} {rel}")
        elif f.kind == "file" and f.source:
            src = next(source_of)
            body.append(f"install -D -m {f.effective_mode:o} \"$srcdir\"/{src} {rel}")
        elif f.kind == "file":
            # Small contents travel inside the PKGBUILD: no source handling.
            data = shlex.quote(base64.b64encode(f.content or b"").decode())
            body += mkparent
            body.append(f"printf %s {data} | base64 -d > {rel}")
        elif f.kind == "symlink":
            if not f.target:
                raise ValueError(f"{spec.name}: symlink {f.path} needs a target")
            body += mkparent
            body.append(f"ln -s {shlex.quote(f.target)} {rel}")
        elif f.kind == "hardlink":
            if not f.target:
                raise ValueError(f"{spec.name}: hardlink {f.path} needs a target")
            body += mkparent
            body.append(f"ln {shlex.quote(f.target.strip('/'))} {rel}")
        else:
            raise ValueError(f"{spec.name}: unknown file kind {f.kind!r}")
        if f.uid or f.gid:
            fixups.append(f"chown -h {f.uid}:{f.gid} {rel}")
    # chmod after every chown: chown clears setuid and setgid bits.
    for f in spec.files:
        if f.kind in ("file", "dir"):
            fixups.append(f"chmod {f.effective_mode:o} {shlex.quote(f.relpath)}")
    lines += ["\t" + line for line in body + fixups]
    lines += ["}", ""]
    return "\n".join(lines)


def _builder_ids(builder_user: str) -> Optional[tuple[int, int]]:
    """(uid, gid) to build as, or None when already unprivileged."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(builder_user)
    return pw.pw_uid, pw.pw_gid


def build_package(spec: PkgSpec, out_dir: Path, *, pkgext: str = ".pkg.tar.zst",
                  builder_user: str = "nobody") -> Path:
    """Build SPEC with makepkg into OUT_DIR; return the package path.

    As root, makepkg runs as BUILDER_USER in a private build directory under the
    system temporary directory (OUT_DIR may be unreachable for that user); the
    package is then copied to OUT_DIR. Unprivileged, makepkg runs as the caller.
    """
    if pkgext not in PKGEXTS:
        raise ValueError(f"pkgext must be one of {PKGEXTS}, not {pkgext!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = _builder_ids(builder_user)
    with tempfile.TemporaryDirectory(prefix=f"rs-makepkg-{spec.name}-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        start = work / "pkgbuild"
        start.mkdir()
        sources: list[tuple[str, str]] = []
        for i, f in enumerate(x for x in spec.files if x.kind == "file" and x.source):
            name = f"file{i:03d}"
            dest = start / name
            shutil.copyfile(str(f.source), dest)
            sources.append((name, hashlib.sha256(dest.read_bytes()).hexdigest()))
        (start / "PKGBUILD").write_text(_pkgbuild(spec, sources))
        if spec.install is not None:
            (start / f"{spec.name}.install").write_text(spec.install)
        (work / "makepkg.conf").write_text(MAKEPKG_CONF)
        for sub in ("build", "pkgdest", "srcdest", "home"):
            (work / sub).mkdir()
        env = {"PATH": SAFE_PATH, "HOME": str(work / "home"), "LANG": "C",
               "BUILDDIR": str(work / "build"), "PKGDEST": str(work / "pkgdest"),
               "SRCDEST": str(work / "srcdest"), "PKGEXT": pkgext, "PACKAGER": PACKAGER,
               "SOURCE_DATE_EPOCH": str(FIXTURE_EPOCH)}
        argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()),
                "makepkg", "--config", str(work / "makepkg.conf"),
                "--nodeps", "--nocheck", "--noconfirm", "--noprogressbar"]
        if ids is not None:
            for dirpath, dirnames, filenames in os.walk(work):
                os.chown(dirpath, *ids)
                for name in filenames:
                    os.chown(os.path.join(dirpath, name), *ids)
            argv = ["runuser", "-u", builder_user, "--", *argv]
        proc = subprocess.run(argv, cwd=start, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        built = work / "pkgdest" / spec.filename(pkgext)
        if proc.returncode != 0 or not built.is_file():
            raise RuntimeError(f"makepkg failed for {spec.name} (exit {proc.returncode}):\n"
                               f"{proc.stdout}")
        out = out_dir / built.name
        shutil.copyfile(built, out)
    out.chmod(0o644)
    return out


def build_packages(specs: Sequence[PkgSpec], out_dir: Path, *,
                   pkgexts: Optional[Mapping[str, str]] = None,
                   builder_user: str = "nobody", jobs: Optional[int] = None
                   ) -> dict[str, Path]:
    """Build SPECS (unique names) in parallel threads; return name -> package.

    PKGEXTS maps a name to its extension (default .pkg.tar.zst). makepkg costs
    about 2 s of CPU per package, nearly all of it in its own PKGBUILD linting.
    """
    if len({s.name for s in specs}) != len(specs):
        raise ValueError("build_packages: package names must be unique")
    pkgexts = pkgexts or {}
    workers = jobs or min(8, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {s.name: pool.submit(build_package, s, out_dir,
                                       pkgext=pkgexts.get(s.name, ".pkg.tar.zst"),
                                       builder_user=builder_user)
                   for s in specs}
        return {name: fut.result() for name, fut in futures.items()}


# --------------------------------------------------------------------------- repos


def sign_file(path: Path, signer: Signer) -> Path:
    """Write the binary detached signature PATH.sig (as Arch's mirrors carry)."""
    sig = path.with_name(path.name + ".sig")
    _gpg(signer.home, "--local-user", signer.fingerprint, "--yes", "--no-armor",
         "--detach-sign", "--output", str(sig), str(path))
    sig.chmod(0o644)
    return sig


def build_repo(root: Path, repo: str, arch: str, packages: Sequence[Path],
               signer: Optional[Signer], *, embed_sigs: bool = True,
               sign_db: bool = True) -> Path:
    """Make ROOT/REPO/os/ARCH: the packages, their .sig files and a repo-add database.

    With SIGNER every package gets a detached PKG.sig. EMBED_SIGS: sign before
    repo-add, which then embeds each signature as %PGPSIG% in the database; else
    sign after, so the database has no %PGPSIG% and clients must fetch PKG.sig.
    SIGN_DB (with SIGNER): `repo-add --sign`, giving REPO.db.tar.gz.sig (and
    REPO.files.tar.gz.sig). repo-add's REPO.db -> REPO.db.tar.gz symlinks (and
    those of .files and the .sig files) are replaced by copies, since a mirror
    serves them as plain files. Returns the directory.
    """
    directory = root / repo / "os" / arch
    directory.mkdir(parents=True, exist_ok=True)
    placed: list[Path] = []
    for pkg in packages:
        dest = directory / pkg.name
        if dest != pkg:
            shutil.copyfile(pkg, dest)
        placed.append(dest)
    if signer is not None and embed_sigs:
        for p in placed:
            sign_file(p, signer)
    argv = ["repo-add", "--quiet", "--nocolor"]
    env = dict(os.environ, LANG="C")
    if signer is not None and sign_db:
        argv += ["--sign", "--key", signer.fingerprint]
        env["GNUPGHOME"] = str(signer.home)
    db = directory / f"{repo}.db.tar.gz"
    proc = subprocess.run([*argv, str(db), *map(str, placed)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or not db.is_file():
        raise RuntimeError(f"repo-add {repo} failed (exit {proc.returncode}):\n{proc.stdout}")
    if signer is not None and not embed_sigs:
        for p in placed:
            sign_file(p, signer)
    for entry in directory.iterdir():
        if entry.is_symlink():
            real = entry.resolve()
            entry.unlink()
            shutil.copyfile(real, entry)
    _world_readable(root)
    return directory


def _world_readable(root: Path) -> None:
    root.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


def read_db(db: Path) -> dict[str, dict[str, list[str]]]:
    """A sync database as {directory name: {FIELD: [values]}} (via bsdtar)."""
    listing = subprocess.run(["bsdtar", "-tf", str(db)], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.split()
    result: dict[str, dict[str, list[str]]] = {}
    for member in listing:
        if not member.endswith("/desc"):
            continue
        text = subprocess.run(["bsdtar", "-xOf", str(db), member], check=True,
                              stdout=subprocess.PIPE, text=True).stdout
        fields: dict[str, list[str]] = {}
        for block in text.strip().split("\n\n"):
            head, *values = block.strip().splitlines()
            fields[head.strip("%")] = values
        result[member.rsplit("/", 1)[0]] = fields
    return result


# --------------------------------------------------------------------------- fixture

ARCH_PASSWD = (
    "root:x:0:0::/root:/usr/bin/sh\n"
    f"ftp:x:{FTP_UID}:{FTP_GID}::/srv/ftp:/usr/bin/nologin\n"
    f"fixture:x:{FIXTURE_UID}:{FIXTURE_GID}:fixture user:/home/fixture:/usr/bin/sh\n"
    "nobody:x:65534:65534:Nobody:/:/usr/bin/nologin\n")
ARCH_GROUP = (
    "root:x:0:root\n"
    f"tty:x:{TTY_GID}:\n"
    f"ftp:x:{FTP_GID}:\n"
    f"fixture:x:{FIXTURE_GID}:\n"
    "nobody:x:65534:\n")
ARCH_SHADOW = "root:*:19000::::::\nftp:!*:19000::::::\nfixture:!*:19000::::::\n" \
              "nobody:!*:19000::::::\n"
ARCH_GSHADOW = "root:::root\ntty:!*::\nftp:!*::\nfixture:!*::\nnobody:!*::\n"

PACMAN_CONF = """\
#
# /etc/pacman.conf (rootstrap test fixture, shaped like Arch's stock file)
#
[options]
HoldPkg     = pacman glibc
Architecture = auto
CheckSpace
DownloadUser = alpm
SigLevel    = Required DatabaseOptional
LocalFileSigLevel = Optional

[core]
Include = /etc/pacman.d/mirrorlist

[extra]
Include = /etc/pacman.d/mirrorlist
"""

HOOK = """\
[Trigger]
Operation = Install
Type = Path
Target = usr/share/fixture/*
Target = !usr/share/fixture/skip-*

[Action]
Description = Recording fixture files...
When = PostTransaction
Exec = /usr/bin/sh -c 'mkdir -p /var/lib/fixture; cat >> /var/lib/fixture/hook.log'
NeedsTargets
"""

SCRIPTED_INSTALL = f"""\
pre_install() {{
	mkdir -p {FIXTURE_LOG_DIR}
	echo "pre_install $1" >> {SCRIPTLET_LOG}
}}

post_install() {{
	mkdir -p {FIXTURE_LOG_DIR}
	echo "post_install $1" >> {SCRIPTLET_LOG}
	echo "configured = yes" > /etc/scripted.conf
}}
"""

# filesystem is installed before any /bin/sh exists: does its scriptlet run?
FILESYSTEM_INSTALL = f"""\
post_install() {{
	mkdir -p {FIXTURE_LOG_DIR}
	echo "filesystem post_install $1" >> {SCRIPTLET_LOG}
}}
"""

PACMAN_KEY = f"""\
#!/usr/bin/sh
# Fixture stand-in for pacman-key: records how it was called; --init leaves a
# public and a secret part, as the real one does.
mkdir -p {FIXTURE_LOG_DIR}
echo "$*" >> {PACMAN_KEY_LOG}
if [ "$1" = --init ]; then
    mkdir -p /etc/pacman.d/gnupg/private-keys-v1.d
    echo public > /etc/pacman.d/gnupg/pubring.gpg
    echo secret > /etc/pacman.d/gnupg/private-keys-v1.d/local.key
fi
"""

# The stand-in reports the configuration it was given, as `pacman -v` does, and
# the DownloadUser it would switch to for downloads (pacman 7).
PACMAN_STANDIN = """\
#!/usr/bin/sh
conf=/etc/pacman.conf
while [ $# -gt 0 ]; do
    case "$1" in --config) conf="$2"; shift;; esac
    shift
done
echo "Conf File : $conf"
grep '^ *DownloadUser' "$conf" || echo "DownloadUser: none"
"""

CORE = "core"
EXTRA = "extra"
REPOS = (CORE, EXTRA)

# What `pacman -S base` installs from the fixture (providers chosen by pacman:
# zz-virt, because core comes before extra; ab-other, by name within core).
BASE_CLOSURE = frozenset({
    "base", "filesystem", "busybox-sh", "setuid-tool", "hardlinks", "fixture-mta",
    "mailer", "libfoo", "foo-app", "scripted", "hooked", "hook-target", "zz-virt",
    "virt-user", "ab-other", "other-user", "pacman"})

# Packages not built as .pkg.tar.zst.
FIXTURE_PKGEXT = {"hardlinks": ".pkg.tar.xz", "libfoo": ".pkg.tar.gz"}


# Commands that scriptlets and hooks may call. Without these links busybox's
# shell finds its other applets only through /proc/self/exe, which a chroot
# without /proc lacks ("sh: cat: not found").
BUSYBOX_APPLETS = ("cat", "chmod", "chown", "cp", "env", "false", "grep", "id", "ln",
                   "ls", "mkdir", "mv", "rm", "sed", "sort", "touch", "true")


def _doc(name: str, text: str = "") -> FileSpec:
    return FileSpec(f"usr/share/doc/{name}/README", (text or f"{name}\n").encode())


def fixture_specs(busybox: str = "/bin/busybox") -> dict[str, list[PkgSpec]]:
    """The fixture packages by repository (core first: repository order matters)."""
    fs_dirs = [FileSpec(d, kind="dir") for d in (
        "usr", "usr/bin", "usr/lib", "usr/share", "etc", "var", "var/lib", "srv",
        "home", "run")]
    filesystem = PkgSpec(
        "filesystem", "2023.09.18-1", arch="any", desc="Base Arch Linux files (fixture)",
        install=FILESYSTEM_INSTALL,
        backup=("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"),
        files=(*fs_dirs,
               FileSpec("tmp", kind="dir", mode=0o1777),
               FileSpec("root", kind="dir", mode=0o750),
               FileSpec("srv/ftp", kind="dir", mode=0o555, gid=FTP_GID),
               FileSpec("bin", kind="symlink", target="usr/bin"),
               FileSpec("sbin", kind="symlink", target="usr/bin"),
               FileSpec("lib", kind="symlink", target="usr/lib"),
               FileSpec("lib64", kind="symlink", target="usr/lib"),
               FileSpec("usr/sbin", kind="symlink", target="bin"),
               FileSpec("etc/passwd", ARCH_PASSWD.encode()),
               FileSpec("etc/group", ARCH_GROUP.encode()),
               FileSpec("etc/shadow", ARCH_SHADOW.encode(), mode=0o600),
               FileSpec("etc/gshadow", ARCH_GSHADOW.encode(), mode=0o600),
               FileSpec("usr/lib/os-release",
                        b'NAME="Arch Linux"\nID=arch\nPRETTY_NAME="rootstrap fixture"\n'),
               FileSpec("etc/os-release", kind="symlink", target="../usr/lib/os-release"),
               FileSpec("home/fixture", kind="dir", mode=0o700, uid=FIXTURE_UID,
                        gid=FIXTURE_GID),
               FileSpec("home/fixture/hello.txt", b"owned by 1234:1234\n",
                        uid=FIXTURE_UID, gid=FIXTURE_GID)))
    busybox_sh = PkgSpec(
        "busybox-sh", "1.36.1-1", desc="/usr/bin/sh from a static busybox",
        depends=("filesystem",), provides=("sh",),
        files=(FileSpec("usr/bin/busybox", mode=0o755, source=busybox),
               FileSpec("usr/bin/sh", kind="symlink", target="busybox"),
               *(FileSpec(f"usr/bin/{applet}", kind="symlink", target="busybox")
                 for applet in BUSYBOX_APPLETS)))
    setuid_tool = PkgSpec(
        "setuid-tool", "2.0-3", desc="a setuid root and a setgid tty program",
        depends=("filesystem",),
        files=(FileSpec("usr/bin/fixture-su", b"#!/usr/bin/sh\nexit 0\n", mode=0o4755),
               FileSpec("usr/bin/fixture-wall", b"#!/usr/bin/sh\nexit 0\n", mode=0o2755,
                        gid=TTY_GID)))
    hardlinks = PkgSpec(
        "hardlinks", "0.5-1", arch="any", desc="two names of one inode",
        files=(FileSpec("usr/share/hardlinks/a", b"same inode\n"),
               FileSpec("usr/share/hardlinks/b", kind="hardlink",
                        target="usr/share/hardlinks/a")))
    mta = PkgSpec("fixture-mta", "1.0-1", provides=("smtp-server",),
                  files=(_doc("fixture-mta"),))
    mailer = PkgSpec("mailer", "1.0-1", depends=("smtp-server",), files=(_doc("mailer"),))
    zz_virt = PkgSpec("zz-virt", "1.0-1", provides=("virt-thing",),
                      files=(_doc("zz-virt"),))
    aa_virt = PkgSpec("aa-virt", "1.0-1", provides=("virt-thing",),
                      files=(_doc("aa-virt"),))
    virt_user = PkgSpec("virt-user", "1.0-1", depends=("virt-thing",),
                        files=(_doc("virt-user"),))
    bb_other = PkgSpec("bb-other", "1.0-1", provides=("other-thing",),
                       files=(_doc("bb-other"),))
    ab_other = PkgSpec("ab-other", "1.0-1", provides=("other-thing",),
                       files=(_doc("ab-other"),))
    other_user = PkgSpec("other-user", "1.0-1", depends=("other-thing",),
                         files=(_doc("other-user"),))
    libfoo = PkgSpec(
        "libfoo", "1.2-1", desc="a library with a soname provide",
        provides=("libfoo.so=1-64",),
        files=(FileSpec("usr/lib/libfoo.so.1", b"\x7fELF not really\n", mode=0o755),
               FileSpec("usr/lib/libfoo.so", kind="symlink", target="libfoo.so.1")))
    foo_app = PkgSpec(
        "foo-app", "3.1-2", desc="versioned and soname dependencies",
        depends=("libfoo.so=1-64", "libfoo>=1.0", "busybox-sh>=1.0"),
        optdepends=("mailer: to send mail",),
        files=(FileSpec("usr/bin/foo-app", b"#!/usr/bin/sh\necho foo\n", mode=0o755),))
    grp_a = PkgSpec("grp-a", "1.0-1", groups=("fixture-group",), files=(_doc("grp-a"),))
    grp_b = PkgSpec("grp-b", "1.0-1", groups=("fixture-group",), files=(_doc("grp-b"),))
    scripted = PkgSpec(
        "scripted", "1.0-1", desc="pre_install and post_install scriptlets",
        depends=("busybox-sh",), install=SCRIPTED_INSTALL,
        files=(_doc("scripted"),))
    hooked = PkgSpec(
        "hooked", "1.0-1", desc="an alpm hook and files it triggers on",
        depends=("busybox-sh",),
        files=(FileSpec("usr/share/libalpm/hooks/50-fixture.hook", HOOK.encode()),
               FileSpec("usr/share/fixture/one", b"one\n"),
               FileSpec("usr/share/fixture/two", b"two\n"),
               FileSpec("usr/share/fixture/skip-me", b"skipped by the hook\n")))
    hook_target = PkgSpec(
        "hook-target", "1.0-1", files=(FileSpec("usr/share/fixture/three", b"three\n"),))
    pacman = PkgSpec(
        "pacman", "6.0.2-9", desc="fixture stand-in for pacman", depends=("busybox-sh",),
        backup=("etc/pacman.conf",),
        files=(FileSpec("usr/bin/pacman-key", PACMAN_KEY.encode(), mode=0o755),
               FileSpec("usr/bin/pacman", PACMAN_STANDIN.encode(), mode=0o755),
               FileSpec("etc/pacman.conf", PACMAN_CONF.encode())))
    # a dependency written with an operator and no version, as real databases have
    # ('gconf>'): libalpm reads it; only installing this package can fail on it
    oddball = PkgSpec("oddball", "1.0-1", arch="any", depends=("gconf>", "busybox-sh"),
                      files=(_doc("oddball"),))
    base = PkgSpec(
        "base", "3-2", arch="any", desc="Minimal package set (fixture)",
        depends=("filesystem", "sh", "setuid-tool", "hardlinks", "mailer", "foo-app",
                 "scripted", "hooked", "hook-target", "virt-user", "other-user",
                 "pacman"))
    return {
        CORE: [filesystem, busybox_sh, setuid_tool, hardlinks, mta, mailer, zz_virt,
               bb_other, ab_other, other_user, libfoo, foo_app, scripted, hooked,
               hook_target, pacman, base],
        EXTRA: [aa_virt, virt_user, grp_a, grp_b, oddball],
    }


@dataclass
class FixtureRepos:
    """The fixture as built by arch_fixture.

    root: serve this directory; a pacman Server line for it is
    `server.format(url=BASE_URL)` (e.g. "http://127.0.0.1:8080/$repo/os/$arch",
    where pacman itself expands $repo and $arch).
    repos: repository name -> its directory ROOT/<repo>/os/x86_64, in pacman.conf
    order (core, extra). packages: package name -> its file in the served tree.
    repo_of: package name -> repository. specs: package name -> PkgSpec.
    embedded: the repositories whose database carries %PGPSIG%; the others
    need PKG.sig fetched.
    """

    root: Path
    arch: str
    repos: dict[str, Path]
    packages: dict[str, Path]
    repo_of: dict[str, str]
    specs: dict[str, PkgSpec]
    signer: Optional[Signer]
    embedded: tuple[str, ...]
    server: str = "{url}/$repo/os/$arch"
    build_seconds: float = 0.0  # wall time arch_fixture took

    def server_for(self, url: str) -> str:
        return self.server.format(url=url.rstrip("/"))


def arch_fixture(root: Path, signer: Optional[Signer], *, builder_user: str = "nobody",
                 embed_sigs: Sequence[str] = (CORE,), busybox: str = "/bin/busybox"
                 ) -> FixtureRepos:
    """Build the fixture repositories core and extra into ROOT (see fixture_specs).

    Packages are signed with SIGNER (when given), and so are the databases.
    Repositories named in EMBED_SIGS get %PGPSIG% in their database; the others
    only the PKG.sig files (by default: core embeds, extra does not).
    """
    if not os.path.isfile(busybox):
        raise RuntimeError(f"{busybox} is missing: install busybox-static")
    started = time.monotonic()
    by_repo = fixture_specs(busybox)
    staging = root / ".build"
    specs = [s for repo_specs in by_repo.values() for s in repo_specs]
    built = build_packages(specs, staging, pkgexts=FIXTURE_PKGEXT,
                           builder_user=builder_user)
    repos: dict[str, Path] = {}
    packages: dict[str, Path] = {}
    repo_of: dict[str, str] = {}
    for repo, repo_specs in by_repo.items():
        files = [built[s.name] for s in repo_specs]
        repos[repo] = build_repo(root, repo, ARCH, files, signer,
                                 embed_sigs=repo in embed_sigs)
        for s in repo_specs:
            packages[s.name] = repos[repo] / built[s.name].name
            repo_of[s.name] = repo
    shutil.rmtree(staging)
    return FixtureRepos(root=root, arch=ARCH, repos=repos, packages=packages,
                        repo_of=repo_of, specs={s.name: s for s in specs}, signer=signer,
                        embedded=tuple(r for r in by_repo if r in embed_sigs),
                        build_seconds=time.monotonic() - started)


@dataclass
class ArchMirror:
    """A built fixture (FixtureRepos) served by a debmirror.MirrorServer."""

    fixture: FixtureRepos
    server: MirrorServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def server_line(self) -> str:
        """The pacman Server value: http://127.0.0.1:PORT/$repo/os/$arch"""
        return self.fixture.server_for(self.server.url)

    @property
    def keyring(self) -> Optional[Path]:
        return self.fixture.signer.keyring if self.fixture.signer else None

    def reset(self) -> None:
        self.server.reset()


HOST_TOOLS = {"makepkg": "pacman-package-manager", "repo-add": "pacman-package-manager",
              "pacman": "pacman-package-manager", "bsdtar": "libarchive-tools",
              "fakeroot": "fakeroot", "gpg": "gpg", "zstd": "zstd", "xz": "xz-utils",
              "runuser": "util-linux"}


def missing_tools() -> list[str]:
    """What the fixture builder lacks on this host, as "tool (Debian package)"."""
    missing = [f"{tool} ({deb})" for tool, deb in HOST_TOOLS.items()
               if not shutil.which(tool, path=SAFE_PATH)]
    if not os.path.isfile("/bin/busybox"):
        missing.append("/bin/busybox (busybox-static)")
    return missing


# --------------------------------------------------------------------------- oracle


def reference_pacman_conf(repos_base_url: str, repos: Sequence[str]) -> str:
    lines = ["[options]", f"Architecture = {ARCH}", "SigLevel = Never", ""]
    for repo in repos:
        lines += [f"[{repo}]", f"Server = {repos_base_url.rstrip('/')}/$repo/os/$arch", ""]
    return "\n".join(lines)


def host_pacman(target: Path, *args: str) -> subprocess.CompletedProcess:
    """The host's pacman on TARGET's database (for -Q, -Qk, -Dk ...)."""
    return subprocess.run(["pacman", "--root", str(target), "--dbpath",
                           str(target / "var/lib/pacman"), "--noconfirm", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, LANG="C"))


def reference_root(repos_base_url: str, repos: Sequence[str], target: Path,
                   packages: Sequence[str], *, workdir: Path
                   ) -> subprocess.CompletedProcess:
    """Install PACKAGES into TARGET with the host's pacman (needs root).

    SigLevel = Never: the reference root is a content oracle, not a trust test.
    Hooks come from the target only: pacman always reads
    TARGET/usr/share/libalpm/hooks, and --hookdir replaces its default of the
    host's /etc/pacman.d/hooks with TARGET/etc/pacman.d/hooks. Scriptlets and
    hooks run chrooted into TARGET. The result is not checked: look at
    returncode, stdout and stderr (pacman's log is WORKDIR/pacman.log).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (target / "var/lib/pacman").mkdir(parents=True, exist_ok=True)
    (workdir / "cache").mkdir(exist_ok=True)
    (workdir / "gnupg").mkdir(mode=0o700, exist_ok=True)
    conf = workdir / "pacman.conf"
    conf.write_text(reference_pacman_conf(repos_base_url, repos))
    argv = ["pacman", "--root", str(target), "--dbpath", str(target / "var/lib/pacman"),
            "--cachedir", str(workdir / "cache"), "--logfile", str(workdir / "pacman.log"),
            "--gpgdir", str(workdir / "gnupg"), "--hookdir",
            str(target / "etc/pacman.d/hooks"), "--config", str(conf),
            "--noprogressbar", "-Sy", "--noconfirm", *packages]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, LANG="C"))
