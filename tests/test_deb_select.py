"""The Packages parser and the solver, on small synthetic indexes.

Where the expected choice is not obvious (provider ranking, tie-breaks),
it was checked against `apt-get -s install` on the same index.
"""
from __future__ import annotations

import pytest

from bootstrap.errors import Die
from bootstrap.families.deb.packages import DebPackage, MalformedIndex, parse_packages
from bootstrap.families.deb.relation import Relation
from bootstrap.families.deb.select import Request, select


def stanza(name: str, *fields: str, version: str = "1", arch: str = "amd64") -> str:
    lines = [f"Package: {name}", f"Version: {version}", f"Architecture: {arch}", *fields,
             f"Filename: pool/main/{name[0]}/{name}/{name}_{version}_{arch}.deb", "Size: 100"]
    return "\n".join(lines)


def index(*stanzas: str) -> list[DebPackage]:
    return parse_packages("\n\n".join(stanzas) + "\n")


def names(pkgs: list[DebPackage], request: Request, **kw: str) -> list[str]:
    return [p.name for p in select(pkgs, request, "amd64", **kw)]


# -- Packages parsing ----------------------------------------------------------

def test_parse_packages_fields_and_stanza() -> None:
    text = (
        "Package: foo\nVersion: 1:2.0-1\nArchitecture: amd64\nMulti-Arch: foreign\n"
        "Essential: yes\nPriority: required\nPre-Depends: libc6 (>= 2.36)\n"
        "Depends: a | b (>= 2),\n c\nProvides: virt (= 3)\nConflicts: old\nBreaks: older (<< 1)\n"
        "Description: a thing\n more text\n .\n end\nFilename: pool/main/f/foo/foo_2.0-1_amd64.deb\n"
        "Size: 1234\nSHA256: abcd\n"
        "\n \n"  # a separator line holding only a blank
        "Package: bar\nVersion: 3\nArchitecture: all\nProtected: yes\n\n"
    )
    foo, bar = parse_packages(text)
    assert (foo.name, foo.version, foo.architecture, foo.multi_arch) == ("foo", "1:2.0-1", "amd64", "foreign")
    assert foo.essential and foo.priority == "required" and not foo.protected
    assert foo.pre_depends == [[Relation("libc6", None, ">=", "2.36")]]
    assert foo.depends == [[Relation("a"), Relation("b", None, ">=", "2")], [Relation("c")]]
    assert foo.provides == [Relation("virt", None, "=", "3")]
    assert foo.conflicts == [[Relation("old")]]
    assert foo.breaks == [[Relation("older", None, "<<", "1")]]
    assert (foo.filename, foo.size, foo.sha256) == ("pool/main/f/foo/foo_2.0-1_amd64.deb", 1234, "abcd")
    assert foo.stanza.startswith("Package: foo\n") and foo.stanza.endswith("SHA256: abcd")
    assert " more text\n .\n end" in foo.stanza
    assert (bar.name, bar.multi_arch, bar.essential, bar.protected, bar.depends) == ("bar", "no", False, True, [])
    assert bar.priority == "optional"


def test_a_bad_relation_field_is_named_with_its_package() -> None:
    with pytest.raises(MalformedIndex, match=r"package 'a' 1: its Depends field .*'b \(>= 1'"):
        parse_packages("Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= 1\n")


def test_debpackage_can_be_built_directly() -> None:
    pkg = DebPackage("x", "1", "amd64", depends=[[Relation("y")]])
    assert pkg.depends == [[Relation("y")]] and pkg.provides == [] and pkg.breaks == []


# -- candidates ------------------------------------------------------------------

def test_highest_version_wins_and_foreign_arch_is_ignored() -> None:
    pkgs = index(
        stanza("x", "Depends: y (>= 2)"),
        stanza("y", version="2"),
        stanza("y", version="10"),
        stanza("y", version="11", arch="arm64"),
        stanza("y", version="1:0"),
    )
    sel = select(pkgs, Request(names=("x",)), "amd64")
    assert [(p.name, p.version) for p in sel] == [("x", "1"), ("y", "1:0")]


