"""Every way to be root without root gives the same tree: the same bookworm minbase
from one local mirror of real Debian packages, built by userns with 65536 ids,
userns with one id, PRoot (also where user namespaces are really refused), real
root, and into a directory that refuses chown. In every mode the tree's own apt
then installs a package, and the tree shows its own host name.

The packages come from two sources: the host's own installed packages rebuilt
into .debs (offline, tests/hostdebs.py) and Debian's real mirror (network)."""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
import requests
import zstandard

import debmirror
import hostdebs
from bootstrap.baseconfig import host_resolv_conf

DATA = Path(__file__).parent / "data"
REAL = "http://deb.debian.org/debian"
EPOCH = "1700000000"
BWRAP = ["/usr/bin/bwrap", "--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--"]

# bookworm from a mirror holding only bookworm: no -updates suite, no security
# archive, so the tree's apt finds everything its sources name on that mirror
LOCAL_RECIPE = """\
name: debian
family: deb
description: Debian from a local mirror
mirrors: [http://127.0.0.1:9/debian]
default_release: bookworm
releases:
  bookworm:
    merged_usr: true
    sources: {suites: [bookworm]}
architectures: {amd64: x86_64}
merged_usr_links:
  amd64: [bin, sbin, lib, lib32, lib64, libx32]
default_variant: minbase
variants:
  minbase: {essential: true, priorities: [required], packages: [apt]}
"""

# what apt installs inside the tree: a package the mirror has and the tree lacks
HELLO = debmirror.PackageSpec(
    "hello", "2.10-3", description="the classic greeting",
    files=(debmirror.FileSpec("/usr/bin/hello", "#!/bin/sh\necho 'Hello, world!'\n",
                              mode=0o755),))


def manifest(tarball: Path) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, size, sha256, link target, device numbers)."""
    out = {}
    raw = open(tarball, "rb")
    stream = zstandard.ZstdDecompressor().stream_reader(raw) \
        if tarball.name.endswith(".zst") else raw
    with raw, tarfile.open(fileobj=stream, mode="r|*") as tar:
        for m in tar:
            digest = ""
            if m.isreg():
                f = tar.extractfile(m)
                assert f is not None
                digest = hashlib.sha256(f.read()).hexdigest()
            kind = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
                    tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
                    tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}[m.type]
            out[m.name] = (kind, oct(m.mode), m.uid, m.gid, m.size, digest,
                           m.linkname, (m.devmajor, m.devminor) if m.ischr() or m.isblk() else None)
    return out


def _real_minbase(session_dir: Path) -> list[Path]:
    """bookworm's minbase as Debian's mirror serves it."""
    names = {line.split()[0] for line in (DATA / "bookworm-amd64-minbase.txt").read_text()
             .splitlines() if line.strip() and not line.startswith("#")}
    with requests.Session() as http:
        index = http.get(f"{REAL}/dists/bookworm/main/binary-amd64/Packages.xz", timeout=60)
        index.raise_for_status()
        stanzas = debmirror.parse_packages(lzma.decompress(index.content).decode())
        debs = session_dir / "minbase-debs"
        debs.mkdir(exist_ok=True)
        paths = []
        for s in stanzas:
            if s["Package"] in names:
                path = debs / Path(s["Filename"]).name
                if not path.exists():
                    r = http.get(f"{REAL}/{s['Filename']}", timeout=120)
                    r.raise_for_status()
                    assert hashlib.sha256(r.content).hexdigest() == s["SHA256"]
                    path.write_bytes(r.content)
                paths.append(path)
    assert len(paths) == len(names)
    return paths


def _host_minbase(session_dir: Path) -> list[Path]:
    if os.geteuid() != 0:
        pytest.skip("repacking the host's packages keeps their owners only as root")
    if not shutil.which("dpkg-query") or not Path("/var/lib/dpkg/status").is_file():
        pytest.skip("the host is not a Debian system: no packages to repack")
    return hostdebs.repack_minbase(session_dir / "host-debs", session_dir / "host-work")


class Source:
    """A signed local mirror of a minbase, and the recipe that points at it."""

    def __init__(self, server: debmirror.MirrorServer, recipe: Path) -> None:
        self.server = server
        self.url = server.url
        self.recipe = recipe


# CI's budget: the matrix on the host's own packages rebuilt (real bookworm .debs
# and maintainer scripts); on the same set fetched from Debian's mirror too with
# ROOTSTRAP_REAL=all (five minutes more; tests/test_debian_real.py builds from
# the mirror in every run)
@pytest.fixture(scope="module", params=[pytest.param("host", id="offline")] + (
    [pytest.param("debian", id="real", marks=pytest.mark.network)]
    if os.environ.get("ROOTSTRAP_REAL") == "all" else []))
def minbase_mirror(request, session_dir: Path, signer) -> Iterator[Source]:
    """A signed local mirror holding bookworm's minbase as real .debs (rebuilt from
    the host's packages, or fetched from Debian), plus owner-scripts and hello."""
    kind = request.param
    paths = _host_minbase(session_dir) if kind == "host" else _real_minbase(session_dir)
    extra = session_dir / f"extra-debs-{kind}"
    paths += [debmirror.build_deb(SCRIPTED, extra), debmirror.build_deb(HELLO, extra)]
    repo = debmirror.mirror_real_debs(session_dir / f"minbase-mirror-{kind}", "bookworm",
                                      paths, signer=signer)
    recipe = session_dir / f"debian-local-{kind}.yaml"
    recipe.write_text(LOCAL_RECIPE)
    recipe.chmod(0o644)
    server = debmirror.MirrorServer(repo.root)
    yield Source(server, recipe)
    server.close()


