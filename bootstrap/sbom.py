"""What is written beside every output of a build: OUT.manifest.json (rootstrap's
own account of the build) and OUT.cdx.json (a CycloneDX 1.6 SBOM, written with
cyclonedx-python-lib). OUT is the output's own path, whatever its kind: a tree
T gets T.manifest.json, a tarball T.tar.zst gets T.tar.zst.manifest.json.

With SOURCE_DATE_EPOCH set the SBOM is byte-identical from build to build, in
every sandbox mode and every output format: its timestamp is that time, its
serial number derived from its content, and it holds nothing of how or where
the tree was written. The manifest is identical too except its "build" object,
which says what only this run can say (sandbox mode, whether owners are real,
duration). An export carries the SBOM unchanged and the manifest renamed."""
from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from contextlib import ExitStack
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol, Sequence

from cyclonedx.contrib.license.exceptions import InvalidSpdxLicenseException
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import License
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from bootstrap import reproducible
from bootstrap.atomic import AtomicFile
from bootstrap.errors import die
from bootstrap.families import Described

MANIFEST_SUFFIX = ".manifest.json"
SBOM_SUFFIX = ".cdx.json"
MANIFEST_FORMAT = "rootstrap-manifest/1"
TOOL = "rootstrap"
# the UUIDv5 namespace the serial numbers of reproducible SBOMs are derived in
SERIALS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:rootstrap:sbom-serial-number")
_HASHES = {"sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}


class Built(Protocol):
    """What a finished build says of itself (build.Result)."""
    distro: str
    release: str
    arch: str
    variant: str
    mode: str
    owners: str
    format: str
    seconds: float


def manifest_path(out: Path) -> Path:
    return out.parent / (out.name + MANIFEST_SUFFIX)


def sbom_path(out: Path) -> Path:
    return out.parent / (out.name + SBOM_SUFFIX)


def tool_version() -> str:
    try:
        return metadata.version(TOOL)
    except metadata.PackageNotFoundError:
        return "unknown"


def write_beside(target: Path, result: Built, described: Sequence[Described], *,
                 mirrors: Sequence[str], mirror: str,
                 indexes: Mapping[str, str]) -> tuple[Path, Path]:
    """OUT.manifest.json and OUT.cdx.json beside target: both or neither."""
    epoch = reproducible.source_date_epoch()
    manifest = _manifest(target, result, described, mirrors, mirror, indexes, epoch)
    sbom = _cyclonedx(result, described, epoch)
    paths = manifest_path(target), sbom_path(target)
    _write_pair(dict(zip(paths, (manifest, sbom))))
    return paths


def copy_beside(tree: Path, out: Path, fmt: str) -> None:
    """The manifest and SBOM a build left beside tree, carried to out (an export
    of that tree, in format fmt): the SBOM as it is, the manifest with out's name
    and format; both or neither (a failure dies, and the caller removes out, as a
    build does). A tree built without them (by an older rootstrap) gets none."""
    source = manifest_path(tree)
    try:
        text = source.read_text()
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as e:
        die(f"cannot read {source}: {getattr(e, 'strerror', None) or e}")
    try:
        sbom: Optional[bytes] = sbom_path(tree).read_bytes()
    except FileNotFoundError:
        sbom = None
    except OSError as e:
        die(f"cannot read {sbom_path(tree)}: {e.strerror or e}")
    try:
        manifest = json.loads(text)
        manifest["output"] = {"name": out.name, "format": fmt}
        manifest["sbom"] = sbom_path(out).name if sbom is not None else None
    except (ValueError, TypeError) as e:
        die(f"{source} is not a rootstrap manifest ({e})")
    files = {manifest_path(out): _json(manifest)}
    if sbom is not None:
        files[sbom_path(out)] = sbom
    _write_pair(files)


def _write_pair(files: dict[Path, bytes]) -> None:
    """Every file whole or none: each is written under a temporary name first,
    then all are renamed into place; one that fails takes back the others."""
    with ExitStack() as stack:
        pending: list[tuple[AtomicFile, Path]] = []
        for path, data in files.items():
            try:
                tmp = stack.enter_context(AtomicFile(path.parent))
                tmp.file.write(data)
            except OSError as e:
                die(f"cannot write {path}: {e.strerror or e}")
            pending.append((tmp, path))
        placed: list[Path] = []
        try:
            for tmp, path in pending:
                try:
                    tmp.commit(path)
                except OSError as e:
                    die(f"cannot write {path}: {e.strerror or e}")
                placed.append(path)
        except BaseException:
            for path in placed:
                path.unlink(missing_ok=True)
            raise


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def _timestamp(epoch: Optional[int]) -> datetime:
    if epoch is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    return datetime.fromtimestamp(epoch, timezone.utc)


def _manifest(target: Path, result: Built, described: Sequence[Described],
              mirrors: Sequence[str], mirror: str, indexes: Mapping[str, str],
              epoch: Optional[int]) -> bytes:
    # what only this run can say: two builds differ here and nowhere else
    build = {"sandbox_mode": result.mode, "owners": result.owners,
             "duration_seconds": result.seconds}
    return _json({
        "format": MANIFEST_FORMAT,
        "rootstrap_version": tool_version(),
        "timestamp": _timestamp(epoch).isoformat().replace("+00:00", "Z"),
        "distro": result.distro, "release": result.release, "arch": result.arch,
        "variant": result.variant,
        "output": {"name": target.name, "format": result.format},
        "sbom": sbom_path(target).name,
        "mirrors": list(mirrors), "mirror": mirror,
        "indexes": dict(sorted(indexes.items())),
        "build": build,
        "packages": [{
            "name": d.name, "version": d.version, "arch": d.arch, "purl": d.purl,
            "digest": d.digest, "digest_of": d.digest_of, "source": d.source,
            "licenses": list(d.licenses), "depends": list(d.depends)} for d in described],
    })


def _cyclonedx(result: Built, described: Sequence[Described], epoch: Optional[int]) -> bytes:
    """The SBOM: a component per package (purl, licences, the index's hash), the
    dependencies each met, the tree as the main component."""
    licenses = LicenseFactory()

    def licensed(texts: tuple[str, ...]) -> list[License]:
        # one entry: an SPDX id, an SPDX expression, else a name, as it stands;
        # several (pacman's list): each an id or a name, never joined into an
        # expression the index did not write
        if len(texts) == 1:
            return [licenses.make_from_string(texts[0])]
        out = []
        for text in texts:
            try:
                out.append(licenses.make_with_id(text))
            except InvalidSpdxLicenseException:
                out.append(licenses.make_with_name(text))
        return out

    components: dict[str, Component] = {}
    for d in described:
        algorithm, _, value = d.digest.partition(":")
        whole = d.digest_of == "package" and algorithm in _HASHES
        properties = [Property(name="rootstrap:source", value=d.source)]
        if not whole:
            properties.append(Property(name=f"rootstrap:{d.digest_of}-digest", value=d.digest))
        components[d.name] = Component(
            type=ComponentType.LIBRARY, name=d.name, version=d.version, bom_ref=d.purl,
            purl=PackageURL.from_string(d.purl), licenses=licensed(d.licenses),
            hashes=[HashType(alg=HashAlgorithm(_HASHES[algorithm]), content=value)]
            if whole else [], properties=properties)
    tree = Component(
        type=ComponentType.OPERATING_SYSTEM, name=result.distro, version=result.release,
        bom_ref="rootstrap:tree",
        description=f"root filesystem of {result.distro} {result.release} {result.arch}, "
                    f"variant {result.variant}, built by rootstrap",
        properties=[Property(name="rootstrap:arch", value=result.arch),
                    Property(name="rootstrap:variant", value=result.variant)])
    bom = Bom(metadata=BomMetaData(timestamp=_timestamp(epoch), component=tree),
              components=components.values())
    bom.metadata.tools.components.add(Component(
        type=ComponentType.APPLICATION, name=TOOL, version=tool_version(),
        bom_ref="rootstrap:tool"))
    bom.register_dependency(tree, components.values())
    for d in described:
        bom.register_dependency(components[d.name],
                                [components[n] for n in d.depends if n in components])
    if epoch is not None:
        bom.serial_number = uuid.UUID(int=0)
        digest = hashlib.sha256(_render(bom)).hexdigest()
        bom.serial_number = uuid.uuid5(SERIALS, digest)
    return _render(bom)


def _render(bom: Bom) -> bytes:
    """The document as JSON, its header keys first, the rest as the library
    orders them (sorted: the same input gives the same bytes)."""
    with warnings.catch_warnings():
        # the library warns of what a tree's SBOM legitimately lacks; the user
        # would see that on every build
        warnings.simplefilter("ignore")
        document = json.loads(JsonV1Dot6(bom).output_as_string())
    head = {k: document.pop(k) for k in ("$schema", "bomFormat", "specVersion",
                                         "serialNumber", "version") if k in document}
    return _json({**head, **document})
