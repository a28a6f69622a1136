"""rpm repositories for tests, made with the real tools Debian packages:
rpmbuild builds each package from a generated spec, rpmsign signs it with a
throwaway gpg key, createrepo_c indexes the repository."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from bootstrap.families.rpm import rpmdb
from debmirror import Signer

ARCH = "x86_64"
TOOLS = {"rpmbuild": "rpm", "rpmsign": "rpm", "createrepo_c": "createrepo-c", "rpm": "rpm"}


def missing_tools() -> list[str]:
    return [f"{tool} ({deb})" for tool, deb in TOOLS.items() if not shutil.which(tool)]


@dataclass(frozen=True)
class RpmFile:
    path: str
    content: str = ""
    mode: str = ""            # default: 0755 for directories, else 0644
    user: str = "root"
    group: str = "root"
    kind: str = "file"        # file, dir, symlink, hardlink (of target), ghost
    target: str = ""
    source: str = ""          # a host file to ship instead of content
    directive: str = ""       # %config(noreplace), %caps(...) and the like


@dataclass(frozen=True)
class RpmSpec:
    name: str
    version: str = "1.0"
    release: str = "1"
    epoch: Optional[int] = None
    arch: str = ARCH
    summary: str = ""
    requires: tuple[str, ...] = ()
    requires_pre: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    obsoletes: tuple[str, ...] = ()
    recommends: tuple[str, ...] = ()
    supplements: tuple[str, ...] = ()
    files: tuple[RpmFile, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()   # ("%pre", "body") or ("%post -p <lua>", ...)
    repo: str = "fedora"      # the fixture repository it goes to

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"


def _spec_text(spec: RpmSpec) -> str:
    lines = [f"Name: {spec.name}", f"Version: {spec.version}", f"Release: {spec.release}",
             f"Summary: {spec.summary or spec.name + ' (fixture)'}", "License: MIT",
             f"BuildArch: {spec.arch}", "AutoReqProv: no",
             # the files as written: no stripping, no debuginfo, no byte-compiling
             "%global __os_install_post %{nil}", "%global debug_package %{nil}"]
    if spec.epoch is not None:
        lines.append(f"Epoch: {spec.epoch}")
    for key, values in (("Requires", spec.requires), ("Requires(pre)", spec.requires_pre),
                        ("Provides", spec.provides), ("Conflicts", spec.conflicts),
                        ("Obsoletes", spec.obsoletes), ("Recommends", spec.recommends),
                        ("Supplements", spec.supplements)):
        lines += [f"{key}: {v}" for v in values]
    lines += ["", "%description", f"{spec.name} (a rootstrap test fixture)", "", "%install"]
    for f in spec.files:
        target = f"%{{buildroot}}{f.path}"
        lines.append(f"mkdir -p $(dirname {target})")
        if f.kind == "dir":
            lines.append(f"mkdir -p {target}")
        elif f.kind == "symlink":
            lines.append(f"ln -s {f.target} {target}")
        elif f.kind == "hardlink":
            lines.append(f"ln %{{buildroot}}{f.target} {target}")
        elif f.kind == "file" and f.source:
            lines.append(f"cp {f.source} {target}")
        elif f.kind == "file":
            lines.append(f"cat > {target} <<'ROOTSTRAP_EOF'\n{f.content}ROOTSTRAP_EOF")
    lines += ["", "%files"]
    for f in spec.files:
        prefix = "%dir " if f.kind == "dir" else "%ghost " if f.kind == "ghost" else ""
        mode = f.mode or ("0755" if f.kind == "dir" else "0644")
        attr = f"%attr({mode},{f.user},{f.group}) " if f.kind not in ("symlink",) else ""
        lines.append(f"{f.directive} {prefix}{attr}{f.path}".strip())
    for head, body in spec.scripts:
        lines += ["", head, body.rstrip("\n")]
    return "\n".join(lines) + "\n"


def build_rpm(spec: RpmSpec, out: Path, signer: Optional[Signer],
              payload: str = "w19.zstdio") -> Path:
    """spec built by rpmbuild into out, signed by signer's key with rpmsign."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rs-rpmbuild-") as top:
        specfile = Path(top) / f"{spec.name}.spec"
        specfile.write_text(_spec_text(spec))
        proc = subprocess.run(
            ["rpmbuild", "--define", f"_topdir {top}", "--define", f"_binary_payload {payload}",
             "--define", "source_date_epoch_from_changelog 0", "--define", "_buildhost fixture",
             "-bb", str(specfile)], capture_output=True, text=True,
            env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000", LANG="C"))
        built = Path(top) / "RPMS" / spec.arch / spec.filename
        if proc.returncode or not built.is_file():
            raise RuntimeError(f"rpmbuild {spec.name} failed:\n{proc.stdout}\n{proc.stderr}")
        path = out / spec.filename
        shutil.copyfile(built, path)
    if signer is not None:
        sign_rpm(path, signer)
    path.chmod(0o644)
    return path


def sign_rpm(path: Path, signer: Signer) -> None:
    subprocess.run(
        ["rpmsign", "--define", "__gpg /usr/bin/gpg", "--define",
         f"_gpg_name {signer.fingerprint}", "--define", f"_gpg_path {signer.home}",
         "--define", "_gpg_sign_cmd_extra_args --pinentry-mode loopback --passphrase ''",
         "--addsign", str(path)], check=True, capture_output=True,
        env=dict(os.environ, GNUPGHOME=str(signer.home)))


def createrepo(folder: Path, comps: Optional[Path] = None, zstd: bool = False) -> Path:
    """createrepo_c's repodata for folder (checksum-named files, as Fedora's);
    zstd: primary, filelists and other recompressed with zstd as Fedora ships
    them (Debian's createrepo_c cannot write zstd)."""
    argv = ["createrepo_c", "--quiet", "--no-database"]
    if comps is not None:
        argv += ["--groupfile", str(comps)]
    subprocess.run(argv + [str(folder)], check=True, capture_output=True)
    if zstd:
        recompress_zstd(folder / "repodata" / "repomd.xml")
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return folder / "repodata" / "repomd.xml"


REPO_NS = "http://linux.duke.edu/metadata/repo"


def recompress_zstd(repomd: Path, kinds: Sequence[str] = ("primary", "filelists", "other")
                    ) -> None:
    import gzip
    import hashlib
    import xml.etree.ElementTree as ET

    import zstandard
    ET.register_namespace("", REPO_NS)
    ET.register_namespace("rpm", "http://linux.duke.edu/metadata/rpm")
    tree = ET.parse(repomd)
    q = f"{{{REPO_NS}}}"
    top = repomd.parent.parent
    for data in tree.getroot().iter(f"{q}data"):
        if data.get("type") not in kinds:
            continue
        location = data.find(f"{q}location")
        assert location is not None
        old = top / location.get("href", "")
        plain = gzip.decompress(old.read_bytes())
        packed = zstandard.ZstdCompressor(level=19).compress(plain)
        digest = hashlib.sha256(packed).hexdigest()
        new = old.parent / f"{digest}-{data.get('type')}.xml.zst"
        new.write_bytes(packed)
        old.unlink()
        location.set("href", f"repodata/{new.name}")
        checksum = data.find(f"{q}checksum")
        size = data.find(f"{q}size")
        assert checksum is not None and size is not None
        checksum.text, size.text = digest, str(len(packed))
    tree.write(repomd, xml_declaration=True, encoding="UTF-8")


# --------------------------------------------------------------------------- the Fedora fixture

RELEASE = "45"
LOG = "/var/log/fixture-scripts"
# busybox applets the scriptlets call, as coreutils' stand-in links them
APPLETS = ("cat", "echo", "mkdir", "ln", "ls", "rm", "chmod", "grep", "sed", "id", "touch",
           "sort", "head", "wc", "true", "env", "tr", "cut", "printf")


def _log(line: str) -> str:
    return f'echo "{line}" >> {LOG}\n'


_READ_LOG = f'while read -r f; do echo "  $f" >> {LOG}; done\n'


def _lua_log(line: str) -> str:
    return (f'local f = io.open("{LOG}", "a")\n'
            f'f:write({line} .. "\\n")\nf:close()\n')


def fixture_specs(busybox: str = "/bin/busybox", public_key: str = "") -> list[RpmSpec]:
    """Packages that behave as Fedora's do where rootstrap must follow rpm: setup
    before filesystem, a Lua %pretrans in an empty root, /bin/sh from a package,
    a %pre that adds a user whose files follow, both kinds of file trigger,
    rich and file dependencies, obsoletes, epochs, weak dependencies."""
    F = RpmFile
    noarch = "noarch"
    setup = RpmSpec(
        "setup", "2.15.0", "3.fc45", arch=noarch,
        files=(F("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                 "bin:x:1:1:bin:/bin:/sbin/nologin\n"
                 "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n",
                 directive="%config(noreplace)"),
               F("/etc/group", "root:x:0:\nbin:x:1:\nwheel:x:10:\nnobody:x:65534:\n",
                 directive="%config(noreplace)"),
               F("/etc/shadow", "root:!locked::0:99999:7:::\nbin:*:19000:0:99999:7:::\n"
                 "nobody:*:19000:0:99999:7:::\n", mode="0000",
                 directive="%config(noreplace)"),
               F("/etc/gshadow", "root:::\nbin:::\nwheel:::\nnobody:::\n", mode="0000",
                 directive="%config(noreplace)"),
               F("/etc/shells", "/bin/sh\n/bin/bash\n", directive="%config(noreplace)")),
        # rpm's own Lua, before any shell exists
        scripts=(("%post -p <lua>", _lua_log('"post setup " .. arg[2]')),))
    filesystem = RpmSpec(
        "filesystem", "3.18", "47.fc45", requires_pre=("setup",),
        files=(F("/", kind="dir", mode="0555"), F("/usr", kind="dir"),
               F("/usr/bin", kind="dir"), F("/usr/sbin", kind="dir"),
               F("/usr/lib", kind="dir", mode="0555"), F("/usr/lib64", kind="dir", mode="0555"),
               F("/usr/share", kind="dir"), F("/usr/share/doc", kind="dir"),
               F("/etc", kind="dir"), F("/var", kind="dir"), F("/var/log", kind="dir"),
               F("/var/lib", kind="dir"), F("/var/tmp", kind="dir", mode="1777"),
               F("/tmp", kind="dir", mode="1777"), F("/root", kind="dir", mode="0550"),
               F("/home", kind="dir"), F("/run", kind="dir"),
               F("/proc", kind="dir", mode="0555"), F("/sys", kind="dir", mode="0555"),
               F("/dev", kind="dir"),
               F("/bin", kind="symlink", target="usr/bin"),
               F("/sbin", kind="symlink", target="usr/sbin"),
               F("/lib", kind="symlink", target="usr/lib"),
               F("/lib64", kind="symlink", target="usr/lib64")),
        scripts=(("%pretrans -p <lua>",
                  'posix.mkdir("/var")\nposix.mkdir("/var/log")\n'
                  + _lua_log('"pretrans filesystem " .. #arg')),))
    bash = RpmSpec(
        "bash", "5.3.0", "2.fc45", requires=("filesystem",), provides=("/bin/sh", "/bin/bash"),
        files=(F("/usr/bin/busybox", mode="0755", source=busybox),
               F("/usr/bin/bash", kind="symlink", target="busybox"),
               F("/usr/bin/sh", kind="symlink", target="bash")),
        scripts=(("%post", _log("post bash $# $1")),))
    coreutils = RpmSpec(
        "coreutils", "9.7", "5.fc45", requires=("bash",),
        files=tuple(F(f"/usr/bin/{a}", kind="symlink", target="busybox") for a in APPLETS),
        scripts=(("%post", _log("post coreutils $1")),))
    glibc = RpmSpec(
        "glibc", "2.42", "4.fc45", requires=("filesystem", "/bin/sh"),
        provides=("libc.so.6()(64bit)", "rtld(GNU_HASH)"),
        files=(F("/usr/lib64/libc.so.6", "not really libc\n", mode="0755"),
               F("/etc/ld.so.conf", "include ld.so.conf.d/*.conf\n",
                 directive="%config(noreplace)"),
               F("/etc/ld.so.conf.d", kind="dir")),
        # (shell builtins only: nothing requires coreutils here)
        scripts=(("%transfiletriggerin -- /usr/lib64",
                  _log("transfiletriggerin glibc $# $1") + _READ_LOG),
                 ("%filetriggerin -- /usr/share/fixture-info",
                  _log("filetriggerin glibc $# $1") + _READ_LOG)))
    libfoo_old = RpmSpec(
        "libfoo", "1.2", "1.fc45", requires=("libc.so.6()(64bit)",),
        provides=("libfoo.so.1()(64bit)",),
        files=(F("/usr/lib64/libfoo.so.1", "libfoo 1.2\n", mode="0755"),))
    libfoo = RpmSpec(
        "libfoo", "1.3", "1.fc45", requires=("libc.so.6()(64bit)",),
        provides=("libfoo.so.1()(64bit)",), repo="updates",
        files=(F("/usr/lib64/libfoo.so.1", "libfoo 1.3\n", mode="0755"),
               F("/usr/share/fixture-info/libfoo", "info\n")))
    fixd = RpmSpec(
        "fixd", "2.0", "1.fc45", requires=("libfoo.so.1()(64bit)", "(fixd-selinux if selinux-policy)"),
        requires_pre=("coreutils", "/usr/bin/grep"), recommends=("fixd-extras",),
        files=(F("/usr/bin/fixd", "#!/bin/sh\necho fixd\n", mode="0755"),
               F("/usr/bin/fixd-su", "#!/bin/sh\n", mode="4755"),
               F("/usr/bin/fixd-ping", "#!/bin/sh\n", mode="0755",
                 directive="%caps(cap_net_raw=ep)"),
               F("/etc/fixd.conf", "port=7\n", directive="%config(noreplace)"),
               F("/var/lib/fixd", kind="dir", mode="0750", user="fixd", group="fixd"),
               F("/var/lib/fixd/state", "fresh\n", mode="0640", user="fixd", group="fixd"),
               F("/var/log/fixd.log", kind="ghost", mode="0640", user="fixd", group="fixd"),
               F("/usr/share/doc/fixd", kind="dir"),
               F("/usr/share/doc/fixd/a", "same\n"),
               F("/usr/share/doc/fixd/b", kind="hardlink", target="/usr/share/doc/fixd/a"),
               F("/usr/share/fixture-info/fixd", "info\n")),
        # (Debian's static busybox has no adduser: the user is written by hand)
        scripts=(("%pre", "grep -q '^fixd:' /etc/group || echo 'fixd:x:4321:' >> /etc/group\n"
                  "grep -q '^fixd:' /etc/passwd || "
                  "echo 'fixd:x:4321:4321::/var/lib/fixd:/sbin/nologin' >> /etc/passwd\n"
                  + _log("pre fixd $1")),
                 ("%post", _log("post fixd $# $1")),
                 ("%posttrans", _log("posttrans fixd $# $1"))))
    extras = RpmSpec("fixd-extras", "2.0", "1.fc45", arch=noarch, requires=("fixd",),
                     files=(F("/usr/share/fixd-extras", "extra\n"),))
    helper = RpmSpec("fixd-helper", "2.0", "1.fc45", arch=noarch,
                     supplements=("fixd",), files=(F("/usr/share/fixd-helper", "help\n"),))
    release = RpmSpec(
        "fedora-release-common", RELEASE, "1", arch=noarch,
        provides=(f"system-release = {RELEASE}", f"system-release({RELEASE})"),
        requires=("fedora-repos",),
        files=(F("/usr/lib/os-release", f'NAME="Fedora Linux"\nVERSION_ID={RELEASE}\nID=fedora\n'),
               F("/etc/os-release", kind="symlink", target="../usr/lib/os-release"),
               F("/etc/fedora-release", f"Fedora release {RELEASE} (fixture)\n"),
               F("/etc/system-release", kind="symlink", target="fedora-release")))
    release_meta = RpmSpec("fedora-release", RELEASE, "1", arch=noarch,
                           requires=(f"fedora-release-common = {RELEASE}-1",))
    repos = RpmSpec(
        "fedora-repos", RELEASE, "1", arch=noarch,
        files=(F("/etc/yum.repos.d/fedora.repo",
                 "[fedora]\nname=Fedora $releasever - $basearch\nmetalink=https://mirrors."
                 "fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch\n"
                 "enabled=1\ngpgcheck=1\n"
                 "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-$basearch\n",
                 directive="%config(noreplace)"),
               F(f"/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-{RELEASE}-primary", public_key),
               F(f"/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-{RELEASE}-x86_64", kind="symlink",
                 target=f"RPM-GPG-KEY-fedora-{RELEASE}-primary")))
    # dnf itself: asked for by a name another package now provides and obsoletes
    dnf4 = RpmSpec("dnf", "4.23.0", "1.fc45", arch=noarch, requires=("python3",),
                   files=(F("/usr/bin/dnf-4", "#!/bin/sh\n", mode="0755"),))
    dnf5 = RpmSpec(
        "dnf5", "5.2.16", "1.fc45", provides=("dnf = 5.2.16-1.fc45",),
        obsoletes=("dnf < 5",), repo="updates",
        requires=("libfoo.so.1()(64bit)", "(fedora-release or system-release)",
                  "/usr/bin/sh", "libc.so.6()(64bit)"),
        files=(F("/usr/bin/dnf5", "#!/bin/sh\necho dnf5 fixture\n", mode="0755"),
               F("/usr/bin/dnf", kind="symlink", target="dnf5")),
        scripts=(("%post -p <lua>", _lua_log('"post dnf5 " .. arg[2]')),))
    rootfiles = RpmSpec(
        "rootfiles", "9.0", "1.fc45", arch=noarch,
        files=(F("/root/.bashrc", "# .bashrc\n", directive="%config(noreplace)"),))
    python3 = RpmSpec("python3", "3.14.0", "1.fc45", files=(F("/usr/bin/python3", "#!/bin/sh\n",
                                                              mode="0755"),))
    epochy_old = RpmSpec("epochy", "9.0", "1.fc45", epoch=1, arch=noarch,
                         files=(F("/usr/share/epochy", "epoch 1\n"),))
    epochy_new = RpmSpec("epochy", "10.0", "1.fc45", arch=noarch, repo="updates",
                         files=(F("/usr/share/epochy", "epoch 0\n"),))
    tilde = RpmSpec("tildy", "2.0~rc1", "1.fc45", arch=noarch, repo="updates",
                    files=(F("/usr/share/tildy", "rc\n"),))
    tilde_old = RpmSpec("tildy", "1.9", "1.fc45", arch=noarch,
                        files=(F("/usr/share/tildy", "old\n"),))
    grumpy = RpmSpec("grumpy", "1.0", "1.fc45", arch=noarch, conflicts=("bash",),
                     files=(F("/usr/share/grumpy", "no\n"),))
    return [setup, filesystem, bash, coreutils, glibc, libfoo_old, libfoo, fixd, extras,
            helper, release, release_meta, repos, dnf4, dnf5, rootfiles, python3,
            epochy_old, epochy_new, tilde, tilde_old, grumpy]


COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <description>Smallest possible installation</description>
    <default>false</default>
    <uservisible>false</uservisible>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq type="mandatory">coreutils</packagereq>
      <packagereq type="mandatory">dnf</packagereq>
      <packagereq type="mandatory">fedora-release</packagereq>
      <packagereq type="mandatory">no-such-package</packagereq>
      <packagereq type="default">rootfiles</packagereq>
      <packagereq type="optional">grumpy</packagereq>
      <packagereq type="conditional" requires="fixd">fixd-extras</packagereq>
    </packagelist>
  </group>
  <group>
    <id>daemons</id>
    <name>Daemons</name>
    <description>fixd</description>
    <packagelist>
      <packagereq type="mandatory">fixd</packagereq>
      <packagereq type="default">epochy</packagereq>
      <packagereq type="default">tildy</packagereq>
    </packagelist>
  </group>
</comps>
"""


@dataclass
class FedoraRepos:
    root: Path                              # serve this
    signer: Signer
    built: dict[str, Path] = field(default_factory=dict)     # file name -> path
    specs: list[RpmSpec] = field(default_factory=list)

    def repo_dir(self, repo: str) -> Path:
        return self.root / ("releases" if repo == "fedora" else repo) / RELEASE / \
            "Everything" / ARCH / ("os" if repo == "fedora" else "")

    def repo_url(self, url: str, repo: str) -> str:
        return f"{url}/{self.repo_dir(repo).relative_to(self.root).as_posix()}".rstrip("/")

    def spec(self, name: str, version: Optional[str] = None) -> RpmSpec:
        return next(s for s in self.specs if s.name == name
                    and (version is None or s.version == version))

    def reindex(self, repo: str, zstd: bool = True) -> Path:
        folder = self.repo_dir(repo)
        comps = None
        if repo == "fedora":
            comps = self.root / "comps.xml"
            comps.write_text(COMPS)
        shutil.rmtree(folder / "repodata", ignore_errors=True)
        repomd = createrepo(folder, comps, zstd=zstd)
        if comps is not None:
            comps.unlink()
        return repomd

    def write_metalinks(self, url: str) -> None:
        """MirrorManager's answer for each repository, naming the fixture server
        (a dead mirror first) and the repomd.xml it serves now."""
        for repo, name in (("fedora", f"fedora-{RELEASE}"), ("updates", f"updates-released-f{RELEASE}")):
            write_metalink(self.root / "metalink" / f"{name}-{ARCH}.xml",
                           self.repo_dir(repo) / "repodata" / "repomd.xml",
                           ["http://127.0.0.1:9/dead/repodata/repomd.xml",
                            f"{self.repo_url(url, repo)}/repodata/repomd.xml"])


def write_metalink(path: Path, repomd: Path, urls: Sequence[str],
                   alternates: Sequence[bytes] = ()) -> None:
    import hashlib
    data = repomd.read_bytes()
    alt = "".join(
        f'<mm0:alternate><mm0:timestamp>1</mm0:timestamp><size>{len(a)}</size>'
        f'<verification><hash type="sha256">{hashlib.sha256(a).hexdigest()}</hash>'
        '</verification></mm0:alternate>' for a in alternates)
    entries = "".join(
        f'<url protocol="http" type="http" location="US" preference="{100 - i}">{u}</url>\n'
        for i, u in enumerate(urls))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<metalink version="3.0" xmlns="http://www.metalinker.org/" '
        'xmlns:mm0="http://fedorahosted.org/mirrormanager" type="dynamic">\n'
        '<files><file name="repomd.xml"><mm0:timestamp>1700000000</mm0:timestamp>'
        f'<size>{len(data)}</size><verification>'
        f'<hash type="md5">{hashlib.md5(data).hexdigest()}</hash>'
        f'<hash type="sha256">{hashlib.sha256(data).hexdigest()}</hash>'
        f'</verification><mm0:alternates>{alt}</mm0:alternates>'
        f'<resources maxconnections="1">\n{entries}</resources></file></files></metalink>\n')
    path.chmod(0o644)


def armored(signer: Signer) -> str:
    return subprocess.run(["gpg", "--homedir", str(signer.home), "--armor", "--export",
                           signer.fingerprint], check=True, capture_output=True,
                          text=True).stdout


def fedora_fixture(root: Path, signer: Signer, busybox: str = "/bin/busybox") -> FedoraRepos:
    repos = FedoraRepos(root, signer, specs=fixture_specs(busybox, armored(signer)))
    for spec in repos.specs:
        path = build_rpm(spec, repos.repo_dir(spec.repo) / "Packages" / spec.name[0], signer)
        repos.built[path.name] = path
    for repo in ("fedora", "updates"):
        repos.reindex(repo)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
    return repos


def sign_repomd(repomd: Path, signer: Signer) -> Path:
    """repomd.xml.asc, as private repositories publish it (createrepo_c's users
    sign with `gpg --detach-sign --armor`)."""
    asc = repomd.with_name("repomd.xml.asc")
    asc.unlink(missing_ok=True)
    subprocess.run(["gpg", "--homedir", str(signer.home), "--batch", "--pinentry-mode",
                    "loopback", "--passphrase", "", "--local-user", signer.fingerprint,
                    "--armor", "--detach-sign", "--output", str(asc), str(repomd)],
                   check=True, capture_output=True)
    asc.chmod(0o644)
    return asc


def rename_files(path: Path, renames: Sequence[tuple[bytes, bytes]],
                 signer: Optional[Signer]) -> None:
    """Give files of an unsigned rpm with an uncompressed payload (`w.ufdio`)
    names rpmbuild would refuse (not UTF-8, say), byte for byte: each (old, new)
    of the same length is replaced wherever it is in the header (basenames,
    dirnames, link targets) and in the cpio payload (names, a link's target), so
    old must be a placeholder found nowhere else; the digests are made again
    (the payload's in the header, the header's and the package's in the
    signature header), then signer signs it."""
    import hashlib
    import struct
    data = path.read_bytes()
    count, size = struct.unpack(">II", data[104:112])
    header_at = 112 + 16 * count + size + (-size % 8)
    count, size = struct.unpack(">II", data[header_at + 8:header_at + 16])
    payload_at = header_at + 16 + 16 * count + size
    sig, header, payload = data[96:header_at], data[header_at:payload_at], data[payload_at:]
    old_payload = hashlib.sha256(payload).hexdigest().encode()
    old_sig = (hashlib.sha1(header).hexdigest().encode(),
               hashlib.sha256(header).hexdigest().encode(), hashlib.md5(header + payload).digest())
    for old, new in renames:
        assert len(old) == len(new), (old, new)
        assert header.count(old) and payload.count(old), old
        header = header.replace(old, new)
        payload = payload.replace(old, new)
    header = header.replace(old_payload, hashlib.sha256(payload).hexdigest().encode())
    new_sig = (hashlib.sha1(header).hexdigest().encode(),
               hashlib.sha256(header).hexdigest().encode(), hashlib.md5(header + payload).digest())
    for old, new in zip(old_sig, new_sig):
        assert sig.count(old) == 1
        sig = sig.replace(old, new)
    path.write_bytes(data[:96] + sig + header + payload)
    if signer is not None:
        sign_rpm(path, signer)


def dnf_host_config(work: Path, repo_urls: Sequence[tuple[str, str]], key: Path) -> Path:
    """What the host's dnf needs to install from the fixture into an installroot:
    a HOME whose rpm keeps its database where Fedora's does (Debian's rpm would
    use ~/.rpmdb) and a repos.d naming each repository (name, base URL) with key
    as its gpgkey. Returns the HOME."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".rpmmacros").write_text(f"%_dbpath /{rpmdb.DBPATH}\n")
    (work / "repos.d").mkdir(exist_ok=True)
    (work / "repos.d" / "fixture.repo").write_text("".join(
        f"[fixture-{repo}]\nname=fixture {repo}\nbaseurl={url}\n"
        f"gpgcheck=1\ngpgkey=file://{key}\n\n" for repo, url in repo_urls))
    return home