# A package whose postinst does what only root can: give files to other ids and
# make device nodes. Every backend must end with what root ends with.
SCRIPTED = debmirror.PackageSpec(
    "owner-scripts", "1.0-1", depends="passwd", description="chown, chgrp, mknod",
    files=(debmirror.FileSpec("/usr/share/doc/owner-scripts/README", "scripts\n"),),
    scripts=(("postinst", """#!/bin/sh
set -e
mkdir -p /var/lib/fixture/dir
touch /var/lib/fixture/owned /var/lib/fixture/dir/a /var/lib/fixture/dir/b
chown daemon:mail /var/lib/fixture/owned
chgrp -R tty /var/lib/fixture/dir
mknod /var/lib/fixture/null c 1 3
mknod -m 600 /var/lib/fixture/loop b 7 0
mkfifo /var/lib/fixture/fifo
"""),))


def _user_xattrs(directory: Path) -> bool:
    probe = directory.parent / ".xattr-probe"
    probe.touch()
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def _args(mirror, signer, target, cache) -> list[str]:
    return [str(mirror.recipe), str(target), "--mirror", mirror.url,
            "--keyring", str(signer.keyring), "--cache", str(cache)]


def _tree_works(user, tree: Path, extra: list[str], backend: str) -> None:
    """What a user does first in a new tree, in this mode: become root, look at the
    host name, use the tree's own apt (its sandbox user _apt has no id of its own
    in a single-id namespace), and get a clear answer for a command not there."""
    assert user.run("run", tree, *extra, "--", "id", "-u", check=True).stdout == "0\n"
    name = user.run("run", tree, *extra, "--", "cat", "/proc/sys/kernel/hostname",
                    check=True).stdout
    if backend != "ptrace":     # PRoot fakes no host name (README: the modes)
        assert name == "debian\n"
    # a file only the tree has is seen by every way of looking at it (an older PRoot
    # sent statx, which `ls` and `stat` use, to the host's path)
    key = tree / "etc/apt/keyrings/debian-mirror.gpg"
    seen = user.run("run", tree, *extra, "--", "stat", "-c", "%s", "/" + str(
        key.relative_to(tree)), check=True).stdout
    assert int(seen) == key.stat().st_size
    apt = user.run("run", tree, *extra, "--", "/bin/sh", "-c",
                   "apt-get update && apt-get install -y hello && hello")
    assert apt.returncode == 0, apt.stdout + apt.stderr
    assert apt.stdout.rstrip().endswith("Hello, world!")
    missing = user.run("run", tree, *extra, "--", "/nonexistent", "x")
    assert missing.returncode == 127
    assert missing.stderr.strip() == \
        f"rootstrap: error: /nonexistent: command not found in {tree}"


