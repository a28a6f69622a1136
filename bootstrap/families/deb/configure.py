"""Configuring a tree of unpacked packages with the target's own dpkg, in the
order mmdebstrap uses: the essential set first, then everything else."""
from __future__ import annotations

from bootstrap.errors import die
from bootstrap.families.deb.dpkgdb import ADMIN
from bootstrap.families.deb.packages import DebPackage
from bootstrap.sandbox.base import CommandFailed, TreeRunner
from bootstrap.treewriter import TreeWriter

POLICY_RC_D = "usr/sbin/policy-rc.d"


def _order(pkgs: list[DebPackage]) -> list[DebPackage]:
    """Dependencies before dependants (Pre-Depends and Depends), cycles broken by name."""
    by_name = {p.name: p for p in pkgs}
    provided: dict[str, str] = {}
    for p in pkgs:
        for rel in p.provides:
            provided.setdefault(rel.name, p.name)
    out: list[DebPackage] = []
    state: dict[str, int] = {}

    def visit(p: DebPackage) -> None:
        if state.get(p.name):
            return
        state[p.name] = 1
        for group in p.pre_depends + p.depends:
            for rel in group:
                dep = rel.name if rel.name in by_name else provided.get(rel.name)
                if dep and dep != p.name:
                    visit(by_name[dep])
                    break
        state[p.name] = 2
        out.append(p)

    for p in sorted(pkgs, key=lambda p: p.name):
        visit(p)
    return out


def _preinst(writer: TreeWriter, p: DebPackage) -> list[list[str]]:
    name = f"{p.name}:{p.architecture}" if p.multi_arch == "same" else p.name
    script = f"/{ADMIN}/info/{name}.preinst"
    if not writer.exists(script):
        return []
    return [["/usr/bin/env", f"DPKG_MAINTSCRIPT_PACKAGE={p.name}",
             f"DPKG_MAINTSCRIPT_ARCH={p.architecture}", "DPKG_MAINTSCRIPT_NAME=preinst",
             f"DPKG_ADMINDIR=/{ADMIN}", "DPKG_ROOT=", script, "install"]]


ESSENTIAL, REST, ALL = "essential", "rest", "all"


def run(runner: TreeRunner, writer: TreeWriter, chosen: list[DebPackage],
        activations: dict[str, list[str]], stage: str = ALL) -> None:
    """Configure the essential set, then the rest (stage: only one of them, for
    hooks that run in between)."""
    env = {
        "LC_ALL": "C", "HOME": "/root", "TERM": "dumb",
        "DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true",
        # debconf looks for root's ~/.debconfrc through getpwuid(), which has no
        # answer before base-passwd is configured (perl then warns "Use of
        # uninitialized value"); naming the system file skips that lookup
        "DEBCONF_SYSTEMRC": "/etc/debconf.conf",
    }
    essential = [p for p in chosen if p.essential]
    essential_names = closure(essential, chosen)
    first = [p for p in _order(chosen) if p.name in essential_names]
    rest = [p for p in _order(chosen) if p.name not in essential_names]
    dpkg = ["dpkg", "--force-confdef", "--force-confold"]
    commands: list[list[str]] = []
    if stage != REST:
        for p in first:
            commands += _preinst(writer, p)
        if first:
            commands.append(dpkg + ["--configure"] + [p.name for p in first])
    if stage != ESSENTIAL:
        for p in rest:
            commands += _preinst(writer, p)
        commands.append(dpkg + ["--configure", "-a"])
        if activations:
            commands += [["dpkg-trigger", "--no-await", t] for t in sorted(activations)]
            commands.append(dpkg + ["--triggers-only", "-a"])
    if not commands:
        return
    had_policy = writer.exists(POLICY_RC_D)
    if not had_policy:
        writer.write_bytes(POLICY_RC_D, b"#!/bin/sh\n# rootstrap: no services start while "
                           b"building\nexit 101\n", 0o755)
    try:
        runner.run(commands, env)
    except CommandFailed as e:
        die(f"configuring failed: {' '.join(e.argv[-3:])} exited with {e.code}")
    except RuntimeError as e:
        die(f"configuring failed: {e}")
    finally:
        if not had_policy:
            writer.remove(POLICY_RC_D)


def closure(roots: list[DebPackage], chosen: list[DebPackage]) -> set[str]:
    """The names of roots and everything in chosen they depend on."""
    by_name = {p.name: p for p in chosen}
    provided: dict[str, str] = {}
    for p in chosen:
        for rel in p.provides:
            provided.setdefault(rel.name, p.name)
    out: set[str] = set()
    todo = list(roots)
    while todo:
        p = todo.pop()
        if p.name in out:
            continue
        out.add(p.name)
        for group in p.pre_depends + p.depends:
            for rel in group:
                dep = rel.name if rel.name in by_name else provided.get(rel.name)
                if dep:
                    todo.append(by_name[dep])
                    break
    return out
