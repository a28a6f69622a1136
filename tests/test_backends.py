"""Every way to be root without root gives the same tree: the same bookworm minbase
from one local mirror of real Debian packages, built by userns with 65536 ids,
userns with one id, PRoot (also where user namespaces are really refused), real
root, and into a directory that refuses chown."""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

import pytest
import requests
import zstandard

import debmirror
from bootstrap.baseconfig import host_resolv_conf

pytestmark = pytest.mark.network

DATA = Path(__file__).parent / "data"
REAL = "http://deb.debian.org/debian"
EPOCH = "1700000000"
BWRAP = ["/usr/bin/bwrap", "--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--"]


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


@pytest.fixture(scope="module")
def minbase_mirror(session_dir: Path, signer) -> Iterator[debmirror.MirrorServer]:
    """A signed local mirror holding exactly bookworm's minbase, as real .debs."""
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
    paths.append(debmirror.build_deb(SCRIPTED, session_dir / "scripted-deb"))
    repo = debmirror.mirror_real_debs(session_dir / "minbase-mirror", "bookworm", paths,
                                      signer=signer)
    server = debmirror.MirrorServer(repo.root)
    yield server
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
    return ["debian", str(target), "--release", "bookworm", "--mirror", mirror.url,
            "--keyring", str(signer.keyring), "--cache", str(cache)]


@pytest.fixture(scope="module")
def reference(minbase_mirror, signer, session_dir, cli_python) -> dict[str, tuple]:
    """The tarball built as real root (--mode root), when the tests run as root."""
    if os.geteuid() != 0:
        pytest.skip("the root backend needs the tests to run as root")
    work = session_dir / "root-build"
    work.mkdir()
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
                 env=env, check=True)
    assert json.loads(r.stdout)["mode"] == backend
    assert manifest(tar) == reference

    tree = user.path("tree")
    user.run(*_args(minbase_mirror, signer, tree, user.cache), *extra, check=True)
    exported = user.path("exported.tar.zst")
    user.run("export", tree, exported, *extra, env=env, check=True)
    assert manifest(exported) == reference

    assert user.run("run", tree, *extra, "--", "id", "-u", check=True).stdout == "0\n"
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


@pytest.fixture(scope="module")
def scripted_reference(minbase_mirror, signer, session_dir, cli_python) -> dict[str, tuple]:
    if os.geteuid() != 0:
        pytest.skip("the root backend needs the tests to run as root")
    work = session_dir / "root-scripted"
    work.mkdir()
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
    work = session_dir / "root-dir"
    work.mkdir()
    env = dict(PATH=os.environ["PATH"], SOURCE_DATE_EPOCH=EPOCH)
    cli = [cli_python, "-m", "bootstrap"]
    subprocess.run(cli + _args(minbase_mirror, signer, work / "tree", work / "cache")
                   + ["--mode", "root", "--quiet"], check=True, env=env)
    subprocess.run(cli + ["export", str(work / "tree"), str(work / "e.tar")], check=True,
                   env=env)
    assert manifest(work / "e.tar") == reference
    st = os.lstat(work / "tree/etc/shadow")
    assert (st.st_uid, st.st_gid) == (0, 42)
    out = subprocess.run(cli + ["run", str(work / "tree"), "--", "id", "-u"], env=env,
                         check=True, capture_output=True, text=True).stdout
    assert out == "0\n"


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
