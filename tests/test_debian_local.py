"""Builds from the local signed fixture mirror, as unprivileged users: the cache,
the JSON result, mirror failover, and ownership carried by the ledger into tarballs."""
from __future__ import annotations

import json
import shlex
import socket
import tarfile

from debmirror import parse_packages


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build(user, mirror, target, *extra, cache=None, env=None):
    return user.run("debian", target, *mirror.cli_args(), "--no-configure",
                    "--cache", cache or user.cache, *extra, env=env, check=True)


def test_warm_cache_rebuild_fetches_only_the_index(user, local_mirror):
    _build(user, local_mirror, user.path("first"))
    first = local_mirror.requests
    assert any(r.startswith("/pool/") for r in first), first
    local_mirror.reset_requests()

    _build(user, local_mirror, user.path("second"))
    assert local_mirror.requests == ["/dists/bookworm/InRelease"]
    # and that one request was a revalidation the mirror answered with 304
    assert [entry.status for entry in local_mirror.log] == [304]


def test_json_result_names_every_package_with_its_version(user, local_mirror):
    proc = _build(user, local_mirror, user.path("tree"), "--json", "--variant", "minbase")
    result = json.loads(proc.stdout)
    assert {"target", "distro", "release", "arch", "variant", "packages", "mode",
            "seconds"} <= set(result)
    assert result["target"] == str(user.path("tree"))
    assert (result["distro"], result["release"], result["arch"], result["variant"]) == \
        ("debian", "bookworm", "amd64", "minbase")
    assert result["seconds"] > 0
    index = {(p["Package"], p["Version"]) for p in
             parse_packages(local_mirror.packages_file.read_text())}
    got = {(p["name"], p["version"]) for p in result["packages"]}
    assert got <= index
    # essential + required + apt, and the versioned dependency took the newer ver-lib
    assert {"base-files", "shadowish", "apt"} <= {n for n, _ in got}


def test_second_mirror_takes_over_when_the_first_is_unreachable(as_user, local_mirror):
    dead = f"http://127.0.0.1:{_closed_port()}"
    proc = as_user.run("debian", as_user.path("tree"), "--release", "bookworm",
                       "--mirror", dead, "--mirror", local_mirror.url,
                       "--keyring", local_mirror.keyring, "--no-configure",
                       "--cache", as_user.cache, "--json", check=True)
    assert json.loads(proc.stdout)["packages"]
    assert (as_user.path("tree") / "etc/shadowish").exists()
    sources = (as_user.path("tree") / "etc/apt/sources.list.d/debian.sources").read_text()
    assert f"URIs: {local_mirror.url}" in sources


def test_tarball_ownership_comes_from_the_ledger_and_is_the_same_for_every_user(
        mapped_user, single_user, local_mirror):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    a = mapped_user.path("t.tar")
    b = single_user.path("t.tar")
    _build(mapped_user, local_mirror, a, "--include", "suid-tools,links", env=env)
    _build(single_user, local_mirror, b, "--include", "suid-tools,links", env=env)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        members = {m.name: m for m in tar}
    names = list(members)
    assert names == sorted(names)
    shadow = members["./etc/shadowish"]
    assert (shadow.uid, shadow.gid, shadow.mode) == (0, 42, 0o640)
    modes = sorted(m.mode for m in members.values() if m.isreg() and m.mode & 0o6000)
    assert 0o4755 in modes and 0o2755 in modes
    assert any(m.islnk() for m in members.values())
    assert any(m.issym() for m in members.values())
    assert all(m.mtime <= 1700000000 for m in members.values())
    assert members["./dev/null"].ischr()


def test_existing_target_is_refused_and_left_alone(as_user, local_mirror):
    target = as_user.mkdir("tree")
    (target / "keep").write_text("mine")
    proc = as_user.run("debian", target, *local_mirror.cli_args(), "--no-configure",
                       "--cache", as_user.cache)
    assert proc.returncode == 1
    assert proc.stderr.startswith("rootstrap: error: ") and "exists" in proc.stderr
    assert (target / "keep").read_text() == "mine"


def test_failure_while_configuring_leaves_nothing_behind(user, local_mirror):
    # The fixture packages carry no dpkg, so configuring must fail after the tree was
    # unpacked (and, for the mapped user, handed to mapped ids): nothing may remain.
    before = set(p.name for p in user.workdir.iterdir())
    proc = user.run("debian", user.path("tree"), *local_mirror.cli_args(),
                    "--cache", user.cache)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rootstrap: error: configuring failed")
    assert "Traceback" not in proc.stderr
    assert set(p.name for p in user.workdir.iterdir()) == before


def test_release_and_detached_signature_when_there_is_no_inrelease(as_user, local_mirror):
    local_mirror.faults["/dists/bookworm/InRelease"] = 404
    proc = _build(as_user, local_mirror, as_user.path("tree"), "--json")
    assert json.loads(proc.stdout)["packages"]
    assert "/dists/bookworm/Release.gpg" in local_mirror.requests


