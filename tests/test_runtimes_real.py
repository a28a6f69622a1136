"""The runtimes on a Debian tree from the real mirror (bookworm minbase, configured,
built once as a directory by an unprivileged user with a subordinate range and
exported to every format): runc and crun start the bundle, bwrap the directory, skopeo
and umoci read the image and unpack it to what the tarball holds, unsquashfs
lists the tarball's owners and modes."""
from __future__ import annotations

import json

import pytest

from test_debian_real import MIRROR
from test_runtimes import (_need, _runtime, _with_args, squashfs_listing, tar_manifest,
                           umoci_differs, umoci_manifest)

pytestmark = pytest.mark.network


def test_a_real_debian_tree_in_every_runtime(mapped_user):
    _need("runc", "crun", "bwrap", "skopeo", "umoci", "unsquashfs")
    tree = mapped_user.path("bookworm")
    mapped_user.run("debian", tree, "--release", "bookworm", "--variant", "minbase",
                    "--mirror", MIRROR, "--cache", mapped_user.shared_cache, check=True,
                    timeout=900)
    outputs = {"tar": "t.tar", "bundle": "bundle", "oci": "image", "squashfs": "t.sqfs"}
    for fmt, name in outputs.items():
        mapped_user.run("export", tree, mapped_user.path(name), "--format", fmt,
                        *(["--tag", "bookworm"] if fmt == "oci" else []), check=True,
                        timeout=600)
    ours = tar_manifest(mapped_user.path("t.tar"))
    assert ours["etc/shadow"][1:4] == ("0o640", 0, 42)

    bundle = mapped_user.path("bundle")
    _with_args(bundle, ["/bin/sh", "-c", "cat /etc/os-release; id -u; "
                        "stat -c '%u %g' /etc/shadow; apt-get --version | head -1"])
    for runtime in ("runc", "crun"):
        proc = _runtime(mapped_user, runtime, bundle, f"bookworm-{runtime}")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert 'VERSION_CODENAME=bookworm' in lines and lines[-3] == "0"
        assert lines[-2] == "0 42" and lines[-1].startswith("apt ")

    walked = mapped_user.exec("bwrap", "--bind", tree, "/", "--proc", "/proc", "--dev", "/dev",
                              "/bin/sh", "-c", "dpkg-query -W -f '${Package}\\n' | wc -l")
    assert walked.returncode == 0, walked.stderr
    assert int(walked.stdout) == len(json.loads(
        mapped_user.path("bookworm.manifest.json").read_text())["packages"])

    image = mapped_user.path("image")
    about = json.loads(mapped_user.exec("skopeo", "inspect", f"oci:{image}:bookworm",
                                        check=True).stdout)
    assert about["Labels"]["org.rootstrap.release"] == "bookworm"
    unpacked = mapped_user.path("unpacked")
    said = mapped_user.exec("umoci", "unpack", "--rootless", "--image", f"{image}:bookworm",
                            unpacked, check=True)
    theirs = umoci_manifest(unpacked / "rootfs", (mapped_user.uid, mapped_user.gid))
    nodes = {p for p, v in ours.items() if v[0] in ("char", "block")}
    assert set(ours) == set(theirs)
    differ = [p for p in umoci_differs(ours, theirs, said.stderr) if p not in nodes]
    assert differ == [], "\n".join(f"{p}: tar {ours[p]}, umoci {theirs[p]}" for p in differ)

    listed = squashfs_listing(mapped_user.path("t.sqfs"))
    assert set(listed) == {p for p in ours if p != "."}
    assert listed["etc/shadow"][1:] == (0, 42)
    assert all(listed[p][1:] == ours[p][2:4] for p in listed)
