"""Arch trees from the local fixture mirror (archmirror), built as unprivileged
users and judged by the host's own pacman and a reference root it installs."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

import archmirror
from archmirror import ArchMirror, host_pacman, reference_root
from debmirror import MirrorServer
from manifest import tar_manifest, tree_manifest
from refusal import refused

# What legitimately differs between a rootstrap tree and the host pacman's
# reference root (see README, "Arch: what differs from pacman's own install"):
DIFFERENT = {
    # seeded by rootstrap for every distribution; the reference root has none
    "etc/hostname", "etc/hosts", "etc/machine-id", "etc/resolv.conf",
    "etc/pacman.d",
    # rootstrap records a container's /dev and leaves /proc and /sys to mount on
    # (Arch's real filesystem package ships all three; the fixture's does not)
    "dev", "proc", "sys",
    # the package cache pacman uses: the reference root was given one elsewhere
    "var/cache",
    # the reference installs with SigLevel = Never and so fetches no database
    # signature; pacman verifying them keeps them beside the databases, as rootstrap
    "var/lib/pacman/sync/core.db.sig", "var/lib/pacman/sync/extra.db.sig",
    # the fixture's pacman-key stand-in logs that rootstrap set up the keyring
    "var/lib/fixture/pacman-key.log",
}
# per package: the install date and how the package was validated (the reference
# installs with SigLevel = Never, rootstrap verifies every signature)
DESC = "var/lib/pacman/local/*/desc"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(mirror: ArchMirror, *extra: object) -> list[object]:
    return ["--mirror", mirror.server_line, "--keyring", mirror.keyring, *extra]


def _explain(paths: list[str], tarball: Path, reference: Path) -> str:
    """What differs, with a diff where both sides are short text files."""
    import difflib
    out = []
    with tarfile.open(tarball) as tar:
        for path in paths[:5]:
            ref = reference / path
            try:
                f = tar.extractfile(f"./{path}") or tar.extractfile(path)
                ours = f.read().decode() if f else ""
                theirs = ref.read_text()
            except (KeyError, UnicodeDecodeError, OSError):
                out.append(f"{path}: differs")
                continue
            out.append("".join(difflib.unified_diff(theirs.splitlines(True),
                                                    ours.splitlines(True),
                                                    f"reference/{path}", f"rootstrap/{path}")))
    return "\n".join(out)


def _differs(path: str) -> bool:
    from fnmatch import fnmatch
    return any(path == d or path.startswith(d + "/") for d in DIFFERENT) or fnmatch(path, DESC)


@pytest.fixture(scope="module")
def reference(arch_mirror: ArchMirror, session_dir: Path) -> Path:
    """The host pacman's own install of base from the fixture mirror (as root)."""
    if os.geteuid() != 0:
        pytest.skip("the host pacman installs the reference root only as root")
    root = session_dir / "arch-reference"
    if not root.exists():
        proc = reference_root(arch_mirror.url, archmirror.REPOS, root, ["base"],
                              workdir=session_dir / "arch-reference-work")
        assert proc.returncode == 0, proc.stderr
    return root


def test_base_tree_satisfies_the_host_pacman(user, arch_mirror, reference):
    tree = user.path("arch")
    proc = user.run("arch", tree, *_args(arch_mirror), "--json", check=True)
    result = json.loads(proc.stdout)
    assert result["distro"] == "arch" and result["variant"] == "base"

    check = host_pacman(tree, "-Qk")
    assert check.returncode == 0, check.stdout + check.stderr
    assert " 0 missing files" in check.stdout and "warning" not in check.stderr
    check = host_pacman(tree, "-Dk")
    assert check.returncode == 0, check.stdout + check.stderr
    assert host_pacman(tree, "-Q").stdout == host_pacman(reference, "-Q").stdout
    assert host_pacman(tree, "-Qqe").stdout == host_pacman(reference, "-Qqe").stdout == "base\n"
    assert sorted(p["name"] for p in result["packages"]) == \
        sorted(host_pacman(reference, "-Qq").stdout.split())
    # and the tree can be entered as root with the best backend the user has
    entered = user.run("run", tree, "--", "/usr/bin/id", "-u", check=True)
    assert entered.stdout.strip() == "0"


