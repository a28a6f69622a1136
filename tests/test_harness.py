"""The harness itself: the users, the interpreter, the fixture mirror."""
from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import debmirror
from conftest import SUBID_COUNT, SUBID_START, subid_ranges


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# --------------------------------------------------------------------------- users


def test_user_is_unprivileged(user):
    proc = user.exec("id", "-u", check=True)
    assert int(proc.stdout) == user.uid != 0
    st = user.workdir.stat()
    assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
    user.exec("touch", user.path("cache", "probe"), check=True)
    assert user.path("cache", "probe").stat().st_uid == user.uid


def test_mapped_user_has_a_subordinate_range(mapped_user):
    for path in ("/etc/subuid", "/etc/subgid"):
        ranges = subid_ranges(mapped_user.name, mapped_user.uid, path)
        assert any(count >= SUBID_COUNT for _, count in ranges), (path, ranges)
        if os.geteuid() == 0:
            assert ranges == [(SUBID_START, SUBID_COUNT)], (path, ranges)
    if subprocess.run(["unshare", "--user", "true"], stderr=subprocess.DEVNULL).returncode:
        pytest.skip("user namespaces are disabled on this host")
    proc = mapped_user.exec("unshare", "--user", "--map-auto", "--map-root-user",
                            "cat", "/proc/self/uid_map", check=True)
    rows = [tuple(map(int, line.split())) for line in proc.stdout.splitlines()]
    assert (0, mapped_user.uid, 1) in rows
    # util-linux maps root to the user and fills ids 1.. from the subordinate range.
    assert sum(count for _, _, count in rows) >= SUBID_COUNT, rows


def test_single_user_has_no_subordinate_range(single_user):
    for path in ("/etc/subuid", "/etc/subgid"):
        assert subid_ranges(single_user.name, single_user.uid, path) == []
    if subprocess.run(["unshare", "--user", "true"], stderr=subprocess.DEVNULL).returncode:
        pytest.skip("user namespaces are disabled on this host")
    # Only the user itself can be mapped: exactly what rootstrap's single mode faces.
    proc = single_user.exec("unshare", "--user", "--map-root-user",
                            "cat", "/proc/self/uid_map", check=True)
    rows = [tuple(map(int, line.split())) for line in proc.stdout.splitlines()]
    assert rows == [(0, single_user.uid, 1)]


def test_cli_interpreter_is_an_installed_rootstrap(user, source_copy):
    proc = user.exec(user.python, "-c",
                     "import requests, zstandard, gnupg, tqdm, yaml, bootstrap, sys\n"
                     "from bootstrap.paths import recipes_dir, keys_dir\n"
                     "print(bootstrap.__file__, recipes_dir(), keys_dir(), sys.prefix)\n",
                     check=True)
    module, recipes, keys, prefix = proc.stdout.split()
    # installed, not the checkout: recipes and keys come from the installed data
    assert Path(module).is_relative_to(prefix)
    assert Path(recipes) == Path(prefix) / "share/rootstrap/recipes"
    for name in os.listdir(source_copy / "recipes"):
        assert (Path(recipes) / name).is_file(), name
    shipped = {str(p.relative_to(source_copy / "keys")) for p in
               (source_copy / "keys").rglob("*") if p.is_file()}
    installed = {str(p.relative_to(keys)) for p in Path(keys).rglob("*") if p.is_file()}
    assert shipped and shipped == installed
    listed = user.run("list", check=True).stdout
    for name in os.listdir(source_copy / "recipes"):
        assert f"{Path(name).stem}:" in listed


def test_cli_runs_with_a_clean_environment(as_user):
    proc = as_user.exec("env", env={"EXTRA": "1"}, check=True)
    names = {line.split("=", 1)[0] for line in proc.stdout.splitlines()}
    assert names == {"HOME", "PATH", "USER", "LOGNAME", "LANG",
                     "PYTHONDONTWRITEBYTECODE", "EXTRA"}


@pytest.mark.parametrize("as_user", ["single"], indirect=True)
def test_as_user_is_parametrizable(as_user):
    assert as_user.kind == "single"
    assert subid_ranges(as_user.name, as_user.uid, "/etc/subuid") == []


# --------------------------------------------------------------------------- mirror