def test_older_version_is_never_chosen_for_a_versioned_relation() -> None:
    pkgs = index(stanza("x", "Depends: y (<< 2)"), stanza("y", version="1"), stanza("y", version="2"))
    with pytest.raises(Die, match=r"'x' depends on 'y \(<< 2\)': 'y' is at version 2"):
        select(pkgs, Request(names=("x",)), "amd64")


# -- alternatives ---------------------------------------------------------------

def test_first_installable_alternative() -> None:
    pkgs = index(stanza("x", "Depends: missing | a | b"), stanza("a"), stanza("b"))
    assert names(pkgs, Request(names=("x",))) == ["a", "x"]


def test_selected_alternative_is_preferred() -> None:
    pkgs = index(stanza("x", "Depends: a | b"), stanza("a"), stanza("b"))
    # b is asked for too: every request is marked before dependencies are resolved
    assert names(pkgs, Request(names=("x", "b"))) == ["b", "x"]


def test_preselected_satisfies_alternative() -> None:
    pkgs = index(
        stanza("init-system-helpers", "Essential: yes", "Depends: usrmerge | usr-is-merged"),
        stanza("usrmerge", "Depends: perl"),
        stanza("perl"),
        stanza("usr-is-merged", arch="all"),
    )
    request = Request(essential=True, preselected=("usr-is-merged",))
    assert names(pkgs, request) == ["init-system-helpers", "usr-is-merged"]
    assert names(pkgs, Request(essential=True)) == ["init-system-helpers", "perl", "usrmerge"]


def test_failed_alternative_is_rolled_back() -> None:
    pkgs = index(
        stanza("x", "Depends: a | b"),
        stanza("a", "Depends: helper, nonexistent"),
        stanza("helper"),
        stanza("b"),
    )
    assert names(pkgs, Request(names=("x",))) == ["b", "x"]


def test_pre_depends_followed_recommends_not() -> None:
    pkgs = index(stanza("x", "Pre-Depends: p", "Recommends: r", "Suggests: s"),
                 stanza("p"), stanza("r"), stanza("s"))
    assert names(pkgs, Request(names=("x",))) == ["p", "x"]


def test_dependency_cycle() -> None:
    pkgs = index(stanza("a", "Depends: b"), stanza("b", "Depends: c"), stanza("c", "Depends: a"))
    assert names(pkgs, Request(names=("a",))) == ["a", "b", "c"]


# -- virtual packages and provides ------------------------------------------------

def test_versioned_provides() -> None:
    pkgs = index(
        stanza("x", "Depends: v (>= 2)"),
        stanza("aaa", "Provides: v (= 1)"),
        stanza("zzz", "Provides: v (= 2)"),
        stanza("yyy", "Provides: v"),  # unversioned: never meets a versioned relation
    )
    assert names(pkgs, Request(names=("x",))) == ["x", "zzz"]


def test_real_package_preferred_over_essential_provider() -> None:
    pkgs = index(stanza("x", "Depends: v"), stanza("aaa", "Provides: v", "Essential: yes", "Priority: required"),
                 stanza("v"))
    assert names(pkgs, Request(names=("x",))) == ["v", "x"]


@pytest.mark.parametrize("aaa,zzz,winner", [
    ("Priority: required", "Priority: optional", "aaa"),   # higher priority
    ("Priority: optional\nEssential: yes", "Priority: required", "aaa"),  # essential beats priority
    ("Priority: optional\nProtected: yes", "Priority: required", "aaa"),  # so does protected
    ("Priority: optional", "Priority: optional", "zzz"),   # tie: apt's higher package id
])
def test_provider_ranking(aaa: str, zzz: str, winner: str) -> None:
    pkgs = index(stanza("x", "Depends: v"), stanza("aaa", "Provides: v", aaa), stanza("zzz", "Provides: v", zzz))
    assert names(pkgs, Request(names=("x",))) == sorted([winner, "x"])


def test_provider_tie_break_follows_first_mention() -> None:
    # apt numbers names as the index first mentions them (here zzz, in a
    # Depends of an earlier stanza) and prefers the highest number.
    providers = (stanza("aaa", "Provides: v"), stanza("zzz", "Provides: v"))
    pkgs = index(stanza("q", "Suggests: aaa", "Depends: zzz"), stanza("x", "Depends: v"), *providers)
    assert names(pkgs, Request(names=("x",))) == ["aaa", "x"]
    pkgs = index(stanza("x", "Depends: v"), *reversed(providers))
    assert names(pkgs, Request(names=("x",))) == ["aaa", "x"]


