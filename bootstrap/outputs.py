"""The outputs written from a tree and its ledger as files or images (every format
but a directory and a bundle, which are the tree itself put in place): which
writer makes each, which options apply to it, and what an image says of itself."""
from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit
from pathlib import Path
from typing import Optional

from bootstrap import emit, oci, squashfs, treeinfo
from bootstrap.errors import die
from bootstrap.ledger import Ledger

OCI = ("oci", "oci-archive")
COMPRESSED = OCI + ("squashfs",)


def check(fmt: str, tag: Optional[str], compression: Optional[str], terminal: bool) -> None:
    """Refuse, before any work, options the format does not take and a squashfs
    that this host cannot make."""
    if compression is not None and fmt not in COMPRESSED:
        die(f"--compression applies to {', '.join(COMPRESSED)}; a tarball is compressed as "
            "its name says (.tar.gz, .tar.xz, .tar.zst)")
    if tag is not None:
        if fmt not in OCI:
            die("--tag names the image of an OCI output (--format oci or oci-archive)")
        oci.check_tag(tag)
    if terminal and fmt != "bundle":
        die("--terminal applies to a bundle (--format bundle)")
    if fmt == "squashfs":
        squashfs.tool()


def _created(epoch: Optional[int]) -> int:
    return int(time.time()) if epoch is None else epoch


def built_image(tree: Path, tag: Optional[str], epoch: Optional[int], distro: str,
                release: str, variant: str, arch: str, machine: str,
                indexes: dict[str, str], mirror: str) -> oci.Image:
    """What a build knows of its image: the recipe's names, the mirror and the
    signed indexes it was built from, and the tree's own. (No revision: a
    mirror has none; the indexes' digests say what it served.)"""
    about = treeinfo.os_release(tree)
    labels = {"org.rootstrap.distro": distro, "org.rootstrap.release": release,
              "org.rootstrap.variant": variant, "org.rootstrap.arch": arch}
    if indexes:
        labels["org.rootstrap.indexes"] = " ".join(f"{path}={digest}" for path, digest
                                                   in sorted(indexes.items()))
    return oci.Image(
        tag=tag or release, created=_created(epoch), machine=machine,
        cmd=[treeinfo.login_shell(tree)],
        created_by=f"rootstrap {distro} --release {release} --variant {variant} --arch {arch}",
        title=about.get("PRETTY_NAME") or f"{distro} {release}",
        version=about.get("VERSION_ID") or release, source=_public(mirror), labels=labels)


def _public(url: str) -> str:
    """url without a user name or password in it: the image may travel."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def tree_image(tree: Path, tag: Optional[str], epoch: Optional[int]) -> oci.Image:
    """What a tree says of itself (for export): its os-release, and the machine its
    shell is built for."""
    machine = treeinfo.machine(tree)
    if not machine:
        die(f"cannot tell which machine {tree} is for: its shell "
            f"{treeinfo.login_shell(tree)} is not an ELF program")
    about = treeinfo.os_release(tree)
    release = about.get("VERSION_CODENAME") or about.get("VERSION_ID") or ""
    labels = {}
    if about.get("ID"):
        labels["org.rootstrap.distro"] = about["ID"]
    if release:
        labels["org.rootstrap.release"] = release
    return oci.Image(tag=tag or release or "latest", created=_created(epoch), machine=machine,
                     cmd=[treeinfo.login_shell(tree)], created_by="rootstrap export",
                     title=about.get("PRETTY_NAME", ""), version=about.get("VERSION_ID", ""),
                     labels=labels)


def write(fmt: str, tree: Path, ledger: Ledger, target: Path, epoch: Optional[int],
          image: Optional[oci.Image], compression: Optional[str]) -> None:
    """target (which does not exist) in format fmt, whole or not at all."""
    if fmt in emit.TAR_FORMATS:
        emit.write_tar(tree, ledger, target, fmt, epoch)
    elif fmt in OCI:
        assert image is not None
        writer = oci.write_layout if fmt == "oci" else oci.write_archive
        writer(tree, ledger, target, epoch, image, compression or "gzip")
    elif fmt == "squashfs":
        squashfs.write(tree, ledger, target, epoch, compression or "gzip", squashfs.tool())
    else:
        raise ValueError(f"{fmt} is not written by outputs.write")