def test_inrelease_verifies_with_the_mirror_keyring(local_mirror, as_user):
    inrelease = local_mirror.dist / "InRelease"
    proc = as_user.exec("gpgv", "--keyring", local_mirror.keyring, inrelease)
    assert proc.returncode == 0, proc.stderr
    assert "Good signature" in proc.stderr
    detached = as_user.exec("gpgv", "--keyring", local_mirror.keyring,
                            local_mirror.dist / "Release.gpg", local_mirror.dist / "Release")
    assert detached.returncode == 0, detached.stderr
    wrong = as_user.exec("gpgv", "--keyring", local_mirror.untrusted_keyring, inrelease)
    assert wrong.returncode != 0


def test_resign_with_untrusted_key_then_restore(local_mirror):
    inrelease = local_mirror.dist / "InRelease"
    local_mirror.resign()
    gpgv = ["gpgv", "--keyring", str(local_mirror.keyring), str(inrelease)]
    assert subprocess.run(gpgv, capture_output=True).returncode != 0
    assert "dists/bookworm/InRelease" in local_mirror.restore()
    assert subprocess.run(gpgv, capture_output=True).returncode == 0


def test_release_describes_the_suite(local_mirror):
    release = (local_mirror.dist / "Release").read_text()
    fields = debmirror.parse_packages(release)[0]
    for key, value in {"Origin": "Debian", "Label": "Debian", "Suite": "bookworm",
                       "Codename": "bookworm", "Architectures": "amd64",
                       "Components": "main"}.items():
        assert fields[key] == value
    sha256 = {line.split()[2]: line.split()[0] for line in fields["SHA256"].splitlines()[1:]}
    for name in ("Packages", "Packages.gz", "Packages.xz"):
        rel = f"main/binary-amd64/{name}"
        data = (local_mirror.dist / rel).read_bytes()
        assert sha256[rel] == hashlib.sha256(data).hexdigest()


def test_packages_lists_every_fixture_package(local_mirror):
    raw = local_mirror.packages_file.read_bytes()
    assert gzip.decompress(local_mirror.packages_file.with_suffix(".gz").read_bytes()) == raw
    assert lzma.decompress(local_mirror.packages_file.with_suffix(".xz").read_bytes()) == raw
    stanzas = debmirror.parse_packages(raw.decode())
    listed = {(s["Package"], s["Version"]) for s in stanzas}
    assert listed == {(p.name, p.version) for p in local_mirror.packages}
    by_name = {s["Package"]: s for s in stanzas}
    assert by_name["base-files"]["Essential"] == "yes"
    assert by_name["alt-user"]["Depends"] == "alt-a | alt-b"
    assert by_name["virt-provider"]["Provides"] == "virtual-thing"
    assert by_name["ver-user"]["Depends"] == "ver-lib (>= 2.0)"
    assert by_name["links"]["Architecture"] == "all"
    for s in stanzas:
        deb = local_mirror.root / s["Filename"]
        assert hashlib.sha256(deb.read_bytes()).hexdigest() == s["SHA256"]
        assert int(s["Size"]) == deb.stat().st_size


def test_debs_carry_owners_modes_and_links(local_mirror):
    def contents(name: str) -> dict[str, str]:
        return {line.split(" ./", 1)[1].split(" -> ")[0].split(" link to ")[0]: line
                for line in debmirror.deb_contents(local_mirror.deb(name))}

    shadow = contents("shadowish")["etc/shadowish"]
    assert shadow.startswith("-rw-r----- root/shadow ")
    suid = contents("suid-tools")
    assert suid["usr/bin/suidtool"].startswith("-rwsr-xr-x root/root ")
    assert suid["usr/bin/sgidtool"].startswith("-rwxr-sr-x root/shadow ")
    links = contents("links")
    assert links["usr/bin/links-rel"].startswith("l")
    assert links["usr/bin/links-rel"].endswith("-> ../lib/links/target")
    assert links["usr/lib/links/hard2"].endswith("link to ./usr/lib/links/hard1")
    base = contents("base-files")
    assert base["tmp/"].startswith("drwxrwxrwt root/root ")
    info = subprocess.run(["dpkg-deb", "--info", str(local_mirror.deb("scripted"))],
                          check=True, capture_output=True, text=True).stdout
    for member in ("preinst", "postinst", "conffiles"):
        assert f" {member}" in info
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile",
                                str(local_mirror.deb("scripted"))], check=True,
                               capture_output=True).stdout
    assert b"/etc/scripted.conf" in conffiles


