"""Names that are not UTF-8: dpkg, pacman, apk and rpm take any bytes but '/'
and NUL in a file name, and so does rootstrap. Packages written byte by byte
(rawarchive: tarfile would encode the names) carry them; each family writes
them to the disk, its package database, the ledger and the tarball as the bytes
they are, and where the host has the distro's own tool, its database is held
against the one that tool writes. A name no database can list (a newline in
it) is refused in one line naming the package and the name."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest

import apkmirror
import archmirror
import debmirror
import rpmmirror
from bootstrap import emit
from bootstrap.archive import as_bytes
from bootstrap.families import unpacking
from bootstrap.errors import Die
from bootstrap.ledger import Ledger, ledger_path
from bootstrap.treewriter import TreeWriter, Unsafe
from debmirror import MirrorServer
from rawarchive import DIR, LNK, SYM, ar, tar, tar_entry
from refusal import refused

# the names every family's test package holds: Latin-1 (not UTF-8), bytes no
# encoding has, and UTF-8 beside them
CAFE = b"usr/share/nonutf/caf\xe9"
ODD_DIR = b"usr/share/nonutf/\xff\xfe"
INNER = ODD_DIR + b"/inner"
LINK = b"usr/share/nonutf/link-\xe9"
HARD = b"usr/share/nonutf/hard-\xe9"
UTF8 = b"usr/share/nonutf/utf8-\xc3\xa9"
CONF = b"etc/nonutf-\xe9.conf"
DESCRIPTION = b"caf\xe9 au lait"


def _listdir(path: bytes) -> set[bytes]:
    return set(os.listdir(path))


def _entries(prefix: bytes = b"", hook_dir: bytes = b"") -> list[bytes]:
    """The test package's data entries (prefix: './' as dpkg-deb writes them)."""
    p = prefix
    dirs = [b"etc/", b"usr/", b"usr/share/", b"usr/share/nonutf/", ODD_DIR + b"/"]
    out = [tar_entry(p + d, kind=DIR) for d in dirs]
    out += [tar_entry(p + CAFE, b"latin-1\n"),
            tar_entry(p + INNER, b"inside\n"),
            tar_entry(p + LINK, kind=SYM, link=b"caf\xe9"),
            tar_entry(p + HARD, kind=LNK, link=p + CAFE),
            tar_entry(p + UTF8, b"utf-8\n"),
            tar_entry(p + CONF, b"setting = 1\n")]
    if hook_dir:
        out += [tar_entry(p + hook_dir + b"/", kind=DIR),
                tar_entry(p + hook_dir + b"/caf\xe9", b"hooked\n")]
    return out


def _gz(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, mtime=0)


def _check_tree(root: Path, prefix: bytes = b"") -> None:
    """The names as bytes on the disk, with what they hold."""
    base = os.fsencode(root) + b"/"
    assert (b"caf\xe9" in _listdir(base + b"usr/share/nonutf")), _listdir(base + b"usr/share/nonutf")
    with open(base + CAFE, "rb") as f:
        assert f.read() == b"latin-1\n"
    with open(base + INNER, "rb") as f:
        assert f.read() == b"inside\n"
    assert os.readlink(base + LINK) == b"caf\xe9"
    with open(base + UTF8, "rb") as f:
        assert f.read() == b"utf-8\n"


def _check_ledger_and_tarball(root: Path, ledger: Ledger, out: Path) -> None:
    """The ledger keeps the names through a save and a load; the tarball holds
    them as bytes (a pax hdrcharset=BINARY path where the name is not UTF-8)."""
    ledger.save(ledger_path(root))
    loaded = Ledger.load(ledger_path(root))
    for name in (CAFE, INNER, LINK, ODD_DIR):
        key = name.decode("utf-8", "surrogateescape")
        assert key in loaded.entries, key
    json.loads(ledger_path(root).read_text(encoding="ascii"))   # plain ASCII JSON
    emit.write_tar(root, loaded, out, "tar", 1700000000)
    with tarfile.open(out, encoding="utf-8", errors="surrogateescape") as t:
        names = {as_bytes(m.name) for m in t}
        link = t.getmember("./" + LINK.decode("utf-8", "surrogateescape"))
    assert {b"./" + CAFE, b"./" + INNER, b"./" + LINK, b"./" + ODD_DIR, b"./" + UTF8} <= names
    assert as_bytes(link.linkname) == b"caf\xe9"


