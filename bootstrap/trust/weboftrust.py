"""pacman-key's web of trust over OpenPGP (Arch and its derivatives)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional, Sequence

from bootstrap.errors import Die, die
from bootstrap.trust.openpgp import OpenPGP, Signature


class WebOfTrust(OpenPGP):
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

    def _judge(self, sigs: list[Signature], what: str, mirror: object) -> list[str]:
        """pacman's rule: every signature must be good, current, by a key the
        masters make fully valid, and not revoked."""
        if not sigs:
            die(f"{what} from {mirror}: no OpenPGP signature (trusted keyring {self.names})",
                file=what, mirror=str(mirror))
        for sig in sigs:
            if sig.status != "GOODSIG":
                self._refuse(sig, what, mirror)
            if sig.primary.upper() in self.revoked:
                die(f"{what} from {mirror}: signed by key {sig.primary}, which is revoked "
                    f"(listed as revoked in the keyring {self.names})",
                    file=what, mirror=str(mirror), key=sig.primary)
            if sig.trust not in ("FULLY", "ULTIMATE"):
                die(f"{what} from {mirror}: signed by key {sig.primary}, which the master "
                    f"keys of {self.names} do not make valid "
                    f"(trust {(sig.trust or 'undefined').lower()})",
                    file=what, mirror=str(mirror), key=sig.primary)
        return [sig.primary.upper() for sig in sigs]


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