def test_virtual_alternative_then_real() -> None:
    pkgs = index(stanza("x", "Depends: v | b"), stanza("aaa", "Provides: v"), stanza("b"))
    assert names(pkgs, Request(names=("x",))) == ["aaa", "x"]


def test_requested_virtual_name_selects_a_provider() -> None:
    pkgs = index(stanza("mawk", "Provides: awk", "Priority: required"), stanza("gawk", "Provides: awk"))
    assert names(pkgs, Request(names=("awk",))) == ["mawk"]


# -- conflicts and breaks -----------------------------------------------------------

def test_conflict_with_selected_takes_next_alternative() -> None:
    pkgs = index(stanza("x", "Depends: a | b"), stanza("s", "Conflicts: a"), stanza("a"), stanza("b"))
    assert names(pkgs, Request(names=("s", "x"))) == ["b", "s", "x"]


def test_candidate_conflicting_with_selected_takes_next_alternative() -> None:
    pkgs = index(stanza("x", "Depends: a | b"), stanza("s"), stanza("a", "Conflicts: s"), stanza("b"))
    assert names(pkgs, Request(names=("x", "s"))) == ["b", "s", "x"]


def test_breaks_takes_next_alternative() -> None:
    pkgs = index(stanza("x", "Depends: a | b"), stanza("s", "Breaks: a (<< 2)"), stanza("a"), stanza("b"))
    assert names(pkgs, Request(names=("s", "x"))) == ["b", "s", "x"]


def test_conflict_on_provided_name() -> None:
    pkgs = index(stanza("x", "Depends: a | b"), stanza("s", "Conflicts: mta"),
                 stanza("a", "Provides: mta"), stanza("b"))
    assert names(pkgs, Request(names=("s", "x"))) == ["b", "s", "x"]


def test_self_conflict_through_provides_is_allowed() -> None:
    pkgs = index(stanza("x", "Depends: mta"), stanza("exim", "Provides: mta", "Conflicts: mta"))
    assert names(pkgs, Request(names=("x",))) == ["exim", "x"]


def test_conflict_with_no_way_out_is_an_error() -> None:
    pkgs = index(stanza("x", "Depends: a"), stanza("s", "Conflicts: a"), stanza("a"))
    with pytest.raises(Die, match=r"'x' depends on 'a': 'a' and 's' conflict"):
        select(pkgs, Request(names=("s", "x")), "amd64")


def test_conflict_evicts_automatically_selected_package() -> None:
    # libreoffice-writer: base-core picks "core-nogui | core", then writer
    # needs core itself, which conflicts with core-nogui. apt drops nogui and
    # the dependencies only it had pulled in.
    pkgs = index(
        stanza("w", "Depends: base, core"),
        stanza("base", "Depends: nogui | core"),
        stanza("core", "Conflicts: nogui", "Depends: cdep"),
        stanza("nogui", "Conflicts: core", "Depends: ndep"),
        stanza("cdep"), stanza("ndep"),
    )
    assert names(pkgs, Request(names=("w",))) == ["base", "cdep", "core", "w"]


def test_evicted_package_is_replaced_by_the_next_alternative() -> None:
    pkgs = index(stanza("y", "Depends: s | t"), stanza("x", "Depends: a"), stanza("s"), stanza("t"),
                 stanza("a", "Conflicts: s"))
    assert names(pkgs, Request(names=("y", "x"))) == ["a", "t", "x", "y"]


def test_eviction_without_a_way_out_is_an_error() -> None:
    pkgs = index(stanza("y", "Depends: s"), stanza("x", "Depends: a"), stanza("s"), stanza("a", "Conflicts: s"))
    with pytest.raises(Die, match=r"'s' and 'a' conflict"):
        select(pkgs, Request(names=("y", "x")), "amd64")
    pkgs = index(stanza("w", "Depends: base, core"), stanza("base", "Depends: nogui"),
                 stanza("core", "Conflicts: nogui"), stanza("nogui"))
    with pytest.raises(Die, match=r"cannot install 'w'.*conflict"):
        select(pkgs, Request(names=("w",)), "amd64")


