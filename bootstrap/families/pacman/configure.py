"""Configuring an unpacked tree as pacman's transaction would: each package's
.INSTALL functions in install order, then the PostTransaction hooks, then the
keyring that lets the tree's pacman verify what it installs next."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

from bootstrap.errors import die
from bootstrap.families.pacman import hooks
from bootstrap.families.pacman.localdb import entry_dir
from bootstrap.families.pacman.pkgfile import Unpacked
from bootstrap.sandbox.base import CommandFailed, TreeRunner
from bootstrap.treewriter import TreeWriter

SHELL = "bin/sh"
ENV = {"LANG": "C", "LC_ALL": "C", "HOME": "/root", "TERM": "dumb"}
KEYRING = "etc/pacman.d/gnupg"


@dataclass
class Installed:
    name: str
    version: str
    provides: tuple[str, ...]
    unpacked: Unpacked


def _warn(text: str) -> None:
    print(f"rootstrap: warning: {text}", file=sys.stderr)


def _defines(script: bytes, function: str) -> bool:
    # libalpm looks for the name anywhere in the file, whatever the function syntax
    return function.encode() in script


def _shell_from(installed: list[Installed]) -> int:
    """The index of the package that brings /bin/sh: pacman runs no scriptlet
    before the root has a shell."""
    for i, pkg in enumerate(installed):
        if {"usr/bin/sh", SHELL} & set(pkg.unpacked.files):
            return i
    return len(installed)


def scriptlets(runner: TreeRunner, installed: list[Installed]) -> None:
    shell_at = _shell_from(installed)
    for i, pkg in enumerate(installed):
        script = pkg.unpacked.meta.get(".INSTALL")
        if script is None:
            continue
        path = f"/{entry_dir(pkg.unpacked)}/install"
        for function, runs in (("pre_install", shell_at < i), ("post_install", shell_at <= i)):
            if not runs or not _defines(script, function):
                continue
            argv = [f"/{SHELL}", "-c", f". {path}; {function} {pkg.version}"]
            try:
                runner.run([argv], ENV)
            except CommandFailed as e:
                # pacman reports a failed scriptlet and goes on with the transaction
                _warn(f"{pkg.name}: {function} scriptlet exited with {e.code}")


def run_hooks(runner: TreeRunner, installed: list[Installed], when: str) -> None:
    try:
        found = [h for h in hooks.load_hooks(runner.tree) if h.when == when]
    except hooks.HookError as e:
        die(f"invalid alpm hook: {e}")
    except OSError as e:
        die(f"cannot read the tree's alpm hooks: {e}")
    names = [p.name for p in installed]
    files = sorted({f for p in installed for f in p.unpacked.files})
    have = set(names) | {prov for p in installed for prov in p.provides}
    for hook in found:
        targets = hooks.matches(hook, "Install", names, files)
        if not targets:
            continue
        missing = hooks.runnable(hook, have)
        if missing:
            _warn(f"hook {hook.name} not run: it depends on {missing}, which is not installed")
            continue
        stdin: Optional[bytes] = None
        if hook.needs_targets:
            stdin = "".join(f"{t}\n" for t in targets).encode("utf-8", "surrogateescape")
        try:
            runner.run([list(hook.exec)], ENV, input=stdin)
        except CommandFailed as e:
            if hook.abort_on_fail and when == "PreTransaction":
                die(f"hook {hook.name} failed (exit {e.code}) and aborts the transaction")
            _warn(f"hook {hook.name} exited with {e.code}")


def ldconfig(runner: TreeRunner, writer: TreeWriter) -> None:
    """libalpm runs ldconfig once after the last package, where the tree has an
    ld.so.conf."""
    if not writer.exists("etc/ld.so.conf"):
        return
    try:
        runner.run([["/sbin/ldconfig"]], ENV)
    except CommandFailed as e:
        if e.code != 127:
            _warn(f"ldconfig exited with {e.code}")


def keyring(runner: TreeRunner, writer: TreeWriter) -> None:
    """pacman-key --init and --populate, as the Arch install guide has it; the agent
    they start is stopped so nothing of the build lingers. The secret half of the
    tree's local key is then removed, as Arch's own images do, so trees made from
    one build never share it: the masters stay certified, and pacman-key --init
    makes a new local key when one is needed."""
    if not writer.exists("usr/bin/pacman-key"):
        return
    try:
        runner.run([["/usr/bin/pacman-key", "--init"], ["/usr/bin/pacman-key", "--populate"]],
                   ENV)
    except CommandFailed as e:
        die(f"setting up the pacman keyring in the tree failed: {e}")
    finally:
        if writer.exists("usr/bin/gpgconf"):
            try:
                runner.run([["/usr/bin/gpgconf", "--homedir", f"/{KEYRING}", "--kill",
                             "all"]], ENV)
            except CommandFailed:
                pass
    try:
        # inside the tree, where a link the packages planted cannot lead out of it
        runner.run([["/bin/rm", "-rf", f"/{KEYRING}/private-keys-v1.d",
                     f"/{KEYRING}/openpgp-revocs.d"]], ENV)
    except CommandFailed as e:
        die(f"removing the tree's keyring secret failed: {e}")


def run(runner: TreeRunner, writer: TreeWriter, installed: list[Installed]) -> None:
    scriptlets(runner, installed)
    ldconfig(runner, writer)
    run_hooks(runner, installed, "PostTransaction")
    keyring(runner, writer)
