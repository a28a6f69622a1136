"""Pick the best backend this host allows, and say why the better ones were refused."""
from __future__ import annotations

import os
import pwd
import shutil
from typing import Optional

from bootstrap.errors import die
from bootstrap.sandbox.base import Sandbox

RANGE = 65536


def subid_range(path: str, uid: int) -> Optional[tuple[int, int]]:
    """The caller's subordinate id range of at least 65536 ids, if one is granted."""
    try:
        name = pwd.getpwuid(uid).pw_name
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


def _userns_works(box: Sandbox) -> Optional[str]:
    try:
        box.call(lambda: None)
    except (OSError, RuntimeError) as e:
        return str(e)
    return None


def choose(mode: str = "auto") -> Sandbox:
    uid, gid = os.getuid(), os.getgid()
    refused: list[str] = []
    if mode in ("auto", "root"):
        if os.geteuid() == 0:
            return Sandbox("root", "running as root", uid, gid)
        if mode == "root":
            die("--mode root needs root; run as root or use --mode auto")
        refused.append("root: not running as root")
    if mode == "ptrace":
        die("--mode ptrace is not available yet: this rootstrap has no ptrace backend")
    if mode not in ("auto", "userns"):
        die(f"unknown --mode '{mode}' (auto, userns, ptrace, root)")

    subuid = subid_range("/etc/subuid", uid)
    subgid = subid_range("/etc/subgid", uid)
    missing = [t for t in ("newuidmap", "newgidmap") if not shutil.which(t)]
    if missing:
        refused.append(f"userns-full: {' and '.join(missing)} not installed (package uidmap)")
    elif not subuid or not subgid:
        refused.append("userns-full: no range of 65536 ids for this user in /etc/subuid and "
                       "/etc/subgid")
    else:
        box = Sandbox("userns-full", f"subordinate ids {subuid[0]}+{subuid[1]}", uid, gid,
                      subuid, subgid, refused=list(refused))
        err = _userns_works(box)
        if err is None:
            return box
        refused.append(f"userns-full: {err}")

    box = Sandbox("userns-single", "only the caller maps to root", uid, gid,
                  refused=list(refused))
    err = _userns_works(box)
    if err is None:
        return box
    refused.append(f"userns-single: {err}")
    die("no way to act as root here: " + "; ".join(refused))
