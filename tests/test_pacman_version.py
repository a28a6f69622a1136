"""pacman version ordering against the real `vercmp`, and dependency expressions."""
from __future__ import annotations

import random
import shlex
import shutil
import subprocess

import pytest

from bootstrap.families.pacman.depend import Depend, parse_optdepend
from bootstrap.families.pacman.version import split_evr, vercmp

# Each of these once looked like a rule worth pinning down; the expected
# answers are what vercmp (pacman 6.0.2) printed.
KNOWN = [
    ("1.0a", "1.0", -1), ("1.0", "1.0.1", -1), ("1.0", "1.0.a", -1), ("1.0", "1.0.", -1),
    ("1.0.", "1.0.a", 1), ("1.0.", "1.0..", 0), ("1.0", "1_0", 0), ("1..0", "1.0", 1),
    ("1.0rc1", "1.0", -1), ("1.0", "1.0-3", 0), ("1.0-1", "1.0-2", -1), ("1.0-", "1.0-1", -1),
    ("1.0-", "1.0-a", 1), (":1", "0:1", 0), ("01:1", "1:1", 0), ("1:1.0", "2.0", 1),
    ("a:1", "0:a:1", 0), ("1-2-3", "1-2", 1), ("1.001", "1.1", 0), ("1.10", "1.9", 1),
    ("", "a", 1), ("", "1", -1), ("1a", "1.a", -1), ("1.0.a", "1.0.1", -1),
    ("6.0.2.r12.gabcdef-1", "6.0.2-1", 1), ("2.38-3", "2.38-10", -1),
    ("1.2.3a", "1.2.3alpha", -1), ("1.2.3b", "1.2.3alpha", 1), ("A", "a", -1),
    ("1\u00e92", "1.2", 1), ("1\u00e92", "1..2", 0),
    ("1." + "9" * 40, "1." + "1" + "0" * 40, -1),
    # Not transitive: a. < a1 < a.b < a.
    ("a.", "a1", -1), ("a1", "a.b", -1), ("a.b", "a.", -1),
]


@pytest.mark.parametrize("a,b,want", KNOWN)
def test_vercmp_known(a: str, b: str, want: int) -> None:
    assert vercmp(a, b) == want
    assert vercmp(b, a) == -want


def _random_version(rng: random.Random) -> str:
    def segment() -> str:
        roll = rng.random()
        if roll < 0.55:
            return str(rng.randint(0, 20))
        if roll < 0.65:
            return "0" * rng.randint(1, 2) + str(rng.randint(0, 9))
        if roll < 0.8:
            return rng.choice(["a", "b", "rc", "alpha", "beta", "pre", "r", "g", "p", "A"])
        if roll < 0.9:
            return rng.choice(["rc", "beta", "p", "r"]) + str(rng.randint(0, 12))
        return "g" + "".join(rng.choice("0123456789abcdef") for _ in range(rng.randint(3, 7)))

    def separator() -> str:
        return rng.choice([".", ".", ".", ".", "_", "+", "", "", "..", "~", "+."])

    pkgver = str(rng.randint(0, 12))
    for _ in range(rng.randint(0, 4)):
        pkgver += separator() + segment()
    if rng.random() < 0.05:
        pkgver += rng.choice([".", "_", ".."])
    version = pkgver
    if rng.random() < 0.6:
        version += "-" + rng.choice([str(rng.randint(1, 12)), f"{rng.randint(1, 4)}.{rng.randint(1, 3)}", "01"])
    if rng.random() < 0.25:
        version = f"{rng.choice(['0', '1', '2', '01', '10', ''])}:{version}"
    return version


REALISTIC = [
    "2.38-3", "2.38-10", "2.38.1-1", "1:1.2.3-1", "1.2.3-1", "1:1.2.3", "6.0.2.r12.gabcdef-1",
    "6.0.2.r9.g123456-1", "6.0.2-2", "1.0rc1", "1.0rc2", "1.0", "1.0.a", "1.0a", "1.0.1",
    "1.0_beta1-1", "1.0+1-1", "2:8.2.0-1", "20240101-1", "20240101.1-1", "0.9.9.9-1",
    "3.0.13-1", "3.0.13.1-1", "1.36.1-3", "1.36.1-3.1", "9.4.p1-1", "9.4p1-1",
    "5.2.026-1", "5.2.26-1", "2.42.0+r112+g1e8a3d-1", "r2839.5dc4f2b-1", "1:r2839-1",
]