# --------------------------------------------------------------------------- deb

DEB_CONTROL = (b"Package: nonutf\nVersion: 1.0-1\nArchitecture: all\n"
               b"Maintainer: rootstrap tests <tests@rootstrap.invalid>\nInstalled-Size: 1\n"
               b"Section: misc\nPriority: optional\nDescription: " + DESCRIPTION +
               b"\n names that are not UTF-8\n")


def deb_package(name: bytes = b"nonutf", data: bytes = b"") -> bytes:
    control = DEB_CONTROL.replace(b"Package: nonutf", b"Package: " + name)
    control_tar = tar([tar_entry(b"./", kind=DIR), tar_entry(b"./control", control),
                       tar_entry(b"./conffiles", b"/" + CONF + b"\n")])
    data_tar = data or tar([tar_entry(b"./", kind=DIR)] + _entries(b"./"))
    return ar([(b"debian-binary", b"2.0\n"), (b"control.tar.gz", _gz(control_tar)),
               (b"data.tar.gz", _gz(data_tar))])


def _host_dpkg_root(deb: Path, root: Path) -> Path:
    """The host dpkg's own unpack of deb into a fresh root (as root)."""
    admin = root / "var/lib/dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").touch()
    subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--unpack",
                    str(deb)], check=True, capture_output=True)
    return root


def _oracle(tool: str) -> bool:
    """Whether the distro's own tool can be asked: as root it must be there."""
    if os.geteuid() != 0:
        return False
    assert shutil.which(tool), f"{tool} is missing (tests/run installs it)"
    return True


def test_deb_names_are_bytes_in_the_tree_dpkg_database_ledger_and_tarball(tmp_path):
    from bootstrap.families.deb import debfile, dpkgdb
    deb = tmp_path / "nonutf.deb"
    deb.write_bytes(deb_package())
    root = tmp_path / "root"
    root.mkdir()
    ledger = Ledger()
    writer = TreeWriter(root, ledger)
    unpacked = debfile.unpack(deb, writer)
    dpkgdb.skeleton(writer, "amd64")
    dpkgdb.register(writer, [unpacked])
    _check_tree(root)
    info = root / "var/lib/dpkg/info"
    listing = (info / "nonutf.list").read_bytes()
    assert b"\n/" + CAFE + b"\n" in listing and b"\n/" + ODD_DIR + b"\n" in listing
    status = (root / "var/lib/dpkg/status").read_bytes()
    assert b"Description: " + DESCRIPTION + b"\n" in status
    conffile = b" /" + CONF + b" " + hashlib.md5(b"setting = 1\n").hexdigest().encode()
    assert conffile in status
    _check_ledger_and_tarball(root, ledger, tmp_path / "out.tar")
    if _oracle("dpkg"):
        theirs = _host_dpkg_root(deb, tmp_path / "dpkg-root")
        assert (info / "nonutf.list").read_bytes() == \
            (theirs / "var/lib/dpkg/info/nonutf.list").read_bytes()
        status = (theirs / "var/lib/dpkg/status").read_bytes()
        assert b" /" + CONF + b" newconffile" in status
        assert b"Description: " + DESCRIPTION + b"\n" in status
        assert _listdir(os.fsencode(theirs) + b"/usr/share/nonutf") == \
            _listdir(os.fsencode(root) + b"/usr/share/nonutf")


# --------------------------------------------------------------------------- pacman

PKGINFO = (b"pkgname = nonutf\npkgbase = nonutf\npkgver = 1.0-1\npkgdesc = " + DESCRIPTION +
           b"\nurl = https://rootstrap.invalid/\nbuilddate = 1700000000\n"
           b"packager = rootstrap tests <tests@rootstrap.invalid>\nsize = 100\n"
           b"arch = x86_64\nlicense = custom:none\nbackup = " + CONF + b"\n")


