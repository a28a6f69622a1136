"""OpenPGP verification against a recipe's trust roots, and nothing else.

gpg runs through python-gnupg in a throwaway home that holds only the shipped
(or --keyring) keys, so the user's own keyring never vouches for a mirror.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import gnupg

from bootstrap.errors import die


@dataclass
class Signers:
    good: list[str]       # fingerprints of good signatures by trusted, current keys
    bad: list[str]        # key ids whose signature does not match the data
    unknown: list[str]    # key ids we hold no key for
    expired: list[str]    # key ids of expired or revoked keys, or expired signatures


def _parse_status(stderr: str) -> Signers:
    s = Signers([], [], [], [])
    for line in stderr.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        words = line.split()[1:]
        tag, args = words[0], words[1:]
        if tag == "VALIDSIG" and args:
            s.good.append(args[-1] if len(args) >= 10 else args[0])
        elif tag == "BADSIG" and args:
            s.bad.append(args[0])
        elif tag in ("NO_PUBKEY",) and args:
            s.unknown.append(args[0])
        elif tag == "ERRSIG" and args and args[-1] != "9":
            s.unknown.append(args[0])
        elif tag in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG") and args:
            s.expired.append(args[0])
    s.unknown = [k for k in dict.fromkeys(s.unknown)]
    return s


class Keyring:
    """A set of trust roots loaded into an isolated gpg home."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        if not self.paths:
            die("no trust roots: the recipe names no keyring and none was given with --keyring")
        if not shutil.which("gpg"):
            die("gpg is not installed; it is needed to verify signatures (install gnupg)")
        self.home = tempfile.mkdtemp(prefix="rootstrap-gpg-")
        self.gpg = gnupg.GPG(gnupghome=self.home)
        self.fingerprints: set[str] = set()
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
            self.fingerprints.update(result.fingerprints)

    @property
    def names(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def _judge(self, signers: Signers, what: str, mirror: str) -> None:
        if signers.bad:
            die(f"{what} from {mirror}: BAD signature by key {', '.join(signers.bad)} "
                f"(the file was modified after signing)")
        good = [f for f in signers.good if f in self.fingerprints or
                any(fp.endswith(f) for fp in self.fingerprints)]
        if good:
            return
        if signers.expired:
            die(f"{what} from {mirror}: signed by expired or revoked key "
                f"{', '.join(signers.expired)} in {self.names}")
        if signers.unknown:
            die(f"{what} from {mirror}: signed by key {', '.join(signers.unknown)}, which is "
                f"not in the trusted keyring {self.names}")
        die(f"{what} from {mirror}: no valid OpenPGP signature (trusted keyring {self.names})")

    def clearsigned(self, data: bytes, what: str, mirror: str) -> bytes:
        """The signed text of a clearsigned file, only if a trusted key signed it."""
        if not data.lstrip().startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
            die(f"{what} from {mirror}: not a clearsigned file")
        result = self.gpg.decrypt(data)
        self._judge(_parse_status(result.stderr), what, mirror)
        return bytes(result.data)

    def detached(self, data: bytes, signature: bytes, what: str, mirror: str) -> None:
        fd, sigpath = tempfile.mkstemp(dir=self.home, suffix=".sig")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(signature)
            result = self.gpg.verify_data(sigpath, data)
        finally:
            os.unlink(sigpath)
        self._judge(_parse_status(result.stderr), what, mirror)


def open_keyring(paths: Sequence[Path], override: Optional[Sequence[Path]] = None) -> Keyring:
    return Keyring(list(override) if override else list(paths))
