"""What a signature must be to be believed, and what is left behind when it is not.

A Debian InRelease signed by a subkey that has expired, by a revoked subkey, under
a revoked primary key, or by a subkey whose binding to the trusted key is missing
or broken is refused in one line, judged from gpg's status lines; a mirror that
redirects a file to another host serving other bytes is refused by the digest
chain, naming the file and the mirror. After every refusal the cache holds
nothing of the refused bytes: nothing is cached before it verified.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from bootstrap.errors import Die
from bootstrap.trust.openpgp import OpenPGP
from bootstrap.trust.pgpkey import dearmor, packets
from refusal import refused

SUBKEY, SIGNATURE = 14, 2


def _gpg(home: Path, *args: str, input: bytes = b"") -> bytes:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", "--no-tty",
                           "--pinentry-mode", "loopback", "--passphrase", "", *args],
                          input=input, capture_output=True, check=True).stdout


def _subkeys(home: Path) -> list[str]:
    """Fingerprints of the key's subkeys, oldest first."""
    listing = _gpg(home, "--with-colons", "--list-keys").decode().splitlines()
    return [listing[i + 1].split(":")[9] for i, line in enumerate(listing)
            if line.startswith("sub:")]


def _binding_changed(keyring: bytes, how: str) -> bytes:
    """keyring (a primary and one subkey) with the subkey's binding signature
    removed ("missing") or its signature value damaged ("broken")."""
    binary = dearmor(keyring)
    found = packets(binary)
    sub = next(n for n, p in enumerate(found) if p[0] == SUBKEY)
    tag, start, end, _ = found[sub + 1]
    assert tag == SIGNATURE
    if how == "missing":
        return binary[:start] + binary[end:]
    damaged = bytearray(binary)
    damaged[end - 2] ^= 0x55              # inside the last MPI of the signature
    return bytes(damaged)


@dataclass
class Case:
    keyring: Path
    sign: "object"                        # (data) -> clearsigned data
    reason: str                           # what the one line says


