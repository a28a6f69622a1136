"""The Arch fixture mirror itself: makepkg-built packages, repo-add databases, and
the host pacman's reference root that rootstrap's pacman family is compared with."""
from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path

import pytest

import archmirror
from archmirror import ArchMirror


def _bsdtar(*args: str) -> str:
    return subprocess.run(["bsdtar", *args], check=True, stdout=subprocess.PIPE,
                          text=True).stdout


def _pkginfo(pkg: Path) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in _bsdtar("-xOf", str(pkg), ".PKGINFO").splitlines():
        if " = " in line and not line.startswith("#"):
            key, value = line.split(" = ", 1)
            fields.setdefault(key, []).append(value)
    return fields


@pytest.fixture(scope="module")
def reference(arch_mirror: ArchMirror, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, subprocess.CompletedProcess, Path]:
    """(root, pacman's result, workdir): `pacman -S base` by the host pacman."""
    if os.geteuid() != 0:
        pytest.skip("the host pacman installs the reference root only as root")
    work = tmp_path_factory.mktemp("arch-reference")
    root = work / "root"
    proc = archmirror.reference_root(arch_mirror.url, archmirror.REPOS, root, ["base"],
                                     workdir=work / "pacman")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return root, proc, work / "pacman"


def test_packages_are_real_makepkg_output(arch_mirror: ArchMirror) -> None:
    fx = arch_mirror.fixture
    assert fx.packages["hardlinks"].name.endswith(".pkg.tar.xz")
    assert fx.packages["libfoo"].name.endswith(".pkg.tar.gz")
    assert fx.packages["base"].name == "base-3-2-any.pkg.tar.zst"

    members = _bsdtar("-tf", str(fx.packages["scripted"])).split()
    assert {".PKGINFO", ".BUILDINFO", ".MTREE", ".INSTALL"} <= set(members)
    assert ".INSTALL" not in _bsdtar("-tf", str(fx.packages["mailer"])).split()

    info = _pkginfo(fx.packages["foo-app"])
    assert info["depend"] == ["libfoo.so=1-64", "libfoo>=1.0", "busybox-sh>=1.0"]
    assert _pkginfo(fx.packages["libfoo"])["provides"] == ["libfoo.so=1-64"]
    assert _pkginfo(fx.packages["filesystem"])["backup"] == [
        "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"]
    assert _pkginfo(fx.packages["grp-a"])["group"] == ["fixture-group"]

    listing = _bsdtar("-tvf", str(fx.packages["setuid-tool"]))
    assert "-rwsr-xr-x  0 root   root" in listing
    assert "-rwxr-sr-x  0 root   tty" in listing
    fs = _bsdtar("-tvf", str(fx.packages["filesystem"]))
    assert "dr-xr-xr-x  0 root   11 " in fs          # srv/ftp: gid 11 has no host name
    assert "1234   1234" in fs
    links = _bsdtar("-tvf", str(fx.packages["hardlinks"]))
    assert "usr/share/hardlinks/b link to usr/share/hardlinks/a" in links


