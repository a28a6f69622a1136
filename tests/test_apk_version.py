"""apk's version order and dependency syntax, against apk-tools' own test data
(tests/data/apk-version-*.txt cite the files they come from)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.families.apk.depend import Dep, Provide
from bootstrap.families.apk.version import compare, valid

DATA = Path(__file__).parent / "data"
OPS = {"<": -1, "=": 0, ">": 1}


def _pairs() -> list[tuple[str, str, str]]:
    out = []
    for line in (DATA / "apk-version-pairs.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            a, op, b = line.split()
            out.append((a, op, b))
    return out


def test_apk_tools_ordering_pairs():
    pairs = _pairs()
    assert len(pairs) >= 300
    wrong = [(a, op, b) for a, op, b in pairs if compare(a, b) != OPS[op]]
    assert not wrong, wrong[:10]
    # and the order is an order: swapping the sides swaps the answer
    assert all(compare(b, a) == -OPS[op] for a, op, b in pairs if valid(a) and valid(b))


def test_apk_tools_validity_rows():
    lines = (DATA / "apk-version-invalid.txt").read_text().splitlines()
    invalid = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    valid_ones = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("#valid:")]
    assert invalid and valid_ones
    assert [v for v in invalid if valid(v)] == []
    assert [v for v in valid_ones if not valid(v)] == []
    assert not valid("")


def test_apk_tools_fuzzy_rows():
    rows = [ln[len("#fuzzy:"):].split() for ln in
            (DATA / "apk-version-pairs.txt").read_text().splitlines()
            if ln.startswith("#fuzzy:")]
    assert len(rows) >= 10
    for version, op, wanted in rows:
        negate = op.startswith("!")
        dep = Dep.parse(f"x{op.lstrip('!')}{wanted}")
        assert dep.allows(version) != negate, (version, op, wanted)


@pytest.mark.parametrize("text, name, version, conflict, tag", [
    ("so:libc.musl-x86_64.so.1", "so:libc.musl-x86_64.so.1", "", False, ""),
    ("cmd:sh", "cmd:sh", "", False, ""),
    ("pc:zlib=1.2", "pc:zlib", "1.2", False, ""),
    ("!foo<2", "foo", "2", True, ""),
    ("foo~1.2", "foo", "1.2", False, ""),
    ("/bin/sh", "/bin/sh", "", False, ""),
    ("musl>=1.2.3_git20230424", "musl", "1.2.3_git20230424", False, ""),
    ("iputils@testing", "iputils", "", False, "testing"),
])
def test_dependency_strings(text, name, version, conflict, tag):
    dep = Dep.parse(text)
    assert (dep.name, dep.version, dep.conflict, dep.tag) == (name, version, conflict, tag)
    assert str(dep) == text


def test_provides_meet_dependencies_as_apk_has_it():
    versioned = [Provide.parse("so:libfoo.so.1=1")]
    bare = [Provide.parse("/bin/sh")]
    assert Dep.parse("so:libfoo.so.1").met_by("libfoo", "1.3-r0", versioned)
    assert Dep.parse("so:libfoo.so.1>=1").met_by("libfoo", "1.3-r0", versioned)
    assert not Dep.parse("so:libfoo.so.1>=2").met_by("libfoo", "1.3-r0", versioned)
    assert Dep.parse("/bin/sh").met_by("busybox-binsh", "1.36.1-r29", bare)
    # a bare provide says nothing of a version
    assert not Dep.parse("/bin/sh>=1").met_by("busybox-binsh", "1.36.1-r29", bare)
    assert Dep.parse("libfoo>=1.2").met_by("libfoo", "1.3-r0", [])
    assert not Dep.parse("libfoo>=1.2").met_by("libfoo", "1.1-r0", [])
    pin = Dep.parse("libfoo><Q1abc=")
    assert pin.met_by("libfoo", "1.3-r0", [], "Q1abc=") and \
        not pin.met_by("libfoo", "1.3-r0", [], "Q1xyz=")
