"""The signed Release file of a Debian suite: what it promises and until when."""
from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from typing import Optional

from bootstrap.digest import Digest
from bootstrap.errors import die
from bootstrap.fetch import Wanted
from bootstrap.numbers import number


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Stanzas of a deb822 document; continuation lines keep their newline."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
                current, key = {}, None
            continue
        if line[0] in " \t":
            if key is None:
                raise ValueError(f"continuation line without a field: {line!r}")
            current[key] += "\n" + line[1:]
            continue
        if line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"not a field: {line!r}")
        current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


@dataclass
class Release:
    fields: dict[str, str]
    sha256: dict[str, tuple[str, int]]   # path -> (digest, size)

    @classmethod
    def parse(cls, text: str, what: str) -> "Release":
        try:
            stanzas = parse_deb822(text)
        except ValueError as e:
            die(f"{what}: {e}")
        if len(stanzas) != 1:
            die(f"{what}: expected one stanza, found {len(stanzas)}")
        fields = stanzas[0]
        sums: dict[str, tuple[str, int]] = {}
        for line in fields.get("SHA256", "").splitlines():
            parts = line.split()
            size = number(parts[1]) if len(parts) == 3 else None
            if size is not None:        # an entry without a size is none (as for apt)
                sums[parts[2]] = (parts[0].lower(), size)
        if not sums:
            die(f"{what}: no SHA256 checksums (a Release without SHA256 is not accepted)")
        return cls(fields, sums)

    def check_fresh(self, what: str, now: Optional[dt.datetime] = None) -> None:
        until = self.fields.get("Valid-Until")
        if not until:
            return
        try:
            deadline = email.utils.parsedate_to_datetime(until)
        except (TypeError, ValueError, OverflowError):
            die(f"{what}: unreadable Valid-Until '{until}'")
        now = now or dt.datetime.now(dt.timezone.utc)
        if deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=dt.timezone.utc)
        if now > deadline:
            die(f"{what}: expired on {until} (Valid-Until); the mirror is stale or replayed")

    def check_suite(self, wanted: tuple[str, ...], what: str) -> None:
        names = {self.fields.get("Suite"), self.fields.get("Codename")}
        if not names & set(wanted):
            die(f"{what}: is for suite {self.fields.get('Suite')} "
                f"({self.fields.get('Codename')}), not {wanted[0]}")

    def index(self, component: str, arch: str, what: str, prefix: str = "") -> Wanted:
        """The best-compressed Packages index the Release lists for component/arch,
        as a path under prefix (the suite's folder on the mirror)."""
        base = f"{component}/binary-{arch}/Packages"
        # every form apt reads; an old or small archive may offer one alone
        for suffix in (".xz", ".gz", ".zst", ".bz2", ".lzma", ""):
            if base + suffix in self.sha256:
                value, size = self.sha256[base + suffix]
                try:
                    digest = Digest("sha256", value)
                except ValueError:
                    die(f"{what}: the SHA256 of {base + suffix} is {value!r}, not a digest")
                return Wanted(prefix + base + suffix, digest, size)
        die(f"{what}: lists no {base} index (is '{arch}' an architecture of this suite?)")