def test_repositories_are_signed_and_served_as_files(arch_mirror: ArchMirror) -> None:
    fx = arch_mirror.fixture
    assert fx.signer is not None
    for repo, directory in fx.repos.items():
        assert directory == fx.root / repo / "os" / "x86_64"
        for name in (f"{repo}.db", f"{repo}.db.tar.gz", f"{repo}.db.sig", f"{repo}.files"):
            path = directory / name
            assert path.is_file() and not path.is_symlink(), path
        for entry in directory.iterdir():
            assert stat.S_IMODE(entry.stat().st_mode) & 0o444 == 0o444, entry
        pkgs = sorted(p for p in directory.glob("*.pkg.tar.*") if p.suffix != ".sig")
        for sig in [directory / f"{repo}.db", *pkgs]:
            subprocess.run(["gpgv", "--keyring", str(fx.signer.keyring),
                            f"{sig}.sig", str(sig)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    core = archmirror.read_db(fx.repos["core"] / "core.db")
    extra = archmirror.read_db(fx.repos["extra"] / "extra.db")
    assert "aa-virt-1.0-1" in extra and "zz-virt-1.0-1" in core
    assert fx.embedded == ("core",)
    embedded = base64.b64decode(core["libfoo-1.2-1"]["PGPSIG"][0])
    assert embedded == (fx.packages["libfoo"].parent /
                        (fx.packages["libfoo"].name + ".sig")).read_bytes()
    assert all("PGPSIG" not in desc for desc in extra.values())
    assert extra["grp-b-1.0-1"]["GROUPS"] == ["fixture-group"]
    print(f"\narch fixture built in {fx.build_seconds:.1f} s")


def test_reference_root_installs_the_expected_set(reference: tuple) -> None:
    root, proc, _ = reference
    names = archmirror.host_pacman(root, "-Qq").stdout.split()
    assert set(names) == set(archmirror.BASE_CLOSURE)
    assert "zz-virt" in names and "aa-virt" not in names   # repository order first
    assert "ab-other" in names and "bb-other" not in names  # then name order
    assert not {"grp-a", "grp-b"} & set(names)


def test_reference_root_is_consistent(reference: tuple) -> None:
    root, _, _ = reference
    check = archmirror.host_pacman(root, "-Qk")
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert len(lines) == len(archmirror.BASE_CLOSURE)
    assert all(line.endswith(" 0 missing files") for line in lines), check.stdout
    deps = archmirror.host_pacman(root, "-Dk")
    assert deps.returncode == 0, deps.stdout + deps.stderr


def test_reference_root_ran_scriptlets_and_hooks(reference: tuple) -> None:
    root, proc, work = reference
    # scripted's scriptlets ran (busybox-sh, its dependency, was unpacked before);
    # filesystem's post_install did not: no /bin/sh existed yet. pacman 6.0.2 tries
    # anyway, logs "call to execv failed", and carries on.
    assert (root / "var/lib/fixture/scriptlets.log").read_text() == \
        "pre_install 1.0-1\npost_install 1.0-1\n"
    assert (root / "etc/scripted.conf").read_text() == "configured = yes\n"
    assert "call to execv failed" in (work / "pacman.log").read_text()
    # The hook came from the target's usr/share/libalpm/hooks, installed in this very
    # transaction; NeedsTargets passes the matched paths sorted, the directory
    # usr/share/fixture/ itself included, skip-me excluded.
    assert (root / "var/lib/fixture/hook.log").read_text() == (
        "usr/share/fixture/\nusr/share/fixture/one\nusr/share/fixture/three\n"
        "usr/share/fixture/two\n")
    assert "Recording fixture files..." in proc.stdout


def test_reference_root_keeps_owners_modes_and_links(reference: tuple) -> None:
    root, _, _ = reference

    def mode(rel: str) -> int:
        return stat.S_IMODE((root / rel).lstat().st_mode)

    assert mode("usr/bin/fixture-su") == 0o4755
    assert mode("usr/bin/fixture-wall") == 0o2755
    assert (root / "usr/bin/fixture-wall").stat().st_gid == archmirror.TTY_GID
    ftp = (root / "srv/ftp").stat()
    assert (ftp.st_uid, ftp.st_gid, stat.S_IMODE(ftp.st_mode)) == (0, archmirror.FTP_GID,
                                                                    0o555)
    hello = (root / "home/fixture/hello.txt").stat()
    assert (hello.st_uid, hello.st_gid) == (archmirror.FIXTURE_UID, archmirror.FIXTURE_GID)
    assert mode("tmp") == 0o1777 and mode("root") == 0o750 and mode("etc/shadow") == 0o600
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/bin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib"), ("usr/sbin", "bin"),
                         ("usr/bin/sh", "busybox")):
        assert os.readlink(root / link) == target
    a, b = (root / "usr/share/hardlinks/a").stat(), (root / "usr/share/hardlinks/b").stat()
    assert a.st_ino == b.st_ino and a.st_nlink == 2
    assert (root / "usr/bin/busybox").read_bytes() == Path("/bin/busybox").read_bytes()


def test_build_repo_variants(arch_mirror: ArchMirror, tmp_path: Path) -> None:
    fx = arch_mirror.fixture
    pkgs = [fx.packages["mailer"], fx.packages["libfoo"]]
    plain = archmirror.build_repo(tmp_path / "plain", "core", "x86_64", pkgs, None)
    assert sorted(p.name for p in plain.iterdir()) == sorted(
        [*(p.name for p in pkgs), "core.db", "core.db.tar.gz", "core.files",
         "core.files.tar.gz"])
    assert all("PGPSIG" not in d for d in archmirror.read_db(plain / "core.db").values())

    unsigned_db = archmirror.build_repo(tmp_path / "pkgsigs", "core", "x86_64", pkgs,
                                        fx.signer, embed_sigs=False, sign_db=False)
    assert not (unsigned_db / "core.db.sig").exists()
    assert all((unsigned_db / (p.name + ".sig")).is_file() for p in pkgs)
    assert all("PGPSIG" not in d
               for d in archmirror.read_db(unsigned_db / "core.db").values())
