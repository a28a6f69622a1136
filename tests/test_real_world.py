"""Real-world mess, judged by the distribution's own tool first.

Each fixture copies something real mirrors have: Packages files with odd
whitespace, CRLF, unknown fields and broken entries nobody asked for; indexes
offered only as Packages.bz2 or uncompressed; .debs in every layout dpkg still
reads; Release files signed by the DSA and RSA keys of older keyrings; sync
databases with fields libalpm does not know; apk and rpm indexes with fields
and elements their readers skip. apt, dpkg-deb and pacman say what they accept
(and what they refuse); rootstrap then builds from what they accept and refuses
what they refuse, in one line.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pwd
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import pytest
import zstandard

import archmirror
import debmirror
from rawarchive import ar
from realdata import real
from refusal import refused

SUITE = "bookworm"
INCLUDE = ["links", "ver-user", "alt-user", "virt-user", "suid-tools", "shadowish"]


# --------------------------------------------------------------------------- apt, the oracle


def _apt_options(state: Path, source: str) -> list[str]:
    """apt's options for a state of its own under state, reading only source."""
    for sub in ("lists/partial", "cache/archives/partial", "etc/apt.conf.d",
                "etc/preferences.d", "etc/trusted.gpg.d"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "status").write_text("")
    (state / "sources.list").write_text(source + "\n")
    options = [f"Dir={state}", f"Dir::State={state}", f"Dir::State::status={state}/status",
               f"Dir::Etc={state}/etc", f"Dir::Etc::SourceList={state}/sources.list",
               "Dir::Etc::SourceParts=/nonexistent", f"Dir::Cache={state}/cache",
               f"Dir::Log={state}", "APT::Architecture=amd64", "APT::Architectures=amd64",
               f"APT::Sandbox::User={pwd.getpwuid(os.geteuid()).pw_name}",
               "Debug::NoLocking=1", "Acquire::Languages=none"]
    return [a for o in options for a in ("-o", o)]


def _apt(work: Path, root: Path, keyring: Path, names: Sequence[str]) -> str:
    """What apt makes of the repository at root (as file://, with keyring
    trusted): `apt-get update`, then a simulated install of names. Its output;
    an error (or a warning, which is how apt reports a refused signature) fails."""
    argv = _apt_options(work / "apt", f"deb [signed-by={keyring}] file://{root} {SUITE} main")
    out = ""
    for command in (["apt-get", *argv, "update"],
                    ["apt-get", *argv, "-s", "install", *names]):
        proc = subprocess.run(command, capture_output=True, text=True,
                              env=dict(os.environ, LANG="C"))
        out += proc.stdout + proc.stderr
        if proc.returncode != 0 or re.search(r"^[EW]: ", proc.stdout + proc.stderr, re.M):
            return "apt refused: " + out
    return out


def _apt_accepts(work: Path, root: Path, keyring: Path, names: Sequence[str]) -> None:
    out = _apt(work, root, keyring, names)
    assert not out.startswith("apt refused"), out
    for name in names:
        assert f"Inst {name} " in out, out


# --------------------------------------------------------------------------- Debian fixtures


def _stanzas(text: bytes) -> list[str]:
    return [s for s in text.decode().split("\n\n") if s.strip()]


# entries a package nobody asks for may carry, each one apt takes in its stride
UNRELATED = [
    "Package: unrelated-version\nVersion: 1.0 beta!\nArchitecture: amd64\n"
    "Filename: pool/none.deb\nSize: 1\nSHA256: 00\nDescription: a version dpkg refuses",
    "Package: unrelated-size\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/none.deb\n"
    "Size: lots\nSHA256: not hex\nDescription: a size and digest that are not ones",
    "Package: unrelated-no-version\nArchitecture: amd64\nDescription: apt skips it",
    "Package: unrelated-no-arch\nVersion: 1.0\nDescription: no Architecture",
]