def test_scriptlets_hooks_and_keyring_ran_once_after_unpacking(user, arch_mirror, reference):
    tree = user.path("arch")
    user.run("arch", tree, *_args(arch_mirror), check=True)
    for log in (archmirror.SCRIPTLET_LOG, archmirror.HOOK_LOG):
        ours = (tree / log.lstrip("/")).read_text()
        assert ours == (reference / log.lstrip("/")).read_text()
    # the hook saw files of a package unpacked after the one that ships it
    assert "usr/share/fixture/three\n" in (tree / archmirror.HOOK_LOG.lstrip("/")).read_text()
    keylog = (tree / archmirror.PACMAN_KEY_LOG.lstrip("/")).read_text().splitlines()
    assert keylog == ["--init", "--populate"]
    # the keyring stays, the secret of the tree's local key does not
    assert (tree / "etc/pacman.d/gnupg/pubring.gpg").is_file()
    assert not (tree / "etc/pacman.d/gnupg/private-keys-v1.d").exists()


def test_tree_equals_the_reference_root_but_for_the_documented_list(user, arch_mirror,
                                                                     reference):
    mode = f"userns-{'full' if user.kind == 'mapped' else 'single'}"
    _compare_with_reference(user, arch_mirror, reference, "auto", mode)


def test_ptrace_tree_equals_the_reference_root_too(single_user, arch_mirror, reference):
    _compare_with_reference(single_user, arch_mirror, reference, "ptrace", "ptrace")


def _compare_with_reference(user, arch_mirror, reference, mode, expected):
    tarball = user.path("arch.tar")
    proc = user.run("arch", tarball, *_args(arch_mirror), "--mode", mode, "--json", check=True)
    assert json.loads(proc.stdout)["mode"] == expected
    ours = {p: v for p, v in tar_manifest(tarball).items() if not _differs(p)}
    theirs = {p: v for p, v in tree_manifest(reference).items() if not _differs(p)}
    assert sorted(set(ours) ^ set(theirs)) == [], "\n".join(sorted(set(ours) ^ set(theirs)))
    differ = sorted(p for p in ours if ours[p] != theirs[p])
    assert differ == [], "\n".join(f"{p}: ours {ours[p]}, reference {theirs[p]}"
                                    for p in differ) + _explain(differ, tarball, reference)
    # the interesting owners and modes, spelled out
    assert ours["usr/bin/fixture-su"][1:4] == ("0o4755", 0, 0)
    assert ours["usr/bin/fixture-wall"][1:4] == ("0o2755", 0, archmirror.TTY_GID)
    assert ours["srv/ftp"][2:4] == (0, archmirror.FTP_GID)
    assert ours["etc/shadow"][1] == "0o600"


def test_local_database_entries_differ_only_in_date_and_validation(single_user, arch_mirror,
                                                                    reference):
    tree = single_user.path("arch")
    single_user.run("arch", tree, *_args(arch_mirror), "--no-configure", check=True)

    def fields(desc: Path) -> str:
        blocks = desc.read_text().split("\n\n")
        return "\n\n".join(b for b in blocks
                           if not b.startswith(("%INSTALLDATE%", "%VALIDATION%")))

    local = "var/lib/pacman/local"
    entries = sorted(os.listdir(reference / local))
    assert sorted(os.listdir(tree / local)) == entries
    assert (tree / local / "ALPM_DB_VERSION").read_text() == \
        (reference / local / "ALPM_DB_VERSION").read_text()
    entries.remove("ALPM_DB_VERSION")
    for entry in entries:
        assert fields(tree / local / entry / "desc") == \
            fields(reference / local / entry / "desc"), entry
    assert "%VALIDATION%\npgp\n" in (tree / local / entries[0] / "desc").read_text()
    # --no-configure ran nothing: no scriptlet, no hook, no keyring
    assert not (tree / archmirror.SCRIPTLET_LOG.lstrip("/")).exists()
    assert not (tree / archmirror.HOOK_LOG.lstrip("/")).exists()


