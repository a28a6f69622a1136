"""Digests as the indexes give them: an algorithm and a value. The index decides
the algorithm (Debian's Release and pacman's databases SHA-256, rpm's repodata
SHA-256 or SHA-512, apk's Q1 checksums SHA-1); every check goes through here."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable

# algorithm -> length of its hex digest
LENGTHS = {"sha1": 40, "sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class Digest:
    algorithm: str
    value: str     # lower-case hex; it names files in the cache, so it is checked

    def __post_init__(self) -> None:
        length = LENGTHS.get(self.algorithm)
        if length is None:
            raise ValueError(f"unknown digest algorithm {self.algorithm!r}")
        if len(self.value) != length or not _HEX.fullmatch(self.value):
            raise ValueError(f"not a {self.label} digest: {self.value!r}")

    @classmethod
    def parse(cls, algorithm: str, value: str) -> "Digest":
        """A digest from an index's text, case-insensitive; ValueError if it is none."""
        return cls(algorithm, value.strip().lower())

    @property
    def label(self) -> str:
        return self.algorithm.upper()

    def hasher(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)

    def matches(self, hasher: "hashlib._Hash") -> bool:
        """Does what hasher has seen hash to this digest?"""
        return hasher.hexdigest() == self.value

    def of(self, chunks: Iterable[bytes]) -> str:
        """The hex digest, in this algorithm, of chunks."""
        h = self.hasher()
        for chunk in chunks:
            h.update(chunk)
        return h.hexdigest()

    def __str__(self) -> str:
        return f"{self.label} {self.value}"


# What an index's digest covers when that is not the whole file (apk's C: is the
# SHA-1 of a package's control part only): the function that reads a file and
# gives the digest's value for it. The cache names and checks such files by it.
Covers = Callable[[BinaryIO], str]
