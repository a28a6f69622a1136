"""Every output, handed to the runtime that takes it, as an unprivileged user: crun
and runc start the bundle, bwrap the directory, skopeo, umoci and podman read the
OCI image, unsquashfs the squashfs; each holds the owners and modes of the tarball.
Two builds with the same SOURCE_DATE_EPOCH give the same image bytes in every
sandbox mode. Trees come from the Debian and Arch fixture mirrors."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

import manifest

EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}
SHOW = "cat /etc/os-release; id -u"
FIXTURE_RELEASE = 'PRETTY_NAME="rootstrap fixture"'
# what umoci keeps an owner it cannot make in, as rootlesscontainers.proto's Resource
ROOTLESS_XATTR = "user.rootlesscontainers"
NOOP_ID = 0xFFFFFFFF


def _need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        message = f"missing on this host: {', '.join(missing)}"
        if os.geteuid() == 0:
            pytest.fail(message)      # tests/run installs them: CI must not pass by skipping
        pytest.skip(message)


def _debian(user, mirror, target: Path, *extra: object, env=None):
    return user.run("debian", target, *mirror.cli_args(), "--no-configure", "--cache",
                    user.cache, "--include", "suid-tools,links", *extra,
                    env={**EPOCH, **(env or {})}, check=True)


def _arch(user, mirror, target: Path, *extra: object):
    return user.run("arch", target, "--mirror", mirror.server_line, "--keyring",
                    mirror.keyring, *extra, env=EPOCH, check=True)


# --------------------------------------------------------------------------- manifests


def _xattrs(items: dict[str, bytes]) -> tuple:
    return tuple(sorted((k, v) for k, v in items.items() if k != ROOTLESS_XATTR))


def tar_manifest(tarball: Path) -> dict[str, tuple]:
    """manifest.tar_manifest's (kind, mode, uid, gid, sha256, link target), device
    nodes named, with each entry's xattrs and device numbers."""
    out = {}
    base = manifest.tar_manifest(tarball)
    with tarfile.open(tarball, encoding="utf-8", errors="surrogateescape") as tar:
        for m in tar:
            name = m.name.removeprefix("./")
            if name not in base:
                continue
            xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
                      for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            kind = "char" if m.ischr() else "block" if m.isblk() else base[name][0]
            rdev = (m.devmajor, m.devminor) if m.ischr() or m.isblk() else None
            out[name] = (kind, *base[name][1:], _xattrs(xattrs), rdev)
    return out


def _rootless_owner(path: Path, caller: tuple[int, int]) -> tuple[int, int]:
    """The owner umoci --rootless meant: its xattr, else the caller's own (root)."""
    try:
        raw = os.getxattr(path, ROOTLESS_XATTR, follow_symlinks=False)
    except OSError:
        raw = b""
    ids = {1: 0, 2: 0}           # proto3: a field left out is 0
    i = 0
    while i < len(raw):
        field, i = raw[i] >> 3, i + 1
        value = shift = 0
        while True:
            byte, i = raw[i], i + 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        ids[field] = value
    st = path.lstat()
    on_disk = (0 if st.st_uid == caller[0] else st.st_uid,
               0 if st.st_gid == caller[1] else st.st_gid)
    return (on_disk[0] if ids[1] == NOOP_ID else ids[1],
            on_disk[1] if ids[2] == NOOP_ID else ids[2])


def umoci_manifest(root: Path, caller: tuple[int, int]) -> dict[str, tuple]:
    """tar_manifest's shape for a tree umoci unpacked without privilege: the owners
    it meant, its own xattr left out."""
    out = {}
    for rel, (kind, mode, _, _, digest, link) in manifest.tree_manifest(root).items():
        full = root / rel
        xattrs = {} if kind == "symlink" else {k: os.getxattr(full, k)
                                               for k in os.listxattr(full)}
        out[rel] = (kind, mode, *_rootless_owner(full, caller), digest, link,
                    _xattrs(xattrs), None)
    return out


