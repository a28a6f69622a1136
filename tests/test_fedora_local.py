"""Fedora trees from the local fixture (rpmmirror), built as unprivileged users
in every mode, judged by the host's own rpm and by a reference root the host's
dnf installs as root from the same mirror with the same options."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

import rpmmirror
from debmirror import MirrorServer, Signer
from manifest import tar_manifest, tree_manifest
from refusal import refused

DBPATH = "/usr/lib/sysimage/rpm"
# What legitimately differs between a rootstrap tree and dnf's reference root
# (README, "Fedora: what differs from dnf's own install"):
DIFFERENT = {
    # seeded by rootstrap for every distribution
    "etc/hostname", "etc/hosts", "etc/machine-id", "etc/resolv.conf",
    # with --mirror, the repositories the tree came from
    "etc/yum.repos.d/rootstrap.repo",
    # a container's /dev, recorded by rootstrap; dnf's install leaves it empty
    "dev",
    # dnf's own history and logs of the transaction that made the reference
    "var/lib/dnf", "var/log/dnf.log", "var/log/dnf.librepo.log", "var/log/dnf.rpm.log",
    "var/log/hawkey.log", "etc/dnf", "var/cache",
    # the database: same packages (rpm -qa), other install times and sqlite pages
    "usr/lib/sysimage/rpm",
}
BACKENDS = {"userns-full": ("mapped", []), "userns-single": ("single", []),
            "ptrace": ("single", ["--mode", "ptrace"])}
MINIMAL = ["setup", "filesystem", "bash", "glibc", "libfoo", "fedora-repos",
           "fedora-release-common", "dnf5"]


def host_rpm(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rpm", "--root", str(root), "--dbpath", DBPATH, *args],
                          capture_output=True, text=True)


def installed(root: Path) -> list[str]:
    """Every package of the tree's rpm database, in the order they were installed."""
    proc = host_rpm(root, "-qa", "--qf", "%{name}-%{evr}.%{arch}\n")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.fixture(scope="module")
def dnf_reference(fedora_mirror, session_dir: Path) -> Callable[..., Path]:
    """The host dnf's own install (as root) of names from the fixture, with the
    fixture key as the repositories' gpgkey, into a fresh root per request."""
    if os.geteuid() != 0:
        pytest.skip("the host's dnf installs the reference roots only as root")
    if not shutil.which("dnf"):
        pytest.fail("the reference roots need the host's dnf (tests/run installs it)")
    work = session_dir / "fedora-reference"
    work.mkdir(parents=True, exist_ok=True)
    key = work / "key.asc"
    key.write_text(rpmmirror.armored(fedora_mirror.repos.signer))
    home = rpmmirror.dnf_host_config(
        work, [(repo, fedora_mirror.repo_url(repo)) for repo in ("fedora", "updates")], key)
    made: dict[tuple[tuple[str, ...], bool], Path] = {}

    def reference(names: Sequence[str], weak: bool = False) -> Path:
        if (tuple(names), weak) in made:
            return made[(tuple(names), weak)]
        root = work / f"root{len(made)}"
        proc = subprocess.run(
            ["dnf", "-y", "--installroot", str(root), "--releasever", rpmmirror.RELEASE,
             f"--setopt=reposdir={work / 'repos.d'}",
             f"--setopt=install_weak_deps={weak}", "install", *names],
            capture_output=True, text=True, env=dict(os.environ, HOME=str(home)))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        made[(tuple(names), weak)] = root
        return root
    return reference


def _differs(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in DIFFERENT)