def pacman_package(hook_dir: bytes = b"") -> bytes:
    return _gz(tar([tar_entry(b".PKGINFO", PKGINFO)] + _entries(hook_dir=hook_dir)))


def _host_pacman_root(pkg: Path, root: Path, work: Path) -> Path:
    (root / "var/lib/pacman").mkdir(parents=True)
    work.mkdir()
    conf = work / "pacman.conf"
    conf.write_text("[options]\nSigLevel = Never\nArchitecture = auto\n")
    subprocess.run(["pacman", "--config", str(conf), "--root", str(root), "--dbpath",
                    str(root / "var/lib/pacman"), "--cachedir", str(work),
                    "--logfile", str(work / "log"), "--hookdir", str(work), "-U",
                    "--noconfirm", "--noscriptlet", "--nodeps", str(pkg)],
                   check=True, capture_output=True, env=dict(os.environ, LANG="C"))
    return root


def test_pacman_names_are_bytes_in_the_tree_local_database_ledger_and_tarball(tmp_path):
    from bootstrap.families.pacman import localdb, pkgfile
    pkg = tmp_path / "nonutf-1.0-1-x86_64.pkg.tar.gz"
    pkg.write_bytes(pacman_package())
    root = tmp_path / "root"
    root.mkdir()
    ledger = Ledger()
    writer = TreeWriter(root, ledger)
    unpacked = pkgfile.unpack(pkg, writer)
    localdb.skeleton(writer)
    when = 1700000001
    theirs = None
    if _oracle("pacman"):
        theirs = _host_pacman_root(pkg, tmp_path / "pacman-root", tmp_path / "pacman-work")
        desc = (theirs / "var/lib/pacman/local/nonutf-1.0-1/desc").read_bytes()
        when = int(desc.split(b"%INSTALLDATE%\n")[1].split(b"\n")[0])
    localdb.register(writer, unpacked, True, when, validation="none")
    _check_tree(root)
    entry = root / "var/lib/pacman/local/nonutf-1.0-1"
    files = (entry / "files").read_bytes()
    assert b"\n" + CAFE + b"\n" in files and b"\n" + ODD_DIR + b"/\n" in files
    md5 = hashlib.md5(b"setting = 1\n").hexdigest().encode()
    assert b"%BACKUP%\n" + CONF + b"\t" + md5 + b"\n" in files
    assert b"%DESC%\n" + DESCRIPTION + b"\n" in (entry / "desc").read_bytes()
    _check_ledger_and_tarball(root, ledger, tmp_path / "out.tar")
    if theirs is not None:
        for name in ("files", "desc"):
            assert (entry / name).read_bytes() == \
                (theirs / "var/lib/pacman/local/nonutf-1.0-1" / name).read_bytes(), name


# --------------------------------------------------------------------------- apk

def _apk_entries() -> list[bytes]:
    """As abuild-tar writes them: each file and link with its SHA-1 in a pax record."""
    def sha1(data: bytes) -> dict[bytes, bytes]:
        return {b"APK-TOOLS.checksum.SHA1": hashlib.sha1(data).hexdigest().encode()}
    dirs = [b"etc/", b"usr/", b"usr/share/", b"usr/share/nonutf/", ODD_DIR + b"/"]
    return [tar_entry(d, kind=DIR) for d in dirs] + [
        tar_entry(CAFE, b"latin-1\n", pax=sha1(b"latin-1\n")),
        tar_entry(INNER, b"inside\n", pax=sha1(b"inside\n")),
        tar_entry(LINK, kind=SYM, link=b"caf\xe9", pax=sha1(b"caf\xe9")),
        tar_entry(HARD, kind=LNK, link=CAFE),
        tar_entry(UTF8, b"utf-8\n", pax=sha1(b"utf-8\n")),
        tar_entry(CONF, b"setting = 1\n", pax=sha1(b"setting = 1\n"))]


APK_SPEC = apkmirror.Spec("nonutf", "1.0-r0", description="names that are not UTF-8")


