"""The rpm family's choices on small made-up repositories: ranges, file
provides, rich dependencies, obsoletes, conflicts, weak dependencies and the
order rpm installs in."""
from __future__ import annotations

import pytest

from bootstrap.digest import Digest
from bootstrap.errors import Die
from bootstrap.families.rpm.repodata import Dep, RpmPackage
from bootstrap.families.rpm.select import Pool, select


def pkg(name: str, evr: str = "1.0-1", arch: str = "x86_64", files=(), **deps) -> RpmPackage:
    epoch, _, vr = evr.rpartition(":")
    version, _, release = vr.partition("-")
    entries = {}
    for kind, values in deps.items():
        out = []
        for v in values:
            pre = v.startswith("pre:")
            v = v[4:] if pre else v
            words = v.split()
            if len(words) == 3 and not v.startswith("("):
                flags = {"=": "EQ", ">=": "GE", "<=": "LE", "<": "LT", ">": "GT"}[words[1]]
                e, _, vr2 = words[2].rpartition(":")
                ver, _, rel = vr2.partition("-")
                out.append(Dep(words[0], flags, e or "0", ver, rel or None, pre))
            else:
                out.append(Dep(v, pre=pre))
        entries[kind] = out
    return RpmPackage(name, arch, int(epoch or 0), version, release,
                      Digest("sha256", "ab" * 32), f"Packages/{name}.rpm", 1,
                      deps=entries, files=list(files))


def names(pool: Pool, *asked: str, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in select(pool, asked, "test", **kw).packages]


def test_newest_in_range_native_arch_and_pre_requirements_first():
    pool = Pool([pkg("lib", "1.0-1"), pkg("lib", "2.0-1"), pkg("lib", "3.0-1", arch="i686"),
                 pkg("shell", files=["/bin/sh"]),
                 pkg("app", requires=["lib < 2.0", "pre:/bin/sh"])], "x86_64")
    picked = select(pool, ["app"], "t").packages
    assert [(p.name, p.version) for p in picked] == [("shell", "1.0"), ("lib", "1.0"),
                                                     ("app", "1.0")]


def test_file_provides_come_from_filelists_when_primary_lacks_them():
    asked: list[str] = []

    def full(path: str) -> list[str]:
        asked.append(path)
        return ["tool-1.0-1.x86_64"] if path == "/usr/libexec/tool/helper" else []

    pool = Pool([pkg("tool"), pkg("user", requires=["/usr/libexec/tool/helper"])],
                "x86_64", full)
    assert names(pool, "user") == ["tool", "user"]
    assert asked == ["/usr/libexec/tool/helper"]


def test_rich_dependencies():
    pool = Pool([pkg("a"), pkg("b"), pkg("c"), pkg("lang"),
                 pkg("either", requires=["(a or b)"]),
                 pkg("both", requires=["(b and c)"]),
                 pkg("maybe", requires=["(lang if c)"]),
                 pkg("notif", requires=["(lang unless c)"])], "x86_64")
    assert names(pool, "either") == ["a", "either"]
    assert sorted(names(pool, "both")) == ["b", "both", "c"]
    assert names(pool, "maybe") == ["maybe"]
    assert sorted(names(pool, "maybe", "c")) == ["c", "lang", "maybe"]   # the condition came true
    assert sorted(names(pool, "notif")) == ["lang", "notif"]
    assert sorted(names(pool, "(a or b)", "b")) == ["b"]


def test_provider_choice_obsoletes_and_conflicts():
    pool = Pool([pkg("coreutils", provides=["coreutils-common"]),
                 pkg("coreutils-single", provides=["coreutils"]),
                 pkg("old-thing"), pkg("new-thing", provides=["old-thing = 1.0-1"],
                                       obsoletes=["old-thing < 2"]),
                 pkg("user", requires=["old-thing"]),
                 pkg("x", conflicts=["y"]), pkg("y")], "x86_64")
    assert names(pool, "coreutils") == ["coreutils"]              # the package of that name
    assert names(pool, "user") == ["new-thing", "user"]           # obsoletes are followed
    with pytest.raises(Die, match="x-1.0-1.x86_64 conflicts with y-1.0-1.x86_64"):
        select(pool, ["x", "y"], "t")
    with pytest.raises(Die, match="cannot satisfy dependency nothere <- the request"):
        select(pool, ["nothere"], "t")


def test_weak_dependencies_only_when_asked():
    pool = Pool([pkg("app", recommends=["docs"]), pkg("docs"),
                 pkg("app-lang", supplements=["(app and lang)"]), pkg("lang")], "x86_64")
    assert names(pool, "app") == ["app"]
    assert sorted(names(pool, "app", weak=True)) == ["app", "docs"]
    assert sorted(names(pool, "app", "lang", weak=True)) == ["app", "app-lang", "docs", "lang"]
