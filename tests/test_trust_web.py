"""pacman-key's trust model, as rootstrap applies it to Arch packages: master keys
listed in NAME-trusted vouch for packager keys (three marginal masters make one
valid), NAME-revoked keys are refused, and a keyring without a -trusted list is
trusted directly (a private mirror's own key)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bootstrap.errors import Die
from bootstrap.trust.weboftrust import WebOfTrust


def _gpg(home: Path, *args: str, input: bytes = b"") -> bytes:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", "--no-tty",
                           "--pinentry-mode", "loopback", "--passphrase", "", *args],
                          input=input, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("wot")
    home = base / "g"
    home.mkdir(mode=0o700)
    fpr: dict[str, str] = {}
    for name in ("m1", "m2", "m3", "full", "half", "gone", "other", "old"):
        uid = f"{name} <{name}@rootstrap.invalid>"
        past = ["--faked-system-time", "20200101T000000"] if name == "old" else []
        _gpg(home, *past, "--quick-gen-key", uid, "ed25519", "sign", "never")
        listing = _gpg(home, "--with-colons", "--list-keys", uid).decode()
        fpr[name] = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))
    for master in ("m1", "m2", "m3"):
        for packager in ("full", "gone", "old"):
            _gpg(home, "-u", fpr[master], "--yes", "--quick-sign-key", fpr[packager])
    _gpg(home, "-u", fpr["m1"], "--yes", "--quick-sign-key", fpr["half"])
    ring = base / "ring"
    ring.mkdir()
    (ring / "test.gpg").write_bytes(_gpg(home, "--export", *[fpr[n] for n in fpr if n != "other"]))
    (ring / "test-trusted").write_text("".join(f"{fpr[m]}:4:\n" for m in ("m1", "m2", "m3")))
    (ring / "test-revoked").write_text(f"{fpr['gone']}\n")
    direct = base / "direct.gpg"
    direct.write_bytes(_gpg(home, "--export", fpr["other"]))
    sigs = {n: _gpg(home, "-u", fpr[n], "--detach-sign", input=b"package bytes") for n in fpr}
    # by a key the masters vouch for, made in 2020 and valid for a day
    sigs["stale"] = _gpg(home, "-u", fpr["old"], "--faked-system-time", "20200102T000000",
                         "--default-sig-expire", "1d", "--detach-sign", input=b"package bytes")
    yield {"fpr": fpr, "ring": ring, "direct": direct, "sigs": sigs}
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"])


@pytest.fixture(scope="module")
def ring(keys):  # type: ignore[no-untyped-def]
    k = WebOfTrust([keys["ring"]])
    yield k
    k.close()


def test_a_key_three_masters_signed_is_valid(keys, ring):  # type: ignore[no-untyped-def]
    signers = ring.detached(b"package bytes", keys["sigs"]["full"], "core/x.pkg.tar.zst",
                            "http://m")
    assert signers == [keys["fpr"]["full"].upper()]


def test_masters_themselves_are_valid(keys, ring):  # type: ignore[no-untyped-def]
    signers = ring.detached(b"package bytes", keys["sigs"]["m2"], "core/x.pkg.tar.zst",
                            "http://m")
    assert signers == [keys["fpr"]["m2"].upper()]


def test_one_master_signature_is_not_enough(keys, ring):  # type: ignore[no-untyped-def]
    with pytest.raises(Die) as e:
        ring.detached(b"package bytes", keys["sigs"]["half"], "core/x.pkg.tar.zst", "http://m")
    assert "core/x.pkg.tar.zst from http://m" in e.value.message
    assert keys["fpr"]["half"] in e.value.message and "marginal" in e.value.message


def test_a_revoked_key_is_refused_though_masters_signed_it(keys, ring):  # type: ignore[no-untyped-def]
    with pytest.raises(Die, match="revoked") as e:
        ring.detached(b"package bytes", keys["sigs"]["gone"], "core/y.pkg.tar.zst", "http://m")
    assert keys["fpr"]["gone"] in e.value.message


def test_an_expired_signature_is_refused(keys, ring):  # type: ignore[no-untyped-def]
    with pytest.raises(Die, match="expired"):
        ring.detached(b"package bytes", keys["sigs"]["stale"], "core/x", "http://m")


def test_every_signature_of_a_file_must_pass(keys, ring):  # type: ignore[no-untyped-def]
    sigs = keys["sigs"]
    for pair, reason in (((sigs["full"], sigs["gone"]), "revoked"),
                         ((sigs["stale"], sigs["gone"]), "expired"),
                         ((sigs["m1"], sigs["half"]), "marginal")):
        with pytest.raises(Die, match=reason):
            ring.detached(b"package bytes", b"".join(pair), "core/x", "http://m")
    both = ring.detached(b"package bytes", sigs["full"] + sigs["m3"], "core/x", "http://m")
    assert sorted(both) == sorted([keys["fpr"]["full"].upper(), keys["fpr"]["m3"].upper()])


def test_unknown_key_and_tampered_data(keys, ring):  # type: ignore[no-untyped-def]
    with pytest.raises(Die, match="not in the trusted keyring") as e:
        ring.detached(b"package bytes", keys["sigs"]["other"], "core/z", "http://m")
    # the failure names the file, the mirror and the key, for --json too
    assert (e.value.file, e.value.mirror) == ("core/z", "http://m")
    assert keys["fpr"]["other"].upper().endswith(e.value.key.upper())
    with pytest.raises(Die, match="BAD signature"):
        ring.detached(b"package bytes!", keys["sigs"]["full"], "core/z", "http://m")


def test_a_keyring_without_masters_is_trusted_directly(keys):  # type: ignore[no-untyped-def]
    k = WebOfTrust([keys["direct"]])
    try:
        assert k.detached(b"package bytes", keys["sigs"]["other"], "core/z", "http://m") \
            == [keys["fpr"]["other"].upper()]
        with pytest.raises(Die, match="not in the trusted keyring"):
            k.detached(b"package bytes", keys["sigs"]["full"], "core/z", "http://m")
    finally:
        k.close()


def test_the_shipped_arch_keyring_sets_up(tmp_path):  # type: ignore[no-untyped-def]
    keys_dir = Path(__file__).resolve().parents[1] / "keys"
    k = WebOfTrust([keys_dir / "arch" / "archlinux.gpg"])
    try:
        listing = k._run("--with-colons", "--list-keys")
        valid = [ln for ln in listing.splitlines() if ln.startswith("pub:f:")]
        # the packager keys the five masters vouch for, not the masters' mere presence
        assert len(valid) > 20
        assert len(k.revoked) > 10
    finally:
        k.close()
