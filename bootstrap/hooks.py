"""Host hooks (`--hook KIND:COMMAND`): run as the caller, outside any namespace,
with $1 the tree being built, and what they changed read back into the ledger.

While no command runs inside, every entry of the tree belongs to the caller and
is readable and writable by it (see ownership.py); hooks see it so. Afterwards
the tree is read again: entries the ledger knows keep their owners, new ones
belong to root (as files made in mmdebstrap's unshare mode do), modes and
removals come from the disk. A hook runs commands inside the tree as root with
"$ROOTSTRAP_RUN_IN" CMD ARGS... (`rootstrap run` on the tree, same backend);
an owner such a command sets other than root is kept where the backend makes
owners real (userns-full, root)."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from bootstrap import ownership
from bootstrap.errors import Die
from bootstrap.sandbox import Sandbox
from bootstrap.treewriter import TreeWriter


class HookFailed(Die):
    """A hook's own failure: nothing the tree's programs wrote explains it."""


@dataclass
class HookContext:
    writer: TreeWriter          # its root is the tree being built ($1)
    sandbox: Optional[Sandbox]
    owners_real: bool
    env: dict[str, str]         # ROOTSTRAP_* for every hook

    @property
    def tree(self) -> Path:
        return self.writer.root


def environment(distro: str, release: str, arch: str, variant: str, target: Path,
                sandbox: Optional[Sandbox]) -> dict[str, str]:
    return {"ROOTSTRAP_DISTRO": distro, "ROOTSTRAP_RELEASE": release,
            "ROOTSTRAP_ARCH": arch, "ROOTSTRAP_VARIANT": variant,
            "ROOTSTRAP_MODE": sandbox.mode if sandbox else "none",
            "ROOTSTRAP_TARGET": str(target)}


def _run_mode(sandbox: Sandbox) -> list[str]:
    """`rootstrap run` options that pick the backend the build uses."""
    if sandbox.mode.startswith("userns"):
        return ["--mode", "userns"]
    proot = getattr(sandbox, "proot", None)
    return ["--mode", sandbox.mode] + (["--proot", proot] if proot else [])


@contextmanager
def run_in_helper(tree: Path, sandbox: Optional[Sandbox]) -> Iterator[dict[str, str]]:
    """ROOTSTRAP_RUN_IN: a program that runs its arguments inside tree as root."""
    if sandbox is None:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="rootstrap-hook-") as folder:
        helper = Path(folder) / "run-in"
        package = Path(__file__).resolve().parent.parent    # where `bootstrap` is found
        argv = ["env", f"PYTHONPATH={package}", sys.executable, "-m", "bootstrap", "run",
                *_run_mode(sandbox), str(tree), "--"]
        helper.write_text(f"#!/bin/sh\nexec {shlex.join(argv)} \"$@\"\n")
        helper.chmod(0o755)
        yield {"ROOTSTRAP_RUN_IN": str(helper)}


def _argv(command: str, tree: Path) -> list[str]:
    # as mmdebstrap: an executable file is run as it is, anything else by the shell
    if os.path.isfile(command) and os.access(command, os.X_OK):
        return [command, str(tree)]
    return ["/bin/sh", "-c", command, "rootstrap-hook", str(tree)]


def run(ctx: HookContext, kind: str, commands: list[str]) -> None:
    """Each hook of kind in turn; the first that fails ends the build."""
    if not commands:
        return
    with run_in_helper(ctx.tree, ctx.sandbox) as helper:
        env = {**os.environ, **ctx.env, **helper, "ROOTSTRAP_HOOK": kind}
        for command in commands:
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                # stdout is the build's result (--json): a hook speaks on stderr
                code = subprocess.run(_argv(command, ctx.tree), env=env,
                                      stdout=sys.stderr.fileno()).returncode
            except OSError as e:
                raise HookFailed(f"--hook {kind}:{command}: cannot run it: "
                                 f"{e.strerror or e}") from None
            if code != 0:
                status = f"by signal {-code}" if code < 0 else f"with exit status {code}"
                raise HookFailed(f"--hook {kind}:{command} failed {status}")
    rescan(ctx)


def rescan(ctx: HookContext) -> None:
    """Read what the hooks did into the ledger, and give the tree back to the
    caller (a command run inside may have made entries of other ids)."""
    root, real = ctx.tree, ctx.owners_real
    if ctx.sandbox is not None:
        seen = ctx.sandbox.call(lambda: ownership.harvest(root, real))
    else:
        seen = ownership.harvest(root, False)
    # on disk, inside the namespace, the caller is root: only another id says
    # a command inside chose an owner
    chosen = {rel: (s[2], s[3]) for rel, s in seen.items() if real and (s[2] or s[3])}
    ledger = ctx.writer.ledger
    ownership.merge(ledger, seen, owners_real=False)
    for rel, (uid, gid) in chosen.items():
        entry = ledger.entries[rel]
        entry.uid, entry.gid = uid, gid
    ctx.writer.forget()           # a hook may have turned a directory into a link
