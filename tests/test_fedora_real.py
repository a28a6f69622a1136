"""The rpm family against Fedora's real data: the solver on Fedora 20's real
repository (../shared/real/fedora/) against what the host's dnf resolves from
the same metadata, the shipped keys, the gpg-pubkey header rpm itself writes on
import, and (marked network) Fedora's real mirrors, the day they are reachable."""
from __future__ import annotations

import glob
import gzip
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import urllib.request
from pathlib import Path
from typing import Optional

import pytest

from bootstrap.families.rpm import repodata
from bootstrap.families.rpm.header import HEADER_MAGIC, read_header
from bootstrap.families.rpm.pubkey import installed_blob
from bootstrap.families.rpm.select import Pool, expand_groups, select
from bootstrap.trust.pgpkey import certificates
from realdata import real

ROOT = Path(__file__).resolve().parent.parent
F20 = real("fedora") / "repodata-f20"
needs_real = pytest.mark.skipif(not F20.is_dir(), reason="no real Fedora files here")
ARCHES = ("x86_64", "noarch", "i686")
needs_dnf = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dnf"),
                               reason="the host's dnf resolves an installroot only as root")


def _open(kind: str) -> io.BufferedReader:
    return gzip.open(glob.glob(str(F20 / "repodata" / f"*{kind}.xml.gz"))[0])  # type: ignore


@pytest.fixture(scope="module")
def f20() -> tuple[Pool, dict]:
    packages = list(repodata.parse_primary(_open("primary"), "fedora", "primary"))
    comps = repodata.parse_comps(_open("comps").read(), "comps")
    table: dict[str, list[str]] = {}
    nevras = {p.digest.value: p.nevra for p in packages}
    for pkgid, files in repodata.parse_filelists(_open("filelists"), "filelists"):
        for f in files:
            table.setdefault(f, []).append(nevras.get(pkgid, ""))
    return Pool(packages, "x86_64", lambda path: table.get(path, [])), comps


def _dnf(request: list[str], weak: bool, root: Path) -> set[str]:
    proc = subprocess.run(
        ["dnf", f"--installroot={root}", "--releasever=20", "--setopt=reposdir=/nonexistent",
         f"--repofrompath=f20,file://{F20}", f"--setopt=cachedir={root}-cache",
         f"--setopt=install_weak_deps={weak}", "--nogpgcheck", "--assumeno", "install",
         *request], capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    names = set()
    for line, after in zip(lines, lines[1:] + [""]):
        words, next_words = line.split(), after.split()
        if len(words) >= 5 and words[1] in ARCHES:
            names.add(words[0])
        elif len(words) == 1 and after.startswith(" ") and next_words[:1] and \
                next_words[0] in ARCHES:
            names.add(words[0])        # a long name has its line to itself
    assert names, proc.stdout + proc.stderr
    return names


@needs_real
@needs_dnf
@pytest.mark.parametrize("request_", [
    "@core", "@standard", "@web-server", "@kde-desktop", "@gnome-desktop", "@xfce-desktop",
    "@kde-apps", "@development-tools,@c-development", "bash,yum,vim-enhanced", "httpd,php+",
    "/usr/bin/python,webserver"])
def test_the_solver_picks_what_dnf_picks_from_fedora_20(request_, f20, tmp_path):
    pool, comps = f20
    weak = request_.endswith("+")
    request = request_.rstrip("+").split(",")
    names, conditional = expand_groups(pool, comps, request, "f20")
    ours = {p.name for p in select(pool, names, "f20", weak=weak,
                                   conditional=conditional).packages}
    theirs = _dnf(request, weak, tmp_path / "root")
    assert sorted(ours - theirs) == [] and sorted(theirs - ours) == []


def test_the_shipped_fedora_keys_are_the_releases():
    # as keys/fedora/README records them: a swapped key file fails here
    want = {"43": "c6e7f081cf80e13146676e88829b606631645531",
            "44": "36f612dcf27f7d1a48a835e4dbfcf71c6d9f90a6",
            "45": "4f50a6114cd5c6976a7f1179655a4b02f577861e",
            "46": "d924b10d3e810dabdd8b56b596e7e91491211fce"}
    for release, fingerprint in want.items():
        path = ROOT / "keys" / "fedora" / f"RPM-GPG-KEY-fedora-{release}-primary"
        [cert] = certificates(path.read_bytes())
        assert cert.fingerprint == fingerprint
        assert cert.userid == f"Fedora ({release}) <fedora-{release}-primary@fedoraproject.org>"


@pytest.mark.skipif(not shutil.which("rpmkeys"), reason="needs the host's rpmkeys")
@pytest.mark.parametrize("key", ["RPM-GPG-KEY-fedora-45-primary", "RPM-GPG-KEY-fedora-46-primary"])
def test_a_key_goes_into_the_database_as_rpm_imports_it(key, tmp_path):
    """Byte for byte the header the host's rpm writes on `rpmkeys --import`."""
    path = ROOT / "keys" / "fedora" / key
    subprocess.run(["rpmkeys", "--root", str(tmp_path), "--dbpath", "/usr/lib/sysimage/rpm",
                    "--import", str(path)], check=True)
    db = sqlite3.connect(tmp_path / "usr/lib/sysimage/rpm/rpmdb.sqlite")
    [(theirs,)] = db.execute("SELECT blob FROM Packages").fetchall()
    h = read_header(io.BytesIO(HEADER_MAGIC + b"\0" * 4 + theirs))
    version = str(h.tags[1064])
    [cert] = certificates(path.read_bytes())
    ours = installed_blob(cert, h.ints(1008)[0], h.ints(1128)[0], version)
    assert ours == theirs


def _reachable(url: str) -> Optional[str]:
    try:
        urllib.request.urlopen(url, timeout=10).close()
        return None
    except (OSError, socket.timeout) as e:
        return str(e)


@pytest.mark.network
def test_fedora_from_its_real_mirrors(as_user):
    why = _reachable("https://mirrors.fedoraproject.org/metalink?repo=fedora-45&arch=x86_64")
    if why:
        pytest.skip(f"Fedora's mirrors are unreachable from here ({why})")
    tree = as_user.path("fedora")
    proc = as_user.run("fedora", tree, "--cache", as_user.shared_cache, "--json", check=True)
    assert '"dnf5"' in proc.stdout or '"dnf"' in proc.stdout
    inside = as_user.run("run", tree, "--", "/bin/sh", "-c", "rpm -qa | wc -l && rpm -V -a",
                         check=True)
    assert int(inside.stdout.split()[0]) > 50



@needs_real
def test_a_parsed_primary_kept_in_the_cache_is_the_parse(tmp_path):
    from bootstrap.cache import Cache
    from bootstrap.digest import Digest
    parsed = list(repodata.parse_primary(_open("primary"), "fedora", "primary"))
    kept = repodata.dump_packages(parsed)
    assert repodata.load_packages(kept, "fedora") == parsed
    assert repodata.load_packages(b"not zstd", "fedora") is None
    cache = Cache(tmp_path / "cache")
    digest = Digest("sha256", "ab" * 32)
    cache.store_derived(digest, "rpm-primary", kept)
    assert cache.derived(digest, "rpm-primary") == kept
    # one a group or others could have written is not taken
    path = (tmp_path / "cache" / "derived" / str(os.getuid()) / "rpm-primary" / "sha256"
            / digest.value)
    path.chmod(0o664)
    assert cache.derived(digest, "rpm-primary") is None