def test_requested_package_is_never_evicted() -> None:
    pkgs = index(stanza("x", "Depends: a"), stanza("s"), stanza("a", "Conflicts: s"))
    with pytest.raises(Die, match=r"'a' and 's' conflict"):
        select(pkgs, Request(names=("s", "x")), "amd64")


# -- multi-arch qualifiers --------------------------------------------------------------

def test_any_qualifier_needs_multi_arch_allowed() -> None:
    ok = index(stanza("x", "Depends: perl:any, v:any"), stanza("perl", "Multi-Arch: allowed"),
               stanza("p", "Multi-Arch: allowed", "Provides: v"))
    assert names(ok, Request(names=("x",))) == ["p", "perl", "x"]
    for target in ("Multi-Arch: foreign", "Multi-Arch: no"):
        bad = index(stanza("x", "Depends: b:any"), stanza("b", target))
        with pytest.raises(Die, match=r"'b:any'.*not Multi-Arch: allowed"):
            select(bad, Request(names=("x",)), "amd64")
    bad = index(stanza("x", "Depends: v:any"), stanza("p", "Multi-Arch: foreign", "Provides: v"))
    with pytest.raises(Die, match=r"'v:any'"):
        select(bad, Request(names=("x",)), "amd64")


def test_native_and_explicit_arch_qualifiers() -> None:
    pkgs = index(stanza("x", "Depends: a:native, b:amd64, c:i386 | d"), stanza("a"), stanza("b", arch="all"),
                 stanza("c"), stanza("d"))
    assert names(pkgs, Request(names=("x",))) == ["a", "b", "d", "x"]


# -- the request, exclude and errors -------------------------------------------------------------

def test_essential_and_priority_requests() -> None:
    pkgs = index(
        stanza("e1", "Essential: yes", "Priority: required", "Depends: lib"),
        stanza("lib", "Priority: optional"),
        stanza("r1", "Priority: required"),
        stanza("i1", "Priority: important"),
        stanza("o1", "Priority: optional"),
    )
    assert names(pkgs, Request(essential=True)) == ["e1", "lib"]
    assert names(pkgs, Request(essential=True, priorities=("required",))) == ["e1", "lib", "r1"]
    assert names(pkgs, Request(priorities=("required", "important"))) == ["e1", "i1", "lib", "r1"]


def test_exclude_skips_alternative_and_seed() -> None:
    pkgs = index(stanza("x", "Depends: a | b"), stanza("a", "Priority: required"), stanza("b"))
    assert names(pkgs, Request(priorities=("required",), names=("x",), exclude=("a",))) == ["b", "x"]


def test_dependency_only_met_by_excluded_is_an_error() -> None:
    pkgs = index(stanza("x", "Depends: a"), stanza("a"))
    with pytest.raises(Die, match=r"'x' depends on 'a': 'a' is excluded"):
        select(pkgs, Request(names=("x",), exclude=("a",)), "amd64")
    with pytest.raises(Die, match=r"'a'.*excluded"):
        select(pkgs, Request(names=("a",), exclude=("a",)), "amd64")


def test_unknown_package_error() -> None:
    pkgs = index(stanza("x"))
    with pytest.raises(Die) as exc:
        select(pkgs, Request(names=("foo",)), "amd64", where="bookworm main amd64")
    assert exc.value.message == "package 'foo' not found in bookworm main amd64"


def test_unsatisfiable_dependency_error_names_package_and_dependency() -> None:
    pkgs = index(stanza("x", "Depends: y"), stanza("y", "Depends: libz (>= 2) | libzz"))
    with pytest.raises(Die) as exc:
        select(pkgs, Request(names=("x",)), "amd64", where="bookworm main amd64")
    message = exc.value.message
    assert "\n" not in message
    assert message.startswith("cannot install 'x'")
    assert "'y' depends on 'libz (>= 2) | libzz'" in message
    assert "package 'libz' not found in bookworm main amd64" in message


def test_result_is_sorted_and_stable() -> None:
    pkgs = index(stanza("zed", "Depends: alpha, mid"), stanza("mid"), stanza("alpha"))
    first = names(pkgs, Request(names=("zed",)))
    assert first == ["alpha", "mid", "zed"] == names(pkgs, Request(names=("zed",)))