def extracted(tarball: Path, into: Path) -> Path:
    """The tarball unpacked as root with its owners and capabilities, for the
    host's rpm to judge as it would judge a Fedora system."""
    into.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf",
                    str(tarball), "-C", str(into)], check=True)
    return into


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_minimal_is_what_dnf_installs(backend, request, fedora_mirror, dnf_reference,
                                      tmp_path):
    kind, extra = BACKENDS[backend]
    user = request.getfixturevalue(f"{kind}_user")
    tarball = user.path("fedora.tar")
    proc = user.run("fedora", tarball, *fedora_mirror.args(*extra), "--json",
                    "--cache", user.cache, check=True)
    result = json.loads(proc.stdout)
    assert (result["mode"], result["variant"], result["release"]) == \
        (backend, "minimal", rpmmirror.RELEASE)
    reference = dnf_reference(["dnf"])
    tree = extracted(tarball, tmp_path / "tree")

    # the same packages, the key that signed them imported as dnf imports it,
    # each installed in the order rpm installed it
    ours, theirs = installed(tree), installed(reference)
    assert ours == theirs
    assert [n.rsplit("-", 2)[0] for n in ours] == ["gpg-pubkey"] + MINIMAL
    assert [p["name"] for p in result["packages"]] == MINIMAL
    # rpm finds every file as its header describes it, and the packages' own
    # signatures check out against the imported key
    verify = host_rpm(tree, "-Va")
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    some = next(fedora_mirror.repos.built[n] for n in fedora_mirror.repos.built
                if n.startswith("dnf5-"))
    assert "digests signatures OK" in host_rpm(tree, "-K", str(some)).stdout

    # paths, modes, owners, contents and link targets: dnf's, but for DIFFERENT
    mine = {p: v for p, v in tar_manifest(tarball).items() if not _differs(p)}
    ref = {p: v for p, v in tree_manifest(reference).items() if not _differs(p)}
    assert sorted(set(mine) ^ set(ref)) == []
    assert [p for p in mine if mine[p] != ref[p]] == []
    assert mine["etc/shadow"][1] == "0o0" and mine["root"][1] == "0o550"
    assert mine["tmp"][1] == "0o1777" and mine["bin"][5] == "usr/bin"


def test_scriptlets_and_file_triggers_run_in_rpms_order(user, fedora_mirror, dnf_reference):
    tree = user.path("fedora")
    user.run("fedora", tree, *fedora_mirror.args("--include", "fixd,rootfiles"),
             "--cache", user.cache, check=True)
    reference = dnf_reference(["dnf", "fixd", "rootfiles"])
    log = rpmmirror.LOG.lstrip("/")
    ours, theirs = (tree / log).read_text(), (reference / log).read_text()
    assert ours == theirs
    lines = ours.splitlines()
    # Lua before any shell, the %pre that adds fixd's user before its files,
    # a file trigger with its files on stdin before %post, both kinds of trigger
    assert lines[:2] == ["pretrans filesystem 2", "post setup 1"]
    assert lines.index("pre fixd 1") < lines.index("post fixd 1 1") \
        < lines.index("posttrans fixd 1 1")
    assert "filetriggerin glibc 1 0" in lines and "transfiletriggerin glibc 1 0" in lines
    assert "  /usr/share/fixture-info/fixd" in lines and "  /usr/lib64/libfoo.so.1" in lines
    if user.kind == "mapped":
        # %caps on the disk too, where the namespace may set file capabilities
        caps = os.getxattr(tree / "usr/bin/fixd-ping", "security.capability")
        magic, permitted = struct.unpack("<II", caps[:8])
        assert magic & 1 and permitted & (1 << 13)          # effective; cap_net_raw


def test_a_pre_script_user_owns_its_files_and_capabilities_survive(mapped_user, single_user,
                                                                   fedora_mirror):
    for user, extra in ((mapped_user, []), (single_user, ["--mode", "ptrace"])):
        tarball = user.path("fixd.tar")
        user.run("fedora", tarball, *fedora_mirror.args("--variant", "custom", "--include",
                                                        "fixd", *extra),
                 "--cache", user.cache, check=True)
        with tarfile.open(tarball) as tar:
            m = {x.name: x for x in tar}
        assert (m["./var/lib/fixd"].uid, m["./var/lib/fixd"].gid) == (4321, 4321)
        assert (m["./var/lib/fixd/state"].uid, m["./var/lib/fixd/state"].mode) == (4321, 0o640)
        assert m["./usr/bin/fixd-su"].mode == 0o4755
        assert m["./usr/bin/fixd-ping"].pax_headers["SCHILY.xattr.security.capability"] \
            .encode("latin-1") == bytes.fromhex("0100000200200000000000000000000000000000")
        assert m["./usr/share/doc/fixd/b"].islnk()
        assert "./var/log/fixd.log" not in m             # %ghost: listed, never written
        assert "fixd:x:4321:4321:" in tar_text(tarball, "./etc/passwd")
        user.path("fixd.tar").unlink()


def tar_text(path: Path, member: str) -> str:
    with tarfile.open(path) as tar:
        f = tar.extractfile(member)
        assert f is not None
        return f.read().decode()


