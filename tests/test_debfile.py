"""Reading .deb files in every compression dpkg-deb writes, into the confined writer."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.families.deb.debfile import unpack
from bootstrap.ledger import Ledger
from bootstrap.treewriter import TreeWriter


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb builds the test packages")
@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_unpack_every_compression(tmp_path: Path, compression: str) -> None:
    src = tmp_path / "src"
    (src / "DEBIAN").mkdir(parents=True)
    (src / "DEBIAN/control").write_text(
        "Package: probe\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: probe\n")
    (src / "DEBIAN/postinst").write_text("#!/bin/sh\nexit 0\n")
    (src / "DEBIAN/postinst").chmod(0o755)
    (src / "usr/share/probe").mkdir(parents=True)
    (src / "usr/share/probe/data").write_text("payload\n")
    (src / "usr/share/probe/link").symlink_to("data")
    deb = tmp_path / "probe.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build",
                    str(src), str(deb)], check=True, capture_output=True)
    root = tmp_path / "root"
    root.mkdir()
    result = unpack(deb, TreeWriter(root, Ledger()))
    assert result.control["postinst"] == b"#!/bin/sh\nexit 0\n"
    assert b"Package: probe" in result.control["control"]
    assert (root / "usr/share/probe/data").read_text() == "payload\n"
    assert (root / "usr/share/probe/link").readlink() == Path("data")
    assert result.paths == ["/.", "/usr", "/usr/share", "/usr/share/probe",
                            "/usr/share/probe/data", "/usr/share/probe/link"]


def test_damaged_deb_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n")
    with pytest.raises(ValueError, match="not a complete .deb"):
        unpack(bad, TreeWriter(tmp_path, Ledger()))