def test_apk_names_are_bytes_in_the_tree_installed_database_ledger_and_tarball(tmp_path):
    from bootstrap.families.apk import index, installeddb, package
    from bootstrap.digest import Digest
    key = apkmirror.make_key(tmp_path / "key", "names-0001")
    built = apkmirror.build_apk(APK_SPEC, key, tmp_path / "repo", data_tar=tar(_apk_entries()))
    root = tmp_path / "root"
    root.mkdir()
    ledger = Ledger()
    writer = TreeWriter(root, ledger)
    with open(built.path, "rb") as f:
        parts = package.read_parts(f)
    unpacked = package.unpack(built.path, parts, writer)
    _check_tree(root)
    record = apkmirror.index_record(built)
    pkg = index.package([(line[0], line[2:]) for line in record.splitlines()], "main", "", 0)
    installeddb.write(writer, [installeddb.Installed(pkg, unpacked)], 1700000000)
    db = (root / "lib/apk/db/installed").read_bytes()
    assert b"\nF:usr/share/nonutf\nR:caf\xe9\n" in db
    assert b"\nF:" + ODD_DIR + b"\nR:inner\n" in db
    # the checksum apk keeps for a link is its target's
    link_sum = apkmirror.q1(b"caf\xe9").encode()
    assert b"R:link-\xe9\na:0:0:777\nZ:" + link_sum + b"\n" in db
    assert isinstance(pkg.identity, Digest)
    _check_ledger_and_tarball(root, ledger, tmp_path / "out.tar")


# --------------------------------------------------------------------------- rpm

def _rpm_header_and_payload(tmp_path: Path) -> Path:
    """An rpm made byte by byte: a header listing the names, a cpio payload."""
    from rawarchive import (RPM_INT32, RPM_STRING, RPM_STRING_ARRAY, cpio, cpio_entry,
                            rpm_header, rpm_lead)
    files = [(b"/usr/share/nonutf/", b"caf\xe9", 0o100644, b"latin-1\n", b""),
             (b"/usr/share/nonutf/", b"\xff\xfe", 0o40755, b"", b""),
             (b"/usr/share/nonutf/\xff\xfe/", b"inner", 0o100644, b"inside\n", b""),
             (b"/usr/share/nonutf/", b"link-\xe9", 0o120777, b"caf\xe9", b"caf\xe9"),
             (b"/usr/share/nonutf/", b"utf8-\xc3\xa9", 0o100644, b"utf-8\n", b"")]
    dirs = sorted({d for d, *_ in files})
    h = rpm_header([
        (1000, RPM_STRING, b"nonutf"), (1001, RPM_STRING, b"1.0"), (1002, RPM_STRING, b"1"),
        (1022, RPM_STRING, b"x86_64"),
        (1116, RPM_INT32, [dirs.index(d) for d, *_ in files]),
        (1117, RPM_STRING_ARRAY, [b for _, b, *_ in files]),
        (1118, RPM_STRING_ARRAY, dirs),
        (1030, RPM_INT32, [m for _, _, m, _, _ in files]),
        (1028, RPM_INT32, [len(c) if m & 0o100000 and not m & 0o20000 else 0
                           for _, _, m, c, _ in files]),
        (1035, RPM_STRING_ARRAY, [hashlib.sha256(c).hexdigest().encode()
                                  if m >> 12 == 8 else b"" for _, _, m, c, _ in files]),
        (1036, RPM_STRING_ARRAY, [t for *_, t in files]),
        (1039, RPM_STRING_ARRAY, [b"root"] * len(files)),
        (1040, RPM_STRING_ARRAY, [b"root"] * len(files)),
        (5011, RPM_INT32, [8])])
    payload = cpio([cpio_entry(b"." + d + b, c, mode=m, ino=i + 1)
                    for i, (d, b, m, c, _) in enumerate(files)])
    sig = rpm_header([(1000, RPM_INT32, [len(h) + len(payload)])])
    path = tmp_path / "nonutf-1.0-1.x86_64.rpm"
    path.write_bytes(rpm_lead(b"nonutf-1.0-1") + sig + b"\0" * (-len(sig) % 8) + h + payload)
    return path