# --------------------------------------------------------------------------- refusals

@pytest.fixture
def damaged(arch_mirror: ArchMirror, tmp_path: Path) -> Iterator[tuple[Path, MirrorServer]]:
    """A private copy of the fixture mirror to damage, served on its own port."""
    root = tmp_path / "mirror"
    shutil.copytree(arch_mirror.fixture.root, root, symlinks=True)
    tmp_path.chmod(0o755)
    server = MirrorServer(root)
    yield root, server
    server.close()


def _package(root: Path, repo: str, name: str) -> Path:
    found = [p for p in (root / repo / "os" / "x86_64").iterdir()
             if p.name.startswith(f"{name}-") and p.name.endswith((".zst", ".xz", ".gz"))
             and p.name[len(name) + 1].isdigit()]
    assert len(found) == 1, found
    return found[0]


def test_a_bad_package_signature_isrefused(as_user, arch_mirror, damaged, signer):
    root, server = damaged
    pkg = _package(root, "extra", "virt-user")     # extra: signatures as .sig files
    forged = subprocess.run(["gpg", "--homedir", str(signer.home), "--batch", "--yes",
                             "--pinentry-mode", "loopback", "--passphrase", "",
                             "--detach-sign", "-o", "-"], input=b"something else",
                            capture_output=True, check=True).stdout
    Path(f"{pkg}.sig").write_bytes(forged)
    proc = as_user.run("arch", as_user.path("t"), "--mirror", f"{server.url}/$repo/os/$arch",
                       "--keyring", arch_mirror.keyring, "--cache", as_user.cache)
    refused(as_user, proc, f"extra/{pkg.name}", "BAD signature", server.url)


def test_a_package_that_does_not_match_the_database_isrefused(as_user, arch_mirror, damaged):
    root, server = damaged
    pkg = _package(root, "core", "hardlinks")
    with open(pkg, "ab") as f:
        f.write(b"\0")
    proc = as_user.run("arch", as_user.path("t.tar.zst"), "--mirror", server.url,
                       "--keyring", arch_mirror.keyring, "--cache", as_user.cache)
    refused(as_user, proc, f"core/{pkg.name}", "SHA256", server.url)


def test_an_untrusted_key_isrefused(as_user, arch_mirror, untrusted_signer):
    proc = as_user.run("arch", as_user.path("t"), *_args(arch_mirror)[:2],
                       "--keyring", untrusted_signer.keyring, "--cache", as_user.cache)
    refused(as_user, proc, "core/core.db", arch_mirror.fixture.signer.fingerprint[-16:],
             "not in the trusted keyring")


