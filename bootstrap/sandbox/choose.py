"""Pick the best backend this host allows, and say why the better ones were refused."""
from __future__ import annotations

import os
import pwd
import shutil
from typing import Optional

from bootstrap.errors import die
from bootstrap.sandbox.base import Sandbox
from bootstrap.sandbox.ptrace import PtraceSandbox
from bootstrap.sandbox.root import RootSandbox
from bootstrap.sandbox.userns import UsernsSandbox

RANGE = 65536
MODES = ("auto", "userns", "ptrace", "root")
GET_PROOT = ("install PRoot (Debian/Ubuntu: apt install proot; Fedora: dnf install proot; "
             "Arch: pacman -S proot; or a static build from https://proot-me.github.io) "
             "and put it on PATH or pass --proot PATH")


def subid_range(path: str, uid: int) -> Optional[tuple[int, int]]:
    """The caller's subordinate id range of at least 65536 ids, if one is granted."""
    try:
        name: Optional[str] = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count >= RANGE:
            return start, RANGE
    return None


def _works(box: Sandbox) -> Optional[str]:
    try:
        box.call(lambda: None)
    except (OSError, RuntimeError) as e:
        return str(e)
    return None


def _userns(uid: int, gid: int, refused: list[str]) -> Optional[Sandbox]:
    subuid = subid_range("/etc/subuid", uid)
    subgid = subid_range("/etc/subgid", uid)
    missing = [t for t in ("newuidmap", "newgidmap") if not shutil.which(t)]
    if missing:
        refused.append(f"userns-full: {' and '.join(missing)} not installed (package uidmap)")
    elif not subuid or not subgid:
        refused.append("userns-full: no range of 65536 ids for this user in /etc/subuid "
                       "and /etc/subgid")
    else:
        box: Sandbox = UsernsSandbox(f"subordinate ids {subuid[0]}-{subuid[0] + RANGE - 1}",
                                     uid, gid, subuid, subgid)
        err = _works(box)
        if err is None:
            return box
        refused.append(f"userns-full: {err}")
    box = UsernsSandbox("only the caller maps to root", uid, gid)
    err = _works(box)
    if err is None:
        return box
    refused.append(f"userns-single: {err}")
    return None


def _proot(proot: Optional[str], refused: list[str]) -> Optional[Sandbox]:
    path = proot or shutil.which("proot")
    if proot and not (os.path.isfile(proot) and os.access(proot, os.X_OK)):
        refused.append(f"ptrace: --proot {proot} is not an executable file")
        return None
    if not path:
        refused.append(f"ptrace: PRoot not found; {GET_PROOT}")
        return None
    return PtraceSandbox(path, f"PRoot at {path} fakes root and chroot")


def choose(mode: str = "auto", proot: Optional[str] = None) -> Sandbox:
    if mode not in MODES:
        die(f"unknown --mode '{mode}' ({', '.join(MODES)})")
    uid, gid = os.getuid(), os.getgid()
    refused: list[str] = []
    box: Optional[Sandbox] = None
    if mode in ("auto", "root"):
        if os.geteuid() == 0:
            box = RootSandbox("running as root")
        elif mode == "root":
            die("--mode root needs root; run as root or use --mode auto")
        else:
            refused.append("root: not running as root")
    if box is None and mode in ("auto", "userns"):
        box = _userns(uid, gid, refused)
    if box is None and mode in ("auto", "ptrace"):
        box = _proot(proot, refused)
    if box is None:
        die("no way to act as root here: " + "; ".join(refused))
    box.refused = refused
    return box