@pytest.fixture(scope="module")
def reference(minbase_mirror, signer, session_dir, cli_python) -> dict[str, tuple]:
    """The tarball built as real root (--mode root), when the tests run as root."""
    if os.geteuid() != 0:
        pytest.skip("the root backend needs the tests to run as root")
    work = Path(tempfile.mkdtemp(prefix="root-build-", dir=session_dir))
    out = work / "root.tar"
    subprocess.run([cli_python, "-m", "bootstrap",
                    *_args(minbase_mirror, signer, out, work / "cache"), "--mode", "root",
                    "--quiet"], check=True,
                   env=dict(PATH=os.environ["PATH"], SOURCE_DATE_EPOCH=EPOCH))
    return manifest(out)


BACKENDS = {"userns-full": ("mapped", []), "userns-single": ("single", []),
            "ptrace": ("single", ["--mode", "ptrace"])}


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backend_builds_the_same_tree(backend, request, minbase_mirror, signer, reference):
    kind, extra = BACKENDS[backend]
    user = request.getfixturevalue(f"{kind}_user")
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    tar = user.path("t.tar")
    r = user.run(*_args(minbase_mirror, signer, tar, user.cache), *extra, "--json",
                 "--verbose", env=env, check=True)
    assert json.loads(r.stdout)["mode"] == backend
    # --verbose shows what dpkg says, and debconf has what it needs to say no more
    assert "Setting up dpkg" in r.stderr
    assert "Use of uninitialized value" not in r.stderr
    assert manifest(tar) == reference

    tree = user.path("tree")
    user.run(*_args(minbase_mirror, signer, tree, user.cache), *extra, check=True)
    exported = user.path("exported.tar.zst")
    user.run("export", tree, exported, *extra, env=env, check=True)
    assert manifest(exported) == reference

    shadow = tree / "etc/shadow"
    if backend == "userns-full":
        st = os.lstat(shadow)          # really owned: group shadow is subgid start + 41
        assert st.st_gid == 200000 + 41
    elif _user_xattrs(tree):
        # owners that cannot be real travel as rootless-containers xattrs too
        assert os.getxattr(shadow, "user.rootlesscontainers") == b"\x10\x2a"   # gid 42
    inside = user.run("run", tree, *extra, "--", "/bin/sh", "-c",
                      "dpkg-query -W -f '${db:Status-Abbrev}\\n' | sort -u", check=True)
    assert inside.stdout == "ii \n"
    # while it runs the tree sees the host's current name servers, not the copy
    user.exec("sh", "-c", f"echo 'nameserver 192.0.2.1' > {tree}/etc/resolv.conf", check=True)
    seen = user.run("run", tree, *extra, "--", "cat", "/etc/resolv.conf", check=True).stdout
    assert seen.encode() == host_resolv_conf() and "192.0.2.1" not in seen
    _tree_works(user, tree, extra, backend)


@pytest.fixture(scope="module")
def scripted_reference(minbase_mirror, signer, session_dir, cli_python) -> dict[str, tuple]:
    if os.geteuid() != 0:
        pytest.skip("the root backend needs the tests to run as root")
    work = Path(tempfile.mkdtemp(prefix="root-scripted-", dir=session_dir))
    out = work / "root.tar"
    subprocess.run([cli_python, "-m", "bootstrap",
                    *_args(minbase_mirror, signer, out, work / "cache"), "--mode", "root",
                    "--include", "owner-scripts", "--quiet"], check=True,
                   env=dict(PATH=os.environ["PATH"], SOURCE_DATE_EPOCH=EPOCH))
    return manifest(out)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_scriptlets_giving_files_away_and_making_nodes(backend, request, minbase_mirror,
                                                      signer, scripted_reference):
    ref = scripted_reference
    assert ref["./var/lib/fixture/owned"][2:4] == (1, 8)          # daemon:mail
    assert ref["./var/lib/fixture/dir/b"][3] == 5                 # tty
    assert ref["./var/lib/fixture/null"][0] == "char" and ref["./var/lib/fixture/null"][7] == (1, 3)
    assert ref["./var/lib/fixture/loop"][:2] == ("block", oct(0o600))
    assert ref["./var/lib/fixture/fifo"][0] == "fifo"
    kind, extra = BACKENDS[backend]
    user = request.getfixturevalue(f"{kind}_user")
    tar = user.path("t.tar")
    user.run(*_args(minbase_mirror, signer, tar, user.cache), *extra,
             "--include", "owner-scripts", env={"SOURCE_DATE_EPOCH": EPOCH}, check=True)
    assert manifest(tar) == ref


