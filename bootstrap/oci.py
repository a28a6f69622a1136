"""OCI image layouts (image-spec 1.1): the tree as one layer made by the one tar
writer (owners from the ledger), a config and a manifest, named in index.json by
a tag; as a directory or as one tar file of it (what `podman load` and `skopeo
copy oci-archive:` take). Every JSON document is written with sorted keys, so
the same tree and SOURCE_DATE_EPOCH give the same bytes. Also the reading side
`rootstrap run` needs: which layer a layout's image is."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Optional

from bootstrap import emit
from bootstrap.atomic import AtomicFile
from bootstrap.errors import die
from bootstrap.ledger import Ledger
from bootstrap.ownership import walk
from bootstrap.target import put_in_place
from bootstrap.sandbox.base import SAFE_PATH

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYERS = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
          "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
          "": "application/vnd.oci.image.layer.v1.tar"}
REF_NAME = "org.opencontainers.image.ref.name"
# uname -m -> OCI's (Go's) architecture and variant
PLATFORMS = {"x86_64": ("amd64", ""), "aarch64": ("arm64", "v8"), "armv7l": ("arm", "v7"),
             "armv6l": ("arm", "v6"), "arm": ("arm", ""), "i686": ("386", ""),
             "i386": ("386", ""), "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""),
             "riscv64": ("riscv64", ""), "loongarch64": ("loong64", "")}
# image-spec's grammar for a ref.name (a tag, or a full reference)
_REF = re.compile(r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
                  r"(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*")
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


@dataclass
class Image:
    """What an image says of itself; only what is known."""
    tag: str
    created: int                     # seconds since 1970
    machine: str                     # uname -m of its programs
    cmd: list[str]
    created_by: str
    title: str = ""
    version: str = ""
    source: str = ""                 # where its packages came from
    labels: dict[str, str] = field(default_factory=dict)   # org.rootstrap.*


def check_tag(tag: str) -> str:
    if not _REF.fullmatch(tag):
        die(f"--tag '{tag}' is not a valid image name (letters, digits, and . _ - : @ + "
            "between them)")
    return tag


def platform(machine: str) -> tuple[str, str]:
    try:
        return PLATFORMS[machine]
    except KeyError:
        die(f"no OCI architecture is known for {machine} programs")


def _json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _time(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class _Hashing:
    """A write-only stream that counts and hashes what passes to the next."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def descriptor(self, media: str) -> dict[str, Any]:
        return {"mediaType": media, "digest": f"sha256:{self.hash.hexdigest()}",
                "size": self.size}


