"""Build signed Debian repositories for tests, with Debian's own tools.

Packages are built by `dpkg-deb --build` from a staging tree whose ownership is
set with `chown` (really, as root; under `fakeroot` otherwise), so the data.tar
inside carries non-root owners, setuid bits, symlinks and hardlinks exactly as
dpkg-deb writes them for real packages. Indexes come from `apt-ftparchive`,
signatures from `gpg` with a throwaway key in a private GNUPGHOME.

The module also serves a repository over HTTP (`MirrorServer`) the way a real
mirror behaves: Last-Modified and ETag, conditional requests answered with 304,
keep-alive connections, and a log of every request.
"""
from __future__ import annotations

import bz2
import email.utils
import gzip
import http.server
import lzma
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

# Everything the fixture builds has this date, so two builds give the same bytes.
FIXTURE_EPOCH = 1700000000

DEFAULT_SUITE = "bookworm"
ARCH = "amd64"


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class FileSpec:
    """One entry of a package's data.tar.

    kind: "file", "dir", "symlink" (target = link text) or "hardlink"
    (target = the absolute path of an earlier file of the same package).
    """

    path: str
    content: Union[bytes, str] = b""
    mode: Optional[int] = None  # default: 0755 for a dir, 0644 for a file
    uid: int = 0
    gid: int = 0
    kind: str = "file"
    target: Optional[str] = None
    source: Optional[str] = None  # copy this host file's bytes instead of content


@dataclass(frozen=True)
class PackageSpec:
    name: str
    version: str = "1.0-1"
    arch: str = ARCH
    depends: str = ""
    pre_depends: str = ""
    provides: str = ""
    conflicts: str = ""
    breaks: str = ""
    replaces: str = ""
    recommends: str = ""
    essential: bool = False
    priority: str = "optional"
    section: str = "misc"
    multi_arch: str = ""
    description: str = ""
    files: tuple[FileSpec, ...] = ()
    # maintainer scripts by name (preinst, postinst, prerm, postrm, config)
    scripts: tuple[tuple[str, str], ...] = ()
    conffiles: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        version = self.version.split(":", 1)[-1]
        return f"{self.name}_{version}_{self.arch}.deb"


# --------------------------------------------------------------------------- keys


@dataclass
class Signer:
    """A throwaway OpenPGP key: its private GNUPGHOME and its exported public key."""

    home: Path
    fingerprint: str
    keyring: Path  # binary OpenPGP public key, world-readable

    @property
    def key_id(self) -> str:
        return self.fingerprint


def _gpg(home: Path, *args: str, input: Optional[bytes] = None) -> bytes:
    proc = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--quiet", "--no-tty",
         "--pinentry-mode", "loopback", "--passphrase", "", *args],
        input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def make_signer(directory: Path, name: str = "rootstrap test archive") -> Signer:
    """Make a passphrase-less ed25519 signing key under DIRECTORY.

    DIRECTORY/gnupg is the private home (0700); DIRECTORY/key.gpg the public key.
    gpg-agent's socket lives in the home, so keep DIRECTORY's path short.
    """
    directory.mkdir(parents=True, exist_ok=True)
    home = directory / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    uid = f"{name} <archive@rootstrap.invalid>"
    _gpg(home, "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = _gpg(home, "--with-colons", "--list-secret-keys", uid).decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines()
                       if line.startswith("fpr:"))
    keyring = directory / "key.gpg"
    keyring.write_bytes(_gpg(home, "--export", fingerprint))
    keyring.chmod(0o644)
    return Signer(home=home, fingerprint=fingerprint, keyring=keyring)


