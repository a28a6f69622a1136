"""What a build writes beside its output: OUT.manifest.json and OUT.cdx.json (a
CycloneDX 1.6 SBOM). Built from each family's fixture as an unprivileged user, both
must list exactly what the tree's own package database holds, the SBOM must
validate against the published schema, and two builds with one SOURCE_DATE_EPOCH
must give the same bytes."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Callable, Optional

import jsonschema
import pytest
from packageurl import PackageURL
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from bootstrap import sbom
from bootstrap.errors import Die
from bootstrap.families import Described
from debmirror import parse_packages
from refusal import refused

ROOT = Path(__file__).parent.parent
SCHEMAS = ROOT / "tests" / "data" / "cyclonedx"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}
DBPATH = "/usr/lib/sysimage/rpm"


def _validator() -> jsonschema.Draft7Validator:
    """The vendored schema, its references resolved to the vendored files."""
    def load(name: str) -> dict[str, Any]:
        return json.loads((SCHEMAS / name).read_text())

    bom = load("bom-1.6.SNAPSHOT.schema.json")
    base = bom["$id"].rsplit("/", 1)[0]
    registry = Registry().with_resources(
        (f"{base}/{name}", Resource.from_contents(load(name), default_specification=DRAFT7))
        for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"))
    return jsonschema.Draft7Validator(bom, registry=registry,
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


VALIDATOR = _validator()


def _valid(document: dict[str, Any]) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in VALIDATOR.iter_errors(document)]
    assert not errors, "\n".join(errors[:10])
    # what the library's copy of the schema no longer requires (tests/data/cyclonedx/README)
    assert document["$schema"] == SCHEMA_URI
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    assert document["version"] == 1


def _beside(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    manifest = json.loads((out.parent / f"{out.name}.manifest.json").read_text())
    bom = json.loads((out.parent / f"{out.name}.cdx.json").read_text())
    return manifest, bom


def _judge(out: Path, installed: dict[str, str], purl_type: str, distro: str,
           qualifiers: Callable[[dict[str, Any]], dict[str, str]],
           purl_version: Callable[[dict[str, Any]], str] = lambda p: p["version"]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and SBOM beside out: each names exactly the installed packages
    (name -> version, from the tree's own database), the SBOM is valid, every purl
    is one of purl_type for the distribution, every dependency an installed package."""
    manifest, bom = _beside(out)
    _valid(bom)
    listed = {p["name"]: p["version"] for p in manifest["packages"]}
    assert len(listed) == len(manifest["packages"])
    assert listed == installed
    components = {c["name"]: c for c in bom["components"]}
    assert len(components) == len(bom["components"])
    assert {n: c["version"] for n, c in components.items()} == installed
    for p in manifest["packages"]:
        c = components[p["name"]]
        assert c["purl"] == c["bom-ref"] == p["purl"]
        parsed = PackageURL.from_string(p["purl"])
        assert parsed.to_string() == p["purl"]
        assert (parsed.type, parsed.namespace, parsed.name, parsed.version) == \
            (purl_type, distro, p["name"], purl_version(p))
        assert parsed.qualifiers == qualifiers(p), p["purl"]
        assert set(p["depends"]) <= set(installed) - {p["name"]}
    refs = {c["bom-ref"]: c["name"] for c in bom["components"]}
    tree = bom["metadata"]["component"]
    assert (tree["name"], tree["version"]) == (manifest["distro"], manifest["release"])
    graph = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert set(graph[tree["bom-ref"]]) == set(refs)
    for p in manifest["packages"]:
        assert sorted(refs[r] for r in graph[p["purl"]]) == p["depends"]
    assert [t["name"] for t in bom["metadata"]["tools"]["components"]] == ["rootstrap"]
    assert manifest["sbom"] == f"{out.name}.cdx.json"
    return manifest, bom


def _component(bom: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in bom["components"] if c["name"] == name)


def _depends(manifest: dict[str, Any], name: str) -> list[str]:
    return next(p["depends"] for p in manifest["packages"] if p["name"] == name)


