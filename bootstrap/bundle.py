"""OCI runtime bundles (runtime-spec 1.0): rootfs/ and a config.json that `runc
run` and `crun run` start as they are, as the user who made the bundle: a user
namespace mapping that user to root (and, when /etc/subuid and /etc/subgid grant
one, its 65536 subordinate ids to 1..65536, as rootstrap's own namespace maps
them, so the tree's other owners exist), the host's network and name servers,
no cgroup settings (nothing a rootless runtime could not write). The ledger
rides along as rootfs.rootstrap-ledger beside rootfs/.

What a runtime needs of the host, beyond unprivileged user namespaces (and
newuidmap/newgidmap for the subordinate range): a state directory it may write
($XDG_RUNTIME_DIR, or --root DIR). runc 1.1 needs nothing else. crun 1.8 refuses to
start any container on a hybrid cgroup host (a tmpfs at /sys/fs/cgroup beside a
cgroup2 at /sys/fs/cgroup/unified that holds controllers), whatever config.json
says and even with --cgroup-manager=disabled: there it needs a bare tmpfs over
/sys/fs/cgroup in its mount namespace, which only root can mount, or runc instead."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from bootstrap import treeinfo
from bootstrap.baseconfig import host_resolv_conf_path
from bootstrap.errors import die
from bootstrap.ledger import Ledger, ledger_path
from bootstrap.sandbox.base import SAFE_PATH
from bootstrap.sandbox.choose import subid_range
from bootstrap.target import put_in_place

# what a rootless podman container gets: enough for a package manager to work
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
        "CAP_SYS_CHROOT"]
MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    # without a network namespace of its own no sysfs can be mounted: the host's, read-only
    {"destination": "/sys", "type": "none", "source": "/sys",
     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]},
]
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mappings(own: int, subids: str) -> list[dict[str, int]]:
    out = [{"containerID": 0, "hostID": own, "size": 1}]
    found = subid_range(subids, os.getuid())
    if found and shutil.which("newuidmap") and shutil.which("newgidmap"):
        out.append({"containerID": 1, "hostID": found[0], "size": found[1]})
    return out


def config(rootfs: Path, terminal: bool) -> dict[str, Any]:
    env = [f"PATH={SAFE_PATH}", "HOME=/root"] + (["TERM=xterm"] if terminal else [])
    mounts = list(MOUNTS)
    resolv = host_resolv_conf_path()
    if resolv:
        mounts.append({"destination": "/etc/resolv.conf", "type": "none", "source": resolv,
                       "options": ["rbind", "ro"]})
    linux: dict[str, Any] = {
        "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
        "maskedPaths": MASKED, "readonlyPaths": READONLY}
    if os.geteuid() != 0:
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = _mappings(os.getuid(), "/etc/subuid")
        linux["gidMappings"] = _mappings(os.getgid(), "/etc/subgid")
    doc: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {"terminal": terminal, "user": {"uid": 0, "gid": 0},
                    "args": [treeinfo.login_shell(rootfs)], "env": env, "cwd": "/",
                    "capabilities": {k: CAPS for k in ("bounding", "effective", "permitted")},
                    "noNewPrivileges": True},
        "root": {"path": rootfs.name, "readonly": False},
        "mounts": mounts, "linux": linux}
    name = treeinfo.hostname(rootfs)
    if name:
        doc["hostname"] = name
    return doc


def place(work: Path, ledger: Ledger, target: Path, terminal: bool,
          remove: Callable[[Path], None]) -> None:
    """work holds rootfs/ as it should stay: add the ledger and config.json, and
    rename work to target (an earlier bundle there, which the build was told to
    replace, then removed with remove)."""
    rootfs = work / "rootfs"
    ledger.save(ledger_path(rootfs))
    doc = config(rootfs, terminal)
    (work / "config.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.chmod(work, 0o755)
    put_in_place(work, target, remove)


def is_bundle(path: Path) -> bool:
    return (path / "config.json").is_file()


def open_bundle(path: Path) -> tuple[Path, list[str], dict[str, str], Optional[str]]:
    """The bundle's root filesystem, process arguments, environment and host name."""
    try:
        doc = json.loads((path / "config.json").read_text())
        root = path / doc["root"]["path"]
        process = doc.get("process") or {}
        args = [str(a) for a in process.get("args") or []]
        env = dict(e.split("=", 1) for e in process.get("env") or [] if "=" in e)
        name = doc.get("hostname")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        die(f"{path}/config.json is not a runtime bundle's config: {e}")
    if not root.is_dir():
        die(f"{path}: its root filesystem {root} is not a directory")
    return root, args, env, name if isinstance(name, str) else None