# what dnf resolves, request by request; each its own point of the solver
REQUESTS = [
    (["@core"], False),                     # comps: mandatory and default, a name no
                                            # repository has left out, a conditional not met
    (["@core", "fixd"], False),             # ... and met: fixd-extras comes with fixd
    (["@daemons"], False),                  # epochs win over versions, ~ sorts before
    (["fixd"], False),                      # file provides, rich `if` not met, Requires(pre)
    (["fixd"], True),                       # Recommends and Supplements with weak deps
    (["dnf", "python3"], False),            # dnf4 asked by name: dnf5 obsoletes it
]


@pytest.mark.parametrize("names,weak", REQUESTS, ids=[
    "+".join(n) + ("-weak" if w else "") for n, w in REQUESTS])
def test_the_solver_picks_what_dnf_picks(names, weak, single_user, fedora_mirror,
                                         dnf_reference, tmp_path):
    out = single_user.path("t.tar")
    args = ["--variant", "custom", "--include", ",".join(names), "--no-configure"]
    proc = single_user.run("fedora", out, *fedora_mirror.args(*args),
                           *(["--weak-deps"] if weak else []), "--json",
                           "--cache", single_user.cache, check=True)
    ours = sorted(f"{p['name']}-{p['version']}" for p in json.loads(proc.stdout)["packages"])
    reference = dnf_reference(names, weak)
    theirs = sorted(n for n in host_rpm(reference, "-qa", "--qf", "%{name}-%{evr}\n")
                    .stdout.split() if not n.startswith("gpg-pubkey"))
    assert ours == theirs
    out.unlink()


def test_picks_spelled_out(as_user, fedora_mirror):
    proc = as_user.run("fedora", as_user.path("t.tar"), *fedora_mirror.args(
        "--variant", "custom", "--include", "@daemons,dnf", "--weak-deps", "--no-configure"),
        "--json", "--cache", as_user.cache, check=True)
    got = {p["name"]: p["version"] for p in json.loads(proc.stdout)["packages"]}
    assert got["epochy"] == "1:9.0-1.fc45"          # an epoch beats a higher version
    assert got["tildy"] == "2.0~rc1-1.fc45"         # 2.0~rc1 is still newer than 1.9
    assert got["libfoo"] == "1.3-1.fc45"            # updates' over fedora's
    assert "dnf5" in got and "dnf" not in got       # obsoletes followed
    assert "coreutils" in got                       # /usr/bin/grep, a file provide
    assert {"fixd-extras", "fixd-helper"} <= set(got)
    assert "fixd-selinux" not in got                # (fixd-selinux if selinux-policy)


def test_conflicts_and_unknown_names_are_refused(as_user, fedora_mirror):
    proc = as_user.run("fedora", as_user.path("t"), *fedora_mirror.args(
        "--include", "grumpy"), "--cache", as_user.cache)
    refused(as_user, proc, "grumpy", "conflicts", "bash")
    proc = as_user.run("fedora", as_user.path("t"), *fedora_mirror.args(
        "--include", "@nosuchgroup"), "--cache", as_user.cache)
    refused(as_user, proc, "no group 'nosuchgroup'")
    proc = as_user.run("fedora", as_user.path("t"), *fedora_mirror.args(
        "--include", "nosuchpackage"), "--cache", as_user.cache)
    refused(as_user, proc, "nosuchpackage")


def test_the_tree_runs_its_own_programs(user, fedora_mirror):
    tree = user.path("fedora")
    user.run("fedora", tree, *fedora_mirror.args(), "--cache", user.cache, check=True)
    out = user.run("run", tree, "--", "/bin/sh", "-c", "dnf && cat /etc/os-release",
                   check=True).stdout
    assert "dnf5 fixture" in out and "ID=fedora" in out
    assert (tree / "etc/hostname").read_text() == "fedora\n"
    assert (tree / "etc/machine-id").read_text() == ""
    repo = (tree / "etc/yum.repos.d/rootstrap.repo").read_text()
    assert f"baseurl={fedora_mirror.repo_url('updates')}" in repo and "gpgcheck=1" in repo


# --------------------------------------------------------------------------- metalink

def metalink_recipe(folder: Path, url: str) -> Path:
    """recipes/fedora.yaml with its metalinks at the fixture server."""
    text = (Path(__file__).parent.parent / "recipes" / "fedora.yaml").read_text()
    text = text.replace("https://mirrors.fedoraproject.org/metalink?repo=", f"{url}/metalink/") \
        .replace("&arch=$basearch", "-$basearch.xml")
    path = folder / "fedora-local.yaml"
    path.write_text(text)
    path.chmod(0o644)
    return path