@pytest.fixture(scope="module")
def cases(session_dir: Path) -> Iterator[dict[str, Case]]:
    """A certification-only primary key with four signing subkeys (one that
    expired in 2020, one good, one to be revoked); the keyrings a mirror's user
    might hold, and how each case signs."""
    base = Path(tempfile.mkdtemp(prefix="rs-trust-"))        # short: gpg-agent's socket
    home = base / "sign"
    home.mkdir(mode=0o700)
    past = ["--faked-system-time", "20200101T000000"]
    _gpg(home, *past, "--quick-gen-key", "trust cases <t@rootstrap.invalid>", "ed25519",
         "cert", "never")
    primary = _gpg(home, "--with-colons", "--list-keys").decode().split("fpr:::::::::")[1][:40]
    _gpg(home, *past, "--quick-add-key", primary, "ed25519", "sign", "1d")
    _gpg(home, "--quick-add-key", primary, "ed25519", "sign", "never")
    _gpg(home, "--quick-add-key", primary, "ed25519", "sign", "never")
    expired, good, doomed = _subkeys(home)
    keys = session_dir / "trust-cases"
    keys.mkdir(mode=0o755)

    def ring(name: str, data: bytes) -> Path:
        path = keys / f"{name}.gpg"
        path.write_bytes(data)
        path.chmod(0o644)
        return path

    whole = ring("whole", _gpg(home, "--export", primary))
    # the published key, once the subkey is revoked (signing stays possible in `home`)
    revoking = base / "rev"
    shutil.copytree(home, revoking, ignore=shutil.ignore_patterns("S.*"))
    subprocess.run(["gpg", "--homedir", str(revoking), "--batch", "--no-tty", "--command-fd",
                    "0", "--pinentry-mode", "loopback", "--passphrase", "", "--edit-key",
                    primary], input=b"key 3\nrevkey\ny\n0\n\ny\nsave\n", capture_output=True,
                   check=True)
    sub_revoked = ring("subkey-revoked", _gpg(revoking, "--export", primary))
    # the published key, once the primary itself is revoked (its stored certificate)
    cert = (revoking / "openpgp-revocs.d" / f"{primary}.rev").read_text()
    _gpg(revoking, "--import", input=cert.replace(":-----", "-----").encode())
    key_revoked = ring("key-revoked", _gpg(revoking, "--export", primary))
    only_good = _gpg(home, "--export", f"{good}!")

    def by(subkey: str, *extra: str):  # type: ignore[no-untyped-def]
        return lambda data: _gpg(home, *extra, "--digest-algo", "SHA512", "-u", f"{subkey}!",
                                 "--clearsign", input=data)

    yield {
        "good": Case(whole, by(good), ""),
        "subkey-expired": Case(whole, by(expired, "--faked-system-time", "20200101T120000"),
                               "expired"),
        "subkey-revoked": Case(sub_revoked, by(doomed), "revoked"),
        "key-revoked": Case(key_revoked, by(good), "revoked"),
        "binding-missing": Case(ring("binding-missing", _binding_changed(only_good, "missing")),
                                by(good), "without a valid binding signature"),
        "binding-broken": Case(ring("binding-broken", _binding_changed(only_good, "broken")),
                               by(good), "without a valid binding signature"),
    }
    for h in (home, revoking):
        subprocess.run(["gpgconf", "--homedir", str(h), "--kill", "all"],
                       capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


REFUSED = ["subkey-expired", "subkey-revoked", "key-revoked", "binding-missing",
           "binding-broken"]


def test_a_good_subkey_vouches_for_its_primary_key(cases):  # type: ignore[no-untyped-def]
    case = cases["good"]
    trust = OpenPGP([case.keyring])
    try:
        text, signers = trust.clearsigned_by(case.sign(b"Suite: bookworm\n"), "InRelease",
                                             "http://m")
    finally:
        trust.close()
    # the full fingerprint of the primary key, from VALIDSIG, not the subkey's id
    assert text.strip() == b"Suite: bookworm" and signers == sorted(trust.fingerprints)
    assert len(signers[0]) == 40


@pytest.mark.parametrize("name", REFUSED)
def test_the_verifier_refuses(cases, name):  # type: ignore[no-untyped-def]
    case = cases[name]
    trust = OpenPGP([case.keyring])
    try:
        with pytest.raises(Die) as e:
            trust.clearsigned(case.sign(b"Suite: bookworm\n"), "dists/bookworm/InRelease",
                              "http://m")
    finally:
        trust.close()
    assert case.reason in e.value.message and "dists/bookworm/InRelease from http://m" in \
        e.value.message


def _holding(cache: Path, data: bytes) -> list[str]:
    """Files under cache whose bytes are data."""
    out = []
    for top, _, files in os.walk(cache):
        for name in files:
            path = Path(top, name)
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                out.append(str(path.relative_to(cache)))
    return out


@pytest.mark.parametrize("name", REFUSED)
def test_an_inrelease_so_signed_is_refused_and_not_cached(as_user, local_mirror, cases, name):
    case = cases[name]
    inrelease = case.sign((local_mirror.dist / "Release").read_bytes())
    local_mirror.tamper("dists/bookworm/InRelease", inrelease)
    proc = as_user.run("debian", as_user.path("tree"), "--release", local_mirror.codename,
                       "--mirror", local_mirror.url, "--keyring", case.keyring,
                       "--cache", as_user.cache, "--no-configure")
    refused(as_user, proc, "dists/bookworm/InRelease", local_mirror.url, case.reason)
    assert not any("Packages" in r or r.startswith("/pool/") for r in local_mirror.requests)
    assert _holding(as_user.cache, inrelease) == []
    assert not list((as_user.cache / "index").glob("*"))


def test_a_redirect_to_a_host_with_other_bytes_is_refused_by_the_digest_chain(
        as_user, local_mirror, serve_mirror, session_dir):
    deb = local_mirror.deb("base-files")
    rel = "/" + str(deb.relative_to(local_mirror.root))
    same = session_dir / f"redirect-same-{os.getpid()}"
    other = session_dir / f"redirect-other-{os.getpid()}"
    for root, data in ((same, deb.read_bytes()), (other, deb.read_bytes()[:-64] + b"\0" * 64)):
        (root / rel.lstrip("/")).parent.mkdir(parents=True)
        (root / rel.lstrip("/")).write_bytes(data)
    honest, evil = serve_mirror(same), serve_mirror(other)
    args = ["--release", local_mirror.codename, "--mirror", local_mirror.url, "--keyring",
            local_mirror.keyring, "--no-configure", "--variant", "custom", "--include",
            "base-files"]

    # a redirect as such is no fault: the digest the signed index promised decides
    local_mirror.server.redirects[rel] = honest.url + rel
    tree = as_user.mkdir("first") / "tree"
    fine = as_user.run("debian", tree, *args, "--cache", as_user.path("first", "cache"))
    assert fine.returncode == 0, fine.stderr
    assert honest.requests == [rel] and (tree / "etc/debian_version").is_file()

    local_mirror.server.redirects[rel] = evil.url + rel
    proc = as_user.run("debian", as_user.path("tree"), *args, "--cache", as_user.cache)
    refused(as_user, proc, deb.name, local_mirror.url, f"redirected to {evil.url}{rel}",
            "SHA256", keep=("first",))
    assert evil.requests and evil.requests[0] == rel
    assert _holding(as_user.cache, (other / rel.lstrip("/")).read_bytes()) == []
    assert not [p for p in (as_user.cache / "objects").rglob("*") if p.is_file()
                and p.name.endswith(".partial")]