def _pairs() -> list[tuple[str, str]]:
    rng = random.Random(20240823)
    pairs = [(a, b) for a, b, _ in KNOWN]
    pairs += [(a, b) for a in REALISTIC[:12] for b in REALISTIC if a != b][:200]
    pool = [_random_version(rng) for _ in range(200)]
    for _ in range(350):
        a = rng.choice(pool)
        if rng.random() < 0.5:
            # A near neighbour: same prefix, a different tail.
            b = a[: rng.randint(0, len(a))] + _random_version(rng)[-rng.randint(1, 4):]
        else:
            b = rng.choice(pool)
        pairs.append((a, b))
    return pairs


def _reference_vercmp(pairs: list[tuple[str, str]]) -> list[int]:
    """Ask vercmp about every pair from a single shell (a process per pair from Python is slower)."""
    tool = shutil.which("vercmp")
    if tool is None:
        pytest.fail("vercmp (the reference implementation) is not on PATH: "
                    "install the package pacman-package-manager (CI does)")
    script = "".join(f"{shlex.quote(tool)} {shlex.quote(a)} {shlex.quote(b)}\n" for a, b in pairs)
    out = subprocess.run(["sh", "-e"], input=script, capture_output=True, text=True, check=True, timeout=60)
    return [int(x) for x in out.stdout.split()]


def test_vercmp_agrees_with_pacman() -> None:
    pairs = _pairs()
    assert len(pairs) > 500
    expected = _reference_vercmp(pairs)
    assert len(expected) == len(pairs)
    wrong = [(a, b, vercmp(a, b), want) for (a, b), want in zip(pairs, expected) if vercmp(a, b) != want]
    assert not wrong, "vercmp(a, b) = ours, pacman says theirs:\n" + "\n".join(
        f"  {a!r} {b!r}: {ours} vs {want}" for a, b, ours, want in wrong[:30])


@pytest.mark.parametrize("text,want", [
    ("1.0", ("0", "1.0", None)), ("1:1.0-2", ("1", "1.0", "2")), (":1.0", ("0", "1.0", None)),
    ("1-2-3", ("0", "1-2", "3")), ("x:1.0-1", ("0", "x:1.0", "1")), ("2:1:0-1", ("2", "1:0", "1")),
    ("1.0-", ("0", "1.0", "")),
])
def test_split_evr(text: str, want: tuple[str, str, object]) -> None:
    assert split_evr(text) == want


@pytest.mark.parametrize("text,want", [
    ("glibc", Depend("glibc")),
    ("glibc>=2.38", Depend("glibc", ">=", "2.38")),
    ("glibc<=2.38-1", Depend("glibc", "<=", "2.38-1")),
    ("glibc<3", Depend("glibc", "<", "3")),
    ("glibc>2", Depend("glibc", ">", "2")),
    ("libfoo.so=1-64", Depend("libfoo.so", "=", "1-64")),
    ("sh", Depend("sh")),
    ("python-foo=1:2.0-1", Depend("python-foo", "=", "1:2.0-1")),
    ("  zlib>=1:1.2  ", Depend("zlib", ">=", "1:1.2")),
])
def test_depend_parse_and_print(text: str, want: Depend) -> None:
    dep = Depend.parse(text)
    assert dep == want
    assert str(dep) == text.strip()
    assert Depend.parse(str(dep)) == dep


def test_parse_optdepend_drops_the_description() -> None:
    assert parse_optdepend("python: for the helper scripts") == Depend("python")
    assert parse_optdepend("foo>=1:2.0: for bar: and baz") == Depend("foo", ">=", "1:2.0")
    assert parse_optdepend("bash-completion") == Depend("bash-completion")
    assert parse_optdepend("foo=1:2") == Depend("foo", "=", "1:2")  # an epoch is not a description


@pytest.mark.parametrize("text, want", [
    ("", Depend("")), (">=1", Depend("", ">=", "1")), ("foo>=", Depend("foo", ">=", "")),
    ("foo=", Depend("foo", "=", "")), ("gconf>", Depend("gconf", ">", "")),
])
def test_malformed_expressions_parse_as_libalpm_parses_them(text: str, want: Depend) -> None:
    dep = Depend.parse(text)
    assert dep == want and dep.malformed and str(dep) == text