def test_metalink_mirrors_are_used_in_order_and_vouch_for_repomd(as_user, fedora_mirror):
    recipe = metalink_recipe(as_user.mkdir("recipe"), fedora_mirror.url)
    tree = as_user.path("t.tar")
    proc = as_user.run(recipe, tree, "--keyring", fedora_mirror.repos.signer.keyring,
                       "--json", "--cache", as_user.cache, check=True)
    assert [p["name"] for p in json.loads(proc.stdout)["packages"]] == MINIMAL
    with tarfile.open(tree) as tar:
        assert "./etc/yum.repos.d/rootstrap.repo" not in tar.getnames()


@pytest.fixture
def damaged(fedora_mirror, tmp_path: Path) -> Iterator[rpmmirror.FedoraRepos]:
    """A private copy of the fixture to damage, served on its own port."""
    root = tmp_path / "mirror"
    shutil.copytree(fedora_mirror.repos.root, root, symlinks=True)
    tmp_path.chmod(0o755)
    src = fedora_mirror.repos
    copy = rpmmirror.FedoraRepos(root, src.signer, {
        n: root / p.relative_to(src.root) for n, p in src.built.items()}, src.specs)
    server = MirrorServer(root)
    copy.url = server.url                                    # type: ignore[attr-defined]
    copy.write_metalinks(server.url)
    yield copy
    server.close()


def _args(repos: rpmmirror.FedoraRepos, keyring: Path) -> list[object]:
    url = repos.url                                          # type: ignore[attr-defined]
    return ["--mirror", repos.repo_url(url, "fedora"), "--mirror",
            repos.repo_url(url, "updates"), "--keyring", keyring]


def test_a_repomd_the_metalink_does_not_vouch_for_is_refused(as_user, damaged):
    recipe = metalink_recipe(as_user.mkdir("recipe"), damaged.url)
    repomd = damaged.repo_dir("fedora") / "repodata" / "repomd.xml"
    # the mirror's repomd.xml changed after MirrorManager saw it
    repomd.write_text(repomd.read_text().replace("<revision>", "<revision>1"))
    proc = as_user.run(recipe, as_user.path("t"), "--keyring", damaged.signer.keyring,
                       "--cache", as_user.cache)
    line = refused(as_user, proc, "repomd.xml", "metalink", damaged.url, keep=("recipe",))
    # ... unless it is one of the metalink's alternates (a mirror a push behind)
    rpmmirror.write_metalink(
        damaged.root / "metalink" / f"fedora-{rpmmirror.RELEASE}-{rpmmirror.ARCH}.xml",
        damaged.repo_dir("fedora") / "repodata" / "repomd.xml",
        [f"{damaged.repo_url(damaged.url, 'fedora')}/repodata/repomd.xml"])
    assert "SHA256" in line
    proc = as_user.run(recipe, as_user.path("t"), "--keyring", damaged.signer.keyring,
                       "--cache", as_user.cache, "--no-configure", "-q")
    assert proc.returncode == 0, proc.stderr


def test_a_signed_repomd_is_checked_where_a_repository_has_one(as_user, damaged,
                                                              untrusted_signer):
    repomd = damaged.repo_dir("updates") / "repodata" / "repomd.xml"
    rpmmirror.sign_repomd(repomd, damaged.signer)
    proc = as_user.run("fedora", as_user.path("t.tar"), *_args(damaged, damaged.signer.keyring),
                       "--no-configure", "--cache", as_user.cache, "-q")
    assert proc.returncode == 0, proc.stderr
    for made in ("t.tar", "t.tar.manifest.json", "t.tar.cdx.json"):
        as_user.path(made).unlink()
    rpmmirror.sign_repomd(repomd, untrusted_signer)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, "repomd.xml", untrusted_signer.fingerprint[-16:])


# --------------------------------------------------------------------------- refusals

def _rebuild(repos: rpmmirror.FedoraRepos, filename: str, signer: Signer | None,
             damage: Callable[[Path], None] = lambda p: None) -> Path:
    """A package built again (signed by signer, or not), damaged, and its
    repository indexed again so that primary vouches for the damaged file."""
    spec = next(s for s in repos.specs if s.filename == filename)
    folder = repos.repo_dir(spec.repo) / "Packages" / spec.name[0]
    path = rpmmirror.build_rpm(spec, folder, signer)
    damage(path)
    repos.reindex(spec.repo)
    return path