def unmarked(said: str) -> set[str]:
    """What umoci says it could not mark with its owner xattr (a read-only
    directory refuses setxattr to its unprivileged owner): their owners are lost."""
    return set(re.findall(r'rootless\{(.*?)\} ignoring \(usually\) harmless EPERM on '
                          r'setxattr "user.rootlesscontainers"', said))


def umoci_differs(ours: dict[str, tuple], theirs: dict[str, tuple], said: str) -> list[str]:
    """The entries whose kind, mode, owner, content, link or xattrs differ, but
    for device nodes and the owners umoci said it lost."""
    lost = unmarked(said)
    return [p for p in ours if ours[p][0] not in ("char", "block")
            and (ours[p][:2] + ours[p][4:7] != theirs[p][:2] + theirs[p][4:7]
                 or (p not in lost and ours[p][2:4] != theirs[p][2:4]))]


def squashfs_listing(image: Path) -> dict[str, tuple[str, int, int]]:
    """path -> (ls-style mode, uid, gid), as `unsquashfs -lln` shows them."""
    listing = subprocess.run(["unsquashfs", "-lln", str(image)], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
    out = {}
    for line in listing.splitlines():
        found = re.match(r"(\S{10}) (\d+)/(\d+) .*? \d{4}-\d\d-\d\d \d\d:\d\d "
                         r"squashfs-root/?(.*?)(?: -> .*)?$", line)
        if found and found.group(4):
            out[found.group(4)] = (found.group(1), int(found.group(2)), int(found.group(3)))
    return out


# --------------------------------------------------------------------------- bundle


def _hybrid_cgroups() -> bool:
    """A tmpfs at /sys/fs/cgroup with a cgroup2 beside v1 that holds controllers:
    crun refuses to run there at all (runc does not mind)."""
    try:
        controllers = Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().split()
    except OSError:
        return False
    return bool(controllers) and os.path.ismount("/sys/fs/cgroup")


def _runtime(user, runtime: str, bundle: Path, name: str) -> subprocess.CompletedProcess:
    """RUNTIME run as the user; where crun needs it (see README, "Outputs"), in a
    mount namespace with a bare tmpfs over /sys/fs/cgroup, made by root."""
    argv = [runtime, "--root", str(user.mkdir(f"state-{runtime}")), "run", "--bundle",
            str(bundle), name]
    command = user.command(argv)
    if runtime == "crun" and _hybrid_cgroups():
        if os.geteuid() != 0:
            pytest.skip("crun refuses this host's hybrid cgroups; hiding them needs root")
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup && exec "$@"', "sh",
                   *command]
    return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def _with_args(bundle: Path, args: list[str]) -> dict:
    """The bundle's config.json with process.args replaced (as a user edits it)."""
    doc = json.loads((bundle / "config.json").read_text())
    doc["process"]["args"] = args
    (bundle / "config.json").write_text(json.dumps(doc))
    return doc


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_crun_and_runc_start_the_debian_bundle_rootless(user, local_mirror, runtime):
    _need(runtime)
    bundle = user.path("bundle")
    _debian(user, local_mirror, bundle, "--format", "bundle")
    doc = json.loads((bundle / "config.json").read_text())
    assert doc["process"]["terminal"] is False and doc["process"]["args"] == ["/bin/sh"]
    assert "resources" not in doc["linux"] and "cgroupsPath" not in doc["linux"]
    assert {"destination": "/sys", "type": "none", "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]} in doc["mounts"]
    assert doc["linux"]["uidMappings"][0] == {"containerID": 0, "hostID": user.uid, "size": 1}
    # the mapped user's subordinate ids are mapped too, as its own builds map them
    assert len(doc["linux"]["uidMappings"]) == (2 if user.kind == "mapped" else 1)
    _with_args(bundle, ["/bin/sh", "-c", f"{SHOW}; ls -ln /etc/shadowish; "
                        "grep -c ' /sys sysfs ro,' /proc/mounts; test -c /dev/null"])
    proc = _runtime(user, runtime, bundle, f"rs-{user.kind}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert FIXTURE_RELEASE in lines and "VERSION_CODENAME=bookworm" in lines
    assert lines[3] == "0"
    # the tree's shadow group where the build could make it real; a single-id build
    # leaves every file the caller's (the ledger, and so the tarball, keeps the truth)
    shadow_group = "42" if user.kind == "mapped" else "0"
    assert lines[4].split()[2:4] == ["0", shadow_group], lines[4]
    assert lines[5] == "1"


def test_runc_and_crun_start_the_arch_bundle(mapped_user, arch_mirror):
    _need("crun", "runc")
    bundle = mapped_user.path("arch-bundle")
    _arch(mapped_user, arch_mirror, bundle, "--format", "bundle")
    _with_args(bundle, ["/usr/bin/sh", "-c", SHOW])
    for runtime in ("runc", "crun"):
        proc = _runtime(mapped_user, runtime, bundle, f"arch-{runtime}")
        assert proc.returncode == 0, proc.stderr
        assert "ID=arch" in proc.stdout.splitlines()
        assert proc.stdout.splitlines()[-1] == "0"


def test_bwrap_runs_in_the_directory_output(as_user, local_mirror):
    _need("bwrap")
    tree = as_user.path("tree")
    _debian(as_user, local_mirror, tree)
    proc = as_user.exec("bwrap", "--bind", tree, "/", "--proc", "/proc", "--dev", "/dev",
                        "/bin/sh", "-c", "cat /etc/os-release; test -c /dev/null && echo dev")
    assert proc.returncode == 0, proc.stderr
    assert FIXTURE_RELEASE in proc.stdout.splitlines() and proc.stdout.endswith("dev\n")


def test_rootstrap_runs_a_bundle_and_an_oci_layout(user, local_mirror):
    bundle, layout = user.path("bundle"), user.path("image")
    _debian(user, local_mirror, bundle, "--format", "bundle")
    _debian(user, local_mirror, layout, "--format", "oci", "--tag", "fixture:1",
            "--compression", "zstd")
    assert _only_manifest(layout)["layers"][0]["mediaType"] == \
        "application/vnd.oci.image.layer.v1.tar+zstd"
    for target in (bundle, layout):
        proc = user.run("run", "--cache", user.cache, target, "--", "/bin/sh", "-c",
                        f"{SHOW}; hostname; echo $PATH")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert FIXTURE_RELEASE in lines and lines[3:] == [
            "0", "debian", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    # the layer is unpacked once: a second run finds it in the cache
    unpacked = list((user.cache / "trees").iterdir())
    assert len(unpacked) == 1
    again = user.run("run", "--cache", user.cache, "--tag", "fixture:1", layout, "--",
                     "/bin/sh", "-c", "echo again")
    assert again.stdout == "again\n" and list((user.cache / "trees").iterdir()) == unpacked


# --------------------------------------------------------------------------- OCI image


def test_skopeo_umoci_and_podman_read_the_image(as_user, local_mirror):
    _need("skopeo", "umoci")
    layout, archive, tarball = (as_user.path(n) for n in ("image", "image.oci.tar", "t.tar"))
    _debian(as_user, local_mirror, tarball)
    _debian(as_user, local_mirror, layout, "--format", "oci", "--tag", "fixture")
    _debian(as_user, local_mirror, archive)

    inspected = as_user.exec("skopeo", "inspect", f"oci:{layout}:fixture", check=True)
    about = json.loads(inspected.stdout)
    assert (about["Os"], about["Architecture"]) == ("linux", "amd64")
    assert about["Labels"]["org.rootstrap.distro"] == "debian"
    assert about["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    copied = as_user.path("copied")
    as_user.exec("skopeo", "copy", f"oci-archive:{archive}", f"oci:{copied}:copy", check=True)
    config = json.loads(as_user.exec("skopeo", "inspect", "--config", f"oci:{copied}:copy",
                                     check=True).stdout)
    assert config["config"]["Cmd"] == ["/bin/sh"]

    unpacked = as_user.path("unpacked")
    proc = as_user.exec("umoci", "unpack", "--rootless", "--image", f"{layout}:fixture",
                        unpacked, check=True)
    ours = tar_manifest(tarball)
    theirs = umoci_manifest(unpacked / "rootfs", (as_user.uid, as_user.gid))
    # without privilege umoci makes an empty file in place of a device node, and says so
    nodes = {p for p, v in ours.items() if v[0] in ("char", "block")}
    assert nodes == {p for p in nodes if f"rootless{{{p}}} creating empty file" in proc.stderr}
    assert nodes and all(theirs[p][0] == "file" and theirs[p][1:4] == ours[p][1:4]
                         and theirs[p][4] == hashlib.sha256(b"").hexdigest() for p in nodes)
    assert set(ours) == set(theirs)
    differ = umoci_differs(ours, theirs, proc.stderr)
    assert differ == [], "\n".join(f"{p}: tar {ours[p]}, umoci {theirs[p]}" for p in differ)
    assert ours["etc/shadowish"][1:4] == ("0o640", 0, 42)


def test_podman_loads_and_runs_the_archive(as_user, local_mirror):
    _need("podman", "runc")
    archive = as_user.path("image.oci.tar")
    _debian(as_user, local_mirror, archive, "--tag", "fixture")
    home = as_user.mkdir("podman-home")
    runtime_dir = as_user.mkdir("podman-run", mode=0o700)
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime_dir)}
    try:
        loaded = as_user.exec("podman", "load", "-i", archive, env=env)
        if loaded.returncode != 0:
            pytest.skip(f"podman does not work rootless here: {loaded.stderr.strip()[-300:]}")
        assert "Loaded image: localhost/fixture:latest" in loaded.stdout
        # crun (podman's default) refuses hybrid cgroups; runc takes them
        ran = as_user.exec("podman", "--runtime", "runc", "run", "--rm", "--network", "none",
                           "localhost/fixture", "/bin/sh", "-c", f"{SHOW}; stat -c %g "
                           "/etc/shadowish", env=env)
        assert ran.returncode == 0, ran.stderr
        lines = ran.stdout.splitlines()
        assert FIXTURE_RELEASE in lines and lines[3:] == ["0", "42"]
    finally:
        pause = runtime_dir / "libpod" / "tmp" / "pause.pid"
        if pause.is_file():                 # podman's own process that keeps its namespace
            try:
                os.kill(int(pause.read_text()), 15)
            except (ValueError, ProcessLookupError):
                pass


def test_the_arch_image_unpacks_to_the_tarball(mapped_user, arch_mirror):
    _need("umoci")
    tarball, layout = mapped_user.path("arch.tar"), mapped_user.path("arch-image")
    _arch(mapped_user, arch_mirror, tarball)
    _arch(mapped_user, arch_mirror, layout, "--format", "oci")     # umoci 0.4 reads no zstd
    unpacked = mapped_user.path("unpacked")
    proc = mapped_user.exec("umoci", "unpack", "--rootless", "--image", f"{layout}:rolling",
                            unpacked, check=True)
    ours = tar_manifest(tarball)
    theirs = umoci_manifest(unpacked / "rootfs", (mapped_user.uid, mapped_user.gid))
    assert set(ours) == set(theirs)
    differ = umoci_differs(ours, theirs, proc.stderr)
    assert differ == [], "\n".join(f"{p}: tar {ours[p]}, umoci {theirs[p]}" for p in differ)
    # Arch's /srv/ftp (0555, group ftp) is one umoci cannot mark; the image holds its owner
    assert unmarked(proc.stderr) == {"srv/ftp"} and ours["srv/ftp"][1:4] == ("0o555", 0, 11)
    assert ours["usr/bin/fixture-su"][1:4] == ("0o4755", 0, 0)


def _only_manifest(layout: Path) -> dict:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    return json.loads((layout / "blobs" / "sha256" / digest).read_bytes())


# --------------------------------------------------------------------------- squashfs


def test_unsquashfs_shows_the_owners_and_modes_of_the_tarball(user, local_mirror):
    _need("mksquashfs", "unsquashfs")
    tarball, image = user.path("t.tar"), user.path("t.sqfs")
    _debian(user, local_mirror, tarball)
    _debian(user, local_mirror, image)
    listed = squashfs_listing(image)
    with tarfile.open(tarball) as tar:
        expected = {m.name[2:]: (stat.filemode(m.mode | {
            tarfile.DIRTYPE: stat.S_IFDIR, tarfile.SYMTYPE: stat.S_IFLNK,
            tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
            tarfile.FIFOTYPE: stat.S_IFIFO}.get(m.type, stat.S_IFREG)), m.uid, m.gid)
            for m in tar if m.name not in ("./", ".")}
    assert listed == expected
    assert listed["etc/shadowish"] == ("-rw-r-----", 0, 42)
    assert listed["usr/bin/suidtool"][0] == "-rwsr-xr-x"
    assert listed["dev/null"][0] == "crw-rw-rw-"
    root = subprocess.run(["unsquashfs", "-lln", str(image)], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.splitlines()[0]
    assert root.split()[:2] == ["drwxr-xr-x", "0/0"]


# --------------------------------------------------------------------------- reproducible


@pytest.mark.parametrize("fmt", ["oci.tar", "sqfs"])
def test_the_same_epoch_gives_the_same_image_in_every_mode(mapped_user, single_user,
                                                          arch_mirror, fmt):
    """userns-full, userns-single and PRoot configure the same Arch tree."""
    _need("mksquashfs", "proot")
    made = []
    for user, mode, expected in ((mapped_user, "auto", "userns-full"),
                                 (single_user, "auto", "userns-single"),
                                 (single_user, "ptrace", "ptrace")):
        out = user.path(f"{mode}.{fmt}")
        proc = _arch(user, arch_mirror, out, "--mode", mode, "--json")
        assert json.loads(proc.stdout)["mode"] == expected
        made.append(out.read_bytes())
    assert made[0] == made[1] == made[2]


# --------------------------------------------------------------------------- refusals


def _refused(user, proc, *words: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rootstrap: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("args, words", [
    (["t.tar", "--format", "zip"], ["unknown --format 'zip'", "oci-archive", "squashfs"]),
    (["t.tar", "--tag", "x"], ["--tag", "oci"]),
    (["t.tar", "--compression", "zstd"], ["--compression", ".tar.zst"]),
    (["t.oci.tar", "--terminal"], ["--terminal", "bundle"]),
    (["t.oci.tar", "--tag", "no spaces"], ["'no spaces' is not a valid image name"]),
])
def test_options_an_output_does_not_take_are_refused_before_any_work(as_user, local_mirror,
                                                                      args, words):
    before = sorted(p.name for p in as_user.workdir.iterdir())
    proc = as_user.run("debian", as_user.path(args[0]), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache, *args[1:])
    _refused(as_user, proc, *words)
    assert local_mirror.requests == []
    assert sorted(p.name for p in as_user.workdir.iterdir()) == before


def test_a_squashfs_without_mksquashfs_is_refused_in_one_line(as_user, local_mirror):
    bare = as_user.mkdir("bare-path")          # a PATH with no mksquashfs on it
    before = sorted(p.name for p in as_user.workdir.iterdir())
    proc = as_user.run("debian", as_user.path("t.sqfs"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache, env={"PATH": str(bare)})
    _refused(as_user, proc, "needs mksquashfs", "not on this host")
    assert sorted(p.name for p in as_user.workdir.iterdir()) == before


def test_export_writes_every_format_from_a_tree(as_user, local_mirror):
    tree = as_user.path("tree")
    _debian(as_user, local_mirror, tree)
    _debian(as_user, local_mirror, as_user.path("built.oci.tar"))
    _debian(as_user, local_mirror, as_user.path("built.tar"))
    exported = {}
    for name, extra in (("e.oci.tar", []), ("e.sqfs", []), ("e.tar", []),
                        ("e-image", ["--format", "oci", "--tag", "x:1"]),
                        ("e-bundle", ["--format", "bundle"])):
        proc = as_user.run("export", tree, as_user.path(name), *extra, env=EPOCH)
        assert proc.returncode == 0, proc.stderr
        exported[name] = as_user.path(name)
        # the build's manifest and SBOM travel with it
        assert as_user.path(f"{name}.manifest.json").is_file()
    assert tar_manifest(exported["e.tar"]) == tar_manifest(as_user.path("built.tar"))
    assert json.loads((exported["e-image"] / "index.json").read_text())["manifests"][0][
        "annotations"]["org.opencontainers.image.ref.name"] == "x:1"
    assert (exported["e-bundle"] / "rootfs/etc/os-release").is_file()
    proc = as_user.run("run", exported["e-bundle"], "--", "/bin/sh", "-c", "id -u")
    assert proc.stdout == "0\n", proc.stderr
    # the exported image's layer is the built image's layer: the same tree, the same bytes
    assert _layer_digest_of_archive(exported["e.oci.tar"]) == \
        _layer_digest_of_archive(as_user.path("built.oci.tar"))


def _layer_digest_of_archive(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))          # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore
    return manifest["layers"][0]["digest"]


@pytest.mark.parametrize("args, words", [
    (["tree", "out"], ["export writes a tarball"]),
    (["tree", "out.tar", "--tag", "x"], ["--tag"]),
    (["tree", "out", "--format", "zip"], ["unknown --format 'zip'"]),
    (["nothing", "out.tar"], ["is not a directory"]),
])
def test_export_refusals(as_user, local_mirror, args, words):
    _debian(as_user, local_mirror, as_user.path("tree"))
    before = sorted(p.name for p in as_user.workdir.iterdir())
    proc = as_user.run("export", *[as_user.path(a) if i < 2 else a
                                   for i, a in enumerate(args)])
    _refused(as_user, proc, *words)
    assert sorted(p.name for p in as_user.workdir.iterdir()) == before


def test_run_refuses_a_tag_the_layout_does_not_hold(as_user, local_mirror):
    layout = as_user.path("image")
    _debian(as_user, local_mirror, layout, "--format", "oci", "--tag", "one")
    proc = as_user.run("run", "--cache", as_user.cache, "--tag", "two", layout, "--", "true")
    _refused(as_user, proc, "no image tagged 'two'", "one")
    tree = as_user.path("tree")
    _debian(as_user, local_mirror, tree)
    proc = as_user.run("run", "--tag", "one", tree, "--", "true")
    _refused(as_user, proc, "not one")


@pytest.mark.parametrize("distro", ["alpine", "fedora"])
def test_runc_and_crun_start_the_alpine_and_fedora_bundles(mapped_user, request, distro):
    _need("runc", "crun", "umoci")
    mirror = request.getfixturevalue(f"{distro}_mirror")
    bundle, layout, tarball = (mapped_user.path(f"{distro}-{n}")
                               for n in ("bundle", "image", "t.tar"))
    for target, extra in ((bundle, ["--format", "bundle"]),
                          (layout, ["--format", "oci", "--tag", "fixture"]), (tarball, [])):
        # one epoch: the two builds compared below write the same bytes
        mapped_user.run(distro, target, *mirror.args(), "--cache", mapped_user.cache, *extra,
                        env={"SOURCE_DATE_EPOCH": "1700000000"}, check=True)
    _with_args(bundle, ["/bin/sh", "-c", SHOW])
    for runtime in ("runc", "crun"):
        proc = _runtime(mapped_user, runtime, bundle, f"{distro}-{runtime}")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert f"ID={distro}" in lines and lines[-1] == "0"
    unpacked = mapped_user.path(f"{distro}-unpacked")
    said = mapped_user.exec("umoci", "unpack", "--rootless", "--image", f"{layout}:fixture",
                            unpacked, check=True)
    ours = tar_manifest(tarball)
    theirs = umoci_manifest(unpacked / "rootfs", (mapped_user.uid, mapped_user.gid))
    nodes = {p for p, v in ours.items() if v[0] in ("char", "block")}
    assert set(ours) == set(theirs)
    differ = [p for p in umoci_differs(ours, theirs, said.stderr) if p not in nodes]
    assert differ == [], "\n".join(f"{p}: tar {ours[p]}, umoci {theirs[p]}" for p in differ)