def _messy(text: bytes) -> bytes:
    """Every stanza with blanks and tabs at line ends, a tab opening its
    continuation lines, no blank after one colon, relations folded over lines,
    fields apt has never heard of; lower-case field names in one; and the
    broken entries above."""
    out = []
    for stanza in _stanzas(text):
        lines = []
        for i, line in enumerate(stanza.split("\n")):
            if line.startswith(" "):
                line = "\t" + line[1:]
            elif line.startswith("Package: "):
                line = "Package:" + line[len("Package: "):]
            elif line.startswith(("Depends: ", "Provides: ")) and ", " in line:
                line = line.replace(", ", ",\n\t ")
            lines.append(line + (" " if i % 2 else " \t"))
        lines[1:1] = ["X-Unknown-Field: kept as it is", "Tag: role::program,\n implemented-in::c"]
        stanza = "\n".join(lines)
        if stanza.startswith("Package:links"):
            stanza = re.sub(r"^([A-Z][A-Za-z0-9-]*):", lambda m: m[1].lower() + ":", stanza,
                            flags=re.M)
        out.append(stanza)
    return ("\n\n".join(out + UNRELATED) + "\n").encode()


def _crlf(text: bytes) -> bytes:
    return text.replace(b"\n", b"\r\n")


@pytest.fixture(scope="module")
def fixture_debs(_mirror_session) -> list[Path]:  # type: ignore[no-untyped-def]
    return [p for key, p in _mirror_session.repo.debs.items()
            if not key.startswith(("tinysh_", "scripted_"))]


def _debian_repo(base: Path, debs: Sequence[Path], signer: debmirror.Signer, *,
                 rewrite: Optional[Callable[[bytes], bytes]] = None,
                 forms: Sequence[str] = ("", ".gz", ".xz"),
                 crlf_release: bool = False, unserved: Sequence[str] = ()) -> Path:
    """unserved: Packages files the Release lists that the mirror does not have (as
    Debian's own Release lists the uncompressed Packages that no mirror serves)."""
    repo = debmirror.mirror_real_debs(base, SUITE, debs, signer=signer)
    debmirror.index_repo(repo.root, SUITE, signer, rewrite=rewrite, forms=forms)
    for name in unserved:
        (repo.packages_file.parent / name).unlink()
    if crlf_release:
        release = repo.dist / "Release"
        release.write_bytes(_crlf(release.read_bytes()))
        debmirror.sign_release(repo.dist, signer)
    for top, dirs, files in os.walk(repo.root):
        for name in files:
            os.chmod(os.path.join(top, name), 0o644)
    return repo.root


def _build(as_user, url: str, keyring: Path, names: Sequence[str],  # type: ignore[no-untyped-def]
           tree: Optional[Path] = None):
    return as_user.run("debian", tree or as_user.path("tree"), "--release", SUITE, "--mirror", url,
                       "--keyring", keyring, "--cache", as_user.cache, "--variant", "custom",
                       "--include", ",".join(names), "--no-configure")