def test_rpm_names_are_bytes_in_the_tree_rpmdb_ledger_and_tarball(tmp_path):
    from bootstrap.families.rpm import header, payload, rpmdb
    path = _rpm_header_and_payload(tmp_path)
    with open(path, "rb") as f:
        pkg = header.read_package(f)
    root = tmp_path / "root"
    root.mkdir()
    ledger = Ledger()
    writer = TreeWriter(root, ledger)
    payload.unpack(path, pkg.payload_start, pkg.header, writer, lambda u, g: (0, 0))
    rpmdb.write(writer, [pkg], 1700000000, 1700000000)
    base = os.fsencode(root)
    assert _listdir(base + b"/usr/share/nonutf") == \
        {b"caf\xe9", b"\xff\xfe", b"link-\xe9", b"utf8-\xc3\xa9"}
    assert os.readlink(base + b"/" + LINK) == b"caf\xe9"
    db = sqlite3.connect(root / rpmdb.DBPATH / "rpmdb.sqlite")
    db.text_factory = bytes
    try:
        rows = db.execute("SELECT key, typeof(key) FROM Basenames").fetchall()
        dirnames = db.execute("SELECT key FROM Dirnames").fetchall()
    finally:
        db.close()
    # as rpm binds them: the bytes, as TEXT
    assert (b"caf\xe9", b"text") in rows and (b"\xff\xfe", b"text") in rows
    assert (b"/usr/share/nonutf/\xff\xfe/",) in dirnames
    _check_ledger_and_tarball(root, ledger, tmp_path / "out.tar")


# --------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("family", ["deb", "pacman", "apk"])
def test_a_name_with_a_newline_is_refused_in_one_line(tmp_path, family):
    """Their databases list one name a line: dpkg refuses such a name, and
    rootstrap refuses it for each, naming the package and the name."""
    root = tmp_path / "root"
    root.mkdir()
    writer = TreeWriter(root, Ledger())
    evil = b"usr/share/a\nb"
    if family == "deb":
        from bootstrap.families.deb.debfile import unpack
        path = tmp_path / "evil.deb"
        path.write_bytes(deb_package(data=tar([tar_entry(b"./" + evil, b"x")])))
        run = lambda: unpack(path, writer)                             # noqa: E731
    elif family == "pacman":
        from bootstrap.families.pacman import pkgfile
        path = tmp_path / "evil.pkg.tar.gz"
        path.write_bytes(_gz(tar([tar_entry(b".PKGINFO", PKGINFO), tar_entry(evil, b"x")])))
        run = lambda: pkgfile.unpack(path, writer)                     # noqa: E731
    else:
        from bootstrap.families.apk import package
        key = apkmirror.make_key(tmp_path / "key", "names-0002")
        built = apkmirror.build_apk(APK_SPEC, key, tmp_path, data_tar=tar([tar_entry(evil, b"x")]))
        path = built.path

        def run():  # type: ignore[no-untyped-def]
            with open(path, "rb") as f:
                return package.unpack(path, package.read_parts(f), writer)
    with pytest.raises(Die) as e:
        with unpacking(path.name, "http://mirror.invalid"):
            run()
    message = e.value.message
    assert "\n" not in message
    assert path.name in message and "usr/share/a\\nb" in message, message


def test_nul_in_a_name_is_refused(tmp_path):
    """A pax path may carry a NUL, which no file name can."""
    root = tmp_path / "root"
    root.mkdir()
    data = tar([tar_entry(b"usr/x", b"x", pax={b"path": b"usr/a\0b"})])
    from bootstrap.archive import open_tar, tar_to_tree
    with pytest.raises(Unsafe, match="NUL"):
        tar_to_tree(open_tar(io.BytesIO(data)), TreeWriter(root, Ledger()))
    assert os.listdir(root) == []


# --------------------------------------------------------------------------- end to end

