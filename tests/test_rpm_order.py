"""rpm 4.18's install order (lib/order.c) on small made-up transactions. The
orders expected of rpm here are what the host's rpm 4.18 itself gave
(rpmtsOrder through its Python bindings, on headers carrying the same
dependencies, the same transaction in the same order)."""
from __future__ import annotations

import pytest

from bootstrap.digest import Digest
from bootstrap.families.rpm.order import dnf_sequence, elf64_color, install_order
from bootstrap.families.rpm.repodata import Dep, RpmPackage
from bootstrap.families.rpm.select import Pool


def pkg(name: str, requires: str = "", provides: str = "", files: str = "",
        arch: str = "noarch", **weak: str) -> RpmPackage:
    """Dependencies as comma-separated lists; "pre:" marks Requires(pre)
    (primary.xml's pre="1"); "name = 2" gives a provide a version."""
    def deps(text: str) -> list[Dep]:
        out = []
        for d in filter(None, (x.strip() for x in text.split(","))):
            pre = d.startswith("pre:")
            d = d[4:] if pre else d
            words = d.split()
            if len(words) == 3 and not d.startswith("("):
                flags = {"=": "EQ", ">=": "GE", "<": "LT"}[words[1]]
                out.append(Dep(words[0], flags, "0", words[2], None, pre))
            else:
                out.append(Dep(d, pre=pre))
        return out
    entries = {"requires": deps(requires),
               "provides": [Dep(name, "EQ", "0", "1", "1")] + deps(provides)}
    for kind, text in weak.items():
        entries[kind] = deps(text)
    return RpmPackage(name, arch, 0, "1", "1", Digest("sha256", "ab" * 32),
                      f"Packages/{name}.rpm", 1, deps=entries, files=files.split())


def order(*packages: RpmPackage) -> list[str]:
    pool = Pool(packages, "x86_64")
    return [p.name for p in install_order(packages, pool.providers)]


