"""The pacman family's sync database reader and its choices, which must be
pacman's: exact names first, then providers by repository order and name."""
from __future__ import annotations

import io
import tarfile

import pytest
import zstandard

from bootstrap.errors import Die
from bootstrap.families.pacman.select import Repos, select
from bootstrap.families.pacman.syncdb import SyncDb, parse_db
from realdata import real

REAL = real("arch", "sync-db")


def _desc(name: str, version: str = "1.0-1", **lists: list[str]) -> str:
    out = {"FILENAME": [f"{name}-{version}-x86_64.pkg.tar.zst"], "NAME": [name],
           "VERSION": [version], "CSIZE": ["100"], "SHA256SUM": ["ab" * 32], "ARCH": ["x86_64"]}
    for key, values in lists.items():
        out[key.upper()] = values
    return "".join(f"%{k}%\n" + "".join(f"{v}\n" for v in vs) + "\n" for k, vs in out.items())


def _db(entries: dict[str, str], compress: str = "gz") -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for dirname, text in entries.items():
            info = tarfile.TarInfo(f"{dirname}/")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            data = text.encode()
            info = tarfile.TarInfo(f"{dirname}/desc")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if compress == "zst":
        return zstandard.ZstdCompressor().compress(raw.getvalue())
    import gzip
    return gzip.compress(raw.getvalue())


def _repo(repo: str, *descs: tuple[str, str], compress: str = "gz") -> SyncDb:
    data = _db({f"{n}-1.0-1": d for n, d in descs}, compress)
    return parse_db(data, repo, f"{repo}.db")


def pkg(name: str, version: str = "1.0-1", **lists: list[str]) -> tuple[str, str]:
    return name, _desc(name, version, **lists)


def names(sel) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in sel.packages]


def test_reader_takes_gzip_and_zstd_and_sorts_by_name():
    for compress in ("gz", "zst"):
        pkgs = _repo("core", pkg("zlib"), pkg("acl", depends=["zlib>=1.2"],
                                              provides=["libacl.so=1-64"]),
                     compress=compress).packages
        assert [p.name for p in pkgs] == ["acl", "zlib"]
        acl = pkgs[0]
        assert str(acl.depends[0]) == "zlib>=1.2"
        assert str(acl.provides[0]) == "libacl.so=1-64"
        assert acl.relpath == "core/acl-1.0-1-x86_64.pkg.tar.zst"


def test_a_damaged_database_is_an_error_not_a_crash():
    with pytest.raises(ValueError, match="core.db"):
        parse_db(b"\x1f\x8bnot really gzip", "core", "core.db")


def test_an_entry_without_a_checksum_is_set_aside_and_named_when_asked_for():
    db = parse_db(_db({"x-1-1": "%NAME%\nx\n\n%VERSION%\n1-1\n\n%FILENAME%\nx.pkg\n\n",
                       "y-1.0-1": _desc("y")}), "core", "core.db")
    assert [p.name for p in db.packages] == ["y"] and "SHA256" in db.refused["x"]
    repos = Repos([db, _repo("extra", pkg("z", depends=["x"]))])
    with pytest.raises(Die, match=r"'x' cannot be installed from t: core.db: no SHA256"):
        select(repos, ["x"], "t")
    with pytest.raises(Die, match=r"cannot satisfy dependency x <- z from t \(core.db: no SHA256"):
        select(repos, ["z"], "t")


def test_malformed_dependencies_are_read_as_libalpm_reads_them():
    # 'gconf>' (an operator, no version) is in real databases; libalpm reads it as
    # gconf above the empty version, and only a package that needs it can fail
    repos = Repos([_repo("extra", pkg("oddball", depends=["gconf>", "<=2", "nothere<"]),
                         pkg("gconf", "3.2-1"), pkg("app", depends=["gconf"]),
                         pkg("picky", depends=["gconf<"]))])
    assert names(select(repos, ["app"], "t")) == ["gconf", "app"]
    with pytest.raises(Die) as e:
        select(repos, ["picky"], "t")
    assert "%DEPENDS% of picky in extra.db reads 'gconf<'" in e.value.message
    with pytest.raises(Die) as e:       # gconf> is met; a dependency without a name is not
        select(repos, ["oddball"], "t")
    assert "%DEPENDS% of oddball in extra.db reads '<=2'" in e.value.message


def test_provider_by_repository_order_then_name():
    repos = Repos([
        _repo("core", pkg("zz-virt", provides=["virt"]), pkg("bb", provides=["other"]),
              pkg("ab", provides=["other"])),
        _repo("extra", pkg("aa-virt", provides=["virt"]),
              pkg("user", depends=["virt", "other"])),
    ])
    assert names(select(repos, ["user"], "test")) == ["zz-virt", "ab", "user"]


