"""Tarballs take owners, modes and device numbers from the ledger, never from the
disk, and are the same bytes for the same tree and SOURCE_DATE_EPOCH."""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from bootstrap import emit
from bootstrap.errors import Die
from bootstrap.ledger import CHAR, Ledger
from bootstrap.treewriter import TreeWriter


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Ledger]:
    root = tmp_path / "tree"
    root.mkdir()
    ledger = Ledger()
    w = TreeWriter(root, ledger)
    w.mkdir(".", 0o755, 0, 0)
    w.mkdir("etc", 0o755, 0, 0)
    w.write_bytes("etc/shadow", b"root:*:1::::::\n", 0o640, 0, 42)
    w.write_bytes("usr/bin/su", b"#!/bin/sh\n", 0o4755)
    w.hardlink("usr/bin/su2", "usr/bin/su")
    w.symlink("bin", "usr/bin")
    w.node("dev/null", CHAR, 0o666, 0, 0, (1, 3))
    ledger.get("usr/bin/su").xattrs["security.capability"] = b"\x01\x00\x00\x02"
    for p in ("etc/shadow", "usr/bin/su"):
        os.utime(root / p, (2_000_000_000, 2_000_000_000))
    return root, ledger


def _members(path: Path) -> dict[str, tarfile.TarInfo]:
    raw = path.read_bytes()
    if path.name.endswith(".zst"):
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        return {m.name: m for m in tar}


@pytest.mark.parametrize("fmt", emit.TAR_FORMATS)
def test_owners_modes_nodes_links_and_capabilities_come_from_the_ledger(tree, tmp_path, fmt):
    root, ledger = tree
    out = tmp_path / f"t.{fmt}"
    emit.write_tar(root, ledger, out, fmt, 1_700_000_000)
    m = _members(out)
    names = list(m)
    assert names == sorted(names) and names[0] == "."      # the root, written "./"
    assert (m["./etc/shadow"].uid, m["./etc/shadow"].gid, m["./etc/shadow"].mode) == \
        (0, 42, 0o640)
    assert m["./usr/bin/su"].mode == 0o4755
    assert m["./usr/bin/su"].pax_headers["SCHILY.xattr.security.capability"] == \
        "\x01\x00\x00\x02"
    assert m["./usr/bin/su2"].islnk() and m["./usr/bin/su2"].linkname == "./usr/bin/su"
    assert m["./bin"].issym() and m["./bin"].linkname == "usr/bin"
    # the node exists only in the ledger (no mknod without root), and still ships
    assert m["./dev/null"].ischr() and (m["./dev/null"].devmajor,
                                        m["./dev/null"].devminor) == (1, 3)
    assert max(x.mtime for x in m.values()) <= 1_700_000_000   # clamped


def test_the_same_tree_gives_the_same_bytes(tree, tmp_path):
    root, ledger = tree
    emit.write_tar(root, ledger, tmp_path / "a.tar.gz", "tar.gz", 1_700_000_000)
    emit.write_tar(root, ledger, tmp_path / "b.tar.gz", "tar.gz", 1_700_000_000)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_the_tarball_is_what_tarfile_and_gnu_tar_write_and_read(tree, tmp_path):
    """rootstrap writes the files' bytes itself, around tarfile's headers: the
    archive must be byte for byte the one tarfile writes for the same members,
    whatever the sizes (a block, less, more), and GNU tar must list it."""
    root, ledger = tree
    w = TreeWriter(root, ledger)
    for n, size in enumerate((0, 1, 511, 512, 513, 10240, (3 << 20) + 7)):
        w.write_bytes(f"data/f{n}", os.urandom(size))
    w.write_bytes("data/" + "long-" * 40 + "name", b"pax path\n")
    out = tmp_path / "t.tar"
    emit.write_tar(root, ledger, out, "tar", 1_700_000_000)
    again = io.BytesIO()
    with tarfile.open(fileobj=out.open("rb"), mode="r|", encoding="utf-8",
                      errors="surrogateescape") as src, \
            tarfile.open(fileobj=again, mode="w|", format=tarfile.PAX_FORMAT,
                         encoding="utf-8", errors="surrogateescape") as dst:
        for m in src:
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    assert again.getvalue() == out.read_bytes()
    listed = subprocess.run(["tar", "-tvf", str(out)], capture_output=True, check=True)
    assert b"./data/f6" in listed.stdout and b"long-long-" in listed.stdout


@pytest.mark.parametrize("name, fmt", [("t.tar", "tar"), ("t.tar.gz", "tar.gz"),
                                       ("t.tgz", "tar.gz"), ("t.tar.xz", "tar.xz"),
                                       ("t.tar.zst", "tar.zst"), ("tree", "dir"),
                                       ("tree.d", "dir"), ("img.oci.tar", "oci-archive"),
                                       ("t.sqfs", "squashfs"), ("t.squashfs", "squashfs"),
                                       ("image.oci", "dir")])
def test_format_from_the_name(name: str, fmt: str):
    assert emit.format_for(Path(name), "auto") == fmt


def test_an_unknown_format_is_refused_naming_every_format():
    with pytest.raises(Die, match=r"unknown --format 'zip' \(auto, dir, tar, tar.gz, tar.xz, "
                       r"tar.zst, oci, oci-archive, bundle, squashfs\)"):
        emit.format_for(Path("x"), "zip")


@pytest.mark.parametrize("fmt", ["oci", "bundle", "squashfs"])
def test_a_format_named_wins_over_the_suffix(fmt: str):
    assert emit.format_for(Path("t.tar.gz"), fmt) == fmt
