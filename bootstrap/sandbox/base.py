"""The sandbox interface: fork a child into the backend's namespaces and run
Python there (for ownership passes), or enter the tree and run commands (for
scriptlets and `rootstrap run`). Backends differ only in how they enter."""
from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from bootstrap import ownership
from bootstrap.sandbox import linux, shim
from bootstrap.treewriter import TreeWriter

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MOUNTS = ("dev", "proc", "sys")


class CommandFailed(Exception):
    def __init__(self, argv: Sequence[str], code: int, reason: str = "") -> None:
        super().__init__(f"{' '.join(argv)}: {reason}" if reason
                         else f"{' '.join(argv)} exited with {code}")
        self.argv = list(argv)
        self.code = code
        self.reason = reason      # why it could not be started at all


class Sandbox:
    mode = "none"
    can_chown = False     # can ownership other than the caller's be made real on disk?

    def __init__(self, reason: str, refused: Optional[list[str]] = None) -> None:
        self.reason = reason                  # why this backend
        self.refused = list(refused or [])    # why the better ones were not used

    # -- hooks for the backends ------------------------------------------------
    def _enter(self) -> None:
        """In the child, before the parent maps ids: make the namespaces."""

    def _map(self, pid: int) -> None:
        """In the parent: give the child's namespace its ids."""

    def _become_root(self) -> None:
        """In the child, after mapping."""

    def _user_namespace(self, uid: int, gid: int) -> None:
        """In the child, before chroot (the kernel makes no user namespace for a
        chrooted process): a namespace of its own for the user, where one is needed."""

    def _become_user(self, uid: int, gid: int) -> None:
        """In the chrooted child: take a user's ids for the commands to come."""
        os.setgroups([gid])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)

    # -- running Python inside -------------------------------------------------
    def call(self, fn: Callable[[], Any], own_group: bool = False) -> Any:
        """Run fn as (fake) root inside the backend's namespaces, not chrooted; return
        its result. An exception in fn comes back as RuntimeError with its text.
        own_group: fn runs in a process group of its own, so that everything it
        starts is killed with it if the build is interrupted (not for a command at
        a terminal, which must stay in the terminal's foreground group)."""
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
                if own_group:
                    os.setpgid(0, 0)
                os.close(ready_r)
                os.close(go_w)
                self._enter()
                os.write(ready_w, b"u")
                if os.read(go_r, 1) != b"g":
                    os._exit(125)
                self._become_root()
                value: Any = ("ok", fn())
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
        if own_group:
            try:
                os.setpgid(pid, pid)       # as the child does: whichever comes first
            except OSError:
                pass
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
        except BaseException:
            _end(pid, own_group)           # interrupted: nothing it started outlives it
            raise
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

    # -- running commands in the tree -----------------------------------------
    def run(self, tree: Path, commands: Sequence[Sequence[str]], env: dict[str, str],
            log: Optional[int] = None, fake_chown: bool = False,
            interactive: bool = False, resolv: Optional[str] = None,
            input: Optional[bytes] = None, hostname: Optional[str] = None,
            scratch: Optional[dict[str, bytes]] = None,
            user: Optional[tuple[int, int]] = None, no_sync: bool = False) -> None:
        """Enter tree (with the host's /dev, /proc and /sys) and run each command in
        turn as root (user: as this uid and gid of the tree); raise CommandFailed
        at the first that fails. fake_chown: chown
        succeeds without effect where ownership cannot be made real; no_sync: so
        do fsync and its kin (see linux.py).
        resolv: a host file to show as the tree's /etc/resolv.conf while it runs.
        input: what every command reads on stdin (else nothing). hostname: the
        name the commands see (a UTS namespace of their own). scratch: files shown
        under /run/rootstrap while they run (a tmpfs on the tree's /run)."""
        tree = tree.resolve()

        def inside() -> Optional[tuple[list[str], int, str]]:
            for name in MOUNTS:
                mountpoint = tree / name
                if mountpoint.is_symlink():
                    continue       # a package's link would carry the mount out of the tree
                os.makedirs(mountpoint, exist_ok=True)
                linux.mount(f"/{name}", str(mountpoint), None, linux.MS_BIND | linux.MS_REC)
            target = tree / "etc/resolv.conf"
            if resolv and target.is_file() and not target.is_symlink() \
                    and not (tree / "etc").is_symlink():
                linux.mount(resolv, str(target), None, linux.MS_BIND)
            if scratch:
                _mount_scratch(tree, scratch)
            if hostname:
                linux.unshare(linux.CLONE_NEWUTS)
                socket.sethostname(hostname)
            linux.install_filter(fake_chown=fake_chown, no_sync=no_sync)
            if user:
                self._user_namespace(*user)
            os.chroot(tree)
            os.chdir("/")
            if user:
                self._become_user(*user)
            return _run_all(commands, env, log, interactive, input)

        failed = self.call(inside, own_group=not interactive)
        if failed:
            raise CommandFailed(*failed)


