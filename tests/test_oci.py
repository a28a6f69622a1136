"""OCI image layouts and archives, runtime bundles' config.json and squashfs images,
made from a tree and its ledger: what the image says of itself in OCI's names,
a layer that keeps device nodes, hardlinks, xattrs and capabilities with the
ledger's owners, the same bytes for the same tree and SOURCE_DATE_EPOCH, and
what `rootstrap run` reads back."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from bootstrap import bundle, oci, outputs, squashfs
from bootstrap.errors import Die
from bootstrap.ledger import CHAR, Ledger
from bootstrap.treewriter import TreeWriter

EPOCH = 1_700_000_000
CAPABILITY = b"\x01\x00\x00\x02\x00\x20\x00\x00" + bytes(12)     # cap_net_raw, v2


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Ledger]:
    root = tmp_path / "tree"
    root.mkdir()
    ledger = Ledger()
    w = TreeWriter(root, ledger)
    w.mkdir(".", 0o755, 0, 0)
    w.write_bytes("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n", 0o644)
    w.write_bytes("etc/os-release", b'PRETTY_NAME="Fixture Linux 7"\nID=fixture\n'
                  b"VERSION_ID=7\nVERSION_CODENAME=seven\n", 0o644)
    w.write_bytes("etc/shadow", b"root:*:1::::::\n", 0o640, 0, 42)
    w.write_bytes("usr/bin/ping", b"\x7fELF", 0o755)
    ledger.get("usr/bin/ping").xattrs["security.capability"] = CAPABILITY
    w.write_bytes("usr/bin/su", b"#!/bin/sh\n", 0o4755)
    w.hardlink("usr/bin/su2", "usr/bin/su")
    w.write_bytes("home/me/notes", b"mine\n", 0o600, 1000, 1000)
    ledger.get("home/me/notes").xattrs["user.comment"] = b"kept"
    w.symlink("bin", "usr/bin")
    w.node("dev/null", CHAR, 0o666, 0, 0, (1, 3))
    return root, ledger


def _image(tree: Path, tag: str = "seven", machine: str = "x86_64") -> oci.Image:
    image = outputs.built_image(tree, tag, EPOCH, "fixture", "seven", "base", "amd64",
                                machine, {"dists/seven/InRelease": "sha256:ab"},
                                "http://me:secret@mirror.example/fixture")
    return image


def _blob(layout: Path, descriptor: dict) -> bytes:
    data = (layout / "blobs" / "sha256" / descriptor["digest"].split(":")[1]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == descriptor["digest"].split(":")[1]
    assert len(data) == descriptor["size"]
    return data


def _read(layout: Path) -> tuple[dict, dict, dict, bytes]:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]))
    config = json.loads(_blob(layout, manifest["config"]))
    return index, manifest, config, _blob(layout, manifest["layers"][0])


def test_the_image_says_what_it_is_in_ocis_names(tree, tmp_path):
    root, ledger = tree
    layout = tmp_path / "img"
    outputs.write("oci", root, ledger, layout, EPOCH, _image(root, "fixture:7"), None)
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index, manifest, config, layer = _read(layout)
    described = index["manifests"][0]
    assert described["annotations"] == {"org.opencontainers.image.ref.name": "fixture:7"}
    assert described["platform"] == {"architecture": "amd64", "os": "linux"}
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert "variant" not in config
    assert config["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert config["config"]["Cmd"] == ["/bin/bash"]          # root's shell in the tree
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["history"] == [{"created": "2023-11-14T22:13:20Z", "created_by":
                                  "rootstrap fixture --release seven --variant base "
                                  "--arch amd64"}]
    notes = manifest["annotations"]
    assert notes["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert notes["org.opencontainers.image.title"] == "Fixture Linux 7"
    assert notes["org.opencontainers.image.version"] == "7"
    assert notes["org.opencontainers.image.source"] == "http://mirror.example/fixture"
    assert (notes["org.rootstrap.distro"], notes["org.rootstrap.release"],
            notes["org.rootstrap.variant"]) == ("fixture", "seven", "base")
    assert notes["org.rootstrap.indexes"] == "dists/seven/InRelease=sha256:ab"
    assert config["config"]["Labels"]["org.rootstrap.distro"] == "fixture"
    # the layer is gzip by default; its diff_id is the digest of the tar inside
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    plain = gzip.decompress(layer)
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": [f"sha256:{hashlib.sha256(plain).hexdigest()}"]}


@pytest.mark.parametrize("machine, arch, variant", [("aarch64", "arm64", "v8"),
                                                    ("armv7l", "arm", "v7"),
                                                    ("i686", "386", None),
                                                    ("riscv64", "riscv64", None)])
def test_architecture_and_variant_in_ocis_names(tree, tmp_path, machine, arch, variant):
    root, ledger = tree
    layout = tmp_path / "img"
    outputs.write("oci", root, ledger, layout, EPOCH, _image(root, machine=machine), None)
    index, _, config, _ = _read(layout)
    assert (config["architecture"], config.get("variant")) == (arch, variant)
    assert index["manifests"][0]["platform"].get("variant") == variant


def _layer_members(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:*") as tar:
        return {m.name: m for m in tar}


def test_the_layer_keeps_nodes_hardlinks_xattrs_and_capabilities(tree, tmp_path):
    root, ledger = tree
    layout = tmp_path / "img"
    outputs.write("oci", root, ledger, layout, EPOCH, _image(root), "zstd")
    _, manifest, config, layer = _read(layout)
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    plain = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(layer)).read()
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(plain).hexdigest()}"]
    m = _layer_members(plain)
    assert m["./dev/null"].ischr() and (m["./dev/null"].devmajor, m["./dev/null"].devminor,
                                        m["./dev/null"].mode) == (1, 3, 0o666)
    assert m["./usr/bin/su2"].islnk() and m["./usr/bin/su2"].linkname == "./usr/bin/su"
    assert m["./usr/bin/su"].mode == 0o4755
    cap = m["./usr/bin/ping"].pax_headers["SCHILY.xattr.security.capability"]
    assert cap.encode("utf-8", "surrogateescape") == CAPABILITY
    notes = m["./home/me/notes"]
    assert notes.pax_headers["SCHILY.xattr.user.comment"] == "kept"
    assert (notes.uid, notes.gid, notes.mode) == (1000, 1000, 0o600)
    assert (m["./etc/shadow"].gid, m["./etc/shadow"].mode) == (42, 0o640)
    assert m["./bin"].issym() and m["./bin"].linkname == "usr/bin"
    assert not any(name.rsplit("/", 1)[-1].startswith(".wh.") for name in m)


def test_the_same_tree_gives_the_same_archive(tree, tmp_path):
    root, ledger = tree
    for name in ("a.oci.tar", "b.oci.tar"):
        outputs.write("oci-archive", root, ledger, tmp_path / name, EPOCH, _image(root), None)
    a = (tmp_path / "a.oci.tar").read_bytes()
    assert a == (tmp_path / "b.oci.tar").read_bytes()
    with tarfile.open(tmp_path / "a.oci.tar") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and {"oci-layout", "index.json"} <= set(names)
    assert all((m.uid, m.gid, m.mtime) == (0, 0, EPOCH) for m in members)
    # nothing is left beside the archive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.oci.tar", "b.oci.tar", "tree"]


def test_a_layout_is_read_back_by_tag(tree, tmp_path):
    root, ledger = tree
    layout = tmp_path / "img"
    outputs.write("oci", root, ledger, layout, EPOCH, _image(root, "one"), None)
    assert oci.is_layout(layout) and not oci.is_layout(root)
    layer = oci.open_layout(layout, None)
    assert layer.config["Cmd"] == ["/bin/bash"]
    assert layer.path.is_file() and hashlib.sha256(layer.path.read_bytes()).hexdigest() == \
        layer.digest
    assert oci.open_layout(layout, "one").digest == layer.digest
    with pytest.raises(Die, match="holds no image tagged 'two'.*tags: one"):
        oci.open_layout(layout, "two")
    # a manifest that does not match its digest is refused
    index = json.loads((layout / "index.json").read_text())
    blob = layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"schemaVersion", b"schemaversion"))
    with pytest.raises(Die, match="does not match its digest"):
        oci.open_layout(layout, None)


@pytest.mark.parametrize("fmt, tag, compression, terminal, message", [
    ("tar", "x", None, False, "--tag names the image of an OCI output"),
    ("bundle", "x", None, False, "--tag names the image"),
    ("tar.gz", None, "zstd", False, "--compression applies to oci, oci-archive, squashfs"),
    ("dir", None, None, True, "--terminal applies to a bundle"),
    ("oci", "Not A Tag", None, False, "'Not A Tag' is not a valid image name"),
    ("oci", "-leading", None, False, "is not a valid image name"),
])
def test_options_a_format_does_not_take_are_refused(fmt, tag, compression, terminal, message):
    with pytest.raises(Die, match=message):
        outputs.check(fmt, tag, compression, terminal)


@pytest.mark.parametrize("tag", ["fixture", "fixture:7", "registry.example/a/b:1.0",
                                 "x_y-z.1"])
def test_tags_an_image_may_have(tag):
    outputs.check("oci", tag, "zstd", False)


def test_a_bundle_config_asks_nothing_a_rootless_runtime_cannot_do(tree):
    root, _ = tree
    doc = bundle.config(root, terminal=True)
    assert doc["process"]["terminal"] is True and "TERM=xterm" in doc["process"]["env"]
    assert doc["process"]["args"] == ["/bin/bash"] and doc["root"]["path"] == "tree"
    assert "resources" not in doc["linux"] and "cgroupsPath" not in doc["linux"]
    mounts = {m["destination"]: m for m in doc["mounts"]}
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"} <= set(mounts)
    assert "ro" in mounts["/sys"]["options"]
    assert bundle.config(root, terminal=False)["process"]["terminal"] is False


@pytest.mark.skipif(not shutil.which("mksquashfs"), reason="squashfs-tools is not installed")
def test_the_same_tree_gives_the_same_squashfs(tree, tmp_path):
    root, ledger = tree
    for name, compression in (("a.sqfs", None), ("b.sqfs", None), ("z.sqfs", "zstd")):
        outputs.write("squashfs", root, ledger, tmp_path / name, EPOCH, None, compression)
    assert (tmp_path / "a.sqfs").read_bytes() == (tmp_path / "b.sqfs").read_bytes()
    assert (tmp_path / "z.sqfs").read_bytes() != (tmp_path / "a.sqfs").read_bytes()
    listing = subprocess.run(["unsquashfs", "-lln", str(tmp_path / "a.sqfs")],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
    lines = {line.split()[-1]: line.split() for line in listing.splitlines()}
    assert lines["squashfs-root/home/me/notes"][:2] == ["-rw-------", "1000/1000"]
    assert lines["squashfs-root/dev/null"][:2] == ["crw-rw-rw-", "0/0"]
    assert lines["squashfs-root"][:2] == ["drwxr-xr-x", "0/0"]
    # the xattrs travel in the image: unpacked, the file holds them again (that file
    # alone: an ordinary user's unsquashfs cannot make the image's device nodes)
    out = tmp_path / "out"
    subprocess.run(["unsquashfs", "-no-progress", "-d", str(out), str(tmp_path / "a.sqfs"),
                    "home/me/notes"], stdout=subprocess.DEVNULL, check=True)
    assert os.getxattr(out / "home/me/notes", "user.comment") == b"kept"


def test_no_mksquashfs_is_said_in_one_line(monkeypatch):
    monkeypatch.setattr(squashfs.shutil, "which", lambda name: None)
    with pytest.raises(Die, match=r"needs mksquashfs \(squashfs-tools 4.5.1 or newer\), "
                       "which is not on this host"):
        outputs.check("squashfs", None, None, False)
