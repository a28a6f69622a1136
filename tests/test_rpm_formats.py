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


@pytest.fixture(scope="module")
def rich(tmp_path_factory, signer) -> Path:
    """A package with what rpm's payload and header carry: directories, a symlink,
    hardlinks, %config, %ghost, setuid, capabilities, owners by name."""
    if rpmmirror.missing_tools():
        pytest.fail(f"needs {', '.join(rpmmirror.missing_tools())}")
    F = rpmmirror.RpmFile
    spec = rpmmirror.RpmSpec("rich", files=(
        F("/usr/bin/ping", "#!/bin/sh\n", mode="0755", directive="%caps(cap_net_raw=ep)"),
        F("/usr/bin/su", "#!/bin/sh\n", mode="4755"),
        F("/usr/bin/sh", kind="symlink", target="bash"),
        F("/var/lib/rich", kind="dir", mode="0750", user="rich", group="rich"),
        F("/var/lib/rich/state", "mine\n", mode="0600", user="rich", group="rich"),
        F("/etc/rich.conf", "setting=1\n", directive="%config(noreplace)"),
        F("/var/log/rich.log", kind="ghost"),
        F("/usr/share/rich/a", "one inode\n"),
        F("/usr/share/rich/b", kind="hardlink", target="/usr/share/rich/a")))
    return rpmmirror.build_rpm(spec, tmp_path_factory.mktemp("rich"), signer,
                               payload="w6.xzdio")


def test_the_payload_lands_as_the_header_describes_it(rich, tmp_path):
    from bootstrap.families.rpm import caps, payload
    from bootstrap.ledger import Ledger
    from bootstrap.treewriter import TreeWriter
    root = tmp_path / "t"
    root.mkdir()
    writer = TreeWriter(root, Ledger())
    with open(rich, "rb") as f:
        pkg = header.read_package(f)
    ids = {"root": 0, "rich": 4321}
    unpacked = payload.unpack(rich, pkg.payload_start, pkg.header, writer,
                              lambda u, g: (ids.get(u, 0), ids.get(g, 0)))
    led = writer.ledger
    assert (root / "usr/bin/ping").read_text() == "#!/bin/sh\n"
    assert led.get("usr/bin/ping").xattrs["security.capability"] == \
        caps.from_text("cap_net_raw=ep")
    assert led.get("usr/bin/su").mode == 0o4755
    assert os.readlink(root / "usr/bin/sh") == "bash"
    assert (led.get("var/lib/rich").uid, led.get("var/lib/rich").mode) == (4321, 0o750)
    assert (led.get("var/lib/rich/state").gid, led.get("var/lib/rich/state").mode) == \
        (4321, 0o600)
    assert not (root / "var/log/rich.log").exists()                # %ghost
    ghost = [fi for fi in unpacked.files if fi.path == "var/log/rich.log"][0]
    assert ghost.ghost and not [fi for fi in unpacked.files if fi.ghost and fi.path
                                in unpacked.written]
    a, b = os.stat(root / "usr/share/rich/a"), os.stat(root / "usr/share/rich/b")
    assert a.st_ino == b.st_ino and (root / "usr/share/rich/b").read_text() == "one inode\n"
    conf = [fi for fi in unpacked.files if fi.path == "etc/rich.conf"][0]
    assert conf.flags & payload.CONFIG


def test_capability_texts_become_the_kernel_s_xattr():
    from bootstrap.families.rpm import caps
    value = caps.from_text("cap_net_raw=ep")
    assert value == bytes.fromhex("0100000200200000000000000000000000000000")
    both = caps.from_text("cap_net_bind_service,cap_net_admin+ei")
    assert both[8:12] == (1 << 10 | 1 << 12).to_bytes(4, "little")      # inheritable
    assert both[4:8] == b"\0\0\0\0" and both[0] == 1                    # not permitted
    with pytest.raises(ValueError):
        caps.from_text("cap_no_such_thing=ep")


@needs_tools
def test_rpm_6_signature_lists_are_read_and_v6_alone_is_refused_clearly(signed, signer):
    import base64
    from bootstrap.families.rpm.family import check_package
    from bootstrap.trust.pgpkey import packets, signature_version
    with open(signed, "rb") as f:
        pkg = header.read_package(f)
    [sig] = header.header_signatures(pkg.signature)
    assert signature_version(sig) == 4
    # rpm 6 keeps signatures as base64 texts in its OPENPGP tag
    listed = header.Header({header.OPENPGP: [base64.b64encode(sig).decode()]})
    assert header.header_signatures(listed) == [sig]
    # a v6 one (its version byte set so) cannot be checked here: said so, not "unsigned"
    [(_, _, end, body)] = packets(sig)
    body_at = end - len(body)
    v6 = bytearray(sig)
    v6[body_at] = 6
    assert signature_version(bytes(v6)) == 6
    data = bytearray(signed.read_bytes())
    at = bytes(data).index(sig)
    data[at + body_at] = 6
    forged = signed.with_name("v6.rpm")
    forged.write_bytes(bytes(data))
    with OpenPGP([signer.keyring]) as trust, pytest.raises(Die, match="v6 signatures"):
        check_package(forged, trust, forged.name, "here", False)
