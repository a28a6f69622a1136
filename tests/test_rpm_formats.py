"""The rpm family's readers: package headers and their signatures (packages made
by rpmbuild and rpmsign), repodata and metalinks (Fedora's real files)."""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest

import rpmmirror
from bootstrap.errors import Die
from bootstrap.families.rpm import header, repodata
from bootstrap.trust.openpgp import OpenPGP
from realdata import real

FEDORA = real("fedora")
needs_real = pytest.mark.skipif(not FEDORA.is_dir(), reason="no real Fedora files here")
needs_tools = pytest.mark.skipif(bool(rpmmirror.missing_tools()) and os.geteuid() != 0,
                                 reason="rpmbuild, rpmsign and createrepo_c are missing")


@pytest.fixture(scope="module")
def signed(tmp_path_factory, signer) -> Path:
    missing = rpmmirror.missing_tools()
    if missing:
        pytest.fail(f"needs {', '.join(missing)}")
    spec = rpmmirror.RpmSpec("hello", files=(
        rpmmirror.RpmFile("/usr/bin/hello", "#!/bin/sh\necho hello\n", mode="0755"),
        rpmmirror.RpmFile("/etc/hello.conf", "x\n", directive="%config(noreplace)")))
    return rpmmirror.build_rpm(spec, tmp_path_factory.mktemp("rpms"), signer)


@needs_tools
def test_headers_signature_and_payload_digest_of_a_signed_package(signed, signer,
                                                                  untrusted_signer):
    with open(signed, "rb") as f:
        pkg = header.read_package(f)
        payload = f.read()
    h = pkg.header
    assert (h.text(1000), h.text(1001), h.text(1002)) == ("hello", "1.0", "1")
    assert sorted(h.strings(1117)) == ["hello", "hello.conf"]
    assert h.text(1125) == "zstd"
    assert pkg.signature.text(273) == hashlib.sha256(h.blob).hexdigest()
    assert h.strings(5092)[0] == hashlib.sha256(payload).hexdigest()
    with OpenPGP([signer.keyring]) as trust:
        signers = trust.detached(h.blob, header.header_signatures(pkg.signature)[0], signed.name, "here")
        assert signers == [signer.fingerprint.upper()]
        with pytest.raises(Die, match="BAD signature"):
            trust.detached(h.blob.replace(b"hello", b"jello", 1), header.header_signatures(pkg.signature)[0],
                           signed.name, "here")
    with OpenPGP([untrusted_signer.keyring]) as other, pytest.raises(Die, match="not in"):
        other.detached(h.blob, header.header_signatures(pkg.signature)[0], signed.name, "here")


def test_truncated_and_foreign_files_are_refused(tmp_path):
    bad = tmp_path / "x.rpm"
    bad.write_bytes(b"\xed\xab\xee\xdb" + b"\0" * 92 + b"\x8e\xad\xe8\x01" + b"\0" * 4 +
                    (70000).to_bytes(4, "big") + (1).to_bytes(4, "big"))
    with open(bad, "rb") as f, pytest.raises(ValueError, match="not believable"):
        header.read_package(f)
    bad.write_bytes(b"PK\x03\x04 not an rpm at all" + b"\0" * 100)
    with open(bad, "rb") as f, pytest.raises(ValueError, match="not an rpm"):
        header.read_package(f)


@needs_real
def test_real_repodata_metalinks_and_comps():
    folder = FEDORA / "repodata-f20" / "repodata"
    md = repodata.parse_repomd((folder / "repomd.xml").read_bytes(), "f20")
    for record in md.values():
        path = folder / Path(record.href).name
        if path.exists():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == record.digest.value
    with open(folder / Path(md["primary"].href).name, "rb") as f:
        packages = list(repodata.parse_primary(repodata.decompressed(f, md["primary"].href),
                                               "fedora", "primary"))
    assert len(packages) == 4071
    glibc = [p for p in packages if p.name == "glibc"]
    assert glibc and any(d.name == "libc.so.6()(64bit)" for d in glibc[0].deps["provides"])
    assert any(d.pre for p in packages for d in p.deps.get("requires", []))
    comps = repodata.parse_comps(gzip.decompress(
        (folder / Path(md["group_gz"].href).name).read_bytes()), "comps")
    assert comps["core"].mandatory and "core" in comps
    alternates = repodata.parse_metalink((FEDORA / "metalink" /
                                          "fedora-updates-19-x86_64-with-alternates.metalink")
                                         .read_bytes(), "updates-19")
    assert alternates.size == 4761 and len(alternates.digests) == 3
    assert all(u.startswith("http") for u in alternates.urls)
