"""`rootstrap verify DISTRO FILE...` for every family: the verdict the
distribution's own tool would give, one line per file, and the exit status."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def _verdicts(proc) -> dict[str, str]:
    """file name -> "OK" or the reason it failed."""
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("OK "):
            out[Path(line.split()[1]).name] = "OK"
        else:
            assert line.startswith("FAIL "), line
            file, _, reason = line[5:].partition(": ")
            out[Path(file).name] = reason
    return out


def _copy(user, *files: Path) -> list[Path]:
    folder = user.mkdir("files")
    out = []
    for f in files:
        shutil.copy2(f, folder / f.name)
        out.append(folder / f.name)
    return out


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def test_deb_inrelease_packages_and_debs(as_user, local_mirror):
    inrelease, packages, deb, other = _copy(
        as_user, local_mirror.dist / "InRelease", local_mirror.packages_file,
        local_mirror.deb("base-files"), local_mirror.deb("links"))
    keyring = ["--keyring", str(local_mirror.keyring)]
    good = as_user.run("verify", "debian", inrelease, *keyring)
    assert good.returncode == 0 and good.stdout.startswith(f"OK {inrelease} ")
    assert local_mirror.signer.fingerprint.upper() in good.stdout
    alone = as_user.run("verify", "debian", deb, *keyring)
    assert alone.returncode == 1 and "carries no signature of its own" in alone.stdout
    vouched = as_user.run("verify", "debian", deb, other, packages, "--index", inrelease,
                          "--index", packages, *keyring)
    assert _verdicts(vouched) == {deb.name: "OK", other.name: "OK", packages.name: "OK"}
    _tamper(deb)
    _tamper(inrelease)
    bad = as_user.run("verify", "debian", inrelease, deb, "--index", packages, *keyring)
    verdicts = _verdicts(bad)
    assert bad.returncode == 1
    assert "BAD signature" in verdicts[inrelease.name] or "not a clearsigned" in \
        verdicts[inrelease.name]
    # the Packages index could not be vouched for by a broken InRelease: the .deb neither
    assert "in no verified" in verdicts[deb.name] or "no signature" in verdicts[deb.name]
    wrong_key = as_user.run("verify", "debian", local_mirror.dist / "InRelease",
                            "--keyring", str(local_mirror.untrusted_keyring))
    assert wrong_key.returncode == 1 and "not in the trusted keyring" in wrong_key.stdout


def test_pacman_databases_and_packages(as_user, arch_mirror):
    core = arch_mirror.fixture.repos["core"]
    db, db_sig = core / "core.db", core / "core.db.sig"
    pkg = arch_mirror.fixture.packages["setuid-tool"]
    db, db_sig, pkg, pkg_sig = _copy(as_user, db, db_sig, pkg, Path(f"{pkg}.sig"))
    keyring = ["--keyring", str(arch_mirror.keyring)]
    good = as_user.run("verify", "arch", db, pkg, *keyring)
    assert good.returncode == 0 and _verdicts(good) == {db.name: "OK", pkg.name: "OK"}
    pkg_sig.unlink()
    by_db = as_user.run("verify", "arch", pkg, "--index", db, *keyring)
    assert _verdicts(by_db) == {pkg.name: "OK"}        # core embeds %PGPSIG%
    none = as_user.run("verify", "arch", pkg, *keyring)
    assert none.returncode == 1 and "no setuid-tool" in none.stdout
    _tamper(pkg)
    _tamper(db)
    bad = as_user.run("verify", "arch", db, pkg, "--index", db, *keyring)
    verdicts = _verdicts(bad)
    assert bad.returncode == 1 and "BAD signature" in verdicts[db.name]
    assert verdicts[pkg.name] != "OK"


def test_apk_indexes_and_packages(as_user, alpine_mirror):
    main = alpine_mirror.repos.repo_dir("main")
    index, busybox = _copy(as_user, main / "APKINDEX.tar.gz",
                           alpine_mirror.repos.package("busybox").path)
    keyring = ["--keyring", str(alpine_mirror.key.folder)]
    good = as_user.run("verify", "alpine", index, busybox, "--index", index, *keyring)
    assert good.returncode == 0
    assert good.stdout.splitlines() == [f"OK {index} {alpine_mirror.key.name}",
                                        f"OK {busybox} {alpine_mirror.key.name}"]
    shipped = as_user.run("verify", "alpine", index)       # Alpine's keys, not the fixture's
    assert shipped.returncode == 1 and "not among the trusted keys" in shipped.stdout
    _tamper(busybox)
    bad = as_user.run("verify", "alpine", busybox, "--index", index, *keyring)
    assert bad.returncode == 1 and _verdicts(bad)[busybox.name] != "OK"


@pytest.mark.parametrize("distro", ["debian", "arch", "alpine"])
def test_a_missing_file_is_a_failure_not_a_traceback(as_user, distro):
    proc = as_user.run("verify", distro, as_user.path("nothing-here"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"FAIL {as_user.path('nothing-here')}: ")
