"""The sandbox interface: fork a child into the backend's namespaces and run
Python there (for ownership passes) or chroot and run commands (for scriptlets)."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from bootstrap.sandbox import linux

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MOUNTS = ("dev", "proc", "sys")


class CommandFailed(Exception):
    def __init__(self, argv: Sequence[str], code: int) -> None:
        super().__init__(f"{' '.join(argv)} exited with {code}")
        self.argv = list(argv)
        self.code = code


@dataclass
class Sandbox:
    mode: str                 # root | userns-full | userns-single
    reason: str               # why this backend, and why better ones were refused
    uid: int = 0              # the caller's ids outside
    gid: int = 0
    subuid: Optional[tuple[int, int]] = None   # (start, count) for a full mapping
    subgid: Optional[tuple[int, int]] = None
    refused: list[str] = field(default_factory=list)

    @property
    def can_chown(self) -> bool:
        """Can ownership other than root be made real on disk?"""
        return self.mode in ("root", "userns-full")

    # -- entering ----------------------------------------------------------
    def _enter(self, ready_w: int, go_r: int) -> None:
        """In the child: make the namespaces and wait until the parent mapped ids."""
        if self.mode == "root":
            linux.unshare(linux.CLONE_NEWNS)
        else:
            linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNS)
        os.write(ready_w, b"u")
        if os.read(go_r, 1) != b"g":
            os._exit(125)
        if self.mode != "root":
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            if self.mode == "userns-full":
                os.setgroups([])
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)

    def _map(self, pid: int) -> None:
        """In the parent: write the child's id maps."""
        if self.mode == "root":
            return
        if self.mode == "userns-full":
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

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn as root inside the backend's namespaces (not chrooted); return its
        result. An exception in fn is re-raised here as RuntimeError with its text."""
        sys.stdout.flush()
        sys.stderr.flush()
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        # an open file, not a path: the child may chroot before it answers
        result = tempfile.TemporaryFile(prefix="rootstrap-result-")
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(ready_r)
                os.close(go_w)
                self._enter(ready_w, go_r)
                value: Any = ("ok", fn())
            except SystemExit as e:
                value, code = ("exit", e.code), 0
            except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
                value = ("error", f"{e}", traceback.format_exc())
            try:
                pickle.dump(value, result)
                result.flush()
            except BaseException:
                code = 124
            os._exit(code)
        os.close(ready_w)
        os.close(go_r)
        try:
            if os.read(ready_r, 1) == b"u":
                try:
                    self._map(pid)
                    os.write(go_w, b"g")
                except (OSError, subprocess.CalledProcessError) as e:
                    detail = getattr(e, "stderr", b"") or b""
                    os.write(go_w, b"x")
                    os.waitpid(pid, 0)
                    raise RuntimeError(f"cannot map ids for the user namespace: {e} "
                                       f"{detail.decode(errors='replace').strip()}") from None
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(ready_r)
            os.close(go_w)
        try:
            result.seek(0)
            value = pickle.load(result)
        except (OSError, EOFError, pickle.UnpicklingError):
            raise RuntimeError(f"sandbox child died (status {status})") from None
        finally:
            result.close()
        if value[0] == "error":
            raise RuntimeError(value[1])
        return value[1]

    def run(self, tree: Path, commands: Sequence[Sequence[str]], env: dict[str, str],
            log: Optional[int] = None) -> None:
        """chroot into tree (with /dev, /proc, /sys from the host) and run each command
        in turn as root; raise CommandFailed at the first that fails."""
        tree = tree.resolve()

        def inside() -> Optional[tuple[list[str], int]]:
            for name in MOUNTS:
                os.makedirs(tree / name, exist_ok=True)
                linux.mount(f"/{name}", str(tree / name), None, linux.MS_BIND | linux.MS_REC)
            if self.mode == "userns-single":
                linux.fake_foreign_chown()
            os.chroot(tree)
            os.chdir("/")
            for argv in commands:
                code = subprocess.run(list(argv), env=env, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT if log else None
                                      ).returncode
                if code != 0:
                    return list(argv), code
            return None

        failed = self.call(inside)
        if failed:
            raise CommandFailed(*failed)