def test_root_backend_exports_and_runs(minbase_mirror, signer, reference, session_dir,
                                       cli_python):
    work = Path(tempfile.mkdtemp(prefix="root-dir-", dir=session_dir))
    env = dict(PATH=os.environ["PATH"], SOURCE_DATE_EPOCH=EPOCH)
    cli = [cli_python, "-m", "bootstrap"]
    subprocess.run(cli + _args(minbase_mirror, signer, work / "tree", work / "cache")
                   + ["--mode", "root", "--quiet"], check=True, env=env)
    subprocess.run(cli + ["export", str(work / "tree"), str(work / "e.tar")], check=True,
                   env=env)
    assert manifest(work / "e.tar") == reference
    st = os.lstat(work / "tree/etc/shadow")
    assert (st.st_uid, st.st_gid) == (0, 42)
    out = subprocess.run(cli + ["run", str(work / "tree"), "--", "/bin/sh", "-c",
                                "id -u; cat /proc/sys/kernel/hostname; apt-get update -q "
                                ">/dev/null && apt-get install -y -q hello >/dev/null && hello"],
                         env=env, check=True, capture_output=True, text=True).stdout
    assert out == "0\ndebian\nHello, world!\n"


def test_ptrace_is_chosen_where_user_namespaces_are_refused(single_user, minbase_mirror,
                                                            signer, reference):
    user = single_user
    probe = user.exec(*BWRAP, "unshare", "-r", "true")
    assert probe.returncode != 0, "bwrap --disable-userns did not refuse user namespaces"
    tar = user.path("t.tar")
    r = user.exec(*BWRAP, user.python, "-m", "bootstrap",
                  *_args(minbase_mirror, signer, tar, user.cache), "--json",
                  env={"SOURCE_DATE_EPOCH": EPOCH}, check=True)
    result = json.loads(r.stdout)
    assert result["mode"] == "ptrace"
    assert any(x.startswith("userns-single:") for x in result["refused"])
    assert manifest(tar) == reference

    tree = user.path("tree")
    user.exec(*BWRAP, user.python, "-m", "bootstrap",
              *_args(minbase_mirror, signer, tree, user.cache), "--quiet", check=True)
    out = user.exec(*BWRAP, user.python, "-m", "bootstrap", "run", tree, "--", "id", "-u",
                    check=True)
    assert out.stdout == "0\n"

    # no namespaces and no PRoot: one line that says why and how to get PRoot
    proc = user.exec(*BWRAP, user.python, "-m", "bootstrap", "run", tree, "--", "id",
                     env={"PATH": "/nonexistent"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rootstrap: error: no way to act as root")
    assert "userns-single" in lines[0] and "PRoot" in lines[0]


@pytest.fixture
def chown_refusing_dir(mapped_user) -> Iterator[Path]:
    """A directory of the user's where every chown fails: a bindfs view denying it."""
    if os.geteuid() != 0 or not shutil.which("bindfs") or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root, bindfs and /dev/fuse to make a chown-refusing directory")
    src = mapped_user.mkdir("bind-src")
    mnt = mapped_user.mkdir("bind-mnt")
    subprocess.run(["bindfs", f"--force-user={mapped_user.name}",
                    f"--force-group={mapped_user.name}", "--chown-deny", "--chgrp-deny",
                    "-o", "allow_other", str(src), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], check=False)
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def test_directory_that_refuses_chown(mapped_user, chown_refusing_dir, minbase_mirror, signer,
                                      reference):
    user = mapped_user
    refused = user.exec("chown", f"{user.uid}", chown_refusing_dir)
    assert refused.returncode != 0, "the bindfs view did not refuse chown"
    tree = chown_refusing_dir / "tree"
    r = user.run(*_args(minbase_mirror, signer, tree, user.cache), "--json", check=True)
    result = json.loads(r.stdout)
    assert (result["mode"], result["owners"]) == ("userns-full", "ledger")
    exported = user.path("exported.tar")
    user.run("export", tree, exported, env={"SOURCE_DATE_EPOCH": EPOCH}, check=True)
    ours = manifest(exported)
    assert ours == reference
    assert ours["./etc/shadow"][2:4] == (0, 42)
