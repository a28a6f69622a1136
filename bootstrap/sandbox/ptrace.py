"""No user namespaces (the administrator switched them off): PRoot fakes root ids
and chroot by tracing system calls. Nothing can own files but the caller; PRoot's
fake root also answers chown with success, and the ledger keeps the truth."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from bootstrap.sandbox import linux
from bootstrap.sandbox.base import (MOUNTS, SCRATCH, CommandFailed, Sandbox, stdin_args,
                                    write_scratch)


class PtraceSandbox(Sandbox):
    mode = "ptrace"
    can_chown = False

    def __init__(self, proot: str, reason: str, refused: Optional[list[str]] = None) -> None:
        super().__init__(reason, refused)
        self.proot = proot

    def run(self, tree: Path, commands: Sequence[Sequence[str]], env: dict[str, str],
            log: Optional[int] = None, fake_chown: bool = False,
            interactive: bool = False, resolv: Optional[str] = None,
            input: Optional[bytes] = None, hostname: Optional[str] = None,
            scratch: Optional[dict[str, bytes]] = None,
            user: Optional[tuple[int, int]] = None, no_sync: bool = False) -> None:
        """As Sandbox.run; hostname cannot be given without a UTS namespace (PRoot
        fakes no host name), and scratch is a host folder bound at /run/rootstrap."""
        ids = ["-i", f"{user[0]}:{user[1]}"] if user else ["-0"]
        base = [self.proot, *ids, "-r", str(tree.resolve()), "-w", "/"]
        for name in MOUNTS:
            base += ["-b", f"/{name}"]
            # the mount points a namespace makes, so the tree is the same in every mode
            if not (tree / name).is_symlink():
                os.makedirs(tree / name, exist_ok=True)
        if resolv and (tree / "etc/resolv.conf").is_file():
            base += ["-b", f"{resolv}:/etc/resolv.conf"]
        with tempfile.TemporaryDirectory(prefix="rootstrap-run-") as folder:
            if scratch:
                write_scratch(Path(folder), scratch)
                base += ["-b", f"{folder}:/{SCRATCH}"]
            self._run_each(base, commands, env, log, fake_chown, interactive, input, no_sync)

    def _run_each(self, base: list[str], commands: Sequence[Sequence[str]],
                  env: dict[str, str], log: Optional[int], fake_chown: bool,
                  interactive: bool, input: Optional[bytes], no_sync: bool) -> None:
        def confine() -> None:
            # PRoot fakes chown that fails with EPERM, not EINVAL (an unmapped id when
            # it runs inside someone's user namespace): the filter answers both; and
            # it hides the calls an older PRoot would let through to the host's paths
            linux.install_filter(fake_chown=fake_chown, hide_from_proot=True, no_sync=no_sync)

        for argv in commands:
            code = subprocess.run(base + list(argv), env=env, preexec_fn=confine,
                                  **stdin_args(interactive, input),
                                  stdout=log, stderr=subprocess.STDOUT if log else None
                                  ).returncode
            if code != 0:
                raise CommandFailed(argv, code)