def _check_export(user, tree: Path) -> None:
    out = user.path("tree.tar")
    user.run("export", tree, out, check=True)
    with tarfile.open(out, encoding="utf-8", errors="surrogateescape") as t:
        names = {as_bytes(m.name) for m in t}
    assert {b"./" + CAFE, b"./" + INNER, b"./" + LINK, b"./" + UTF8} <= names
    ledger = Ledger.load(ledger_path(tree))
    assert CAFE.decode("utf-8", "surrogateescape") in ledger.entries


def test_debian_build_with_names_that_are_not_utf8(as_user, local_mirror, serve_mirror,
                                                   session_dir):
    root = session_dir / f"names-deb-{os.getpid()}-{as_user.kind}"
    extra = root.parent / (root.name + "-debs")
    extra.mkdir(parents=True)
    (extra / "nonutf_1.0-1_all.deb").write_bytes(deb_package())
    newline = tar([tar_entry(b"./", kind=DIR), tar_entry(b"./usr/", kind=DIR),
                   tar_entry(b"./usr/a\nb", b"x")])
    (extra / "newline_1.0-1_all.deb").write_bytes(deb_package(b"newline", newline))
    debs = list(local_mirror.repo.debs.values()) + sorted(extra.iterdir())
    repo = debmirror.mirror_real_debs(root, "bookworm", debs, signer=local_mirror.signer)
    server = serve_mirror(repo.root)
    args = ["--release", "bookworm", "--mirror", server.url, "--keyring",
            local_mirror.keyring, "--no-configure", "--cache", as_user.cache]
    tree = as_user.path("tree")
    as_user.run("debian", tree, *args, "--include", "nonutf", check=True)
    _check_tree(tree)
    listing = (tree / "var/lib/dpkg/info/nonutf.list").read_bytes()
    assert b"\n/" + CAFE + b"\n" in listing
    if _oracle("dpkg-query"):
        found = subprocess.run(["dpkg-query", f"--admindir={tree}/var/lib/dpkg", "-S",
                                b"/" + CAFE], capture_output=True)
        assert found.stdout.startswith(b"nonutf: /" + CAFE), found
    _check_export(as_user, tree)
    made = tuple(os.listdir(as_user.workdir))     # the first build's tree and what is beside it
    proc = as_user.run("debian", as_user.path("t2"), *args, "--include", "newline")
    refused(as_user, proc, "newline_1.0-1_all.deb", "newline not allowed", "usr/a\\nb",
            keep=made)


def test_arch_build_with_names_that_are_not_utf8(as_user, arch_mirror, tmp_path, signer):
    """Configured: the fixture's hook, which takes its targets on stdin, gets
    the name as bytes, as pacman gives it."""
    root = tmp_path / "mirror"
    shutil.copytree(arch_mirror.fixture.root, root, symlinks=True)
    tmp_path.chmod(0o755)
    extra = root / "extra/os/x86_64"
    pkg = extra / "nonutf-1.0-1-x86_64.pkg.tar.gz"
    pkg.write_bytes(pacman_package(hook_dir=b"usr/share/fixture"))
    packages = [p for p in extra.iterdir() if ".pkg.tar." in p.name and not
                p.name.endswith(".sig")]
    archmirror.build_repo(root, "extra", archmirror.ARCH, packages, signer, embed_sigs=False)
    server = MirrorServer(root)
    try:
        tree = as_user.path("tree")
        as_user.run("arch", tree, "--mirror", f"{server.url}/$repo/os/$arch", "--keyring",
                    arch_mirror.keyring, "--include", "nonutf", "--cache", as_user.cache,
                    check=True)
    finally:
        server.close()
    _check_tree(tree)
    hooked = (tree / archmirror.HOOK_LOG.lstrip("/")).read_bytes()
    assert b"usr/share/fixture/caf\xe9\n" in hooked
    entry = tree / "var/lib/pacman/local/nonutf-1.0-1"
    assert b"\n" + CAFE + b"\n" in (entry / "files").read_bytes()
    if _oracle("pacman"):
        # pacman -Qo takes the path as it is on the host, under --root
        owner = subprocess.run(["pacman", "--root", str(tree), "--dbpath",
                                f"{tree}/var/lib/pacman", "-Qo", os.fsencode(tree) + b"/" + CAFE],
                               capture_output=True, env=dict(os.environ, LANG="C"))
        assert b"is owned by nonutf 1.0-1" in owner.stdout, owner
        check = archmirror.host_pacman(tree, "-Qk", "nonutf")
        assert check.returncode == 0 and " 0 missing files" in check.stdout, check
    _check_export(as_user, tree)