def _end(pid: int, group: bool) -> None:
    """Kill a sandbox child (and its process group) and reap it."""
    try:
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


SCRATCH = "run/rootstrap"


def _mount_scratch(tree: Path, files: dict[str, bytes]) -> None:
    run = tree / "run"
    if run.is_symlink() or not run.is_dir():
        return
    linux.mount("tmpfs", str(run), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
    write_scratch(tree / SCRATCH, files)


def write_scratch(folder: Path, files: dict[str, bytes]) -> None:
    """files (relative names) under folder; those under bin/ executable."""
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if name.startswith("bin/") else 0o644)


def stdin_args(interactive: bool, input: Optional[bytes]) -> dict[str, Any]:
    if input is not None:
        return {"input": input}
    return {"stdin": None if interactive else subprocess.DEVNULL}


def _run_all(commands: Sequence[Sequence[str]], env: dict[str, str], log: Optional[int],
             interactive: bool, input: Optional[bytes]
             ) -> Optional[tuple[list[str], int, str]]:
    for argv in commands:
        reason = ""
        try:
            code = subprocess.run(list(argv), env=env, **stdin_args(interactive, input),
                                  stdout=log, stderr=subprocess.STDOUT if log else None
                                  ).returncode
        except OSError as e:
            # as a shell reports a command it cannot find (127) or cannot run (126)
            code = 127 if isinstance(e, FileNotFoundError) else 126
            reason = e.strerror or str(e)
        if code != 0:
            return list(argv), code, reason
    return None


class TreeRunner:
    """How a family runs the tree's own programs while the tree is being built.

    A session hands the tree to the sandbox's ids (the ledger's modes and owners
    made real as far as the mode allows, the chown/mknod stand-ins in place) and,
    when it ends, takes back what the commands did into the ledger. run() opens a
    session of its own unless one is open: many commands in one session cost one
    pass over the tree. What the commands say goes to a log (the last line of it
    explains a failure), or with verbose to stderr: stdout is the result's."""

    def __init__(self, sandbox: Sandbox, writer: TreeWriter, owners_real: bool,
                 verbose: bool = False) -> None:
        self.sandbox = sandbox
        self.writer = writer
        self.tree = writer.root
        self.owners_real = owners_real
        self.fake_chown = not owners_real
        self.log = None if verbose else tempfile.TemporaryFile(prefix="rootstrap-log-")
        self.prefix: Optional[str] = None      # PATH prefix of the stand-ins, once there
        self.depth = 0

    @property
    def path(self) -> str:
        return f"{self.prefix}:{SAFE_PATH}" if self.prefix else SAFE_PATH

    @contextmanager
    def session(self) -> Iterator["TreeRunner"]:
        if self.depth:
            self.depth += 1
            try:
                yield self
            finally:
                self.depth -= 1
            return
        root, ledger = self.tree, self.writer.ledger
        if self.prefix is None:
            self.prefix = "" if self.sandbox.mode == "root" else \
                shim.install(self.writer, chown=not self.owners_real)
        if self.sandbox.mode != "ptrace":
            # inside a namespace root reads through any mode; PRoot's fake root does
            # not, so there the tree stays readable and merge() tells relaxed modes apart
            self.sandbox.call(lambda: ownership.materialize(root, ledger, self.owners_real))
        self.depth = 1
        try:
            yield self
        finally:
            self.depth = 0
            self.writer.forget()      # the commands may have turned directories into links
        seen = self.sandbox.call(lambda: ownership.harvest(root, self.owners_real))
        ownership.merge(ledger, seen, self.owners_real)

    def run(self, commands: Sequence[Sequence[str]], env: dict[str, str],
            input: Optional[bytes] = None) -> None:
        if not commands:
            return
        with self.session():
            log = self.log.fileno() if self.log else sys.stderr.fileno()
            try:
                self.sandbox.run(self.tree, commands, dict(env, PATH=self.path), log,
                                 fake_chown=self.fake_chown, input=input, no_sync=True)
            finally:
                self.writer.forget()

    def tail(self) -> str:
        """The last line the commands wrote to the log ("" with verbose)."""
        if not self.log:
            return ""
        self.log.seek(0)
        lines = [ln.strip() for ln in self.log.read().decode(errors="replace").splitlines()
                 if ln.strip()]
        self.log.seek(0, os.SEEK_END)
        return lines[-1] if lines else ""

    def close(self, collect: bool = True) -> None:
        """Fold what the stand-ins recorded into the ledger and take them away
        (collect=False: the tree is being thrown away)."""
        if self.prefix and collect:
            shim.collect(self.writer)
        self.prefix = None
        if self.log:
            self.log.close()
            self.log = None
