"""The rpm database rootstrap writes, against what the host's rpm writes for the
same packages (it is only an oracle here): the same header blobs, the same index
rows, and the host's rpm finds the packages in it as in its own."""
from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest

import rpmmirror
from bootstrap.families.rpm import header, payload, rpmdb
from bootstrap.ledger import Ledger
from bootstrap.treewriter import TreeWriter

DB = ["--dbpath", "/" + rpmdb.DBPATH]


@pytest.fixture(scope="module")
def packages(tmp_path_factory, signer) -> list[Path]:
    if rpmmirror.missing_tools():
        pytest.fail(f"needs {', '.join(rpmmirror.missing_tools())}")
    F = rpmmirror.RpmFile
    out = tmp_path_factory.mktemp("rpms")
    return [rpmmirror.build_rpm(rpmmirror.RpmSpec(
        "hello", requires=("/bin/sh",), provides=("greeting = 1.0",),
        files=(F("/usr/bin/hello", "#!/bin/sh\necho hello\n", mode="0755"),
               F("/etc/hello.conf", "x\n", directive="%config(noreplace)"))), out, signer),
        rpmmirror.build_rpm(rpmmirror.RpmSpec(
            "world", epoch=2, version="3.1", release="4", requires=("hello >= 1.0",),
            obsoletes=("oldworld < 2",), conflicts=("flat-earth",),
            recommends=("telescope",), files=(F("/usr/share/world/map", "round\n"),)),
            out, signer)]


def _rows(path: Path) -> dict[str, list]:
    db = sqlite3.connect(path)
    out = {"Packages": [row[0] for row in db.execute("SELECT blob FROM Packages ORDER BY hnum")]}
    for table in rpmdb.INDEXES:
        out[table] = sorted(db.execute(f"SELECT key, hnum, idx FROM '{table}'"))
    db.close()
    return out


def test_the_database_is_the_one_rpm_writes(packages, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the host rpm installs into a scratch root only as root")
    theirs_root = tmp_path / "theirs"
    subprocess.run(["rpm", "--root", str(theirs_root), *DB, "--initdb"], check=True)
    subprocess.run(["rpm", "--root", str(theirs_root), *DB, "-i", "--nodeps", "--noscripts",
                    "--nosignature", "--justdb", *map(str, packages)], check=True,
                   capture_output=True)
    theirs = _rows(theirs_root / rpmdb.DBPATH / "rpmdb.sqlite")
    when = struct.unpack(">I", theirs["Packages"][0][-4:])[0]      # their INSTALLTID
    ours_root = tmp_path / "ours"
    ours_root.mkdir()
    writer = TreeWriter(ours_root, Ledger())
    writer.mkdir(".", 0o755, 0, 0)
    pkgs = []
    for p in packages:
        with open(p, "rb") as f:
            pkgs.append(header.read_package(f))
    rpmdb.write(writer, pkgs, when, when)
    ours = _rows(ours_root / rpmdb.DBPATH / "rpmdb.sqlite")
    # --justdb marks every file 'not installed' (state 2); a real install marks 0
    theirs_blobs = [b.replace(b"\x02\x02", b"\x00\x00") for b in theirs["Packages"]]
    assert [len(b) for b in ours["Packages"]] == [len(b) for b in theirs_blobs]
    assert ours["Packages"] == theirs_blobs
    for table in rpmdb.INDEXES:
        assert ours[table] == theirs[table], table


def test_the_host_rpm_finds_what_we_installed(packages, tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    writer = TreeWriter(root, Ledger())
    writer.mkdir(".", 0o755, 0, 0)
    pkgs = []
    for p in packages:
        with open(p, "rb") as f:
            pkg = header.read_package(f)
        payload.unpack(p, pkg.payload_start, pkg.header, writer, lambda u, g: (0, 0))
        pkgs.append(pkg)
    rpmdb.write(writer, pkgs, 1700000000, 1700000000)

    def rpm(*args: str) -> str:
        return subprocess.run(["rpm", "--root", str(root), *DB, *args], check=True,
                              capture_output=True, text=True).stdout

    assert rpm("-qa").split() == ["hello-1.0-1.x86_64", "world-3.1-4.x86_64"]
    assert rpm("-qf", "/usr/bin/hello").strip() == "hello-1.0-1.x86_64"
    assert rpm("-q", "--whatprovides", "greeting").strip() == "hello-1.0-1.x86_64"
    assert rpm("-q", "--whatrequires", "hello").strip() == "world-3.1-4.x86_64"
    assert rpm("-q", "--whatobsoletes", "oldworld").strip() == "world-3.1-4.x86_64"
    assert rpm("-q", "--whatrecommends", "telescope").strip() == "world-3.1-4.x86_64"
    assert rpm("-q", "--qf", "%{INSTALLTIME}\n", "world").strip() == "1700000000"
    # the files are as the packages say (modes; owners are root, as the packages')
    verify = subprocess.run(["rpm", "--root", str(root), *DB, "-Va", "--nodeps", "--nouser",
                             "--nogroup", "--nomtime"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
