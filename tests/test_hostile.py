"""Hostile packages for every family (hostilerepos), built byte by byte, signed
and indexed by each family's test mirror like any other package, so every
check before unpacking passes and the attack reaches the tree writer and the
steps after it. Each build ends in a tree or in one line naming the package,
and a canary directory and file, writable by the building user and planted
where an escape would land, are unchanged."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import hostilerepos
from hostilerepos import FAMILIES, attacks, host_side
from refusal import refused

_CORPUS = {**attacks(b"/canary"), **host_side(b"/canary")}
# CI's budget: every attack against the first family, and against the others those
# whose handling is each family's own (paths, links, nodes, the host-side steps);
# ROOTSTRAP_HOSTILE=all runs every attack against every family
CORE = {"dotdot", "absolute-name", "symlink-out-then-through",
        "symlink-planted-by-another-package", "hardlink-out", "directory-replaced-by-symlink",
        "device-and-fifo", "decompression-bomb", "past-its-declared-size",
        "lying-size-shorter", "etc-symlink-out",
        "usr-sbin-symlink-out", "seeded-files-symlink-out"}
_ALL = os.environ.get("ROOTSTRAP_HOSTILE") == "all"
CASES = [pytest.param(family, name, id=f"{family}-{name}")
         for name, attack in sorted(_CORPUS.items()) for family in FAMILIES
         if family in attack.only and (_ALL or family == FAMILIES[0] or name in CORE)]
# where the attack leaves an `escaped` file, which must be inside the tree
LANDS_INSIDE = {"absolute-name", "symlink-out-then-through", "relative-symlink-up-then-through",
                "symlink-planted-by-another-package"}


def _canary(path: Path, uid: int, gid: int) -> dict[str, str]:
    """A directory and a file the building user may write; what they hold."""
    path.mkdir(parents=True)
    (path / "file").write_bytes(b"canary\n")
    for p in (path, path / "file"):
        os.chown(p, uid, gid)
    return _state(path)


def _state(path: Path) -> dict[str, str]:
    out = {}
    for top, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            full = os.path.join(top, name)
            st = os.lstat(full)
            body = ""
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    body = hashlib.sha256(f.read()).hexdigest()
            out[full] = f"{st.st_mode:o} {st.st_size} {body}"
    st = os.lstat(path)
    out[str(path)] = f"{st.st_mode:o} {st.st_uid} {st.st_gid}"
    return out


def _outcome(user, proc, expected: str, filename: str) -> str:  # type: ignore[no-untyped-def]
    """"safe": a tree; "refused": one line naming the package, nothing left behind."""
    if expected == "safe":
        assert proc.returncode == 0, proc.stderr
        return "safe"
    refused(user, proc, filename, keep=("canary", "mirror-src"))
    return "refused"


@pytest.mark.parametrize("family,name", CASES)
def test_hostile_package(family, name, as_user, signer, apk_key, serve_mirror, request):
    canary = as_user.path("canary")         # beside the tree, the user's own
    before = _canary(canary, as_user.uid, as_user.gid)
    corpus = {**attacks(os.fsencode(canary)), **host_side(os.fsencode(canary))}
    attack = corpus[name]
    configure = family in attack.configure
    debs = []
    if configure and family == "deb":
        # configure takes the essential set; the fixture's has no dpkg, so configuring
        # fails, after policy-rc.d and the stand-ins were written
        local_mirror = request.getfixturevalue("local_mirror")
        debs = list(local_mirror.repo.debs.values())
    published = hostilerepos.publish(family, attack.packages, as_user.path("mirror-src"),
                                     signer, apk_key, debs)
    server = serve_mirror(published.root)
    tree = as_user.path("tree")
    proc = as_user.run(*published.args(server.url), tree, "--cache", as_user.cache,
                       "--include", ",".join(p.name for p in attack.packages),
                       *([] if configure else ["--no-configure"]), timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert _state(canary) == before, f"{name}: the canary changed"
    outcome = _outcome(as_user, proc, attack.outcome(family),
                       published.filenames.get(attack.culprit, ""))
    if outcome == "safe" and name in LANDS_INSIDE:
        # the write the package aimed outside lands inside the tree
        inside = tree / os.fsdecode(os.fsencode(canary).lstrip(b"/")) / "escaped"
        found = [os.path.join(top, "escaped") for top, _, files in os.walk(tree)
                 if "escaped" in files]
        assert found == [str(inside)] and inside.read_bytes() == b"x\n", found
    if outcome == "safe" and name == "etc-symlink-out":
        # rootstrap's own /etc/hostname went where the tree's /etc leads, inside it
        seeded = tree / os.fsdecode(os.fsencode(canary).lstrip(b"/")) / "hostname"
        assert seeded.read_text().strip(), seeded
    if name == "decompression-bomb":
        assert outcome == "refused" and "expand" in proc.stderr, proc.stderr
    if name == "past-its-declared-size":
        assert outcome == "refused" and "signed index says it installs" in proc.stderr, \
            proc.stderr


_READ_ALL = """
import sys
from bootstrap.archive import open_tar
try:
    with open(sys.argv[1], "rb") as f, open_tar(f) as tar:
        for m in tar:
            src = tar.extractfile(m) if m.isreg() else None
            while src is not None and src.read(1 << 20):
                pass
    print("read")
except ValueError as e:
    print("refused:", e)
# VmHWM, not ru_maxrss: Linux carries the forking parent's high-water mark
# (pytest's, hundreds of MiB late in a run) across exec into ru_maxrss
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(int(hwm.split()[1]) >> 10)
"""


@pytest.mark.parametrize("kind", ["pax", "gnu-long-name", "file"])
def test_a_bomb_is_refused_with_memory_flat(kind, tmp_path):
    """The reader every tar family's packages go through, given 1 GiB of zeros
    (in 1 MiB of zstd) as a pax header, a GNU long name or a file's data,
    refuses it while its memory stays far below what it was told to hold."""
    from hostilerepos import ZEROS, compressed
    from rawarchive import tar_header
    size = 1 << 30
    kind_byte = {"pax": b"x", "gnu-long-name": b"L", "file": b"0"}[kind]
    pieces = [tar_header(b"bomb", size=size, kind=kind_byte), ZEROS(size, 512), b"\0" * 1024]
    path = tmp_path / "bomb.tar.zst"
    path.write_bytes(compressed(pieces, "zstd"))
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _READ_ALL, str(path)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent)
    said, peak = proc.stdout.splitlines()
    assert said.startswith("refused:"), said
    assert int(peak) < 128, f"{peak} MiB to read {kind}"


def test_an_apk_index_larger_than_any_repository_s_is_refused_before_it_is_read():
    """An APKINDEX member that says it holds 1 GiB (community's holds about
    10 MiB) is refused by its header, before a byte of it is held in memory."""
    import gzip
    from bootstrap.families.apk import index
    from rawarchive import tar_header
    content = gzip.compress(tar_header(b"APKINDEX", size=1 << 30) + b"P:x\n" * 128, mtime=0)
    with pytest.raises(ValueError, match="its APKINDEX is 1073741824 bytes"):
        index.parse(content, "main", "", 0, "v3.16/main")
