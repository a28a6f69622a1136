"""OpenPGP signatures checked against a recipe's trust roots, and nothing else.

gpg runs through python-gnupg in a throwaway home that holds only the shipped
(or --keyring) keys, so the user's own keyring never vouches for a mirror.
Verdicts come from gpg's machine-readable status lines, never its exit code.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, NoReturn, Sequence

import gnupg

from bootstrap.errors import die
from bootstrap.trust import Trust
from bootstrap.trust.pgpkey import subkey_ids

# OpenPGP hash algorithm ids (RFC 4880 9.4) whose collisions are practical: a
# family whose own tool refuses signatures over them passes these to OpenPGP
WEAK_DIGESTS = {1: "MD5", 2: "SHA1", 3: "RIPEMD160"}


@dataclass
class Signature:
    """One signature as gpg judged it (its [GNUPG:] status lines between NEWSIGs)."""
    status: str = ""        # GOODSIG, BADSIG, EXPSIG, EXPKEYSIG, REVKEYSIG or ERRSIG
    keyid: str = ""
    primary: str = ""       # fingerprint of the signing key's primary key (good ones)
    trust: str = ""         # gpg's TRUST_* verdict on that key, without the prefix
    missing_key: bool = False
    digest: int = 0         # the hash algorithm signed over (VALIDSIG), an OpenPGP id

    @property
    def key(self) -> str:
        return self.primary or self.keyid


VERDICTS = ("GOODSIG", "BADSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG")


def _parse_status(stderr: str) -> list[Signature]:
    sigs: list[Signature] = []
    for line in stderr.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        words = line.split()[1:]
        tag, args = words[0], words[1:]
        if tag == "NEWSIG" or (tag in VERDICTS and (not sigs or sigs[-1].status)):
            sigs.append(Signature())
        if not sigs:
            continue
        sig = sigs[-1]
        if tag in VERDICTS:
            sig.status = tag
            sig.keyid = args[0] if args else ""
        elif tag == "NO_PUBKEY":
            sig.missing_key = True
        elif tag == "VALIDSIG" and args:
            sig.primary = args[9] if len(args) >= 10 else args[0]
            if len(args) >= 8 and args[7].isdigit():
                sig.digest = int(args[7])
        elif tag.startswith("TRUST_"):
            sig.trust = tag[len("TRUST_"):]
    return [sig for sig in sigs if sig.status]


class OpenPGP(Trust):
    """OpenPGP keys loaded into an isolated gpg home, each trusted directly."""

    def __init__(self, paths: Sequence[Path],
                 refused_digests: Mapping[int, str] = {}) -> None:
        """refused_digests: hash algorithms (id -> name) a signature may not be
        made over, whoever made it."""
        self.paths = list(paths)
        self.refused_digests = dict(refused_digests)
        if not self.paths:
            die("no trust roots: the recipe names no keyring and none was given with --keyring")
        if not shutil.which("gpg"):
            die("gpg is not installed; it is needed to verify signatures (install gnupg)")
        self.home = tempfile.mkdtemp(prefix="rootstrap-gpg-")
        # public keys only: no agent, which a killed build would leave running
        self.gpg = gnupg.GPG(gnupghome=self.home, options=["--no-autostart"])
        self.fingerprints: set[str] = set()          # upper case, of primary keys
        self.imported: dict[Path, list[str]] = {}    # keyring file -> its primary keys
        for path in self.paths:
            try:
                data = path.read_bytes()
            except OSError as e:
                self.close()
                die(f"cannot read keyring {path}: {e.strerror}")
            result = self.gpg.import_keys(data)
            if not result.fingerprints:
                self.close()
                die(f"keyring {path} holds no OpenPGP public key")
            self.imported[path] = [f.upper() for f in result.fingerprints]
            self.fingerprints.update(self.imported[path])

    @property
    def names(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def export(self) -> bytes:
        """Every key of the roots as one binary keyring (what apt's Signed-By reads)."""
        return bytes(self.gpg.export_keys(sorted(self.fingerprints), armor=False,
                                          output=None))

    def _refuse(self, sig: Signature, what: str, mirror: object) -> NoReturn:
        """Die with the reason one signature is not good enough."""
        where = f"{what} from {mirror}"
        key = self._signer(sig)

        def fail(reason: str) -> NoReturn:
            die(f"{where}: {reason}", file=what, mirror=str(mirror), key=sig.key)

        if sig.status == "BADSIG":
            fail(f"BAD signature by {key} (the file was modified after signing)")
        if sig.status in ("EXPSIG", "EXPKEYSIG"):
            fail(f"signature by {key} is expired or made by an expired key "
                 f"in {self.names}")
        if sig.status == "REVKEYSIG":
            fail(f"signed by {key}, which is revoked in {self.names}")
        if sig.status == "ERRSIG" and not sig.missing_key:
            fail(f"the signature by {key} cannot be checked (unsupported algorithm?)")
        if sig.status == "GOODSIG" and sig.digest in self.refused_digests and \
                self._trusted(sig.primary):
            fail(f"signed by {key} over {self.refused_digests[sig.digest]}, a digest too "
                 "weak to be trusted for signatures (sign with SHA256 or SHA512)")
        if sig.missing_key and self._unbound(sig.keyid):
            fail(f"signed by subkey {sig.keyid}, which {self.names} holds without a valid "
                 "binding signature by its primary key, so it speaks for no trusted key")
        fail(f"signed by {key}, which is not in the trusted keyring {self.names}")

    @staticmethod
    def _signer(sig: Signature) -> str:
        """The signing key as a message names it: a subkey with its primary key."""
        if sig.primary and sig.keyid and not sig.primary.upper().endswith(sig.keyid.upper()):
            return f"subkey {sig.keyid} of key {sig.primary}"
        return f"key {sig.key}"

    def _unbound(self, keyid: str) -> bool:
        """keyid is a subkey in the keyring files that gpg did not take (its binding
        signature is missing or does not verify)."""
        held: set[str] = set()
        for path in self.paths:
            try:
                held |= subkey_ids(path.read_bytes())
            except OSError:
                continue
        if keyid.upper() not in held:
            return False
        taken = {str(sub[0]).upper() for key in self.gpg.list_keys()
                 for sub in key.get("subkeys", [])}
        return keyid.upper() not in taken

    def _trusted(self, fpr: str) -> bool:
        return fpr.upper() in self.fingerprints

    def _judge(self, sigs: list[Signature], what: str, mirror: object) -> list[str]:
        """Accept when a good, current signature by a trusted key is there (Debian's
        InRelease carries several; keys the keyring lacks are not held against it);
        the primary keys of the signatures accepted."""
        for sig in sigs:
            if sig.status == "BADSIG":
                self._refuse(sig, what, mirror)
        good = [sig for sig in sigs if sig.status == "GOODSIG" and self._trusted(sig.primary)]
        strong = [sig.primary.upper() for sig in good if sig.digest not in self.refused_digests]
        if strong:
            return strong
        for sig in good:
            self._refuse(sig, what, mirror)
        order = ("EXPSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG", "GOODSIG")
        for status in order:
            for sig in sigs:
                if sig.status == status:
                    self._refuse(sig, what, mirror)
        die(f"{what} from {mirror}: no OpenPGP signature (trusted keyring {self.names})",
            file=what, mirror=str(mirror))

    def clearsigned(self, data: bytes, what: str, mirror: object) -> bytes:
        """The signed text of a clearsigned file, only if a trusted key signed it."""
        return self.clearsigned_by(data, what, mirror)[0]

    def clearsigned_by(self, data: bytes, what: str, mirror: object) -> tuple[bytes, list[str]]:
        """The signed text of a clearsigned file and the trusted keys that signed it."""
        if not data.lstrip().startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
            die(f"{what} from {mirror}: not a clearsigned file", file=what, mirror=str(mirror))
        result = self.gpg.decrypt(data)
        signers = self._judge(_parse_status(result.stderr), what, mirror)
        return bytes(result.data), signers

    def detached(self, data: bytes, signature: bytes, what: str, mirror: object) -> list[str]:
        """Die unless signature vouches for data; the keys whose signatures did."""
        return self._verify(signature, lambda sig: self.gpg.verify_data(sig, data), what,
                            mirror)

    def detached_file(self, path: Path, signature: bytes, what: str,
                      mirror: object) -> list[str]:
        """Like detached(), streaming a file of any size through gpg."""
        def verify(sig: str) -> "gnupg.Verify":
            with open(sig, "rb") as f:   # gpg reads the data itself, by path
                return self.gpg.verify_file(f, str(path))
        return self._verify(signature, verify, what, mirror)

    def _verify(self, signature: bytes, run: Callable[[str], "gnupg.Verify"], what: str,
                mirror: object) -> list[str]:
        fd, sigpath = tempfile.mkstemp(dir=self.home, suffix=".sig")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(signature)
            result = run(sigpath)
        finally:
            os.unlink(sigpath)
        return self._judge(_parse_status(result.stderr), what, mirror)