def test_an_untrusted_key_is_refused(as_user, damaged, untrusted_signer):
    _rebuild(damaged, "bash-5.3.0-2.fc45.x86_64.rpm", untrusted_signer)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, "bash-5.3.0-2.fc45.x86_64.rpm", damaged.url,
            untrusted_signer.fingerprint[-16:])


def test_an_unsigned_package_is_refused(as_user, damaged):
    _rebuild(damaged, "glibc-2.42-4.fc45.x86_64.rpm", None)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, "glibc-2.42-4.fc45.x86_64.rpm", "not signed")


def test_a_bad_header_signature_is_refused(as_user, damaged):
    def change_summary(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data.replace(b"libfoo (fixture)", b"libfoo (EVIL!!!)", 1))
    _rebuild(damaged, "libfoo-1.3-1.fc45.x86_64.rpm", damaged.signer, change_summary)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, "libfoo-1.3-1.fc45.x86_64.rpm", "signature")


def test_a_payload_that_does_not_match_its_header_is_refused(as_user, damaged):
    def flip_last_byte(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    _rebuild(damaged, "dnf5-5.2.16-1.fc45.x86_64.rpm", damaged.signer, flip_last_byte)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, "dnf5-5.2.16-1.fc45.x86_64.rpm", "payload")


def test_a_primary_that_does_not_match_repomd_is_refused(as_user, damaged):
    repodata = damaged.repo_dir("updates") / "repodata"
    primary = next(repodata.glob("*-primary.xml.zst"))
    primary.write_bytes(primary.read_bytes()[:-8] + b"\0" * 8)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, primary.name, "SHA256")


def test_a_package_that_does_not_match_primary_is_refused(as_user, damaged):
    path = damaged.built["libfoo-1.3-1.fc45.x86_64.rpm"]
    path.write_bytes(path.read_bytes() + b"\0")
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, "libfoo-1.3-1.fc45.x86_64.rpm", damaged.url)


def test_a_package_older_than_primary_says_is_refused(as_user, damaged):
    # primary (vouched for by repomd and the metalink) names a newer version than the
    # signed package holds: a downgrade under the current name
    import gzip
    spec = damaged.spec("bash")
    repomd = damaged.reindex(spec.repo, zstd=False)
    primary = next((repomd.parent).glob("*-primary.xml.gz"))
    text = gzip.decompress(primary.read_bytes())
    lie = text.replace(f'<version epoch="0" ver="{spec.version}"'.encode(),
                       f'<version epoch="0" ver="{spec.version}.9"'.encode())
    assert lie != text
    primary.write_bytes(gzip.compress(lie))
    rpmmirror.recompress_zstd(repomd)
    damaged.write_metalinks(damaged.url)
    proc = as_user.run("fedora", as_user.path("t"), *_args(damaged, damaged.signer.keyring),
                       "--cache", as_user.cache)
    refused(as_user, proc, f"bash-{spec.version}-", damaged.url,
            f"says it is bash {spec.version}-", f"primary bash {spec.version}.9-")


# --------------------------------------------------------------------------- verify, derivative

def test_verify_checks_rpms_as_rpmkeys_does(as_user, fedora_mirror, untrusted_signer,
                                            tmp_path):
    ok = fedora_mirror.repos.built["bash-5.3.0-2.fc45.x86_64.rpm"]
    proc = as_user.run("verify", "fedora", ok, "--keyring", fedora_mirror.repos.signer.keyring)
    assert proc.returncode == 0, proc.stderr
    assert fedora_mirror.repos.signer.fingerprint in proc.stdout
    # Fedora's own keys know nothing of the fixture's
    proc = as_user.run("verify", "fedora", ok)
    assert proc.returncode == 1 and "bash-5.3.0-2.fc45.x86_64.rpm" in proc.stdout + proc.stderr
    proc = as_user.run("verify", "fedora", ok, "--release", "45")
    assert proc.returncode == 1


def test_a_derivative_is_only_a_recipe(as_user, fedora_mirror):
    proc = as_user.run("almalinux", as_user.path("alma.tar"), *fedora_mirror.args(),
                       "--release", "10", "--json", "--cache", as_user.cache, check=True)
    result = json.loads(proc.stdout)
    assert (result["distro"], result["release"]) == ("almalinux", "10")
    assert [p["name"] for p in result["packages"]] == MINIMAL
    assert tar_text(as_user.path("alma.tar"), "./etc/hostname") == "almalinux\n"