def test_alpine_build_with_names_that_are_not_utf8(as_user, alpine_mirror, tmp_path):
    root = tmp_path / "mirror"
    repos = alpine_mirror.repos.copy(root)
    tmp_path.chmod(0o755)
    built = apkmirror.build_apk(APK_SPEC, repos.key, repos.repo_dir("main"),
                                data_tar=tar(_apk_entries()))
    repos.built[("nonutf", "1.0-r0")] = built
    repos.reindex("main")
    server = MirrorServer(root)
    try:
        tree = as_user.path("tree")
        as_user.run("alpine", tree, "--release", apkmirror.BRANCH, "--mirror", server.url,
                    "--keyring", str(repos.key.folder), "--include", "nonutf",
                    "--cache", as_user.cache, check=True)
    finally:
        server.close()
    _check_tree(tree)
    assert b"\nF:usr/share/nonutf\nR:caf\xe9\n" in (tree / "lib/apk/db/installed").read_bytes()
    _check_export(as_user, tree)


def test_fedora_build_with_names_that_are_not_utf8(as_user, fedora_mirror, tmp_path):
    """rpmbuild refuses such names since rpm 4.17, older rpms carry them: the
    package is built with placeholders and renamed byte by byte, then signed
    (each placeholder sorts where its name does: rpm looks a path up in the
    header's sorted list); the host's rpm finds the file in the tree's
    database by its name and verifies the package."""
    root = tmp_path / "mirror"
    shutil.copytree(fedora_mirror.repos.root, root, symlinks=True)
    tmp_path.chmod(0o755)
    repos = rpmmirror.FedoraRepos(root, fedora_mirror.repos.signer)
    spec = rpmmirror.RpmSpec("nonutf", files=(
        rpmmirror.RpmFile("/usr/share/nonutf/XZQ1", "latin-1\n"),
        rpmmirror.RpmFile("/usr/share/nonutf/~~", kind="dir"),
        rpmmirror.RpmFile("/usr/share/nonutf/~~/inner", "inside\n"),
        rpmmirror.RpmFile("/usr/share/nonutf/link-W", kind="symlink", target="XZQ1"),
        rpmmirror.RpmFile("/usr/share/nonutf/utf8-é", "utf-8\n")))
    path = rpmmirror.build_rpm(spec, repos.repo_dir("fedora") / "Packages" / "n", None,
                               payload="w.ufdio")
    rpmmirror.rename_files(path, [(b"XZQ1", b"caf\xe9"), (b"~~", b"\xff\xfe"),
                                  (b"link-W", b"link-\xe9")], repos.signer)
    repos.reindex("fedora")
    server = MirrorServer(root)
    try:
        tree = as_user.path("tree")
        as_user.run("fedora", tree, "--mirror", repos.repo_url(server.url, "fedora"),
                    "--mirror", repos.repo_url(server.url, "updates"), "--keyring",
                    repos.signer.keyring, "--include", "nonutf", "--cache", as_user.cache,
                    check=True)
    finally:
        server.close()
    _check_tree(tree)
    if _oracle("rpm"):
        def rpm(*args: object) -> subprocess.CompletedProcess:
            return subprocess.run(["rpm", "--root", str(tree), "--dbpath",
                                   "/usr/lib/sysimage/rpm", *args], capture_output=True)
        owner = rpm("-qf", b"/" + CAFE)
        assert owner.stdout.startswith(b"nonutf-1.0-1"), owner
        assert b"/" + INNER + b"\n" in rpm("-ql", "nonutf").stdout
        # every file where the database says, as it says (owners aside: the
        # test user's tree may hold them in the ledger only)
        verified = rpm("-V", "--nouser", "--nogroup", "nonutf")
        assert verified.returncode == 0 and verified.stdout == b"", verified
    _check_export(as_user, tree)
