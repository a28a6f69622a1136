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

from bootstrap import cores
from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.families.deb import parsed as deb_parsed
from bootstrap.families.deb.packages import DebPackage, MalformedIndex, parse_packages
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


def _stanza(n: int) -> str:
    return (f"Package: p{n}\nVersion: {n}.0\nArchitecture: amd64\nPriority: optional\n"
            f"Depends: p{n + 1} (>= {n}), libc6\nDescription: number {n}\n text\n .\n more\n"
            f"Filename: pool/p{n}.deb\nSize: {n}\nSHA256: {'ab' * 32}\n")


def _index(count: int, seps: tuple[str, ...] = ("\n\n", "\n \n", "\n\n\n", "\n\t\n")) -> bytes:
    out = ""
    for n in range(count):
        out += _stanza(n) + seps[n % len(seps)][1:]
    return out.encode()


def as_read(p: DebPackage) -> tuple[object, ...]:
    """Everything the pipeline takes from a package's stanza, relations unparsed."""
    d = p.__dict__
    return tuple(d[k] for k in deb_parsed.PLAIN) \
        + tuple(getattr(d[k], "text", d[k]) for k in deb_parsed.RELATIONS) + (p.stanza,)


def _read(pkgs: list[DebPackage]) -> list[tuple[object, ...]]:
    return [as_read(p) for p in pkgs]


@pytest.fixture
def split_small(monkeypatch):
    """Every index is cut into up to four spans, three read by forked children."""
    monkeypatch.setattr(deb_parsed, "SPLIT_AT", 0)
    monkeypatch.setattr(cores, "usable", lambda: 4)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 200])
def test_an_index_read_in_parts_is_the_index_read_whole(tmp_path: Path, split_small,
                                                        count: int) -> None:
    data = _index(count)
    cache = Cache(tmp_path / "cache")
    fresh = deb_parsed.packages(cache, DIGEST, lambda: data)
    kept = deb_parsed.packages(cache, DIGEST, _never)
    want = _read(parse_packages(data))
    assert len(want) == count
    assert _read(fresh) == want and _read(kept) == want


def _stanzas(count: int) -> list[str]:
    return [_stanza(n) for n in range(count)]


def test_a_span_is_read_exactly_when_another_span_has_an_unusual_line(tmp_path: Path,
                                                                      split_small) -> None:
    """apt reads every field whatever its spelling once any line of the file is
    unusual (here a lower-case name in the last span): a span without such a
    line is read so too (its DEpends, not unusual alone, counts as Depends)."""
    stanzas = _stanzas(40)
    stanzas[1] = stanzas[1].replace("Depends: p2 (>= 1), libc6", "DEpends: mixed")
    stanzas[39] = stanzas[39].replace("Priority: optional", "priority: important")
    data = "\n".join(stanzas).encode()
    fresh = deb_parsed.packages(Cache(tmp_path / "cache"), DIGEST, lambda: data)
    assert _read(fresh) == _read(parse_packages(data))
    assert fresh[1].depends[0][0].name == "mixed" and fresh[39].priority == "important"


def test_the_first_malformed_span_in_the_file_is_the_error(tmp_path: Path,
                                                         split_small) -> None:
    stanzas = _stanzas(40)
    stanzas[14] = stanzas[14].replace("libc6", "libc6 (>= 1.0")
    stanzas[35] = stanzas[35].replace("libc6", "libc6 [amd64] (>= 1)")
    data = "\n".join(stanzas).encode()
    with pytest.raises(MalformedIndex) as whole:
        parse_packages(data)
    with pytest.raises(MalformedIndex) as parts:
        deb_parsed.packages(Cache(tmp_path / "cache"), DIGEST, lambda: data)
    assert str(parts.value) == str(whole.value) and "'p14'" in str(parts.value)
    assert not list((tmp_path / "cache").rglob(DIGEST.value))


@pytest.mark.parametrize("broken", ["fork", "child"])
def test_a_span_whose_child_cannot_answer_is_read_here(tmp_path: Path, split_small,
                                                      monkeypatch, broken: str) -> None:
    import pickle
    if broken == "fork":
        def no_fork() -> int:
            raise OSError(11, "Resource temporarily unavailable")
        monkeypatch.setattr(deb_parsed.os, "fork", no_fork)
    else:
        parent = os.getpid()
        real_dump = pickle.dump

        def dies_in_child(*args, **kwargs):
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return real_dump(*args, **kwargs)
        monkeypatch.setattr(deb_parsed.pickle, "dump", dies_in_child)
    data = _index(50)
    cache = Cache(tmp_path / "cache")
    fds = len(os.listdir("/proc/self/fd"))
    fresh = deb_parsed.packages(cache, DIGEST, lambda: data)
    assert _read(fresh) == _read(parse_packages(data))
    assert len(os.listdir("/proc/self/fd")) == fds      # no pipe left open


def test_a_carriage_return_before_a_blank_line_is_not_cut_from_its_line(tmp_path: Path,
                                                                        split_small) -> None:
    """'b\\r\\r\\n\\r\\n' is 'b\\r\\n\\n' once prepared and 'b\\n\\n' when stanzas() folds
    again: a cut after the '\\r' would leave it in the stanza."""
    stanzas = _stanzas(40)
    data = "".join(s[:-1] + ("\n\n" if n % 5 == 4 else "\r\r\n\r\n")
                   for n, s in enumerate(stanzas)).encode()
    fresh = deb_parsed.packages(Cache(tmp_path / "cache"), DIGEST, lambda: data)
    assert _read(fresh) == _read(parse_packages(data)) and len(fresh) == 40


def test_an_interrupted_parse_leaves_no_child(tmp_path: Path, split_small,
                                            monkeypatch) -> None:
    """Stopped while it reads the first child's answer (Ctrl-C, a signal), the
    parent kills every child, however much each has yet to send, and returns."""
    import pickle
    import signal

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(deb_parsed.pickle, "load", interrupted)
    data = _index(8000)           # each child's answer is more than a pipe holds
    assert len(pickle.dumps(deb_parsed.parse_part(data, 0, len(data) // 4))) > 1 << 17
    def hung(signum, frame):
        raise TimeoutError("the parse hung on a child blocked on its pipe")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        with pytest.raises(KeyboardInterrupt):
            deb_parsed.packages(Cache(tmp_path / "cache"), DIGEST, lambda: data)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
