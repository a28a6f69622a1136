"""Unprivileged user namespaces: 65536 ids through newuidmap/newgidmap, or the
caller alone mapped to root."""
from __future__ import annotations

import os
import subprocess
from typing import Optional

from bootstrap.sandbox import linux
from bootstrap.sandbox.base import Sandbox


class UsernsSandbox(Sandbox):
    def __init__(self, reason: str, uid: int, gid: int,
                 subuid: Optional[tuple[int, int]] = None,
                 subgid: Optional[tuple[int, int]] = None,
                 refused: Optional[list[str]] = None) -> None:
        super().__init__(reason, refused)
        self.uid, self.gid = uid, gid
        self.subuid, self.subgid = subuid, subgid
        self.full = bool(subuid and subgid)
        self.mode = "userns-full" if self.full else "userns-single"
        self.can_chown = self.full

    def _enter(self) -> None:
        linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNS)

    def _map(self, pid: int) -> None:
        if self.full:
            assert self.subuid and self.subgid
            for tool, own, (start, count) in (("newuidmap", self.uid, self.subuid),
                                              ("newgidmap", self.gid, self.subgid)):
                subprocess.run([tool, str(pid), "0", str(own), "1", "1", str(start), str(count)],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            return
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(f"0 {self.uid} 1")
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(f"0 {self.gid} 1")

    def _user_namespace(self, uid: int, gid: int) -> None:
        if self.full:
            return
        # the namespace holds no id but root (the caller): a namespace of its own
        # shows the caller to the commands as uid and gid instead
        linux.unshare(linux.CLONE_NEWUSER)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} 0 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} 0 1")

    def _become_user(self, uid: int, gid: int) -> None:
        if self.full:
            super()._become_user(uid, gid)

    def _become_root(self) -> None:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        if self.full:
            os.setgroups([])
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
