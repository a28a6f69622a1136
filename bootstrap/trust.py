"""OpenPGP verification against a recipe's trust roots, and nothing else.

gpg runs through python-gnupg in a throwaway home that holds only the shipped
(or --keyring) keys, so the user's own keyring never vouches for a mirror.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import gnupg

from bootstrap.errors import Die, die


@dataclass
class Signature:
    """One signature as gpg judged it (its [GNUPG:] status lines between NEWSIGs)."""
    status: str = ""        # GOODSIG, BADSIG, EXPSIG, EXPKEYSIG, REVKEYSIG or ERRSIG
    keyid: str = ""
    primary: str = ""       # fingerprint of the signing key's primary key (good ones)
    trust: str = ""         # gpg's TRUST_* verdict on that key, without the prefix
    missing_key: bool = False

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
        elif tag.startswith("TRUST_"):
            sig.trust = tag[len("TRUST_"):]
    return [sig for sig in sigs if sig.status]


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

    def _refuse(self, sig: Signature, what: str, mirror: str) -> None:
        """Die with the reason one signature is not good enough."""
        where = f"{what} from {mirror}"
        if sig.status == "BADSIG":
            die(f"{where}: BAD signature by key {sig.key} (the file was modified after signing)")
        if sig.status in ("EXPSIG", "EXPKEYSIG"):
            die(f"{where}: signature by key {sig.key} is expired or made by an expired key "
                f"in {self.names}")
        if sig.status == "REVKEYSIG":
            die(f"{where}: signed by key {sig.key}, which is revoked in {self.names}")
        if sig.status == "ERRSIG" and not sig.missing_key:
            die(f"{where}: the signature by key {sig.key} cannot be checked "
                "(unsupported algorithm?)")
        die(f"{where}: signed by key {sig.key}, which is not in the trusted keyring "
            f"{self.names}")

    def _trusted(self, fpr: str) -> bool:
        return fpr.upper() in self.fingerprints

    def _judge(self, sigs: list[Signature], what: str, mirror: str) -> None:
        """Accept when a good, current signature by a trusted key is there (Debian's
        InRelease carries several; keys the keyring lacks are not held against it)."""
        for sig in sigs:
            if sig.status == "BADSIG":
                self._refuse(sig, what, mirror)
        if any(sig.status == "GOODSIG" and self._trusted(sig.primary) for sig in sigs):
            return
        order = ("EXPSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG", "GOODSIG")
        for status in order:
            for sig in sigs:
                if sig.status == status:
                    self._refuse(sig, what, mirror)
        die(f"{what} from {mirror}: no OpenPGP signature (trusted keyring {self.names})")

    def clearsigned(self, data: bytes, what: str, mirror: str) -> bytes:
        """The signed text of a clearsigned file, only if a trusted key signed it."""
        if not data.lstrip().startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
            die(f"{what} from {mirror}: not a clearsigned file")
        result = self.gpg.decrypt(data)
        self._judge(_parse_status(result.stderr), what, mirror)
        return bytes(result.data)

    def detached(self, data: bytes, signature: bytes, what: str, mirror: str) -> None:
        self._verify(signature, lambda sig: self.gpg.verify_data(sig, data), what, mirror)

    def detached_file(self, path: Path, signature: bytes, what: str, mirror: str) -> None:
        """Like detached(), streaming a file of any size through gpg."""
        def verify(sig: str) -> "gnupg.Verify":
            with open(sig, "rb") as f:   # gpg reads the data itself, by path
                return self.gpg.verify_file(f, str(path))
        self._verify(signature, verify, what, mirror)

    def _verify(self, signature: bytes, run: Callable[[str], "gnupg.Verify"], what: str,
                mirror: str) -> None:
        fd, sigpath = tempfile.mkstemp(dir=self.home, suffix=".sig")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(signature)
            result = run(sigpath)
        finally:
            os.unlink(sigpath)
        self._judge(_parse_status(result.stderr), what, mirror)


class WebOfTrust(Keyring):
    """pacman-key's trust model. A keyring NAME.gpg comes with NAME-trusted (the
    master keys, with the owner trust gpg gives them) and NAME-revoked. A local key
    certifies the masters; a packager key is valid when the masters' certifications
    make it fully valid in gpg's web of trust (with owner trust 4, three masters
    must have signed it). Revoked keys are refused whatever signed them. A keyring
    without a -trusted list (a private repository's own key) is trusted directly.
    A directory stands for every NAME.gpg in it, as pacman's keyrings directory."""

    def __init__(self, paths: Sequence[Path]) -> None:
        files: list[Path] = []
        for path in paths:
            try:
                is_dir = path.is_dir()
                found = sorted(path.glob("*.gpg")) if is_dir else []
            except OSError as e:
                die(f"cannot read keyring {path}: {e.strerror}")
            if is_dir:
                if not found:
                    die(f"keyring directory {path} holds no NAME.gpg keyring")
                files += found
            else:
                files.append(path)
        super().__init__(files)
        self.revoked: set[str] = set()
        masters: dict[str, str] = {}
        direct: list[str] = []
        try:
            for path in files:
                stem = path.name[:-4] if path.name.endswith(".gpg") else path.name
                trusted = path.with_name(f"{stem}-trusted")
                self.revoked |= set(_fingerprints(path.with_name(f"{stem}-revoked")))
                if trusted.is_file():
                    for line in _lines(trusted):
                        fpr, _, level = line.partition(":")
                        masters[fpr.upper()] = level.strip(":") or "4"
                else:
                    direct += self.imported[path]
            self.trust_names = ", ".join(str(p.with_name(p.name[:-4] + "-trusted"))
                                         for p in files if p.name.endswith(".gpg"))
            self._certify([f for f in list(masters) + direct if f not in self.revoked],
                          masters)
        except Die:
            self.close()
            raise

    def _run(self, *args: str, input: Optional[bytes] = None) -> str:
        proc = subprocess.run([self.gpg.gpgbinary, "--homedir", self.home, "--batch",
                               "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "",
                               *args], input=input, capture_output=True)
        if proc.returncode != 0:
            raise Die(f"gpg {args[0]} failed in the trust set-up for {self.names}: "
                      + (proc.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1])
        return proc.stdout.decode(errors="replace")

    def _certify(self, keys: list[str], masters: dict[str, str]) -> None:
        missing = [k for k in masters if k not in self.fingerprints]
        if missing:
            raise Die(f"master key {missing[0]} in {self.trust_names} is not in {self.names}")
        self._run("--quick-generate-key", "rootstrap local trust root", "ed25519", "cert",
                  "never")
        for key in keys:
            self._run("--yes", "--quick-lsign-key", key)
        if masters:
            lines = "".join(f"{fpr}:{level}:\n" for fpr, level in masters.items())
            self._run("--import-ownertrust", input=lines.encode())
        self._run("--check-trustdb")

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
                       capture_output=True)
        super().close()

    def _judge(self, sigs: list[Signature], what: str, mirror: str) -> None:
        """pacman's rule: every signature must be good, current, by a key the
        masters make fully valid, and not revoked."""
        if not sigs:
            die(f"{what} from {mirror}: no OpenPGP signature (trusted keyring {self.names})")
        for sig in sigs:
            if sig.status != "GOODSIG":
                self._refuse(sig, what, mirror)
            if sig.primary.upper() in self.revoked:
                die(f"{what} from {mirror}: signed by key {sig.primary}, which is revoked "
                    f"(listed as revoked in the keyring {self.names})")
            if sig.trust not in ("FULLY", "ULTIMATE"):
                die(f"{what} from {mirror}: signed by key {sig.primary}, which the master "
                    f"keys of {self.names} do not make valid "
                    f"(trust {(sig.trust or 'undefined').lower()})")


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    except UnicodeDecodeError:
        die(f"{path} is not a text file of fingerprints")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _fingerprints(path: Path) -> list[str]:
    return [ln.split(":")[0].upper() for ln in _lines(path)]

def open_keyring(paths: Sequence[Path], override: Optional[Sequence[Path]] = None,
                 model: str = "direct") -> Keyring:
    """The recipe's trust roots, or the --keyring ones that replace them; model is
    'direct' (any key in the keyring vouches) or 'web-of-trust' (pacman-key's)."""
    chosen = list(override) if override else list(paths)
    return WebOfTrust(chosen) if model == "web-of-trust" else Keyring(chosen)