def stop_agent(signer: Signer) -> None:
    subprocess.run(["gpgconf", "--homedir", str(signer.home), "--kill", "all"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------- .deb


def _control_text(spec: PackageSpec, installed_kib: int) -> str:
    fields: list[tuple[str, str]] = [
        ("Package", spec.name),
        ("Version", spec.version),
        ("Architecture", spec.arch),
        ("Maintainer", "rootstrap tests <tests@rootstrap.invalid>"),
        ("Installed-Size", str(max(installed_kib, 1))),
    ]
    if spec.essential:
        fields.append(("Essential", "yes"))
    for key, value in (("Multi-Arch", spec.multi_arch), ("Pre-Depends", spec.pre_depends),
                       ("Depends", spec.depends), ("Recommends", spec.recommends),
                       ("Conflicts", spec.conflicts), ("Breaks", spec.breaks),
                       ("Replaces", spec.replaces), ("Provides", spec.provides)):
        if value:
            fields.append((key, value))
    fields += [("Section", spec.section), ("Priority", spec.priority)]
    summary = spec.description or f"rootstrap test package {spec.name}"
    fields.append(("Description", f"{summary}\n Synthetic package built by the rootstrap tests."))
    return "".join(f"{k}: {v}\n" for k, v in fields)


def build_deb(spec: PackageSpec, out_dir: Path) -> Path:
    """Build SPEC with dpkg-deb into OUT_DIR; return the .deb path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / spec.filename
    with tempfile.TemporaryDirectory(prefix="rs-deb-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir(mode=0o755)
        chowns: list[tuple[int, int, str]] = []
        chmods: list[tuple[int, str]] = []
        size = 0
        for f in spec.files:
            rel = f.path.lstrip("/")
            dest = stage / rel
            if f.kind != "dir":
                for parent in reversed(dest.relative_to(stage).parents):
                    (stage / parent).mkdir(mode=0o755, exist_ok=True)
            if f.kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
            elif f.kind == "file":
                if f.source:
                    data = Path(f.source).read_bytes()
                else:
                    data = f.content.encode() if isinstance(f.content, str) else f.content
                dest.write_bytes(data)
                size += len(data)
            elif f.kind == "symlink":
                assert f.target, f"{spec.name}: symlink {f.path} needs a target"
                os.symlink(f.target, dest)
            elif f.kind == "hardlink":
                assert f.target, f"{spec.name}: hardlink {f.path} needs a target"
                os.link(stage / f.target.lstrip("/"), dest)
            else:
                raise ValueError(f"{spec.name}: unknown file kind {f.kind!r}")
            chowns.append((f.uid, f.gid, rel))
            if f.kind not in ("symlink", "hardlink"):
                default = 0o755 if f.kind == "dir" else 0o644
                chmods.append((default if f.mode is None else f.mode, rel))
        debian = stage / "DEBIAN"
        debian.mkdir(mode=0o755)
        (debian / "control").write_text(_control_text(spec, (size + 1023) // 1024))
        for name, body in spec.scripts:
            script = debian / name
            script.write_text(body)
            script.chmod(0o755)
        if spec.conffiles:
            (debian / "conffiles").write_text("".join(c + "\n" for c in spec.conffiles))

        # chown must run in the same (fake)root session as dpkg-deb; chmod after chown,
        # because chown clears setuid/setgid bits.
        lines = ["set -e", f"cd {shlex.quote(str(stage))}"]
        lines += [f"chown -h {u}:{g} {shlex.quote(p)}" for u, g, p in chowns]
        lines += [f"chmod {m:o} {shlex.quote(p)}" for m, p in chmods]
        lines.append(f"dpkg-deb --build -Zxz --uniform-compression . {shlex.quote(str(out))}"
                     " >/dev/null")
        script_text = "\n".join(lines) + "\n"
        argv = ["sh", "-c", script_text]
        if os.geteuid() != 0:
            if not shutil.which("fakeroot"):
                raise RuntimeError("building test packages as non-root needs fakeroot")
            argv = ["fakeroot", "--", *argv]
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(FIXTURE_EPOCH))
        subprocess.run(argv, check=True, env=env)
        # dpkg-deb takes file mtimes from disk, clamped to SOURCE_DATE_EPOCH only when
        # newer; the same stage therefore gives the same bytes.
    return out


def deb_field(deb: Path, *names: str) -> dict[str, str]:
    out = subprocess.run(["dpkg-deb", "--field", str(deb), *names], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    result: dict[str, str] = {}
    for line in out.splitlines():
        if ": " in line and not line.startswith(" "):
            key, value = line.split(": ", 1)
            result[key] = value
    if len(names) == 1 and not result and out.strip():
        result[names[0]] = out.strip()
    return result


def deb_contents(deb: Path) -> list[str]:
    """`dpkg-deb --contents` lines (tar -tv style: mode owner/group size date path)."""
    return subprocess.run(["dpkg-deb", "--contents", str(deb)], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.splitlines()


# --------------------------------------------------------------------------- repo


@dataclass
class Repo:
    root: Path
    suite: str
    codename: str
    component: str
    arch: str
    signer: Signer
    debs: dict[str, Path] = field(default_factory=dict)  # "name_version" -> pool path

    @property
    def dist(self) -> Path:
        return self.root / "dists" / self.suite

    @property
    def packages_file(self) -> Path:
        return self.dist / self.component / f"binary-{self.arch}" / "Packages"


def _pool_dir(root: Path, component: str, source: str) -> Path:
    prefix = source[:4] if source.startswith("lib") else source[:1]
    return root / "pool" / component / prefix / source


def _write_compressed(packages: Path, forms: Sequence[str] = ("", ".gz", ".xz")) -> None:
    """Packages in the forms asked ("" the file itself), and in no other."""
    data = packages.read_bytes()
    with open(packages.with_suffix(".gz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    packages.with_suffix(".xz").write_bytes(lzma.compress(data, preset=6))
    packages.with_suffix(".bz2").write_bytes(bz2.compress(data))
    for form in ("", ".gz", ".xz", ".bz2"):
        if form not in forms:
            packages.with_suffix(form).unlink()


def index_repo(root: Path, suite: str, signer: Signer, *, codename: Optional[str] = None,
               component: str = "main", arch: str = ARCH, origin: str = "Debian",
               label: str = "Debian", valid_until: Optional[datetime] = None,
               date: Optional[datetime] = None,
               rewrite: Optional[Callable[[bytes], bytes]] = None,
               forms: Sequence[str] = ("", ".gz", ".xz")) -> None:
    """(Re)write Packages{,.gz,.xz}, Release, InRelease and Release.gpg of SUITE;
    rewrite: what to make of the Packages text first (an index that lies);
    forms: the Packages files offered ("", ".gz", ".xz", ".bz2")."""
    codename = codename or suite
    dist = root / "dists" / suite
    bindir = dist / component / f"binary-{arch}"
    bindir.mkdir(parents=True, exist_ok=True)
    (root / "pool" / component).mkdir(parents=True, exist_ok=True)
    packages = subprocess.run(
        ["apt-ftparchive", "packages", f"pool/{component}"], cwd=root, check=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    if rewrite:
        packages = rewrite(packages)
    (bindir / "Packages").write_bytes(packages)
    _write_compressed(bindir / "Packages", forms)
    (bindir / "Release").write_text(
        f"Archive: {suite}\nOrigin: {origin}\nLabel: {label}\nComponent: {component}\n"
        f"Architecture: {arch}\n")

    for stale in ("Release", "InRelease", "Release.gpg"):
        (dist / stale).unlink(missing_ok=True)
    opts = {"Origin": origin, "Label": label, "Suite": suite, "Codename": codename,
            "Architectures": arch, "Components": component,
            "Description": f"rootstrap test repository {suite}"}
    argv = ["apt-ftparchive"]
    for key, value in opts.items():
        argv += ["-o", f"APT::FTPArchive::Release::{key}={value}"]
    release = subprocess.run(argv + ["release", "."], cwd=dist, check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()
    release = _set_dates(release, date, valid_until)
    (dist / "Release").write_text(release)
    sign_release(dist, signer)


def _release_date(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    # The format of Debian's Release files; spelled out to stay independent of locale.
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
              "Dec")
    u = when.astimezone(timezone.utc)
    return (f"{days[u.weekday()]}, {u.day:02d} {months[u.month - 1]} {u.year} "
            f"{u.hour:02d}:{u.minute:02d}:{u.second:02d} UTC")


def _set_dates(release: str, date: Optional[datetime], valid_until: Optional[datetime]) -> str:
    lines = release.splitlines()
    out: list[str] = []
    for line in lines:
        if line.startswith("Date:") and date is not None:
            line = f"Date: {_release_date(date)}"
        out.append(line)
        if line.startswith("Date:") and valid_until is not None:
            out.append(f"Valid-Until: {_release_date(valid_until)}")
    return "\n".join(out) + "\n"


def sign_release(dist: Path, signer: Signer) -> None:
    """Sign DIST/Release as InRelease (clearsigned) and Release.gpg (detached)."""
    release = dist / "Release"
    common = ["--digest-algo", "SHA512", "--local-user", signer.fingerprint, "--yes"]
    (dist / "InRelease").unlink(missing_ok=True)
    (dist / "Release.gpg").unlink(missing_ok=True)
    _gpg(signer.home, *common, "--clearsign", "--output", str(dist / "InRelease"), str(release))
    _gpg(signer.home, *common, "--armor", "--detach-sign", "--output",
         str(dist / "Release.gpg"), str(release))


def build_repo(root: Path, suite: str, packages: Sequence[PackageSpec], gpg_home: Path,
               key_id: str, valid_until: Optional[datetime] = None, *,
               keyring: Optional[Path] = None, codename: Optional[str] = None,
               component: str = "main", arch: str = ARCH, origin: str = "Debian",
               label: str = "Debian", date: Optional[datetime] = None) -> Repo:
    """Build every spec with dpkg-deb into ROOT/pool and index and sign SUITE."""
    signer = Signer(home=gpg_home, fingerprint=key_id, keyring=keyring or Path())
    repo = Repo(root=root, suite=suite, codename=codename or suite, component=component,
                arch=arch, signer=signer)
    for spec in packages:
        deb = build_deb(spec, _pool_dir(root, component, spec.name))
        repo.debs[f"{spec.name}_{spec.version}"] = deb
    index_repo(root, suite, signer, codename=codename, component=component, arch=arch,
               origin=origin, label=label, valid_until=valid_until, date=date)
    _world_readable(root)
    return repo


def mirror_real_debs(root: Path, suite: str, deb_paths: Iterable[Path], *,
                     signer: Optional[Signer] = None, codename: Optional[str] = None,
                     component: str = "main", arch: str = ARCH,
                     valid_until: Optional[datetime] = None) -> Repo:
    """A signed repository of existing .deb files (e.g. real bookworm packages).

    Without SIGNER a throwaway key is made in a fresh temporary directory; its
    public key is `repo.signer.keyring` (the caller removes
    `repo.signer.home.parent` after `stop_agent`). The debs are hardlinked into the pool
    when possible, copied otherwise.
    """
    if signer is None:
        keydir = Path(tempfile.mkdtemp(prefix="rs-key-"))
        keydir.chmod(0o755)
        signer = make_signer(keydir)
    repo = Repo(root=root, suite=suite, codename=codename or suite, component=component,
                arch=arch, signer=signer)
    for deb in map(Path, deb_paths):
        fields = deb_field(deb, "Package", "Version", "Source")
        source = fields.get("Source", fields["Package"]).split(" ", 1)[0]
        dest_dir = _pool_dir(root, component, source)
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / deb.name
        if not dest.exists():
            try:
                os.link(deb, dest)
            except OSError:
                shutil.copyfile(deb, dest)
        repo.debs[f"{fields['Package']}_{fields['Version']}"] = dest
    index_repo(root, suite, signer, codename=codename, component=component, arch=arch,
               valid_until=valid_until)
    _world_readable(root)
    return repo


def _world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


def parse_packages(text: str) -> list[dict[str, str]]:
    """Stanzas of a Packages file as dicts (continuation lines joined by newline)."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
                current = {}
            continue
        if line[0] in " \t" and key:
            current[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


# --------------------------------------------------------------------------- fixture set


def _static_busybox() -> Optional[str]:
    """Path of a statically linked busybox, which runs inside any tree as /bin/sh."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(candidate):
            ldd = subprocess.run(["ldd", candidate], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            if "not a dynamic executable" in ldd.stdout or "statically linked" in ldd.stdout:
                return candidate
    return None


SHADOW_GID = 42

PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" \
         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\nshadow:x:42:\nnogroup:x:65534:\n"

SCRIPT_LOG = "/var/log/fixture-scripts.log"


def fixture_packages() -> list[PackageSpec]:
    """A tiny Debian: enough shapes to exercise solver, unpacker and configure.

    Essential: base-files, tinysh (only when a static busybox exists on the host,
    see has_shell()). Priority required: shadowish. The rest are optional and
    reached with --include: suid-tools, links (Architecture: all), alt-user
    (Depends: alt-a | alt-b; alt-b conflicts with alt-a), virt-user (Depends on
    the virtual virtual-thing, provided by virt-provider), ver-user
    (Depends: ver-lib (>= 2.0); the pool holds ver-lib 1.0-1 and 2.1-1), and
    scripted (preinst, postinst, a conffile; they append to SCRIPT_LOG).
    """
    base_dirs = [FileSpec(d, kind="dir") for d in (
        "/etc", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/share",
        "/usr/share/doc", "/var", "/var/lib", "/var/log")]
    base_dirs += [FileSpec("/tmp", kind="dir", mode=0o1777),
                  FileSpec("/root", kind="dir", mode=0o700)]
    specs = [
        PackageSpec(
            "base-files", "12.4+fixture1", essential=True, priority="required",
            section="admin", description="tiny Debian base system files",
            files=(*base_dirs,
                   FileSpec("/etc/debian_version", "12.4\n"),
                   FileSpec("/etc/passwd", PASSWD),
                   FileSpec("/etc/group", GROUP),
                   FileSpec("/etc/os-release",
                            'PRETTY_NAME="rootstrap fixture"\nID=debian\n'
                            'VERSION_CODENAME=bookworm\n')),
            conffiles=("/etc/debian_version",)),
        PackageSpec(
            "shadowish", "1:4.13-1", priority="required", section="admin",
            depends="base-files", description="file owned by root:shadow, mode 0640",
            files=(FileSpec("/etc/shadowish", "root:*:19000:0:99999:7:::\n",
                            mode=0o640, uid=0, gid=SHADOW_GID),)),
        PackageSpec(
            "suid-tools", "2.0-3", depends="base-files", section="utils",
            description="a setuid root and a setgid shadow binary",
            files=(FileSpec("/usr/bin/suidtool", "#!/bin/sh\nexit 0\n", mode=0o4755),
                   FileSpec("/usr/bin/sgidtool", "#!/bin/sh\nexit 0\n", mode=0o2755,
                            gid=SHADOW_GID))),
        PackageSpec(
            "links", "0.5-1", arch="all", depends="base-files",
            description="relative and absolute symlinks and a hardlink pair",
            files=(FileSpec("/usr/lib/links", kind="dir"),
                   FileSpec("/usr/lib/links/target", "the target\n"),
                   FileSpec("/usr/bin/links-rel", kind="symlink",
                            target="../lib/links/target"),
                   FileSpec("/usr/lib/links/abs", kind="symlink",
                            target="/etc/debian_version"),
                   FileSpec("/usr/lib/links/hard1", "same inode\n", mode=0o755),
                   FileSpec("/usr/lib/links/hard2", kind="hardlink",
                            target="/usr/lib/links/hard1"))),
        PackageSpec("alt-user", depends="alt-a | alt-b",
                    files=(FileSpec("/usr/share/doc/alt-user.txt", "alt\n"),)),
        PackageSpec("alt-a", files=(FileSpec("/usr/share/doc/alt-a.txt", "a\n"),)),
        PackageSpec("alt-b", conflicts="alt-a",
                    files=(FileSpec("/usr/share/doc/alt-b.txt", "b\n"),)),
        PackageSpec("virt-user", depends="virtual-thing",
                    files=(FileSpec("/usr/share/doc/virt-user.txt", "virt\n"),)),
        PackageSpec("virt-provider", provides="virtual-thing",
                    files=(FileSpec("/usr/share/doc/virt-provider.txt", "provider\n"),)),
        PackageSpec("ver-user", depends="ver-lib (>= 2.0)",
                    files=(FileSpec("/usr/share/doc/ver-user.txt", "ver\n"),)),
        PackageSpec("ver-lib", "1.0-1",
                    files=(FileSpec("/usr/lib/ver-lib.txt", "1.0\n"),)),
        PackageSpec("ver-lib", "2.1-1",
                    files=(FileSpec("/usr/lib/ver-lib.txt", "2.1\n"),)),
        # Stands in for apt so the recipe's minbase variant (which adds apt) resolves.
        PackageSpec("apt", "2.6.1+fixture1", priority="important", section="admin",
                    depends="base-files",
                    files=(FileSpec("/usr/share/doc/apt", kind="dir"),
                           FileSpec("/usr/share/doc/apt/README", "not apt\n"))),
    ]
    busybox = _static_busybox()
    if busybox:
        specs.append(PackageSpec(
            "tinysh", "1.35.0-4+fixture1", essential=True, priority="required",
            section="shells", pre_depends="base-files",
            description="/bin/sh from a static busybox",
            files=(FileSpec("/bin", kind="dir"),
                   FileSpec("/usr/bin/busybox", mode=0o755, source=busybox),
                   FileSpec("/bin/sh", kind="symlink", target="/usr/bin/busybox"))))
        shell_dep = "tinysh"
    else:
        shell_dep = "base-files"
    log = SCRIPT_LOG
    specs.append(PackageSpec(
        "scripted", "3.0-1", pre_depends=shell_dep, depends="base-files",
        description="maintainer scripts and a conffile",
        files=(FileSpec("/etc/scripted.conf", "setting = default\n"),
               FileSpec("/usr/share/doc/scripted.txt", "scripts\n")),
        scripts=(("preinst", f'#!/bin/sh\nset -e\necho "preinst $*" >> {log}\n'),
                 ("postinst", f'#!/bin/sh\nset -e\necho "postinst $*" >> {log}\n'
                              f'test -f /etc/scripted.conf\n')),
        conffiles=("/etc/scripted.conf",)))
    return specs


def has_shell(specs: Sequence[PackageSpec]) -> bool:
    return any(s.name == "tinysh" for s in specs)


# --------------------------------------------------------------------------- HTTP


@dataclass
class Request:
    method: str
    path: str
    status: int
    headers: dict[str, str]


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client hanging up mid-answer (librepo does once it has what it wants)
        # is no fault of the mirror's
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class MirrorServer:
    """Serve ROOT on 127.0.0.1 from a thread, like a real mirror would.

    `requests` is the list of request paths in order (clear() it between steps);
    `log` has method, path, status and request headers of each. `faults` maps a
    path to a status code to answer instead of the file (e.g. 404, 500). `flaky`
    maps a path to the misbehaviours of its next requests, one each, in order: a
    status code, or "cut" (the headers and half the body, then the connection
    closes). Range requests are answered as a real mirror does (206) unless
    `ranges` is set False (then the whole file comes, 200). `redirects` maps a path
    to the URL a 302 sends its requests to.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.log: list[Request] = []
        self.faults: dict[str, int] = {}
        self.flaky: dict[str, list[Union[int, str]]] = {}
        self.redirects: dict[str, str] = {}
        self.ranges = True
        self.delay = 0.0            # seconds each file's answer waits (to make builds overlap)
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name="mirror-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self.faults.clear()
            self.flaky.clear()
            self.redirects.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, method: str, path: str, status: int, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(path)
            self.log.append(Request(method, path, status, headers))

    def _handler(self) -> type:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "rootstrap-test-mirror/1"
            # headers and body go out as separate writes: with Nagle's algorithm the
            # body of every answer on a kept-alive connection waited for the client's
            # delayed ACK (40 ms), which no real mirror makes it wait
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _reply(self, status: int, headers: dict[str, str], body: bytes = b"",
                       send_body: bool = True) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body and body:
                    self.wfile.write(body)

            def _serve(self, body: bool) -> None:
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                headers = {k: v for k, v in self.headers.items()}
                with server._lock:
                    pending = server.flaky.get(path)
                    once = pending.pop(0) if pending else None
                if path in server.redirects:
                    server._record(self.command, path, 302, headers)
                    self._reply(302, {"Location": server.redirects[path]}, b"", body)
                    return
                fault = server.faults.get(path) or (once if isinstance(once, int) else None)
                if fault:
                    server._record(self.command, path, fault, headers)
                    self._reply(fault, {}, b"injected fault\n", body)
                    return
                root = server.root.resolve()
                target = (root / path.lstrip("/")).resolve()
                if (target != root and root not in target.parents) or not target.is_file():
                    server._record(self.command, path, 404, headers)
                    self._reply(404, {"Content-Type": "text/plain"}, b"not found\n", body)
                    return
                st = target.stat()
                # nginx-style validator: size and mtime, so a rewrite always changes it.
                etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
                modified = email.utils.formatdate(st.st_mtime, usegmt=True)
                meta = {"ETag": etag, "Last-Modified": modified,
                        "Cache-Control": "max-age=0"}
                if self._not_modified(etag, int(st.st_mtime)):
                    server._record(self.command, path, 304, headers)
                    self._reply(304, meta, send_body=False)
                    return
                data = target.read_bytes()
                if server.delay:
                    time.sleep(server.delay)
                if once == "cut" and body:
                    server._record(self.command, path, 200, headers)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                first = _range_start(self.headers.get("Range")) if server.ranges else None
                if first is not None and first >= len(data):
                    server._record(self.command, path, 416, headers)
                    self._reply(416, {"Content-Range": f"bytes */{len(data)}"}, b"", body)
                    return
                if first is not None:
                    server._record(self.command, path, 206, headers)
                    self._reply(206, {**meta, "Content-Type": "application/octet-stream",
                                      "Content-Range":
                                      f"bytes {first}-{len(data) - 1}/{len(data)}"},
                                data[first:], body)
                    return
                server._record(self.command, path, 200, headers)
                self._reply(200, {**meta, "Content-Type": "application/octet-stream"},
                            data, body)

            def _not_modified(self, etag: str, mtime: int) -> bool:
                inm = self.headers.get("If-None-Match")
                if inm is not None:
                    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
                    tags = [t.strip() for t in inm.split(",")]
                    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)
                ims = self.headers.get("If-Modified-Since")
                if ims:
                    try:
                        since = email.utils.parsedate_to_datetime(ims)
                    except (TypeError, ValueError):
                        return False
                    if since.tzinfo is None:
                        since = since.replace(tzinfo=timezone.utc)
                    return mtime <= since.timestamp()
                return False

        return Handler


def _range_start(header: Optional[str]) -> Optional[int]:
    """The first byte of a `Range: bytes=N-` request (the only form rootstrap sends)."""
    if not header or not header.startswith("bytes=") or not header.endswith("-"):
        return None
    first = header[len("bytes="):-1]
    return int(first) if first.isdigit() else None


# --------------------------------------------------------------------------- snapshots


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under ROOT, keyed by relative path."""
    result: dict[str, tuple[int, int]] = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            result[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return result


def restore_tree(pristine: Path, root: Path) -> list[str]:
    """Make ROOT equal to PRISTINE again; return the relative paths it changed.

    Restored files get an mtime later than anything served before, so a client
    that cached a tampered copy sees a new Last-Modified and ETag.
    """
    changed: list[str] = []
    now = time.time() + 1
    want = snapshot(pristine)
    have = snapshot(root)
    for rel in have.keys() - want.keys():
        (root / rel).unlink()
        changed.append(rel)
    for rel in want:
        src, dst = pristine / rel, root / rel
        if rel in have and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        shutil.copyfile(src, dst)
        dst.chmod(0o644)
        old = have.get(rel, (0, 0))[1] / 1e9
        stamp = max(now, old + 1)
        os.utime(dst, (stamp, stamp))
        changed.append(rel)
    return changed
