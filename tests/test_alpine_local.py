"""Alpine trees from the local fixture mirror (apkmirror), built as unprivileged
users in every mode, judged by what apk would have left: the installed database,
the scripts and triggers that ran, and a shell that works inside."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

import apkmirror
from debmirror import MirrorServer
from refusal import refused

EPOCH = "1700000000"
BWRAP = ["/usr/bin/bwrap", "--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--"]
# the minirootfs world of the fixture, and what apk resolves it to, in install order
MINIROOTFS = ["alpine-baselayout-data", "busybox", "busybox-binsh", "alpine-baselayout",
              "alpine-keys", "musl", "libfoo", "libssl3", "ssl_client", "alpine-release",
              "apk-tools", "musl-utils"]


def records(text: str) -> list[list[tuple[str, str]]]:
    return [[(line[0], line[2:]) for line in block.splitlines()]
            for block in text.split("\n\n") if block.strip()]


def installed(tree: Path) -> dict[str, list[tuple[str, str]]]:
    text = (tree / "lib/apk/db/installed").read_text()
    assert text.endswith("\n\n")
    return {dict(r)["P"]: r for r in records(text)}


def _q1(data: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


BACKENDS = {"userns-full": ("mapped", []), "userns-single": ("single", []),
            "ptrace": ("single", ["--mode", "ptrace"])}


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_minirootfs_is_what_apk_leaves(backend, request, alpine_mirror):
    kind, extra = BACKENDS[backend]
    user = request.getfixturevalue(f"{kind}_user")
    tree = user.path("alpine")
    proc = user.run("alpine", tree, *alpine_mirror.args(), *extra, "--json",
                    "--cache", user.cache, check=True)
    result = json.loads(proc.stdout)
    assert result["mode"] == backend and result["variant"] == "minirootfs"
    assert [p["name"] for p in result["packages"]] == MINIROOTFS

    db = installed(tree)
    assert sorted(db) == sorted(MINIROOTFS)
    assert list(db) == sorted(db)                          # apk writes them by name
    for name, record in db.items():
        version = dict(record)["V"]
        assert version == alpine_mirror.repos.package(name, version).spec.version
        assert dict(record)["C"] == alpine_mirror.repos.package(name, version).identity
        # every file the record lists is there with its checksum
        folder = ""
        for letter, value in record:
            if letter == "F":
                folder = value
                assert (tree / folder).is_dir() or (tree / folder).is_symlink(), folder
            elif letter == "R":
                path = tree / folder / value
            elif letter == "Z" and path not in (tree / "etc/group", tree / "etc/hostname"):
                # (a script adds to the one; rootstrap writes the other, --hostname)
                data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
                assert value == _q1(data), path
    assert db["libfoo"][2] == ("V", "1.3-r0")      # >=1.2: community's, not main's 1.1
    assert ("s", "") not in db["busybox"]

    world = (tree / "etc/apk/world").read_text()
    assert world == "".join(f"{n}\n" for n in apkmirror.MINIROOTFS_WORLD)
    assert (tree / "etc/apk/repositories").read_text() == \
        f"{alpine_mirror.url}/v3.20/main\n{alpine_mirror.url}/v3.20/community\n"
    assert (tree / "etc/apk/arch").read_text() == "x86_64\n"
    assert (tree / f"etc/apk/keys/{alpine_mirror.key.name}").read_bytes() == \
        alpine_mirror.key.public.read_bytes()
    busybox_c = dict(db["busybox"])["C"]
    assert (tree / "lib/apk/db/triggers").read_text() == \
        f"{busybox_c} /bin /usr/bin /sbin /usr/sbin /lib/modules/*\n"
    with tarfile.open(tree / "lib/apk/db/scripts.tar") as scripts:
        names = sorted(scripts.getnames())
    base_c = dict(db["alpine-baselayout"])["C"]
    assert names == sorted([f"alpine-baselayout-3.6.5-r0.{base_c}.pre-install",
                            f"alpine-baselayout-3.6.5-r0.{base_c}.post-install",
                            f"busybox-1.36.1-r29.{busybox_c}.trigger"])

    # the scripts ran once each, in order, and busybox's trigger made the applets
    log = (tree / "var/log/fixture-scripts").read_text().splitlines()
    assert log == ["post-install 3.6.5-r0", "trigger /bin /sbin /usr/bin /usr/sbin"]
    assert "shadow:x:42:" in (tree / "etc/group").read_text()
    assert os.readlink(tree / "bin/ls") == "/bin/busybox"
    ledger = json.loads((tree.parent / "alpine.rootstrap-ledger").read_text())["entries"]
    assert (ledger["etc/shadow"]["uid"], ledger["etc/shadow"]["gid"]) == (0, 42)

    inside = user.run("run", tree, *extra, "--", "/bin/sh", "-c",
                      "ls / && cat /etc/alpine-release", check=True).stdout.split()
    assert {"bin", "etc", "lib", "usr", "var"} <= set(inside) and inside[-1] == "3.20.3"
    bwrapped = user.exec("bwrap", "--bind", tree, "/", "--proc", "/proc", "--dev", "/dev",
                         "/bin/sh", "-c", "ls /bin | wc -l")
    if bwrapped.returncode == 0:            # bwrap needs user namespaces
        assert int(bwrapped.stdout) > 50


def test_every_mode_gives_the_same_tarball(mapped_user, single_user, alpine_mirror):
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    args = [*alpine_mirror.args(), "--include", "fixd,iputils-ping"]
    tars = []
    for user, extra in ((mapped_user, []), (single_user, []),
                        (single_user, ["--mode", "ptrace"])):
        out = user.path(f"t{len(tars)}.tar")
        user.run("alpine", out, *args, *extra, "--cache", user.cache, env=env, check=True)
        tars.append(out.read_bytes())
    assert tars[0] == tars[1] == tars[2]
    with tarfile.open(mapped_user.path("t0.tar")) as tar:
        m = {x.name: x for x in tar}
    # fixd's pre-install made its user before its files came: they are fixd's by name
    assert (m["./var/lib/fixd"].uid, m["./var/lib/fixd/state"].gid) == (4321, 4321)
    assert m["./usr/bin/fixd-su"].mode == 0o4755
    assert m["./bin/ping"].pax_headers["SCHILY.xattr.security.capability"].encode(
        "latin-1") == apkmirror.CAPABILITY
    assert m["./usr/share/doc/apk-tools/b"].islnk()
    assert (m["./etc/shadow"].gid, m["./etc/shadow"].mode) == (42, 0o640)
    # a directory several packages ship is listed by each, as apk lists it
    db = {dict(r)["P"]: r for r in records(tar_text(mapped_user.path("t0.tar"),
                                                    "./lib/apk/db/installed"))}
    for name in ("busybox", "apk-tools"):
        assert ("F", "usr/share/fixture") in db[name]


def tar_text(path: Path, member: str) -> str:
    with tarfile.open(path) as tar:
        f = tar.extractfile(member)
        assert f is not None
        return f.read().decode()


def test_conflicts_and_testing_tags_are_apk_s(as_user, alpine_mirror):
    proc = as_user.run("alpine", as_user.path("t"), *alpine_mirror.args(), "--include",
                       "grumpy", "--cache", as_user.cache)
    refused(as_user, proc, "grumpy-1.0-r0 conflicts with busybox-binsh-1.36.1-r29")
    proc = as_user.run("alpine", as_user.path("t"), *alpine_mirror.args(), "--include",
                       "iputils-ping@testing", "--cache", as_user.cache)
    refused(as_user, proc, "iputils-ping@testing", "no repository is tagged @testing")


# --------------------------------------------------------------------------- refusals

@pytest.fixture
def damaged(alpine_mirror, tmp_path: Path) -> Iterator[apkmirror.AlpineRepos]:
    """A private copy of the fixture to damage, served on its own port."""
    root = tmp_path / "mirror"
    shutil.copytree(alpine_mirror.repos.root, root, symlinks=True)
    tmp_path.chmod(0o755)
    copy = apkmirror.AlpineRepos(root, alpine_mirror.key, {
        k: apkmirror.Built(b.spec, root / b.path.relative_to(alpine_mirror.repos.root),
                           b.identity, b.size, b.installed)
        for k, b in alpine_mirror.repos.built.items()})
    server = MirrorServer(root)
    copy.url = server.url                                  # type: ignore[attr-defined]
    yield copy
    server.close()


def _args(repos, key_folder) -> list[str]:
    return ["--release", apkmirror.BRANCH, "--mirror", repos.url, "--keyring", str(key_folder)]


def _members(path: Path) -> list[bytes]:
    """The compressed gzip members of a file."""
    import zlib
    data = path.read_bytes()
    out = []
    while data:
        d = zlib.decompressobj(31)
        d.decompress(data)
        end = len(data) - len(d.unused_data)
        out.append(data[:end])
        data = d.unused_data
    return out


def test_a_tampered_index_isrefused(as_user, damaged, alpine_mirror):
    index = damaged.repo_dir("main") / "APKINDEX.tar.gz"
    sig, content = _members(index)
    text = apkmirror.gzip.decompress(content)
    index.write_bytes(sig + apkmirror.gz(text.replace(b"T:musl (fixture)", b"T:musl (evil)")))
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, alpine_mirror.key.folder),
                       "--cache", as_user.cache)
    refused(as_user, proc, "v3.20/main/x86_64/APKINDEX.tar.gz", damaged.url,
             "BAD signature", alpine_mirror.key.name)


def test_an_index_signed_by_an_unknown_key_isrefused(as_user, damaged, tmp_path):
    stranger = apkmirror.make_key(tmp_path / "stranger", "stranger-0001")
    damaged.reindex("main", key=stranger)
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, damaged.key.folder),
                       "--cache", as_user.cache)
    refused(as_user, proc, "APKINDEX.tar.gz", "stranger-0001.rsa.pub",
             "not among the trusted keys")


def test_a_package_whose_control_part_is_not_the_index_s_isrefused(as_user, damaged):
    musl = damaged.package("musl")
    damaged.reindex("main", identities={"musl": apkmirror.q1(b"something else")})
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, damaged.key.folder),
                       "--cache", as_user.cache)
    refused(as_user, proc, musl.spec.filename, damaged.url)


def test_a_package_older_than_the_index_says_isrefused(as_user, damaged):
    # the signed index vouches for musl's control part but names a newer version:
    # an old package served under the current name
    import shutil
    musl = damaged.package("musl")
    newer = musl.spec.version.replace("-r", ".9-r")
    served = damaged.repo_dir("main") / musl.spec.filename.replace(musl.spec.version, newer)
    shutil.copy(damaged.repo_dir("main") / musl.spec.filename, served)
    served.chmod(0o644)
    damaged.reindex("main", versions={"musl": newer})
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, damaged.key.folder),
                       "--cache", as_user.cache)
    refused(as_user, proc, served.name, damaged.url, f"says it is musl {musl.spec.version}",
            f"the index musl {newer}")


def test_a_package_whose_data_part_is_not_its_datahash_isrefused(as_user, damaged):
    musl = damaged.package("musl")
    sig, control, data = _members(musl.path)
    evil = apkmirror.gz(apkmirror.gzip.decompress(data).replace(b"not really", b"evil bytes"))
    musl.path.write_bytes(sig + control + evil)
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, damaged.key.folder),
                       "--cache", as_user.cache)
    refused(as_user, proc, musl.spec.filename, "datahash", damaged.url)


def test_a_file_whose_header_checksum_lies_isrefused(as_user, damaged):
    spec = apkmirror.Spec("musl", "1.2.5-r0", provides=("so:libc.musl-x86_64.so.1=1",),
                          files=(apkmirror.F("lib", kind="dir"),
                                 apkmirror.F("lib/ld-musl-x86_64.so.1", b"real bytes\n",
                                             checksum="0" * 40)))
    built = apkmirror.build_apk(spec, damaged.key, damaged.repo_dir("main"))
    damaged.built[("musl", "1.2.5-r0")] = built
    damaged.reindex("main")
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, damaged.key.folder),
                       "--cache", as_user.cache, "--no-configure")
    refused(as_user, proc, spec.filename, "lib/ld-musl-x86_64.so.1", "0" * 40)


def test_an_apk_tools_3_index_is_named(as_user, damaged):
    index = damaged.repo_dir("main") / "APKINDEX.tar.gz"
    index.write_bytes(b"ADB.indx" + b"\0" * 64)
    proc = as_user.run("alpine", as_user.path("t"), *_args(damaged, damaged.key.folder),
                       "--cache", as_user.cache)
    refused(as_user, proc, "APKINDEX.tar.gz", "apk-tools 3 ADB file (indx)")


def test_edge_s_testing_only_for_what_is_asked_with_its_tag(as_user, alpine_mirror):
    args = ["--release", "edge", "--mirror", alpine_mirror.url,
            "--keyring", str(alpine_mirror.key.folder), "--cache", as_user.cache]
    proc = as_user.run("alpine", as_user.path("t"), *args, "--include", "newthing")
    refused(as_user, proc, "cannot satisfy dependency newthing <- world")
    tree = as_user.path("edge")
    as_user.run("alpine", tree, *args, "--include", "newthing@testing", "--no-configure",
                check=True)
    assert "newthing" in installed(tree)
    assert (tree / "etc/apk/world").read_text().splitlines()[-1] == "newthing@testing"
    assert (tree / "etc/apk/repositories").read_text().splitlines() == [
        f"{alpine_mirror.url}/edge/main", f"{alpine_mirror.url}/edge/community",
        f"@testing {alpine_mirror.url}/edge/testing"]
    assert ("s", "testing") in installed(tree)["newthing"]
