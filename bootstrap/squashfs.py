"""A squashfs image of the tree (for apptainer and read-only sharing), made by the
host's mksquashfs from the one tar writer's stream (`-tar`): owners, modes,
device nodes, hardlinks and xattrs all come from the ledger, nothing from the
disk. (mksquashfs 4.5's pseudo files could give owners and modes too, but no
xattrs.) With SOURCE_DATE_EPOCH every time in it is that time, so two builds
give the same bytes.

mksquashfs 4.5 gives the root directory of a tar's image the owner of whoever runs
it (it ignores -root-uid and -root-gid then, and refuses pseudo files): it runs as
root of a user namespace of its own (the caller alone mapped), else under PRoot's
fake root, so the root directory is root's whoever made the image."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

from bootstrap import emit
from bootstrap.atomic import AtomicFile
from bootstrap.errors import die
from bootstrap.ledger import Ledger
from bootstrap.sandbox import linux

NEED = "squashfs-tools 4.5.1 or newer"


def tool() -> str:
    """mksquashfs, where it can read a tar; else the one-line reason."""
    path = shutil.which("mksquashfs")
    if not path:
        die(f"the squashfs output needs mksquashfs ({NEED}), which is not on this host")
    usage = subprocess.run([path, "-help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors="replace").stdout
    if "\n-tar" not in usage:
        die(f"{path} cannot read a tar stream (-tar); the squashfs output needs {NEED}")
    return path


def _own_namespace() -> None:
    """In the child before exec: become root of a new user namespace holding only
    the caller (what an unprivileged process may map for itself)."""
    uid, gid = os.getuid(), os.getgid()
    linux.unshare(linux.CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _namespace_works() -> bool:
    pid = os.fork()
    if pid == 0:
        try:
            _own_namespace()
            os._exit(0 if os.getuid() == 0 else 1)
        except BaseException:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


def _as_root(argv: list[str]) -> tuple[list[str], Optional[Callable[[], None]]]:
    """argv run as (fake) root, and what the child does before exec for it."""
    if os.getuid() == 0:
        return argv, None
    if _namespace_works():
        return argv, _own_namespace
    proot = shutil.which("proot")
    if proot:
        return [proot, "-0", *argv], None
    die("the squashfs output needs a user namespace or PRoot on this host: mksquashfs "
        "gives the image's root directory the owner of whoever runs it")


def write(tree: Path, ledger: Ledger, target: Path, epoch: Optional[int],
          compression: str, mksquashfs: str) -> None:
    root = ledger.get(".")
    mode, uid, gid = (root.mode, root.uid, root.gid) if root else (0o755, 0, 0)
    with AtomicFile(target.parent) as out:
        out.file.close()
        argv = [mksquashfs, "-", str(out.tmp), "-tar", "-noappend", "-quiet", "-no-progress",
                "-comp", compression, "-root-mode", f"{mode:o}"]
        if uid or gid:
            die(f"{tree}: its root directory belongs to {uid}:{gid}; a squashfs made from a "
                "tar stream gives it to root")
        if epoch is not None:
            # -root-time is not taken with -tar; -all-time dates the root as well
            argv += ["-mkfs-time", str(epoch), "-all-time", str(epoch)]
        with tempfile.TemporaryFile() as said:
            # it refuses SOURCE_DATE_EPOCH beside the times given as options
            env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
            argv, before = _as_root(argv)
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=said, stderr=said,
                                    env=env, preexec_fn=before)
            assert proc.stdin is not None
            try:
                emit.tar_into(proc.stdin, tree, ledger, epoch)   # type: ignore[arg-type]
                proc.stdin.close()
            except BrokenPipeError:                # it stopped reading: its words say why
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            proc.wait()
            said.seek(0)
            # the tar's root entry ('./') is said to be ignored: the root is made anyway
            lines = [ln for ln in said.read().decode(errors="replace").splitlines()
                     if ln.strip() and not ln.startswith("Empty tar filename")]
        if proc.returncode != 0:
            die(f"mksquashfs failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
        out.file = open(out.tmp, "rb")
        out.commit(target)