def test_conditional_get_returns_304(local_mirror):
    url = f"{local_mirror.url}/dists/bookworm/InRelease"
    status, headers, body = _get(url)
    assert status == 200 and body == (local_mirror.dist / "InRelease").read_bytes()
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert _get(url, {"If-None-Match": etag})[0] == 304
    assert _get(url, {"If-Modified-Since": modified})[0] == 304
    assert _get(url, {"If-None-Match": '"other"', "If-Modified-Since": modified})[0] == 200
    assert local_mirror.requests == ["/dists/bookworm/InRelease"] * 4
    assert [r.status for r in local_mirror.log] == [200, 304, 304, 200]

    # A changed file is sent again even to a client holding the old validators.
    local_mirror.tamper("dists/bookworm/InRelease", b"changed\n")
    status, _, body = _get(url, {"If-None-Match": etag})
    assert (status, body) == (200, b"changed\n")
    local_mirror.restore()
    status, _, body = _get(url, {"If-None-Match": etag, "If-Modified-Since": modified})
    assert status == 200 and body == (local_mirror.pristine / "dists/bookworm/InRelease"
                                      ).read_bytes()


def test_mirror_reports_missing_files_and_injected_faults(local_mirror):
    assert _get(f"{local_mirror.url}/dists/nosuch/InRelease")[0] == 404
    assert _get(f"{local_mirror.url}/../../etc/passwd")[0] == 404
    local_mirror.faults["/dists/bookworm/InRelease"] = 503
    assert _get(f"{local_mirror.url}/dists/bookworm/InRelease")[0] == 503
    local_mirror.reset_requests()
    assert local_mirror.requests == []


def test_test_user_reaches_the_mirror(local_mirror, as_user):
    proc = as_user.exec(as_user.python, "-c", "import sys, urllib.request\n"
                        "print(len(urllib.request.urlopen(sys.argv[1]).read()))",
                        f"{local_mirror.url}/{local_mirror.deb('base-files').relative_to(local_mirror.root)}",
                        check=True)
    assert int(proc.stdout) == local_mirror.deb("base-files").stat().st_size
    assert local_mirror.requests[-1].startswith("/pool/main/b/base-files/")


def test_valid_until_can_expire(local_mirror):
    past = datetime.now(timezone.utc) - timedelta(days=1)
    local_mirror.reindex(valid_until=past, date=past - timedelta(days=7))
    fields = debmirror.parse_packages((local_mirror.dist / "Release").read_text())[0]
    assert fields["Valid-Until"] == debmirror._release_date(past)
    subprocess.run(["gpgv", "--keyring", str(local_mirror.keyring),
                    str(local_mirror.dist / "InRelease")], check=True, capture_output=True)


def test_mirror_real_debs(local_mirror, session_dir, serve_mirror, tmp_path):
    debs = [local_mirror.deb("base-files"), local_mirror.deb("links")]
    repo = debmirror.mirror_real_debs(session_dir / "real-mirror", "bookworm", debs)
    try:
        stanzas = debmirror.parse_packages(repo.packages_file.read_text())
        assert sorted(s["Package"] for s in stanzas) == ["base-files", "links"]
        subprocess.run(["gpgv", "--keyring", str(repo.signer.keyring),
                        str(repo.dist / "InRelease")], check=True, capture_output=True)
        server = serve_mirror(repo.root)
        status, _, body = _get(f"{server.url}/{stanzas[0]['Filename']}")
        assert status == 200 and len(body) == int(stanzas[0]["Size"])
    finally:
        debmirror.stop_agent(repo.signer)
        shutil.rmtree(repo.signer.home.parent, ignore_errors=True)


def test_fixture_debs_are_reproducible(local_mirror, tmp_path):
    spec = next(p for p in local_mirror.packages if p.name == "links")
    again = debmirror.build_deb(spec, tmp_path)
    assert again.read_bytes() == local_mirror.deb("links").read_bytes()