# (what it shows, the transaction in the order rpm was given it, rpm's order)
CASES = [
    ("with nothing to go by, the last one added goes first (addQ puts a newcomer "
     "before its equals)",
     [pkg("a"), pkg("b"), pkg("c")], ["c", "b", "a"]),
    ("what more packages require goes first",
     [pkg("a"), pkg("b"), pkg("c", "b"), pkg("d", "b"), pkg("e", "a")],
     ["b", "a", "e", "c", "d"]),
    ("a package goes after what it requires",
     [pkg("app", "lib"), pkg("lib", "base"), pkg("base")], ["base", "lib", "app"]),
    ("what a package frees joins the queue behind it, ahead of others as little "
     "required",
     [pkg("x"), pkg("base"), pkg("lib", "base")], ["base", "lib", "x"]),
    ("a loop is broken so that a Requires(pre) holds",
     [pkg("a", "b"), pkg("b", "pre:a")], ["a", "b"]),
    ("...whichever order the loop came in",
     [pkg("b", "pre:a"), pkg("a", "b")], ["a", "b"]),
    ("a loop without pre-requirements starts with the last member Tarjan met",
     [pkg("a", "b"), pkg("b", "a")], ["b", "a"]),
    ("...so the transaction order decides it",
     [pkg("b", "a"), pkg("a", "b")], ["a", "b"]),
    ("in a loop the member farthest from a pre-requirer goes first",
     [pkg("a", "pre:b"), pkg("b", "c"), pkg("c", "a")], ["c", "b", "a"]),
    ("...counting from the nearest pre-requirer",
     [pkg("a", "pre:b"), pkg("b", "c"), pkg("c", "d"), pkg("d", "e"), pkg("e", "pre:a")],
     ["d", "c", "b", "a", "e"]),
    ("a loop waits for what it requires outside itself",
     [pkg("a", "b, base"), pkg("b", "a"), pkg("base"), pkg("z")],
     ["base", "b", "a", "z"]),
    ("Recommends order like Requires (the fixture's fixd and fixd-extras: a loop, "
     "broken where the pre-requirements point)",
     [pkg("bash", "filesystem", "/bin/sh"), pkg("coreutils", "pre:/bin/sh, bash"),
      pkg("filesystem", "pre:setup"),
      pkg("fixd", "(fixd-selinux if selinux-policy), /bin/sh, pre:/bin/sh, "
                  "pre:/usr/bin/adduser, pre:coreutils, libfoo.so.1()(64bit)",
          recommends="fixd-extras"),
      pkg("fixd-extras", "fixd"),
      pkg("glibc", "/bin/sh, filesystem", "libc.so.6()(64bit)"),
      pkg("setup"), pkg("libfoo", "libc.so.6()(64bit)", "libfoo.so.1()(64bit)")],
     ["setup", "filesystem", "bash", "coreutils", "glibc", "libfoo", "fixd-extras", "fixd"]),
    ("the local fixture's @core, in dnf's pool order, as dnf and rpm 4.18 installed it",
     [pkg("bash", "filesystem", "/bin/sh", "/usr/bin/bash /usr/bin/busybox /usr/bin/sh"),
      pkg("coreutils", "pre:/bin/sh, bash"), pkg("fedora-release", "fedora-release-common"),
      pkg("fedora-release-common", "fedora-repos", "system-release"), pkg("fedora-repos"),
      pkg("filesystem", "pre:setup"),
      pkg("glibc", "/bin/sh, filesystem", "libc.so.6()(64bit)"),
      pkg("rootfiles"), pkg("setup"),
      pkg("dnf5", "(fedora-release or system-release), /usr/bin/sh, libfoo.so.1()(64bit), "
                  "libc.so.6()(64bit)", "dnf"),
      pkg("libfoo", "libc.so.6()(64bit)", "libfoo.so.1()(64bit)")],
     ["setup", "filesystem", "bash", "glibc", "libfoo", "fedora-repos",
      "fedora-release-common", "fedora-release", "dnf5", "coreutils", "rootfiles"]),
    ("Suggests order too",
     [pkg("y"), pkg("x", suggests="y")], ["y", "x"]),
    ("Supplements point back: the supplementing package goes first",
     [pkg("y"), pkg("x", supplements="y")], ["x", "y"]),
    ("...and Enhances",
     [pkg("y"), pkg("x", enhances="y")], ["x", "y"]),
    ("a rich `or` orders by every alternative present",
     [pkg("x", "(a or b)"), pkg("a"), pkg("b")], ["b", "a", "x"]),
    ("...`and` by every operand",
     [pkg("x", "(a and b)"), pkg("a"), pkg("b")], ["b", "a", "x"]),
    ("...`if` only by what it requires, not by its condition",
     [pkg("x", "(a if b)"), pkg("a"), pkg("b")], ["a", "x", "b"]),
    ("...nor by its `else`",
     [pkg("c"), pkg("x", "(a if b else c)"), pkg("a"), pkg("b")], ["a", "x", "b", "c"]),
    ("...`unless` likewise",
     [pkg("x", "(a unless b)"), pkg("a"), pkg("b")], ["a", "x", "b"]),
    ("...`with` and `without` by their first operand",
     [pkg("x", "(a with b)"), pkg("y", "(c without d)"), pkg("a"), pkg("b"), pkg("c"),
      pkg("d")], ["c", "a", "x", "y", "d", "b"]),
    ("...nested",
     [pkg("x", "((a if b else c) or d)"), pkg("a"), pkg("b"), pkg("c"), pkg("d")],
     ["d", "a", "x", "c", "b"]),
    ("a pre-requirement through a rich dependency breaks a loop",
     [pkg("a", "x"), pkg("x", "pre:(a or b)")], ["a", "x"]),
    ("a package meeting its own dependency needs no other provider",
     [pkg("other", provides="cap"), pkg("me", "cap", provides="cap"), pkg("z")],
     ["z", "me", "other"]),
    ("of several providers, the first in the transaction is the one",
     [pkg("x", "cap"), pkg("p1", provides="cap"), pkg("p2", provides="cap")],
     ["p1", "x", "p2"]),
    ("...among those whose version fits",
     [pkg("x", "cap >= 2"), pkg("p1", provides="cap = 1"), pkg("p2", provides="cap = 2")],
     ["p2", "x", "p1"]),
    ("a path goes to a package holding the file before one only providing it",
     [pkg("x", "/usr/bin/tool"), pkg("says", provides="/usr/bin/tool"),
      pkg("has", files="/usr/bin/tool")], ["has", "x", "says"]),
    ("...and to one providing it when none holds it",
     [pkg("x", "/usr/bin/tool"), pkg("says", provides="/usr/bin/tool"), pkg("z")],
     ["says", "x", "z"]),
    ("two dependencies on one package make one relation (q, required once, "
     "waits behind z, required twice)",
     [pkg("z"), pkg("w1", "z"), pkg("w2", "z"), pkg("y", "q, qcap"),
      pkg("q", provides="qcap")], ["z", "q", "y", "w1", "w2"]),
    ("...but a repeated reverse dependency counts twice",
     [pkg("z"), pkg("w1", "z"), pkg("w2", "z"), pkg("y", provides="ycap"),
      pkg("x", supplements="y, ycap")], ["x", "z", "w1", "w2", "y"]),
    ("...and one against a requirement merges into it: no loop",
     [pkg("y"), pkg("x", "y", supplements="y")], ["y", "x"]),
    ("pre-requirements and plain ones together, no loop: all before their requirers",
     [pkg("svc", "pre:shadow, pre:/bin/sh, lib"), pkg("shadow", "lib"),
      pkg("bash", "lib", "/bin/sh"), pkg("lib", "pre:/bin/sh")],
     ["bash", "lib", "shadow", "svc"]),
]


