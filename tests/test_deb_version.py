"""Debian version ordering against dpkg, and relationship-field parsing."""
from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from bootstrap.families.deb.relation import Relation, parse_provides, parse_relations
from bootstrap.families.deb.version import compare

TRICKY = [
    ("1.0", "1.0"), ("1.0", "1.0-0"), ("1.0-0", "1.0-"), ("0:1.0", "1.0"),
    ("1.0~rc1", "1.0"), ("1.0~~", "1.0~"), ("1.0~~a", "1.0~~"), ("1.0~", "1.0"),
    ("1.0", "1.0+b1"), ("1.0+b1", "1.0.1"), ("1.0a", "1.0+"), ("1.0a", "1.0A"),
    ("1.0", "1.0a"), ("1.0", "1.0."), ("1.0.0", "1.0"), ("1.00", "1.0"),
    ("1.001", "1.1"), ("1:0.1", "2.0"), ("2:1", "10:0"), ("10", "9"),
    ("1.2-3", "1.2-10"), ("1.2-3", "1.2-3.1"), ("1.2-3~bpo1", "1.2-3"),
    ("1.2-3+deb12u1", "1.2-3"), ("1.2-3+deb12u10", "1.2-3+deb12u9"),
    ("1-2-3", "1-2"), ("1-2-3", "1.2-3"), ("2.36.1-8+deb12u1", "2.36.1-8"),
    ("1.0-1", "1.0-1~"), ("0", "0~"), ("1:1.0-1", "1:1.0~rc-1"), ("1.0+dfsg", "1.0"),
    ("1.0+dfsg-1", "1.0-1"), ("3.0.11-1~deb12u2", "3.0.11-1"), ("9.9", "10.0"),
    ("1.18446744073709551616", "1.18446744073709551615"), ("0.0", "0"), ("1.a", "1.+"),
    ("1~", "1~~"), ("1~a", "1~~a"), ("1~a", "1~b"), ("a1", "1a"),
]


def _random_version(rng: random.Random) -> str:
    def part(chars: str, start_digit: bool) -> str:
        out = str(rng.randint(0, 12)) if start_digit else rng.choice("0123456789abc")
        for _ in range(rng.randint(0, 5)):
            out += rng.choice(chars)
        return out

    up_chars = "0123456789" * 3 + ".+~abzAZ"
    upstream = part(up_chars + ("-" if rng.random() < 0.2 else ""), True)
    version = upstream
    if "-" in upstream or rng.random() < 0.6:
        version += "-" + part("0123456789.+~bdeu", False)
    if rng.random() < 0.2:
        version = f"{rng.randint(0, 3)}:{version}"
    return version


def _pairs() -> list[tuple[str, str]]:
    rng = random.Random(20240601)
    pairs = list(TRICKY)
    pairs += [(b, a) for a, b in TRICKY]
    pool = [_random_version(rng) for _ in range(150)]
    for _ in range(300):
        a = rng.choice(pool)
        # Often compare near neighbours: same prefix, different tail.
        b = a[: rng.randint(0, len(a))] + _random_version(rng)[-rng.randint(1, 3):] if rng.random() < 0.5 else rng.choice(pool)
        if b.startswith("-") or b.startswith(":") or not b[0].isdigit():
            b = "0" + b
        pairs.append((a, b))
    return pairs


def _dpkg_compare(pairs: list[tuple[str, str]]) -> list[int]:
    """Ask dpkg about every pair in one shell run (one process per pair is slow)."""
    script = []
    for a, b in pairs:
        qa, qb = "'" + a + "'", "'" + b + "'"
        script.append(
            f"if dpkg --compare-versions {qa} lt {qb} 2>/dev/null; then echo -1; "
            f"elif dpkg --compare-versions {qa} eq {qb} 2>/dev/null; then echo 0; "
            f"elif dpkg --compare-versions {qa} gt {qb} 2>/dev/null; then echo 1; else echo bad; fi"
        )
    out = subprocess.run(["sh"], input="\n".join(script) + "\n", capture_output=True, text=True, check=True).stdout
    return [int(x) if x != "bad" else None for x in out.split()]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg (the reference implementation) is not on PATH")
def test_compare_agrees_with_dpkg() -> None:
    pairs = _pairs()
    assert len(pairs) > 300
    expected = _dpkg_compare(pairs)
    checked = 0
    for (a, b), want in zip(pairs, expected):
        if want is None:
            continue  # dpkg rejects the syntax; nothing to agree with
        assert compare(a, b) == want, f"compare({a!r}, {b!r}) = {compare(a, b)}, dpkg says {want}"
        checked += 1
    assert checked > 300


@pytest.mark.parametrize("a,b,want", [
    ("1.0~rc1", "1.0", -1), ("1.0", "1.0-0", 0), ("1:0", "9", 1), ("1.0a", "1.0+", -1),
    ("1.0", "1.0~", 1), ("1.10", "1.9", 1), ("1.0-1", "1.0-1", 0), ("01", "1", 0),
])
def test_compare_known(a: str, b: str, want: int) -> None:
    assert compare(a, b) == want
    assert compare(b, a) == -want


def test_relation_satisfied_by() -> None:
    assert Relation("a", None, ">=", "1.0").satisfied_by("1.0")
    assert not Relation("a", None, ">>", "1.0").satisfied_by("1.0")
    assert Relation("a", None, "<<", "1.0").satisfied_by("1.0~rc1")
    assert Relation("a", None, "=", "1:2-3").satisfied_by("1:2-3")
    assert not Relation("a", None, "=", "2-3").satisfied_by("1:2-3")
    assert Relation("a", None, "<=", "2").satisfied_by("2")
    assert Relation("a").satisfied_by("anything")


def test_parse_relations_alternatives_and_versions() -> None:
    groups = parse_relations("a (>= 1) | b:any, c, d (<<2.0~)")
    assert groups == [
        [Relation("a", None, ">=", "1"), Relation("b", "any", None, None)],
        [Relation("c")],
        [Relation("d", None, "<<", "2.0~")],
    ]


def test_parse_relations_obsolete_operators_as_apt_reads_them() -> None:
    assert parse_relations("a (< 1), b (> 2), c (<= 3), d (1.5), e (==2)") == [
        [Relation("a", None, "<=", "1")],
        [Relation("b", None, ">=", "2")],
        [Relation("c", None, "<=", "3")],
        [Relation("d", None, "=", "1.5")],       # no operator: apt's "=" for bad packages
        [Relation("e", None, "=", "=2")],
    ]


def test_parse_relations_whitespace_and_empty() -> None:
    assert parse_relations("") == []
    assert parse_relations("  a ( >=  1.0 ) ,b|c , ") == [
        [Relation("a", None, ">=", "1.0")],
        [Relation("b"), Relation("c")],
    ]
    assert parse_relations("libc6:amd64 (>= 2.36), perl:native,\n gcc\t(>=\n 4) |") == [
        [Relation("libc6", "amd64", ">=", "2.36")],
        [Relation("perl", "native")],
        [Relation("gcc", None, ">=", "4")],
    ]


@pytest.mark.parametrize("text", ["a (>= 1", "a [amd64]", "b <!nocheck>", "a b", ", a",
                                  "a |, b", "a ()", "a (>= 1) b"])
def test_parse_relations_refuses_what_apt_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_relations(text)


def test_parse_provides() -> None:
    assert parse_provides("awk, x-v (= 1.2), libfoo:any") == [
        Relation("awk"), Relation("x-v", None, "=", "1.2"), Relation("libfoo", "any"),
    ]