def test_exact_name_beats_provider_unless_its_version_does_not_fit():
    repos = Repos([_repo("core", pkg("sh", "1.0-1"), pkg("bash", "5.2-1", provides=["sh=5.2"]),
                         pkg("a", depends=["sh"]), pkg("b", depends=["sh>=2"]))])
    assert names(select(repos, ["a"], "t")) == ["sh", "a"]
    assert names(select(repos, ["b"], "t")) == ["bash", "b"]


def test_an_unversioned_provision_does_not_satisfy_a_versioned_dependency():
    repos = Repos([_repo("core", pkg("p", provides=["thing"]), pkg("q", depends=["thing>=1"]))])
    with pytest.raises(Die, match=r"cannot satisfy dependency thing>=1 <- q"):
        select(repos, ["q"], "t")


def test_a_target_already_chosen_satisfies_later_dependencies():
    repos = Repos([_repo("core", pkg("aa", provides=["virt"]), pkg("zz", provides=["virt"]),
                         pkg("user", depends=["virt"]))])
    sel = select(repos, ["user", "zz"], "t")
    assert sorted(names(sel)) == ["user", "zz"]
    assert sel.explicit == {"user", "zz"}


def test_groups_repo_prefix_and_provision_targets():
    repos = Repos([_repo("core", pkg("g1", groups=["grp"]), pkg("g2", groups=["grp"]),
                         pkg("bash", provides=["sh"])),
                   _repo("extra", pkg("g1", "2.0-1"))])
    sel = select(repos, ["grp"], "t")
    assert names(sel) == ["g1", "g2"] and sel.explicit == {"g1", "g2"}
    assert [p.version for p in select(repos, ["extra/g1"], "t").packages] == ["2.0-1"]
    assert names(select(repos, ["sh"], "t")) == ["bash"]
    with pytest.raises(Die, match="no package or group 'nope'"):
        select(repos, ["nope"], "t")
    with pytest.raises(Die, match="no repository 'community'"):
        select(repos, ["community/g1"], "t")


def test_install_order_puts_dependencies_first_and_survives_cycles():
    repos = Repos([_repo("core", pkg("app", depends=["lib", "glibc"]),
                         pkg("lib", depends=["glibc"]), pkg("glibc", depends=["filesystem"]),
                         pkg("filesystem", depends=["iana"]), pkg("iana", depends=["filesystem"]))])
    order = names(select(repos, ["app"], "t"))
    assert set(order) == {"app", "lib", "glibc", "filesystem", "iana"}
    for before, after in (("lib", "app"), ("glibc", "lib"), ("filesystem", "glibc")):
        assert order.index(before) < order.index(after)


def test_conflicts_are_refused_in_both_directions_and_through_provides():
    repos = Repos([_repo("core", pkg("a", conflicts=["virt"]), pkg("b", provides=["virt"]),
                         pkg("top", depends=["a", "b"]))])
    with pytest.raises(Die, match="a and b are in conflict"):
        select(repos, ["top"], "t")


def test_excluded_packages_are_never_picked():
    repos = Repos([_repo("core", pkg("aa", provides=["virt"]), pkg("zz", provides=["virt"]),
                         pkg("user", depends=["virt"]))], exclude=["aa"])
    assert names(select(repos, ["user"], "t")) == ["zz", "user"]


@pytest.mark.skipif(not REAL.is_dir(), reason="no real Arch databases on this machine")
def test_real_arch_databases_parse():
    counts = {}
    for path in sorted(REAL.glob("*/*.db")):
        db = parse_db(path.read_bytes(), path.stem, str(path))
        pkgs = db.packages
        assert not db.refused, db.refused
        counts[f"{path.parent.name}/{path.name}"] = len(pkgs)
        assert all(p.digest.algorithm == "sha256" and p.filename.startswith(p.name)
                   for p in pkgs)
        glibc = [p for p in pkgs if p.name == "glibc"]
        if glibc:
            assert any(d.name == "filesystem" for d in glibc[0].depends)
    assert counts["2019-06-alpm.rs/core.db"] == 231
    assert counts["2025-09-insanelinux-regenerated/core.db"] == 271


def test_entries_whose_names_would_make_paths_are_refused():
    for name, filename in (("../../etc", "x.pkg.tar.zst"), ("ok", "../x.pkg.tar.zst"),
                           (".hidden", "x.pkg.tar.zst")):
        text = _desc(name).replace(f"{name}-1.0-1-x86_64.pkg.tar.zst", filename)
        db = parse_db(_db({"x-1.0-1": text, "ok-1.0-1": _desc("fine")}), "core", "core.db")
        assert [p.name for p in db.packages] == ["fine"]
        assert "refusing the entry" in db.refused[name]
        if "/" not in name:      # (with one it names a repository)
            with pytest.raises(Die, match="would make a path"):
                select(Repos([db]), [name], "t")
