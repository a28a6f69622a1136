"""A warm build reads its parsed indexes back from the cache instead of parsing
the Packages file or sync database again; what it reads back is the same as
the parse, and only a parse this user kept, in rootstrap's own form, is taken."""
from __future__ import annotations

import dataclasses
import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.families.deb import parsed as deb_parsed
from bootstrap.families.deb.packages import parse_packages
from bootstrap.families.pacman import parsed as pacman_parsed
from bootstrap.families.pacman.syncdb import parse_db

PACKAGES = (
    "Package: foo\nVersion: 1:2.0-1\nArchitecture: amd64\nMulti-Arch: foreign\n"
    "Essential: yes\nPriority: required\nPre-Depends: libc6 (>= 2.36)\n"
    "Depends: a | b (>= 2),\n c\nProvides: virt (= 3)\nConflicts: old\nBreaks: older (<< 1)\n"
    "Description: a thing \u00e9\n more text\n .\n end\n"
    "Filename: pool/main/f/foo/foo_2.0-1_amd64.deb\nSize: 1234\nSHA256: " + "ab" * 32 + "\n"
    "Source: foo-src (2.0)\n\n"
    "Package: bar\nVersion: 3\nArchitecture: all\nProtected: yes\nDepends: foo:any\n\n"
)
DIGEST = Digest("sha256", "cd" * 32)


def _fields(p: object) -> dict[str, object]:
    """Every field of a package as the pipeline reads it (relations parsed)."""
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}  # type: ignore


def _never() -> str:
    raise AssertionError("parsed again although a parse was kept")


def test_deb_packages_kept_read_back_equal_without_parsing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    fresh = deb_parsed.packages(cache, DIGEST, lambda: PACKAGES)
    again = deb_parsed.packages(cache, DIGEST, _never)
    assert [_fields(p) for p in again] == [_fields(p) for p in parse_packages(PACKAGES)]
    assert [_fields(p) for p in fresh] == [_fields(p) for p in again]
    assert again[0].depends[1][0].name == "c" and again[1].depends[0][0].arch == "any"


@pytest.mark.parametrize("how", ["garbage", "group-writable", "other user"])
def test_a_kept_parse_not_in_our_form_or_not_ours_is_parsed_again(tmp_path: Path,
                                                                   how: str) -> None:
    cache = Cache(tmp_path / "cache")
    deb_parsed.packages(cache, DIGEST, lambda: PACKAGES)
    (kept,) = [p for p in (tmp_path / "cache" / "derived").rglob(DIGEST.value)
               if "deb-packages" in p.parts]
    if how == "garbage":
        kept.write_bytes(b"not a parse")
    elif how == "group-writable":
        kept.chmod(0o664)
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file to another user")
        os.chown(kept, 65534, 65534)
    calls = []
    got = deb_parsed.packages(cache, DIGEST, lambda: calls.append(1) or PACKAGES)
    assert calls == [1] and [p.name for p in got] == ["foo", "bar"]


def _db(entries: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for dirname, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{dirname}/desc")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def _desc(name: str, **lists: list[str]) -> str:
    out = {"FILENAME": [f"{name}-1.0-1-x86_64.pkg.tar.zst"], "NAME": [name],
           "VERSION": ["1.0-1"], "CSIZE": ["100"], "SHA256SUM": ["ab" * 32],
           "ARCH": ["x86_64"], **{k.upper(): v for k, v in lists.items()}}
    return "".join(f"%{k}%\n" + "".join(f"{v}\n" for v in vs) + "\n" for k, vs in out.items())


DB = _db({"zlib-1.0-1": _desc("zlib", provides=["libz.so=1-64"], pgpsig=["AAAA"]),
          "acl-1.0-1": _desc("acl", depends=["zlib>=1.2", "glibc"], conflicts=["old<2"],
                             replaces=["older"], groups=["base-devel"]),
          "bad-1.0-1": "%NAME%\nbad\n\n"})


def test_pacman_sync_db_kept_read_back_equal_without_parsing(tmp_path: Path,
                                                            monkeypatch) -> None:
    cache = Cache(tmp_path / "cache")
    fresh = pacman_parsed.sync_db(cache, DB, "core", "core.db")
    monkeypatch.setattr(pacman_parsed, "parse_db", lambda *a: _never())
    again = pacman_parsed.sync_db(cache, DB, "core", "core.db")
    assert again == fresh == parse_db(DB, "core", "core.db")
    assert again.refused == {"bad": "no %VERSION%"}


def test_pacman_parse_is_kept_per_repository(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    pacman_parsed.sync_db(cache, DB, "core", "core.db")
    other = pacman_parsed.sync_db(cache, DB, "extra", "extra.db")
    assert {p.repo for p in other.packages} == {"extra"}
