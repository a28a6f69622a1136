"""rootstrap's apk readers against Alpine's real files (../shared/real/alpine/):
signed indexes, the 3.20.3 minirootfs's installed database, and (marked network)
Alpine's real mirror, the day it is reachable."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bootstrap.families.apk import index
from bootstrap.families.apk.depend import Dep
from bootstrap.families.apk.select import Repos, select
from bootstrap.trust.rsa import RsaKeys
from realdata import real

KEYS = Path(__file__).resolve().parent.parent / "keys" / "alpine"
ALPINE = real("alpine")
needs_real = pytest.mark.skipif(not ALPINE.is_dir(), reason="no real Alpine files here")
WORLD = ["alpine-baselayout", "alpine-keys", "apk-tools", "busybox", "libc-utils"]
# the lines a package's record may have after its index fields, in apk's grammar
HEADER = "CPVASITULomtckDpirqsf"


def _index(name: str, keys: Path = KEYS) -> index.Index:
    path = ALPINE / name / "APKINDEX.tar.gz"
    content, _ = index.verify(path.read_bytes(), RsaKeys([keys]), name, "the real files")
    return index.parse(content, "main", "", 0, name)


@needs_real
@pytest.mark.parametrize("name, signer, count", [
    ("apkindex/v3.16-main-x86_64", "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub", 4929),
    ("apkindex/v2.6-main-x86", "alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub", 3987),
])
def test_real_indexes_verify_with_the_shipped_keys_and_parse_whole(name, signer, count):
    path = ALPINE / name / "APKINDEX.tar.gz"
    _, who = index.verify(path.read_bytes(), RsaKeys([KEYS]), name, "the real files")
    assert who == signer
    parsed = _index(name)
    assert len(parsed.packages) == count and parsed.refused == {}
    for p in parsed.packages:
        assert [k for k, _ in p.fields] == [k for k in index.ORDER if k in dict(p.fields)]


@needs_real
def test_the_rsa256_index_verifies_with_its_own_keys_from_the_command_line():
    folder = ALPINE / "third-party" / "chainguard-rsa256-index"
    cli = [sys.executable, "-m", "bootstrap", "verify", "alpine"]
    ok = subprocess.run(cli + ["--keyring", str(folder / "keys"),
                               str(folder / "APKINDEX.tar.gz")], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("OK ") and "chainguard-" in ok.stdout
    refused = subprocess.run(cli + [str(folder / "APKINDEX.tar.gz")], capture_output=True,
                             text=True)
    assert refused.returncode == 1 and "not among the trusted keys" in refused.stdout


@needs_real
def test_the_minirootfs_world_resolves_as_apk_resolved_it():
    picked = select(Repos([_index("apkindex/v3.16-main-x86_64")]),
                    [Dep.parse(n) for n in WORLD], "v3.16")
    names = [p.name for p in picked.packages]
    # the installed database apko wrote from apk's own solve of 3.16, in its order
    theirs = re.findall(r"^P:(.*)$", (ALPINE / "third-party" / "apko-generated-installed" /
                                      "installed").read_text(), re.M)
    assert names == theirs and len(names) == 14
    # and the names of the 3.20.3 minirootfs, but for what 3.20 renamed or split
    minirootfs = set(re.findall(r"^P:(.*)$", (ALPINE / "minirootfs" / "extracted" / "lib" /
                                              "apk" / "db" / "installed").read_text(), re.M))
    renamed = {"libcrypto1.1": "libcrypto3", "libssl1.1": "libssl3"}
    ours = {renamed.get(n, n) for n in names} - {"libc-utils"}     # 3.20: musl-utils provides it
    assert minirootfs - ours == {"busybox-binsh"}                # 3.17 split /bin/sh out
    assert ours - minirootfs == set()


def _grammar(text: str) -> list[str]:
    """Each record's shape: its header letters, then F/M/R/a/Z lines checked."""
    assert text.endswith("\n\n")
    shapes = []
    for block in text.split("\n\n")[:-1]:
        letters = [line[0] for line in block.splitlines()]
        assert all(line[1] == ":" for line in block.splitlines()), block[:80]
        head = "".join(letters[:next((i for i, c in enumerate(letters) if c == "F"),
                                     len(letters))])
        assert head == "".join(c for c in HEADER if c in head), head
        assert len(set(head)) == len(head), head
        for prev, cur in zip(letters, letters[1:]):
            if cur == "M":
                assert prev == "F"
            if cur == "a":
                assert prev == "R"
            if cur == "Z":
                assert prev in ("R", "a")
        shapes.append(head)
    return shapes


@needs_real
def test_our_installed_database_has_the_real_one_s_grammar(alpine_mirror, as_user):
    real_text = (ALPINE / "minirootfs/extracted/lib/apk/db/installed").read_text()
    real_shapes = dict(zip(re.findall(r"^P:(.*)$", real_text, re.M), _grammar(real_text)))
    tree = as_user.path("alpine")
    as_user.run("alpine", tree, *alpine_mirror.args(), "--cache", as_user.cache,
                "--no-configure", check=True)
    ours_text = (tree / "lib/apk/db/installed").read_text()
    ours = dict(zip(re.findall(r"^P:(.*)$", ours_text, re.M), _grammar(ours_text)))
    # the fixture's packages have the real ones' kinds of fields (but no commit
    # maintainer or install_if where those lack them): the same shapes
    for name in ("alpine-baselayout-data", "busybox-binsh", "musl", "libssl3"):
        assert ours[name] == real_shapes[name], name
    # directories: the real records list F: in path order, parents first; so do ours
    for text in (real_text, ours_text):
        for block in text.split("\n\n")[:-1]:
            dirs = [ln[2:] for ln in block.splitlines() if ln.startswith("F:")]
            assert dirs == sorted(dirs, key=lambda d: d.encode()), dirs


@pytest.mark.network
def test_alpine_from_its_real_mirror(as_user):
    url = "https://dl-cdn.alpinelinux.org/alpine/"
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except (OSError, socket.timeout) as e:
        pytest.skip(f"Alpine's CDN is unreachable from here ({e})")
    tree = as_user.path("alpine")
    proc = as_user.run("alpine", tree, "--cache", as_user.shared_cache, "--json", check=True)
    assert "apk-tools" in proc.stdout
    inside = as_user.run("run", tree, "--", "/bin/sh", "-c",
                         "cat /etc/apk/world && apk --version && ls /", check=True)
    assert "alpine-baselayout" in inside.stdout and "apk-tools" in inside.stdout
