"""`rootstrap run TREE [-- CMD...]`: enter a tree (or an OCI image layout, or a
runtime bundle) with the best backend, the
host's current name servers, the tree's host name, an environment of its own,
and what the tree's own tools need where the namespace maps no id but the
caller's (each family says what, see Family.run_setup)."""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from bootstrap import accounts, bundle, oci, rootfs, treeinfo
from bootstrap.baseconfig import host_resolv_conf_path
from bootstrap.errors import die
from bootstrap.families import RunSetup, family_class, known
from bootstrap.paths import default_cache
from bootstrap.sandbox import Sandbox, choose
from bootstrap.sandbox.base import SAFE_PATH, SCRATCH, CommandFailed


@dataclass
class Entered:
    """The root filesystem to enter and what its image or bundle asks of a run."""
    tree: Path
    args: list[str] = field(default_factory=list)    # the command when none is given
    env: dict[str, str] = field(default_factory=dict)
    hostname: Optional[str] = None


def _open(target: Path, tag: Optional[str], cache: Optional[Path],
          sandbox: Sandbox) -> Entered:
    """A tree as it is, an OCI layout's image (its layer unpacked into the cache)
    or a runtime bundle's rootfs with its config's process and host name."""
    if oci.is_layout(target):
        layer = oci.open_layout(target, tag)
        tree = rootfs.from_layer(layer.path, layer.digest, cache or default_cache(), sandbox)
        strings = (lambda v: [str(x) for x in v] if isinstance(v, list) else [])
        env = dict(e.split("=", 1) for e in strings(layer.config.get("Env")) if "=" in e)
        args = strings(layer.config.get("Entrypoint")) + strings(layer.config.get("Cmd"))
        return Entered(tree, args, env, treeinfo.hostname(tree))
    if tag is not None:
        die(f"--tag chooses an image of an OCI image layout; {target} is not one")
    if bundle.is_bundle(target):
        tree, args, env, name = bundle.open_bundle(target)
        return Entered(tree, args, env, name)
    return Entered(target, [], {}, treeinfo.hostname(target))


def find_command(tree: Path, name: str, path: str, scratch: dict[str, bytes]) -> bool:
    """Would `name` be found, as execvp finds it, in the tree (or in scratch)?"""
    if "/" in name:
        if name.startswith(f"/{SCRATCH}/"):
            return name[len(SCRATCH) + 2:] in scratch
        return treeinfo.runnable(tree, name)
    for folder in path.split(":"):
        if folder.startswith(f"/{SCRATCH}/"):
            if f"{folder[len(SCRATCH) + 2:]}/{name}" in scratch:
                return True
        elif folder and treeinfo.runnable(tree, f"{folder}/{name}"):
            return True
    return False


def setup_for(tree: Path, holds_ids: bool) -> RunSetup:
    """Every family's RunSetup for the tree, merged (a tree is of one family; the
    others recognise nothing and add nothing)."""
    merged = RunSetup()
    for name in known():
        setup = family_class(name).run_setup(tree, holds_ids)
        merged.env.update(setup.env)
        merged.files.update(setup.files)
        merged.path += setup.path
    return merged


def run(target: Path, argv: Sequence[str], mode: str = "auto",
        proot: Optional[str] = None, tag: Optional[str] = None,
        cache: Optional[Path] = None, user: Optional[str] = None) -> int:
    target = target.absolute()
    if not target.is_dir():
        die(f"{target} is not a directory")
    sandbox = choose(mode, proot)
    entered = _open(target, tag, cache, sandbox)
    tree = entered.tree
    account = accounts.lookup(tree, user) if user else None
    if user and account is None:
        die(f"--user {user}: {target} has no such user in its /etc/passwd")
    # apt's _apt and pacman's alpm need ids of their own: the single mapping has none
    setup = setup_for(tree, holds_ids=sandbox.mode != "userns-single")
    run_dir = tree / "run"
    if setup.files and (run_dir.is_symlink() or not run_dir.is_dir()):
        print(f"rootstrap: warning: {tree} has no /run to show what its package manager "
              "needs in this namespace; it may fail to download", file=sys.stderr)
        setup = RunSetup()
    command = list(argv) or entered.args or [account.shell if account
                                             else treeinfo.login_shell(tree)]
    path = ":".join([f"/{SCRATCH}/{p}" for p in setup.path]
                    + [entered.env.get("PATH") or SAFE_PATH])
    if not find_command(tree, command[0], path, setup.files):
        die(f"{command[0]}: command not found in {target}", 127)
    env = {"HOME": "/root", "USER": "root", "LOGNAME": "root",
           "TERM": os.environ.get("TERM", "dumb"), "LANG": "C.UTF-8", **entered.env,
           "PATH": path, **setup.env}
    if account:
        env.update(HOME=account.home, USER=account.name, LOGNAME=account.name)
    # the command owns the terminal: Ctrl-C is its to handle (as a shell waits for a
    # foreground job), and a handler, unlike SIG_IGN, is not inherited across exec
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        # in a single-id namespace chown to other ids cannot happen; let tools go on
        sandbox.run(tree, [command], env, interactive=True,
                    fake_chown=not sandbox.can_chown, resolv=host_resolv_conf_path(),
                    hostname=entered.hostname, scratch=setup.files or None,
                    user=(account.uid, account.gid) if account else None)
    except CommandFailed as e:
        if e.reason:
            die(f"{command[0]}: {e.reason} (in {target})", e.code)
        return e.code
    except RuntimeError as e:
        die(f"cannot enter {target}: {e}")
    return 0