def _installed(tree: Path) -> dict[str, str]:
    """Package -> version, as dpkg itself reads the tree's database."""
    out = subprocess.run(["dpkg-query", f"--admindir={tree}/var/lib/dpkg", "-W",
                          "-f", "${Package} ${Version}\n"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


SCENARIOS = {
    "messy-packages": dict(rewrite=_messy),
    "crlf-packages-and-release": dict(rewrite=_crlf, crlf_release=True),
    "only-packages-bz2": dict(forms=("", ".bz2"), unserved=("Packages",)),
    "only-uncompressed-packages": dict(forms=("",)),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_debian_index_apt_accepts_is_built_from(scenario, as_user, local_mirror, fixture_debs,
                                               serve_mirror, session_dir):
    base = session_dir / f"real-{scenario}-{os.getpid()}"
    root = _debian_repo(base, fixture_debs, local_mirror.signer,
                        **SCENARIOS[scenario])  # type: ignore[arg-type]
    binary = root / "dists" / SUITE / "main" / "binary-amd64"
    if scenario.startswith("only-"):
        want = {"only-packages-bz2": "Packages.bz2", "only-uncompressed-packages": "Packages"}
        assert sorted(p.name for p in binary.glob("Packages*")) == [want[scenario]]
    _apt_accepts(base / "oracle", root, local_mirror.keyring, INCLUDE)
    proc = _build(as_user, serve_mirror(root).url, local_mirror.keyring, INCLUDE)
    assert proc.returncode == 0, proc.stderr
    tree = as_user.path("tree")
    # ver-user needs ver-lib (>= 2.0): the relation and both versions were read
    assert (tree / "usr/lib/ver-lib.txt").read_text() == "2.1\n"
    assert (tree / "usr/share/doc/virt-provider.txt").is_file()
    assert (tree / "usr/lib/links/target").read_text() == "the target\n"
    installed = _installed(tree)
    assert installed["ver-lib"] == "2.1-1" and installed["links"] == "0.5-1"
    assert not any(name.startswith("unrelated") for name in installed)


def test_a_needed_package_with_a_size_that_is_no_number_is_named(as_user, local_mirror,
                                                                fixture_debs, serve_mirror,
                                                                session_dir):
    """apt reads such an index whole, and calls it broken only for a package it is
    asked to install: so does rootstrap."""
    def lying(text: bytes) -> bytes:
        return re.sub(rb"(Package: links\n(?:.+\n)*?)Size: \d+", rb"\1Size: lots", text)

    base = session_dir / f"real-size-{os.getpid()}"
    root = _debian_repo(base, fixture_debs, local_mirror.signer, rewrite=lying)
    assert b"Size: lots" in (root / "dists" / SUITE / "main/binary-amd64/Packages").read_bytes()
    _apt_accepts(base / "oracle", root, local_mirror.keyring, ["alt-user"])
    url = serve_mirror(root).url
    fine = _build(as_user, url, local_mirror.keyring, ["alt-user"], as_user.mkdir("ok") / "tree")
    assert fine.returncode == 0, fine.stderr
    verdict = _apt(base / "oracle", root, local_mirror.keyring, ["links"])
    assert verdict.startswith("apt refused") and "has no Size information" in verdict
    proc = _build(as_user, url, local_mirror.keyring, ["links"])
    refused(as_user, proc, "links", "Size", "lots", keep=("ok",))


# relation values and stanza shapes; apt decides, for each, whether a Packages
# file holding it in a package nobody asks for is read or refused whole
ODD_STANZAS = [
    *(f"Depends: {v}" for v in (
        "foo (>= 1.0", "foo (>= 1, bar (<< 2)", "foo (=1)", "foo (=1)   ", "foo (=1), bar",
        "foo (= 1)", "foo(>=1)", "foo (<1.0)", "foo (<>1.0)", "foo (!= 1.0)", "foo (< ), b",
        "foo ( ), b", "foo ()", "foo ( =1)", "foo (==1)", "foo:any", "foo:", ":foo", "foo bar",
        "foo [amd64]", "foo <!nocheck>", "foo )", "foo (>= 1) bar", ", foo", "foo |, bar",
        "foo ||bar", "", "   ", "foo,", "foo |", "foo, , bar", "foo\n , bar",
        "foo,\n bar (>= 1)", "foo\t(>=\t1)", "foo (>= 1)x", "foo (>= 1)(<< 2)",
        "foo (>=\n 1)", "f", "foo (1.0)", "foo (1)", "foo (1), bar")),
    "Provides:", "Provides: foo (>= 1)", "Provides: foo | bar", "Provides: foo,",
    "Provides: foo, , bar", "Recommends: foo bar", "Suggests: foo bar", "Replaces: foo bar",
    "Enhances: foo bar", "Breaks: foo bar", "Conflicts: foo bar", "Pre-Depends: foo bar",
    "Optional: foo bar", "Built-Using: foo bar", "depends: foo bar", "DEPENDS: foo, bar",
    "Depends: foo (>= 1) bar\nDepends: x", "Depends: x\nDepends: foo bar",
    "# a comment\nDepends: foo", "junk line", "Depends: foo\n# a comment",
]
STANZA_SHAPES = [
    "# c\nPackage: odd\nVersion: 1\nArchitecture: amd64",
    "Package: odd\n# c\nVersion: 1\nArchitecture: amd64",
    "junk\nPackage: odd\nVersion: 1\nArchitecture: amd64",
    "Version: 1\nArchitecture: amd64",
    "Package: odd\nArchitecture: amd64\nDepends: foo bar",
    "Package: odd\nVersion: 1\nArchitecture: s390x\nDepends: foo bar",
    "Package: odd\nVersion: 1\nDepends: foo bar",
    "Package: odd\nVersion: 1 2\nArchitecture: amd64",
    "Package: o d\nVersion: 1\nArchitecture: amd64",
    "package: odd\nversion: 1\narchitecture: amd64\ndepends: foo (>= 1",
    "Package: odd\nVersion: 1\nArchitecture: amd64\nX-Weird: a: b: c\n more: d",
    # a line without a colon runs into the next field's name; at the file's end
    # there is none to end it
    *(f"Package: odd\nVersion: 1\nArchitecture: amd64\n{tail}{after}"
      for tail in ("# c", "# c\n# d", "junk", "junk\n more", "#", "#c:d", " # c",
                   "foo bar: baz", ":baz", "junk\n more\nFoo: bar")
      for after in ("", "\n\nPackage: z\nVersion: 1\nArchitecture: amd64")),
    "Package: odd\nVersion: 1\nDescription: x\n# c\n more",
    "Package: odd\nVersion: 1\nArchitecture: amd64\n\n# c\n\nPackage: z\nVersion: 1",
]


def _apt_reads(work: Path, packages: str) -> Optional[str]:
    """None if apt reads this Packages file (from a flat file:// repository it
    is told to trust), else its first error line."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "repo").mkdir(parents=True)
    (work / "repo" / "Packages").write_text(packages)
    argv = _apt_options(work, f"deb [trusted=yes] file://{work}/repo ./")
    out = ""
    for command in (["apt-get", *argv, "update"], ["apt-cache", *argv, "show", "good"]):
        proc = subprocess.run(command, capture_output=True, text=True,
                              env=dict(os.environ, LANG="C"))
        out += proc.stdout + proc.stderr
    errors = re.findall(r"^E: .*", out, re.M)
    if errors:
        return errors[0]
    assert "Package: good" in out, out      # read, and the good package in it
    return None


GOOD = ("Package: good\nVersion: 1\nArchitecture: amd64\nFilename: pool/g.deb\nSize: 1\n"
        "SHA256: " + "0" * 64 + "\n\n")


@pytest.mark.skipif(not shutil.which("apt-get"), reason="apt is the oracle (Debian package apt)")
def test_a_packages_file_is_refused_whole_exactly_where_apt_refuses_it(tmp_path: Path) -> None:
    """apt refuses a whole Packages file for one relation it cannot scan, or one
    stanza it cannot read, in any package; everything else in it, however odd,
    it reads. rootstrap's reader agrees on every case, and says which package
    and which field."""
    from bootstrap.families.deb.packages import MalformedIndex, parse_packages
    stanzas = [f"Package: odd\nVersion: 1\nArchitecture: amd64\n{odd}" for odd in ODD_STANZAS]
    disagree, refusals = [], 0
    for stanza in stanzas + STANZA_SHAPES:
        text = GOOD + stanza + "\n"
        apt = _apt_reads(tmp_path / "apt", text)
        try:
            names = [p.name for p in parse_packages(text.encode())]
            ours = None
        except MalformedIndex as exc:
            ours = str(exc)
            refusals += 1
        if (apt is None) != (ours is None):
            disagree.append(f"{stanza!r}: apt {apt or 'reads it'}; rootstrap {ours or 'reads it'}")
        elif ours is None:
            assert names[0] == "good", names
    assert not disagree, "\n".join(disagree)
    assert 20 < refusals < len(stanzas + STANZA_SHAPES) - 20   # many of each kind


def test_an_index_apt_refuses_whole_is_refused_in_one_line(as_user, local_mirror, fixture_debs,
                                                          serve_mirror, session_dir):
    """One unrelated package with a relation apt cannot scan: apt refuses the
    index; rootstrap names the index, the mirror, the package and the field."""
    def broken(text: bytes) -> bytes:
        return text + (b"\nPackage: unrelated-broken\nVersion: 1.0\nArchitecture: amd64\n"
                       b"Filename: pool/none.deb\nSize: 1\nSHA256: 00\n"
                       b"Recommends: foo [amd64]\n")

    base = session_dir / f"real-malformed-{os.getpid()}"
    root = _debian_repo(base, fixture_debs, local_mirror.signer, rewrite=broken)
    verdict = _apt(base / "oracle", root, local_mirror.keyring, ["links"])
    assert verdict.startswith("apt refused") and "Problem parsing dependency" in verdict, verdict
    url = serve_mirror(root).url
    proc = _build(as_user, url, local_mirror.keyring, ["links"])
    refused(as_user, proc, "main/binary-amd64/Packages", url, "unrelated-broken",
            "Recommends", "foo [amd64]")


# --------------------------------------------------------------------------- old .deb layouts


def _tar(entries: Sequence[tuple[str, Optional[bytes]]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = debmirror.FIXTURE_EPOCH
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda d: d,
    ".gz": lambda d: gzip.compress(d, mtime=0),
    ".xz": lzma.compress,
    ".bz2": bz2.compress,
    ".lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    ".zst": lambda d: zstandard.ZstdCompressor().compress(d),
}

# (control.tar's compression, data.tar's, the names' prefix): what dpkg-deb made over
# the years (data.tar.lzma and .bz2 of the 2000s, uncompressed members, zstd of
# Ubuntu's), with and without the './' before names
LAYOUTS = {
    "old-lzma": (".gz", ".lzma", "./"),
    "old-bzip": (".gz", ".bz2", ""),
    "old-plain": ("", "", "./"),
    "old-zstd": (".zst", ".zst", ""),
    "old-xz": (".xz", ".xz", ""),
}


def _old_deb(folder: Path, name: str) -> Path:
    control_comp, data_comp, prefix = LAYOUTS[name]
    control = (f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\n"
               f"Maintainer: rootstrap tests <tests@rootstrap.invalid>\nInstalled-Size: 1\n"
               f"Depends: base-files\nDescription: a package in an older layout\n"
               f" {control_comp or 'none'} control, {data_comp or 'none'} data\n").encode()
    control_tar = _tar([(prefix or ".", None), (prefix + "control", control)])
    data_tar = _tar([(prefix or ".", None), (prefix + "usr/", None),
                     (prefix + "usr/share/", None),
                     (prefix + f"usr/share/{name}.txt", f"{name}\n".encode())])
    path = folder / f"{name}_1.0-1_all.deb"
    path.write_bytes(ar([(b"debian-binary", b"2.0\n"),
                         (b"control.tar" + control_comp.encode(),
                          COMPRESS[control_comp](control_tar)),
                         (b"data.tar" + data_comp.encode(), COMPRESS[data_comp](data_tar))]))
    return path


def test_every_deb_layout_dpkg_reads_is_unpacked(as_user, local_mirror, fixture_debs,
                                                 serve_mirror, session_dir):
    base = session_dir / f"real-layouts-{os.getpid()}"
    folder = base / "debs"
    folder.mkdir(parents=True)
    debs = [_old_deb(folder, name) for name in LAYOUTS]
    for deb in debs:
        # dpkg's own reader: its fields, and the files it would unpack
        assert debmirror.deb_field(deb, "Package")["Package"] == deb.name.split("_")[0]
        listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                                 text=True, check=True).stdout
        assert f"usr/share/{deb.name.split('_')[0]}.txt" in listing
    root = _debian_repo(base / "mirror", [*fixture_debs, *debs], local_mirror.signer)
    _apt_accepts(base / "oracle", root, local_mirror.keyring, list(LAYOUTS))
    proc = _build(as_user, serve_mirror(root).url, local_mirror.keyring, list(LAYOUTS))
    assert proc.returncode == 0, proc.stderr
    tree = as_user.path("tree")
    for name in LAYOUTS:
        assert (tree / f"usr/share/{name}.txt").read_text() == f"{name}\n"
        # dpkg's file list names them as dpkg would, whatever the prefix in the tar
        listed = (tree / f"var/lib/dpkg/info/{name}.list").read_text().splitlines()
        assert f"/usr/share/{name}.txt" in listed and not any("./" in p for p in listed)
    assert set(LAYOUTS) <= set(_installed(tree))


# --------------------------------------------------------------------------- older signers


@pytest.fixture(scope="module")
def old_keys() -> Iterator[dict[str, tuple[Path, Path]]]:
    """name -> (gpg home, public key file) for the key types of older keyrings."""
    base = Path(tempfile.mkdtemp(prefix="rs-oldkeys-"))
    base.chmod(0o755)
    keys = {}
    for algo in ("dsa1024", "dsa2048", "rsa1024", "rsa2048"):
        home = base / algo
        home.mkdir(mode=0o700)
        gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode",
               "loopback", "--passphrase", ""]
        subprocess.run([*gpg, "--quick-gen-key", f"old {algo} <{algo}@rootstrap.invalid>",
                        algo, "sign", "never"], check=True, capture_output=True)
        public = base / f"{algo}.gpg"
        public.write_bytes(subprocess.run([*gpg, "--export"], check=True,
                                          capture_output=True).stdout)
        public.chmod(0o644)
        keys[algo] = (home, public)
    yield keys
    for home, _ in keys.values():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                       capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def _sign_with(local_mirror, home: Path, digest: str) -> bytes:  # type: ignore[no-untyped-def]
    signed = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback",
         "--passphrase", "", "--digest-algo", digest, "--clearsign"],
        input=(local_mirror.dist / "Release").read_bytes(), capture_output=True,
        check=True).stdout
    local_mirror.tamper(f"dists/{SUITE}/InRelease", signed)
    return signed


@pytest.mark.parametrize("algo", ["dsa1024", "dsa2048", "rsa1024", "rsa2048"])
def test_a_release_signed_by_an_older_key_type_is_accepted(algo, as_user, local_mirror,
                                                           old_keys, session_dir):
    home, public = old_keys[algo]
    _sign_with(local_mirror, home, "SHA256")
    _apt_accepts(session_dir / f"real-{algo}-{os.getpid()}", local_mirror.root, public,
                 ["base-files"])
    proc = _build(as_user, local_mirror.url, public, ["base-files"])
    assert proc.returncode == 0, proc.stderr
    assert (as_user.path("tree") / "etc/debian_version").is_file()


def test_a_release_signed_over_sha1_is_refused_as_apt_refuses_it(as_user, local_mirror,
                                                                  old_keys, session_dir):
    home, public = old_keys["rsa2048"]
    signed = _sign_with(local_mirror, home, "SHA1")
    verdict = _apt(session_dir / f"real-sha1-{os.getpid()}", local_mirror.root, public,
                   ["base-files"])
    assert verdict.startswith("apt refused") and "signatures were invalid" in verdict
    proc = _build(as_user, local_mirror.url, public, ["base-files"])
    refused(as_user, proc, f"dists/{SUITE}/InRelease", local_mirror.url, "SHA1")
    assert not any(p.is_file() and p.read_bytes() == signed for p in as_user.cache.rglob("*"))


# --------------------------------------------------------------------------- Arch


def _odd_db(db: Path) -> None:
    """Rewrite a sync database as real ones come: fields libalpm does not know,
    runs of blank lines, a desc without its final blank line."""
    with tarfile.open(db) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
                   for m in tar]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for m, data in members:
            if data is not None and m.name.endswith("/desc"):
                text = data.decode()
                text = "%XDATA%\npkgtype=pkg\n\n" + text.replace("\n\n", "\n\n\n") + \
                    "%UNKNOWN-FIELD%\nsome value\nand another\n"
                data = text.encode()
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    db.write_bytes(out.getvalue())


def test_arch_databases_with_unknown_fields_pacman_reads_are_built_from(
        as_user, arch_mirror, signer, serve_mirror, session_dir):
    if os.geteuid() != 0:
        pytest.skip("pacman, the oracle, syncs databases only as root")
    root = session_dir / f"real-arch-{os.getpid()}"
    shutil.copytree(arch_mirror.fixture.root, root)
    for repo, folder in arch_mirror.fixture.repos.items():
        db = root / folder.relative_to(arch_mirror.fixture.root) / f"{repo}.db"
        _odd_db(db)
        assert b"%UNKNOWN-FIELD%" in gzip.decompress(db.read_bytes())
        archmirror.sign_file(db, signer)
    for top, dirs, files in os.walk(root):
        os.chmod(top, 0o755)
        for name in files:
            os.chmod(os.path.join(top, name), 0o644)
    server = serve_mirror(root)
    work = root / "oracle"
    (work / "db").mkdir(parents=True)
    conf = work / "pacman.conf"
    conf.write_text(archmirror.reference_pacman_conf(server.url, list(arch_mirror.fixture.repos)))
    pacman = ["pacman", "--config", str(conf), "--dbpath", str(work / "db"), "--noconfirm"]
    sync = subprocess.run([*pacman, "-Sy"], capture_output=True, text=True)
    assert sync.returncode == 0, sync.stderr
    plan = subprocess.run([*pacman, "-Sp", "--print-format", "%n", "base"],
                          capture_output=True, text=True)
    assert plan.returncode == 0 and "warning" not in plan.stderr, plan.stderr
    proc = as_user.run("arch", as_user.path("tree"), "--mirror",
                       arch_mirror.fixture.server_for(server.url), "--keyring", signer.keyring,
                       "--cache", as_user.cache, "--no-configure")
    assert proc.returncode == 0, proc.stderr
    built = archmirror.host_pacman(as_user.path("tree"), "-Qq").stdout.split()
    assert sorted(built) == sorted(plan.stdout.split())


# --------------------------------------------------------------------------- apk, rpm

ALPINE_INDEX = real("alpine", "apkindex", "v3.16-main-x86_64", "APKINDEX.tar.gz")
F20 = real("fedora", "repodata-f20", "repodata")


def _apk_content(text: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("DESCRIPTION", b"v3.16"), ("APKINDEX", text.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@pytest.mark.skipif(not ALPINE_INDEX.is_file(), reason="no real Alpine files here")
def test_apk_index_fields_apk_skips_are_skipped_and_the_ones_it_cannot_use_refuse_the_package():
    """apk-tools (package.c, apk_pkg_add_info) ignores a field letter it does not
    know when it is lower case, and marks the package uninstallable when it is upper
    case: the index stays usable either way."""
    from bootstrap.families.apk import index
    from bootstrap.trust.rsa import RsaKeys
    keys = Path(__file__).resolve().parent.parent / "keys" / "alpine"
    content, _ = index.verify(ALPINE_INDEX.read_bytes(), RsaKeys([keys]), "v3.16", "real files")
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        member = tar.extractfile("APKINDEX")
        assert member is not None
        text = member.read().decode()
    before = index.parse(content, "main", "", 0, "v3.16")
    records = text.split("\n\n")
    odd = [r + "\nx:an unknown lower-case field\ny:and another" if r.strip() else r
           for r in records]
    busybox = next(i for i, r in enumerate(odd) if "\nP:busybox\n" in r)
    odd[busybox] += "\nY:an unknown upper-case field"
    after = index.parse(_apk_content("\n\n".join(odd)), "main", "", 0, "v3.16")
    assert after.refused.keys() == {"busybox"} and "Y:" in after.refused["busybox"]
    kept = {p.name: (p.version, p.depends, p.provides) for p in after.packages}
    assert kept == {p.name: (p.version, p.depends, p.provides) for p in before.packages
                    if p.name != "busybox"}


@pytest.mark.skipif(not F20.is_dir(), reason="no real Fedora files here")
def test_rpm_primary_elements_and_attributes_dnf_skips_are_skipped():
    from bootstrap.families.rpm import repodata
    md = repodata.parse_repomd((F20 / "repomd.xml").read_bytes(), "f20")
    with open(F20 / Path(md["primary"].href).name, "rb") as f:
        text = repodata.decompressed(f, md["primary"].href).read()
    plain = list(repodata.parse_primary(io.BytesIO(text), "fedora", "primary"))
    odd = text.replace(b'<package type="rpm">',
                       b'<package type="rpm" xmlns:x="urn:x" x:extra="1">'
                       b'<x:unknown a="b"><x:name>not-a-name</x:name></x:unknown>')
    odd = odd.replace(b"<rpm:requires>", b'<rpm:requires x:kind="odd" xmlns:x="urn:x">'
                      b'<rpm:unknown-entry name="no"/>')
    odd = odd.replace(b"</format>", b"<rpm:futurefield>1</rpm:futurefield></format>")
    assert odd.count(b"x:unknown") == 2 * len(plain)
    parsed = list(repodata.parse_primary(io.BytesIO(odd), "fedora", "primary"))
    assert [(p.nevra, p.deps, p.files, p.digest) for p in parsed] == \
        [(p.nevra, p.deps, p.files, p.digest) for p in plain]