def _reproduced(a: Path, b: Path) -> None:
    """Two builds' SBOMs byte for byte; their manifests byte for byte but for the
    "build" object, what only a run can say (sandbox mode, owners, duration)."""
    sboms = [p.parent / (p.name + ".cdx.json") for p in (a, b)]
    assert sboms[0].read_bytes() == sboms[1].read_bytes()
    texts = [(p.parent / (p.name + ".manifest.json")).read_text() for p in (a, b)]
    for text in texts:
        build = json.loads(text)["build"]
        assert set(build) == {"sandbox_mode", "owners", "duration_seconds"}
        assert build["duration_seconds"] > 0
    rest = [re.sub(r'"build": \{[^}]*\}', '"build": null', t) for t in texts]
    assert rest[0] != texts[0] and rest[0] == rest[1]


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- Debian


def test_debian_manifest_and_sbom_are_the_tree_s_packages_and_reproducible(as_user,
                                                                           local_mirror):
    def build(target: Path, *args: str, env: Optional[dict[str, str]] = EPOCH) -> Path:
        as_user.run("debian", target, *local_mirror.cli_args(), "--no-configure",
                    "--include", "virt-user,ver-user", "--cache", as_user.cache, *args,
                    env=env, check=True)
        return target

    one = build(as_user.path("one", "t"))
    # another sandbox mode: the same SBOM, the same manifest but for its "build"
    two = build(as_user.path("two", "t"), "--mode", "ptrace")
    _reproduced(one, two)

    # dpkg's own reading of the tree's database
    proc = subprocess.run(["dpkg-query", f"--admindir={one}/var/lib/dpkg", "-W", "-f",
                           "${Package} ${Version} ${Architecture} ${db:Status-Status}\n"],
                          capture_output=True, text=True, check=True)
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows and all(len(r) == 4 and r[3] != "not-installed" for r in rows)
    installed = {name: version for name, version, _, _ in rows}
    arch = {name: a for name, _, a, _ in rows}
    manifest, bom = _judge(one, installed, "deb", "debian",
                           lambda p: {"arch": arch[p["name"]], "distro": "debian-12"})
    assert (manifest["distro"], manifest["release"], manifest["arch"],
            manifest["variant"]) == ("debian", "bookworm", "amd64", "minbase")
    assert manifest["output"] == {"name": "t", "format": "dir"}
    assert manifest["mirrors"] == [local_mirror.url] and manifest["mirror"] == local_mirror.url
    assert manifest["timestamp"] == "2023-11-14T22:13:20Z"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert manifest["rootstrap_version"] == version
    assert bom["metadata"]["tools"]["components"][0]["version"] == version
    assert bom["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert manifest["build"]["sandbox_mode"].startswith("userns")
    assert _beside(two)[0]["build"]["sandbox_mode"] == "ptrace"
    # the signed index and the Packages index it vouched for, as the mirror serves them
    assert manifest["indexes"] == {
        "dists/bookworm/InRelease": _sha256(local_mirror.path("dists/bookworm/InRelease")),
        "dists/bookworm/main/binary-amd64/Packages.xz":
            _sha256(local_mirror.path("dists/bookworm/main/binary-amd64/Packages.xz"))}
    # each package's digest is the index's, which is the file's
    index = {(p["Package"], p["Version"]): p["SHA256"]
             for p in parse_packages(local_mirror.packages_file.read_text())}
    for p in manifest["packages"]:
        assert p["digest"] == "sha256:" + index[(p["name"], p["version"])]
        assert p["digest_of"] == "package" and p["licenses"] == []
    assert _component(bom, "virt-provider")["hashes"] == [
        {"alg": "SHA-256", "content": _sha256(local_mirror.deb("virt-provider"))[7:]}]
    # Debian's index states no licence, and none is made up
    assert all("licenses" not in c for c in bom["components"])
    # the solver's own matches: a provider of a virtual package, a versioned dependency
    assert _depends(manifest, "virt-user") == ["virt-provider"]
    assert _depends(manifest, "ver-user") == ["ver-lib"]
    assert "base-files" in _depends(manifest, "shadowish")

    # without SOURCE_DATE_EPOCH: the time of the build, a random serial number
    three = build(as_user.path("three", "t"), env={})
    later, later_bom = _beside(three)
    assert later["timestamp"] != manifest["timestamp"]
    assert later_bom["serialNumber"] != bom["serialNumber"]
    _valid(later_bom)

    # every other output of the same build: the same SBOM beside it, the manifest
    # naming that output
    formats = ["tar.zst", "oci", "oci-archive", "bundle"]
    if shutil.which("mksquashfs"):
        formats.append("squashfs")
    for fmt in formats:
        out = build(as_user.path(f"out-{fmt}"), "--format", fmt)
        assert out.exists()
        packed, _ = _beside(out)
        assert (out.parent / f"{out.name}.cdx.json").read_bytes() == \
            (one.parent / "t.cdx.json").read_bytes(), fmt
        assert packed["output"] == {"name": out.name, "format": fmt}
        assert packed["packages"] == manifest["packages"]


@pytest.mark.parametrize("name,blocked", [("t", "t.cdx.json"),
                                           ("t.tar.zst", "t.tar.zst.manifest.json")])
def test_an_sbom_that_cannot_be_written_takes_the_build_with_it(as_user, local_mirror,
                                                                 name, blocked):
    # a folder where one of the two must go: renaming onto it fails, as a full disk would
    as_user.mkdir(blocked, "inside")
    proc = as_user.run("debian", as_user.path(name), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache, env=EPOCH)
    # no output, no ledger, neither file, no temporary one: as if it never ran
    refused(as_user, proc, "cannot write", as_user.path(blocked).name, keep=(blocked,))
    assert os.listdir(as_user.path(blocked)) == ["inside"]


# --------------------------------------------------------------------------- Arch


def test_arch_manifest_and_sbom_are_the_local_database_s(as_user, arch_mirror):
    tree = as_user.path("arch")
    as_user.run("arch", tree, "--mirror", arch_mirror.server_line, "--keyring",
                arch_mirror.keyring, "--no-configure", "--cache", as_user.cache, env=EPOCH,
                check=True)
    # pacman's own reading of the tree's local database
    proc = subprocess.run(["pacman", "--root", str(tree), "--dbpath",
                           str(tree / "var/lib/pacman"), "--config", "/dev/null", "-Qi"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "LC_ALL": "C"})
    records = [dict((k.strip(), v.strip()) for k, _, v in
                    (line.partition(" : ") for line in block.splitlines()) if v)
               for block in proc.stdout.split("\n\n") if block.strip()]
    installed = {r["Name"]: r["Version"] for r in records}
    arch = {r["Name"]: r["Architecture"] for r in records}
    assert "base" in installed
    manifest, bom = _judge(tree, installed, "alpm", "arch",
                           lambda p: {"arch": arch[p["name"]]})
    assert set(manifest["indexes"]) == {"core/core.db", "extra/extra.db"}
    # the databases' %LICENSE% (the fixture's PKGBUILDs say custom:none), as written
    assert {tuple(p["licenses"]) for p in manifest["packages"]} == {("custom:none",)}
    assert _component(bom, "base")["licenses"] == [{"license": {"name": "custom:none"}}]
    # by soname provision and version, and by a provision of another name
    assert _depends(manifest, "foo-app") == ["busybox-sh", "libfoo"]
    assert _depends(manifest, "mailer") == ["fixture-mta"]


# --------------------------------------------------------------------------- Alpine


def test_alpine_manifest_and_sbom_are_the_installed_database_s(as_user, alpine_mirror):
    tree = as_user.path("alpine")
    as_user.run("alpine", tree, *alpine_mirror.args(), "--no-configure", "--cache",
                as_user.cache, env=EPOCH, check=True)
    installed, arch = {}, {}
    for record in (tree / "lib/apk/db/installed").read_text().split("\n\n"):
        fields = dict(line.split(":", 1) for line in record.splitlines() if line[1:2] == ":")
        if "P" in fields:
            installed[fields["P"]], arch[fields["P"]] = fields["V"], fields["A"]
    manifest, bom = _judge(tree, installed, "apk", "alpine",
                           lambda p: {"arch": arch[p["name"]]})
    assert set(manifest["indexes"]) == {"v3.20/main/x86_64/APKINDEX.tar.gz",
                                        "v3.20/community/x86_64/APKINDEX.tar.gz"}
    assert {tuple(p["licenses"]) for p in manifest["packages"]} == {("MIT",)}
    # C: is the SHA-1 of the control part, not of the file: no hash claims otherwise
    busybox = _component(bom, "busybox")
    assert "hashes" not in busybox and busybox["licenses"] == [{"license": {"id": "MIT"}}]
    digest = next(p["digest"] for p in manifest["packages"] if p["name"] == "busybox")
    assert digest.startswith("sha1:") and len(digest) == 45
    assert {"name": "rootstrap:control-digest", "value": digest} in busybox["properties"]
    assert _depends(manifest, "musl-utils") == ["musl"]          # so: provide
    assert {"musl", "libfoo"} <= set(_depends(manifest, "apk-tools"))


# --------------------------------------------------------------------------- Fedora


def test_fedora_manifest_and_sbom_are_what_the_host_rpm_reads(as_user, fedora_mirror):
    if not shutil.which("rpm"):
        if os.geteuid() == 0:
            pytest.fail("the host's rpm is missing (Debian package rpm)")
        pytest.skip("the host's rpm is missing (Debian package rpm)")
    tree = as_user.path("fedora")
    as_user.run("fedora", tree, *fedora_mirror.args("--include", "epochy"), "--no-configure",
                "--cache", as_user.cache, env=EPOCH, check=True)
    proc = subprocess.run(["rpm", "--root", str(tree), "--dbpath", DBPATH, "-qa", "--qf",
                           "%{name} %{evr} %{arch} %{epochnum}\n"],
                          capture_output=True, text=True, check=True)
    rows = [line.split() for line in proc.stdout.splitlines()]
    installed = {name: evr for name, evr, _, _ in rows if name != "gpg-pubkey"}
    arch = {name: a for name, _, a, _ in rows}
    epoch = {name: e for name, _, _, e in rows}
    manifest, bom = _judge(
        tree, installed, "rpm", "fedora",
        lambda p: {"arch": arch[p["name"]], "distro": "fedora-45",
                   **({"epoch": epoch[p["name"]]} if epoch[p["name"]] != "0" else {})},
        lambda p: p["version"].split(":")[-1])
    assert installed["epochy"].startswith("1:")
    assert "epoch=1" in next(p["purl"] for p in manifest["packages"] if p["name"] == "epochy")
    # each repository's repomd.xml, and the primary it vouched for
    for repo in ("fedora", "updates"):
        served = fedora_mirror.repos.repo_dir(repo)
        n = 1 if repo == "fedora" else 2
        assert manifest["indexes"][f"mirror{n}/repodata/repomd.xml"] == \
            _sha256(served / "repodata/repomd.xml")
        primary = next(served.glob("repodata/*-primary.xml*"))
        assert manifest["indexes"][f"mirror{n}/repodata/{primary.name}"] == _sha256(primary)
    assert {tuple(p["licenses"]) for p in manifest["packages"]} == {("MIT",)}
    # a soname, a file, the branch of a rich dependency that holds
    assert {"glibc", "libfoo", "bash"} <= set(_depends(manifest, "dnf5"))
    assert {"bash", "filesystem"} <= set(_depends(manifest, "glibc"))
    assert "fedora-release-common" in _depends(manifest, "dnf5")


# --------------------------------------------------------------------------- no build


class _Built:
    distro, release, arch, variant = "toy", "1", "x86_64", "custom"
    mode, owners, format, seconds = "userns-full", "real", "tar", 1.5


TOY = [
    Described("one", "1.0-1", "x86_64", "pkg:alpm/toy/one@1.0-1?arch=x86_64",
              ("GPL-2.0-or-later", "custom:Foo"), "sha256:" + "a" * 64, "one-base", ("two",)),
    Described("two", "2:3.0-1", "noarch", "pkg:rpm/toy/two@3.0-1?arch=noarch&epoch=2",
              ("MIT AND (BSD-3-Clause OR Apache-2.0)",), "sha512:" + "b" * 128, "two", ()),
    Described("three", "3.0-r0", "x86_64", "pkg:apk/toy/three@3.0-r0?arch=x86_64",
              ("GPLv2+",), "sha1:" + "c" * 40, "three", ("one", "two"), digest_of="control"),
]


def test_licences_are_written_as_the_index_states_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "t.tar"
    sbom.write_beside(out, _Built(), TOY, mirrors=["http://m"], mirror="http://m",
                      indexes={"b": "sha256:" + "1" * 64, "a": "sha256:" + "2" * 64})
    manifest, bom = _beside(out)
    _valid(bom)
    licences = {c["name"]: c.get("licenses") for c in bom["components"]}
    # several (pacman's list): each alone, never joined; one: an SPDX id or
    # expression where it is one, else its name
    assert licences["one"] == [{"license": {"id": "GPL-2.0-or-later"}},
                               {"license": {"name": "custom:Foo"}}]
    assert licences["two"] == [{"expression": "MIT AND (BSD-3-Clause OR Apache-2.0)"}]
    assert licences["three"] == [{"license": {"name": "GPLv2+"}}]
    hashes = {c["name"]: c.get("hashes") for c in bom["components"]}
    assert hashes == {"one": [{"alg": "SHA-256", "content": "a" * 64}],
                      "two": [{"alg": "SHA-512", "content": "b" * 128}], "three": None}
    assert list(manifest["indexes"]) == ["a", "b"]
    assert manifest["build"] == {"sandbox_mode": "userns-full", "owners": "real",
                                 "duration_seconds": 1.5}

    # the serial number follows from the content: the same again, another for another
    first = (tmp_path / "t.tar.cdx.json").read_bytes()
    sbom.write_beside(out, _Built(), TOY, mirrors=["http://m"], mirror="http://m", indexes={})
    assert (tmp_path / "t.tar.cdx.json").read_bytes() == first
    sbom.write_beside(out, _Built(), TOY[:2], mirrors=[], mirror="", indexes={})
    assert _beside(out)[1]["serialNumber"] != bom["serialNumber"]


def test_export_carries_the_sbom_and_renames_the_manifest(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    tree = tmp_path / "tree"
    sbom.write_beside(tree, _Built(), TOY, mirrors=[], mirror="", indexes={})
    out = tmp_path / "out" / "t.tar.xz"
    out.parent.mkdir()
    sbom.copy_beside(tree, out, "tar.xz")
    manifest, bom = _beside(out)
    assert (out.parent / "t.tar.xz.cdx.json").read_bytes() == \
        (tmp_path / "tree.cdx.json").read_bytes()
    assert manifest["output"] == {"name": "t.tar.xz", "format": "tar.xz"}
    assert manifest["build"]["duration_seconds"] == 1.5
    assert manifest["sbom"] == "t.tar.xz.cdx.json"
    before, _ = _beside(tree)
    assert {k: v for k, v in manifest.items() if k not in ("output", "sbom")} == \
        {k: v for k, v in before.items() if k not in ("output", "sbom")}
    # a tree from before manifests: nothing to carry, nothing written
    sbom.copy_beside(tmp_path / "old", tmp_path / "old.tar", "tar")
    assert not (tmp_path / "old.tar.manifest.json").exists()
    # one that cannot be written: neither is, and the error says which
    (tmp_path / "x.tar.cdx.json").mkdir()
    with pytest.raises(Die, match="cannot write .*x.tar.cdx.json"):
        sbom.copy_beside(tree, tmp_path / "x.tar", "tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["out", "tree.cdx.json", "tree.manifest.json", "x.tar.cdx.json"]
