"""RSA signatures as apk signs: PKCS#1 v1.5 over SHA-1, SHA-256 or SHA-512, by a
key named in the signature (`.SIGN.RSA.<keyname>`, keyname being the key's file
name as /etc/apk/keys holds it). The arithmetic is the `cryptography` package's."""
from __future__ import annotations

from pathlib import Path
from typing import NoReturn, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bootstrap.errors import die
from bootstrap.trust import Trust

HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512}


class RsaKeys(Trust):
    """RSA public keys (PEM) by name: every *.rsa.pub of a directory, or files."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        if not self.paths:
            die("no trust roots: the recipe names no keys and none were given with --keyring")
        self.keys: dict[str, rsa.RSAPublicKey] = {}
        self.files: dict[str, bytes] = {}         # name -> the key file as read
        for path in self.paths:
            try:
                files = sorted(path.glob("*.rsa.pub")) if path.is_dir() else [path]
            except OSError as e:
                die(f"cannot read keys in {path}: {e.strerror}")
            if path.is_dir() and not files:
                die(f"{path} holds no *.rsa.pub key")
            for file in files:
                self._load(file)

    def _load(self, file: Path) -> None:
        try:
            data = file.read_bytes()
        except OSError as e:
            die(f"cannot read key {file}: {e.strerror}")
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            die(f"{file} is not a PEM public key")
        if not isinstance(key, rsa.RSAPublicKey):
            die(f"{file} is not an RSA public key")
        self.keys[file.name] = key
        self.files[file.name] = data

    @property
    def names(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def close(self) -> None:
        self.keys.clear()

    def verify(self, data: bytes, signature: bytes, keyname: str, algorithm: str,
               what: str, mirror: object) -> str:
        """Die unless keyname's signature over data is good; the key's name."""
        def fail(reason: str) -> NoReturn:
            die(f"{what} from {mirror}: {reason}", file=what, mirror=str(mirror), key=keyname)

        key = self.keys.get(keyname)
        if key is None:
            fail(f"signed by key {keyname}, which is not among the trusted keys {self.names}")
        try:
            key.verify(signature, data, padding.PKCS1v15(), HASHES[algorithm]())
        except InvalidSignature:
            fail(f"BAD signature by key {keyname} (the file was modified after signing)")
        return keyname