@pytest.mark.parametrize("transaction,expected", [(c[1], c[2]) for c in CASES],
                         ids=[c[0][:60] for c in CASES])
def test_rpm_orders_so(transaction, expected):
    assert order(*transaction) == expected


def test_colours_prefer_a_64_bit_provider_over_the_package_itself():
    # rpmalSatisfiesDepend: the preferred colour scores 2, being self-provided 1
    # (checked against rpm 4.18 on packages rpmbuild made)
    packages = [pkg("elf", provides="cap", requires="libc.so.6()(64bit)"),
                pkg("me", "cap", provides="cap")]
    pool = Pool(packages, "x86_64")
    assert elf64_color(packages[0]) == 2 and elf64_color(packages[1]) == 0
    with_colours = install_order(packages, pool.providers, elf64_color)
    assert [p.name for p in with_colours] == ["elf", "me"]
    # without, "me" needs nothing: no relation, the latest added first
    assert [p.name for p in install_order(packages, pool.providers)] == ["me", "elf"]


def test_a_package_of_another_colour_waits_behind_the_others():
    # addQ: a non-preferred colour (1: ELF32) only goes before its own colour
    packages = [pkg("a"), pkg("b"), pkg("c")]
    pool = Pool(packages, "x86_64")
    colours = {"a": 0, "b": 0, "c": 1}
    got = install_order(packages, pool.providers, lambda p: colours[p.name])
    assert [p.name for p in got] == ["b", "a", "c"]


def test_only_packages_in_the_transaction_meet_a_dependency():
    a, lib, other = pkg("a", "lib"), pkg("lib"), pkg("lib")  # other: not installed
    pool = Pool([a, lib, other], "x86_64")
    got = install_order([lib, a], lambda d: [p for p in pool.providers(d) if p is not lib])
    assert [p.name for p in got] == ["a", "lib"]              # no relation: latest first
    got = install_order([lib, a], lambda d: [other] + pool.providers(d))
    assert [p.name for p in got] == ["lib", "a"]


def test_dnf_adds_packages_in_pool_order():
    # repositories in the order dnf loads them, each in its primary's order;
    # neither the request's order nor the names count
    first, second = [pkg("zed"), pkg("alpha")], [pkg("mid"), pkg("beta")]
    pool_order = first + second
    chosen = [second[1], first[1], second[0], first[0]]
    got = dnf_sequence(chosen, pool_order)
    assert [p.name for p in got] == ["zed", "alpha", "mid", "beta"]


def test_a_long_chain_and_a_big_loop_are_no_trouble():
    n = 3000
    chain = [pkg(f"p{i}", f"p{i + 1}" if i + 1 < n else "") for i in range(n)]
    assert order(*chain) == [f"p{i}" for i in reversed(range(n))]
    ring = [pkg(f"r{i}", f"r{(i + 1) % n}") for i in range(n)]
    # no pre-requirement: the last member Tarjan met (walking back from r0) goes
    # first, then each after what it requires (as rpm 4.18 has it)
    assert order(*ring) == ["r1", "r0"] + [f"r{i}" for i in range(n - 1, 1, -1)]