def test_detached_signature_by_an_untrusted_key_is_refused(as_user, local_mirror):
    local_mirror.faults["/dists/bookworm/InRelease"] = 404
    local_mirror.resign(local_mirror.untrusted)
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache)
    assert proc.returncode == 1
    assert proc.stderr.startswith("rootstrap: error: dists/bookworm/Release from ")
    assert "not in the trusted keyring" in proc.stderr
    assert not as_user.path("tree").exists()


def test_a_terminal_sees_each_phase_and_a_pipe_sees_none(as_user, local_mirror):
    args = ["debian", as_user.path("tree"), *local_mirror.cli_args(), "--no-configure",
            "--cache", as_user.cache]
    command = " ".join(shlex.quote(str(a)) for a in [as_user.python, "-m", "bootstrap", *args])
    # script(1) gives the build a terminal, as a user's shell would
    shown = as_user.exec("script", "-qec", command, "/dev/null", check=True).stdout
    for phase in ("index", "solve", "download", "unpack", "register", "emit"):
        assert f"rootstrap: {phase}" in shown, shown
    piped = _build(as_user, local_mirror, as_user.path("tree2"))
    assert "rootstrap: index" not in piped.stderr
    assert piped.stderr.count("\n") == 1       # the one-line summary


def test_a_flaky_mirror_is_asked_again(as_user, local_mirror):
    inrelease = "/dists/bookworm/InRelease"
    deb = "/" + str(local_mirror.deb("base-files").relative_to(local_mirror.root))
    local_mirror.server.flaky[inrelease] = [503]
    local_mirror.server.flaky[deb] = ["cut", 502]
    proc = _build(as_user, local_mirror, as_user.path("tree"), "--json")
    assert json.loads(proc.stdout)["packages"]
    statuses = [e.status for e in local_mirror.log if e.path == inrelease]
    assert statuses == [503, 200]
    assert [e.status for e in local_mirror.log if e.path == deb] == [200, 502, 200]
    # and a file the mirror does not have is asked for once, not again and again
    local_mirror.reset_requests()
    local_mirror.faults["/dists/bookworm/InRelease"] = 404
    local_mirror.faults["/dists/bookworm/Release"] = 404
    proc = as_user.run("debian", as_user.path("t2"), *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert proc.returncode == 1
    assert local_mirror.requests.count("/dists/bookworm/InRelease") == 1


def test_a_signature_is_cached_only_with_what_it_verified(as_user, local_mirror):
    import hashlib
    local_mirror.faults["/dists/bookworm/InRelease"] = 404
    local_mirror.resign(local_mirror.untrusted)
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache)
    assert proc.returncode == 1 and "not in the trusted keyring" in proc.stderr
    index = as_user.cache / "index"
    for name in ("Release", "Release.gpg"):
        url = f"{local_mirror.url}/dists/bookworm/{name}"
        key = hashlib.sha256(url.encode()).hexdigest()
        assert not (index / f"{key}.data").exists(), name
    local_mirror.restore()
    _build(as_user, local_mirror, as_user.path("tree"))
    for name in ("Release", "Release.gpg"):
        url = f"{local_mirror.url}/dists/bookworm/{name}"
        assert (index / f"{hashlib.sha256(url.encode()).hexdigest()}.data").exists(), name


def test_what_rootstrap_writes_while_configuring_stays_in_the_tree(
        user, local_mirror, session_dir, serve_mirror):
    """policy-rc.d and the chown/mknod stand-ins go into the tree through the
    confined writer: a package that made them links out of the tree (to folders
    the user may write) cannot make rootstrap write there."""
    import debmirror
    outside = user.mkdir("outside")
    escape = outside / "policy-rc.d"
    evil = debmirror.PackageSpec(
        "evil", "1.0-1", description="links where rootstrap writes",
        files=(debmirror.FileSpec("/usr/sbin/policy-rc.d", kind="symlink",
                                  target=str(escape)),
               debmirror.FileSpec("/.rootstrap", kind="symlink", target=str(outside))))
    root = session_dir / f"evil-mirror-{user.kind}"
    repo = debmirror.build_repo(root, "bookworm", debmirror.fixture_packages() + [evil],
                                local_mirror.signer.home, local_mirror.signer.fingerprint,
                                keyring=local_mirror.keyring)
    server = serve_mirror(repo.root)
    proc = user.run("debian", user.path("tree"), "--release", "bookworm", "--mirror",
                    server.url, "--keyring", local_mirror.keyring, "--include", "evil",
                    "--cache", user.cache)
    # the fixture has no dpkg: configuring fails, after policy-rc.d and the
    # stand-ins were written
    assert proc.returncode == 1 and "configuring failed" in proc.stderr, proc.stderr
    assert list(outside.iterdir()) == []
    assert not user.path("tree").exists()