def _blob(blobs: Path, data: bytes, media: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(blobs: Path, tree: Path, ledger: Ledger, epoch: Optional[int],
           compression: str) -> tuple[dict[str, Any], str]:
    """The layer blob (streamed: the tar's digest, its diff_id, taken on the way
    through the compressor) and its diff_id."""
    with AtomicFile(blobs) as out:
        stored = _Hashing(out.file)          # type: ignore[arg-type]
        comp = emit.Compressed(stored, compression)   # type: ignore[arg-type]
        plain = _Hashing(comp.stream)
        emit.tar_into(plain, tree, ledger, epoch)     # type: ignore[arg-type]
        comp.close()
        descriptor = stored.descriptor(LAYERS[compression])
        out.commit(blobs / descriptor["digest"].split(":")[1])
    return descriptor, f"sha256:{plain.hash.hexdigest()}"


def _fill(layout: Path, tree: Path, ledger: Ledger, epoch: Optional[int], image: Image,
          compression: str) -> None:
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    arch, variant = platform(image.machine)
    when = _time(image.created)
    layer, diff_id = _layer(blobs, tree, ledger, epoch, compression)
    config = {"created": when, "architecture": arch, "os": "linux",
              "config": {"Env": [f"PATH={SAFE_PATH}"], "Cmd": image.cmd,
                         "Labels": image.labels},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created": when, "created_by": image.created_by}]}
    plat = {"architecture": arch, "os": "linux"}
    if variant:
        config["variant"] = plat["variant"] = variant
    annotations = {"org.opencontainers.image.created": when, **image.labels}
    if image.title:
        annotations["org.opencontainers.image.title"] = image.title
    if image.version:
        annotations["org.opencontainers.image.version"] = image.version
    if image.source:
        annotations["org.opencontainers.image.source"] = image.source
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": _blob(blobs, _json(config), CONFIG), "layers": [layer],
                "annotations": annotations}
    described = {**_blob(blobs, _json(manifest), MANIFEST), "platform": plat,
                 "annotations": {REF_NAME: image.tag}}
    (layout / "index.json").write_bytes(_json({"schemaVersion": 2, "mediaType": INDEX,
                                               "manifests": [described]}))
    (layout / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    for rel, st in walk(layout):
        os.chmod(layout / rel, 0o755 if rel == "." or (layout / rel).is_dir() else 0o644)


def write_layout(tree: Path, ledger: Ledger, target: Path, epoch: Optional[int],
                 image: Image, compression: str) -> None:
    """The image layout at target, made beside it and renamed into place (an
    earlier one there, which the build was told to replace, removed after)."""
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.rootstrap-", dir=target.parent))
    try:
        _fill(work, tree, ledger, epoch, image, compression)
        put_in_place(work, target, shutil.rmtree)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def write_archive(tree: Path, ledger: Ledger, target: Path, epoch: Optional[int],
                  image: Image, compression: str) -> None:
    """The image layout as one tar file at target: its entries sorted, owned by
    0:0, dated at the image's creation."""
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.rootstrap-", dir=target.parent))
    try:
        _fill(work, tree, ledger, epoch, image, compression)
        with AtomicFile(target.parent) as out:
            with tarfile.open(fileobj=out.file, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
                for rel in sorted(rel for rel, _ in walk(work) if rel != "."):
                    info = tar.gettarinfo(str(work / rel), rel)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mtime = image.created
                    if info.isreg():
                        with open(work / rel, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
            out.commit(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- reading -------------------------------------------------------------------

@dataclass
class Layer:
    """The one layer of a layout's image, and what its config says to run."""
    path: Path
    digest: str             # hex sha256 of the blob
    media: str
    config: dict[str, Any]  # the image config's "config" (Env, Cmd, Entrypoint...)


def is_layout(path: Path) -> bool:
    return (path / "oci-layout").is_file() and (path / "index.json").is_file()


def blob_path(layout: Path, descriptor: Any) -> tuple[Path, str]:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    found = _DIGEST.fullmatch(digest) if isinstance(digest, str) else None
    if not found:
        die(f"{layout}: a descriptor with no sha256 digest: {digest!r}")
    return layout / "blobs" / "sha256" / found.group(1), found.group(1)


def _document(layout: Path, path: Path, digest: Optional[str] = None) -> Any:
    try:
        data = path.read_bytes()
        if digest and hashlib.sha256(data).hexdigest() != digest:
            die(f"{layout}: {path.name} does not match its digest")
        doc = json.loads(data)
    except (OSError, ValueError) as e:
        die(f"{layout}: cannot read {path.relative_to(layout)}: {e}")
    if not isinstance(doc, dict):
        die(f"{layout}: {path.relative_to(layout)} is not a JSON object")
    return doc


def _described(layout: Path, descriptor: Any) -> Any:
    path, digest = blob_path(layout, descriptor)
    return _document(layout, path, digest)


def open_layout(layout: Path, tag: Optional[str]) -> Layer:
    manifests = [m for m in _document(layout, layout / "index.json").get("manifests") or []
                 if isinstance(m, dict) and m.get("mediaType", MANIFEST) == MANIFEST]
    tags = [(m.get("annotations") or {}).get(REF_NAME) for m in manifests]
    if tag is not None:
        manifests = [m for m, t in zip(manifests, tags) if t == tag]
    if len(manifests) != 1:
        named = ", ".join(sorted(t for t in tags if t)) or "none"
        what = f"no image tagged '{tag}'" if tag is not None and not manifests else \
            f"{len(manifests)} images" + ("" if tag is None else f" tagged '{tag}'")
        die(f"{layout} holds {what}; choose one with --tag (tags: {named})")
    manifest = _described(layout, manifests[0])
    config = _described(layout, manifest.get("config"))
    layers = manifest.get("layers") or []
    if len(layers) != 1:
        die(f"{layout}: the image has {len(layers)} layers; rootstrap runs images of one")
    media = layers[0].get("mediaType") if isinstance(layers[0], dict) else None
    if media not in LAYERS.values():
        die(f"{layout}: a layer of type {media!r} (rootstrap reads tar, tar+gzip, tar+zstd)")
    path, digest = blob_path(layout, layers[0])
    inner = config.get("config")
    return Layer(path, digest, media, inner if isinstance(inner, dict) else {})