def test_an_empty_version_compares_as_libalpm_compares_it() -> None:
    # alpm_pkg_vercmp(v, ""): a version starting with a digit is above it, one
    # starting with a letter below; "gconf>" is met by gconf 3.2 but not gconf a1
    assert Depend.parse("gconf>").allows("3.2-1")
    assert not Depend.parse("gconf>").allows("a1")
    assert not Depend.parse("gconf<").allows("3.2-1")
    assert Depend.parse("gconf>=").allows("3.2-1")


def test_allows() -> None:
    assert Depend("a").allows("anything")
    assert Depend("a", ">=", "1.0").allows("1.0-1")
    assert Depend("a", ">=", "1.0-2").allows("1.0-2")
    assert not Depend("a", ">=", "1.0-2").allows("1.0-1")
    assert Depend("a", "<", "1.0").allows("1.0rc1-1")
    assert not Depend("a", "<", "1.0").allows("1.0-9")  # pkgrel ignored: equal, not less
    assert Depend("a", ">", "1.0").allows("1.0.1")
    assert Depend("a", "<=", "2").allows("2-5")
    assert not Depend("a", ">", "2.38").allows("2.38-3")


def test_satisfied_by_own_name() -> None:
    assert Depend("glibc").satisfied_by("glibc", "2.38-3", [])
    assert Depend("glibc", ">=", "2.38").satisfied_by("glibc", "2.38-3", [])
    assert not Depend("glibc", ">=", "2.39").satisfied_by("glibc", "2.38-3", [])
    assert not Depend("glibc").satisfied_by("musl", "1.2.4-1", [])


def test_satisfied_by_equal_without_pkgrel_matches_any_pkgrel() -> None:
    assert Depend("foo", "=", "1.0").satisfied_by("foo", "1.0-3", [])
    assert Depend("foo", "=", "1.0").satisfied_by("foo", "1.0-1", [])
    assert not Depend("foo", "=", "1.0-2").satisfied_by("foo", "1.0-3", [])
    assert not Depend("foo", "=", "1.0").satisfied_by("foo", "1.0.1-1", [])


def test_satisfied_by_epoch() -> None:
    assert Depend("foo", ">=", "2.0").satisfied_by("foo", "1:1.0-1", [])
    assert not Depend("foo", ">=", "1:2.0").satisfied_by("foo", "3.0-1", [])
    assert Depend("foo", "=", "1:1.0").satisfied_by("foo", "1:1.0-4", [])
    assert not Depend("foo", "=", "1.0").satisfied_by("foo", "1:1.0-4", [])
    assert Depend("foo", "=", "0:1.0").satisfied_by("foo", "1.0-4", [])


def test_satisfied_by_versioned_provides() -> None:
    provides = [Depend.parse("sh"), Depend.parse("libfoo.so=1-64"), Depend.parse("java-runtime=17")]
    assert Depend.parse("sh").satisfied_by("bash", "5.2.026-2", provides)
    assert Depend.parse("libfoo.so").satisfied_by("foo", "1.2-1", provides)
    assert Depend.parse("libfoo.so=1-64").satisfied_by("foo", "1.2-1", provides)
    assert not Depend.parse("libfoo.so=1-32").satisfied_by("foo", "1.2-1", provides)
    assert Depend.parse("java-runtime>=11").satisfied_by("jre17", "17.0.9-1", provides)
    assert not Depend.parse("java-runtime>=21").satisfied_by("jre17", "17.0.9-1", provides)
    assert Depend.parse("java-runtime=17").satisfied_by("jre17", "17.0.9-1", provides)
    assert not Depend.parse("jre17>=18").satisfied_by("jre17", "17.0.9-1", provides)


def test_unversioned_provide_never_meets_a_versioned_dependency() -> None:
    provides = [Depend("sh")]
    assert Depend("sh").satisfied_by("dash", "0.5.12-1", provides)
    assert not Depend("sh", ">=", "1").satisfied_by("dash", "0.5.12-1", provides)
    # The package's own version does not stand in for its provision's.
    assert not Depend("sh", ">=", "0.1").satisfied_by("dash", "0.5.12-1", provides)


def test_ranged_provide_is_not_a_version() -> None:
    provides = [Depend("foo", ">=", "1")]
    assert Depend("foo").satisfied_by("bar", "1-1", provides)
    assert not Depend("foo", ">=", "1").satisfied_by("bar", "1-1", provides)