def test_a_revoked_key_isrefused(as_user, arch_mirror):
    ring = as_user.home / "revoked-keyring"
    shutil.rmtree(ring, ignore_errors=True)
    ring.mkdir()
    fpr = arch_mirror.fixture.signer.fingerprint
    shutil.copy(arch_mirror.keyring, ring / "fixture.gpg")
    (ring / "fixture-trusted").write_text(f"{fpr}:4:\n")
    (ring / "fixture-revoked").write_text(f"{fpr}\n")
    for p in (ring, *ring.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    proc = as_user.run("arch", as_user.path("t"), *_args(arch_mirror)[:2], "--keyring", ring,
                       "--cache", as_user.cache)
    refused(as_user, proc, "core/core.db", fpr, "revoked")


def test_a_package_without_any_signature_isrefused(as_user, arch_mirror, damaged):
    root, server = damaged
    pkg = _package(root, "extra", "virt-user")
    Path(f"{pkg}.sig").unlink()
    proc = as_user.run("arch", as_user.path("t"), "--mirror", server.url,
                       "--keyring", arch_mirror.keyring, "--cache", as_user.cache)
    refused(as_user, proc, f"extra/{pkg.name}", "no signature")


def test_second_mirror_takes_over_and_a_warm_cache_fetches_only_databases(as_user,
                                                                          arch_mirror):
    dead = f"http://127.0.0.1:{_closed_port()}/$repo/os/$arch"
    arch_mirror.reset()
    as_user.run("arch", as_user.path("one"), "--mirror", dead, *_args(arch_mirror),
                "--variant", "minimal", "--cache", as_user.cache, check=True)
    assert any(r.endswith(".pkg.tar.zst") for r in arch_mirror.server.requests)
    mirrorlist = (as_user.path("one") / "etc/pacman.d/mirrorlist").read_text()
    assert f"Server = {arch_mirror.server_line}\n" in mirrorlist

    arch_mirror.reset()
    proc = as_user.run("arch", as_user.path("two"), *_args(arch_mirror), "--variant",
                       "minimal", "--cache", as_user.cache, "--json", check=True)
    assert json.loads(proc.stdout)["downloads"] == 0
    assert sorted(arch_mirror.server.requests) == [
        "/core/os/x86_64/core.db", "/core/os/x86_64/core.db.sig",
        "/extra/os/x86_64/extra.db", "/extra/os/x86_64/extra.db.sig"]
    assert {e.status for e in arch_mirror.server.log} == {304}


def test_custom_variant_takes_groups_and_marks_them_explicit(single_user, arch_mirror):
    tree = single_user.path("grp")
    single_user.run("arch", tree, *_args(arch_mirror), "--variant", "custom",
                    "--include", "fixture-group,extra/virt-user", "--no-configure", check=True)
    assert host_pacman(tree, "-Qqe").stdout.split() == ["grp-a", "grp-b", "virt-user"]
    assert host_pacman(tree, "-Qqd").stdout.split() == ["zz-virt"]
    assert host_pacman(tree, "-Dk").returncode == 0


def test_unknown_repositories_and_packages_are_named(as_user, arch_mirror):
    proc = as_user.run("arch", as_user.path("t"), *_args(arch_mirror), "--release", "testing",
                       "--cache", as_user.cache)
    refused(as_user, proc, "no repository 'core-testing'", "127.0.0.1")
    proc = as_user.run("arch", as_user.path("t"), *_args(arch_mirror), "--include",
                       "no-such-thing", "--cache", as_user.cache)
    refused(as_user, proc, "no package or group 'no-such-thing'", "core, extra")


def test_a_malformed_dependency_matters_only_in_a_chosen_package(as_user, arch_mirror):
    extra = archmirror.read_db(arch_mirror.fixture.repos["extra"] / "extra.db")
    assert extra["oddball-1.0-1"]["DEPENDS"] == ["gconf>", "busybox-sh"]
    proc = as_user.run("arch", as_user.path("odd"), *_args(arch_mirror), "--variant",
                       "custom", "--include", "oddball", "--cache", as_user.cache)
    refused(as_user, proc, "gconf>", "%DEPENDS% of oddball in extra.db",
             "an operator without a version")
    tree = as_user.path("base")
    as_user.run("arch", tree, *_args(arch_mirror), "--no-configure", "--cache",
                as_user.cache, check=True)
    assert "oddball" not in host_pacman(tree, "-Qq").stdout.split()


def test_pacman_downloads_as_itself_where_its_download_user_has_no_id(user, arch_mirror):
    tree = user.path("arch")
    user.run("arch", tree, *_args(arch_mirror), "--variant", "minimal", "--cache",
             user.cache, check=True)
    conf = (tree / "etc/pacman.conf").read_bytes()
    assert b"\nDownloadUser = alpm\n" in conf
    seen = user.run("run", tree, "--", "pacman", "-Sy", check=True).stdout
    if user.kind == "single":
        # the namespace maps only the user: pacman is given a copy of its
        # configuration without DownloadUser; the tree's own file is untouched
        assert seen == "Conf File : /run/rootstrap/pacman.conf\nDownloadUser: none\n"
    else:
        assert seen == "Conf File : /etc/pacman.conf\nDownloadUser = alpm\n"
    assert (tree / "etc/pacman.conf").read_bytes() == conf
