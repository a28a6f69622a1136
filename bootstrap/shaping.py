"""What the user asked to do to the tree while it is built (mmdebstrap's hook
model): host hooks at four points, commands run inside, files copied in and out,
a user, a locale and a time zone. Read and checked before anything is fetched,
so bad input costs nothing and leaves nothing."""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from bootstrap.errors import die

HOOK_KINDS = ("setup", "extract", "essential", "customize")
# useradd's own rule for a portable name (shadow's is_valid_user_name, strict form)
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,30}")
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
_LOCALE = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9-]+)?(@[A-Za-z0-9]+)?")
ID_MAX = 2 ** 32 - 2          # (uid_t)-1 means "no change" to the kernel
HOST_ZONEINFO = Path("/usr/share/zoneinfo")


@dataclass(frozen=True)
class Step:
    """One customize step, run in the order given: a host hook, or a command inside."""
    kind: str          # "hook" or "run-in"
    command: str


@dataclass(frozen=True)
class UserSpec:
    name: str
    uid: int
    gid: int


@dataclass
class Shaping:
    hooks: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in HOOK_KINDS})
    steps: list[Step] = field(default_factory=list)             # customize: hooks, run-in
    copy_in: list[tuple[Path, str]] = field(default_factory=list)
    copy_out: list[tuple[str, Path]] = field(default_factory=list)
    user: Optional[UserSpec] = None
    locale: Optional[str] = None
    timezone: Optional[str] = None

    @property
    def runs_inside(self) -> bool:
        """Something must run inside the tree whatever --no-configure says."""
        return any(s.kind == "run-in" for s in self.steps)

    @property
    def wants_sandbox(self) -> bool:
        """A sandbox would serve: hooks may run commands inside through it."""
        return self.runs_inside or any(self.hooks.values()) or bool(self.steps)

    def with_recipe_hooks(self, recipe_hooks: dict[str, Sequence[str]]) -> "Shaping":
        """The recipe's hooks of each kind first, then the command line's."""
        hooks = {k: [*recipe_hooks.get(k, ()), *v] for k, v in self.hooks.items()}
        steps = [Step("hook", c) for c in recipe_hooks.get("customize", ())] + self.steps
        return Shaping(hooks, steps, self.copy_in, self.copy_out, self.user, self.locale,
                       self.timezone)


class InOrder(argparse.Action):
    """Keeps --hook, --run-in, --copy-in and --copy-out in one list, in the order
    they were given (customize steps run in that order)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((option_string or "", values))
        setattr(namespace, self.dest, items)


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shaping the tree during the build")
    g.add_argument("--hook", action=InOrder, dest="shaping", metavar="KIND:COMMAND",
                   help="run COMMAND on the host with $1 the tree, at KIND: setup (before "
                   "any package), extract (after unpacking), essential (after the "
                   "essential set is configured), customize (at the end); repeatable")
    g.add_argument("--run-in", action=InOrder, dest="shaping", metavar="COMMAND",
                   help="run COMMAND with /bin/sh inside the tree as root, at the end")
    g.add_argument("--copy-in", action=InOrder, dest="shaping", metavar="SRC:DEST",
                   help="copy a host file or directory into the tree (modes kept, owned "
                   "by root)")
    g.add_argument("--copy-out", action=InOrder, dest="shaping", metavar="SRC:DEST",
                   help="copy a path of the finished tree to the host")
    g.add_argument("--user", metavar="NAME[:UID[:GID]]",
                   help="add a user (default: the caller's uid and gid) with a home and "
                   "the distribution's shell")
    g.add_argument("--locale", metavar="LOCALE", help="the tree's LANG, set the "
                   "distribution's way (e.g. de_DE.UTF-8)")
    g.add_argument("--timezone", metavar="ZONE", help="the tree's time zone (e.g. "
                   "Europe/Berlin), from the tree's own time zone data")


def parse(items: Sequence[tuple[str, str]], user: Optional[str], locale: Optional[str],
          timezone: Optional[str]) -> Shaping:
    out = Shaping()
    for option, value in items:
        if option == "--hook":
            kind, sep, command = value.partition(":")
            if not sep or kind not in HOOK_KINDS:
                die(f"--hook {value!r}: give KIND:COMMAND with KIND one of "
                    f"{', '.join(HOOK_KINDS)}")
            if not command.strip():
                die(f"--hook {value!r}: the command is empty")
            if kind == "customize":
                out.steps.append(Step("hook", command))
            else:
                out.hooks[kind].append(command)
        elif option == "--run-in":
            if not value.strip():
                die("--run-in: the command is empty")
            out.steps.append(Step("run-in", value))
        elif option == "--copy-in":
            src, dest = _pair(option, value)
            out.copy_in.append((_host_source(src), tree_path(option, dest)))
        elif option == "--copy-out":
            src, dest = _pair(option, value)
            out.copy_out.append((tree_path(option, src), _host_dest(dest)))
    out.hooks["customize"] = [s.command for s in out.steps if s.kind == "hook"]
    out.user = parse_user(user) if user is not None else None
    out.locale = _locale(locale) if locale is not None else None
    out.timezone = _zone(timezone) if timezone is not None else None
    return out


def _pair(option: str, value: str) -> tuple[str, str]:
    src, sep, dest = value.rpartition(":")
    if not sep or not src or not dest:
        die(f"{option} {value!r}: give SRC:DEST")
    return src, dest


def tree_path(option: str, path: str) -> str:
    """A path inside the tree as the user wrote it ('/etc/x' or 'etc/x'); '..' is
    refused: it could only mean the tree's root, never a way out of it."""
    if "\0" in path:
        die(f"{option}: a path with a NUL byte")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        die(f"{option} {path!r}: a path in the tree may not contain '..'")
    return "/".join(parts) + ("/" if path.endswith("/") and parts else "") or "."


def _host_source(src: str) -> Path:
    path = Path(src).expanduser().absolute()
    if not os.path.lexists(path):
        die(f"--copy-in: {src}: no such file or directory")
    if not os.access(path, os.R_OK):
        die(f"--copy-in: {src}: cannot read it")
    return path


def _host_dest(dest: str) -> Path:
    path = Path(dest).expanduser().absolute()
    if path.is_dir():
        return path
    if os.path.lexists(path):
        die(f"--copy-out: {dest} already exists; remove it or name a directory")
    if not path.parent.is_dir():
        die(f"--copy-out: {path.parent} is not a directory")
    return path


def parse_user(spec: str) -> UserSpec:
    name, *ids = spec.split(":")
    if not _USER.fullmatch(name) or len(ids) > 2:
        die(f"--user {spec!r}: give NAME[:UID[:GID]], NAME as useradd takes it "
            "(lower case letters, digits, '_' and '-', at most 32)")
    numbers = []
    for text in ids:
        if not text.isdigit() or not 0 < int(text) <= ID_MAX:
            die(f"--user {spec!r}: UID and GID are numbers from 1 to {ID_MAX}")
        numbers.append(int(text))
    uid = numbers[0] if numbers else os.getuid()
    gid = numbers[1] if len(numbers) > 1 else (os.getgid() if not numbers else uid)
    if uid == 0 or gid == 0:
        die(f"--user {spec!r}: id 0 is root's (you run as root); give NAME:UID[:GID]")
    return UserSpec(name, uid, gid)


def _locale(value: str) -> str:
    if not _LOCALE.fullmatch(value):
        die(f"--locale {value!r}: not a locale name (such as en_US.UTF-8 or C.UTF-8)")
    return value


def _zone(value: str) -> str:
    if not _ZONE.fullmatch(value) or ".." in value.split("/"):
        die(f"--timezone {value!r}: not a time zone name (such as Europe/Berlin or UTC)")
    # the host's time zone data catches a typo before the build; the tree's decides
    if HOST_ZONEINFO.is_dir() and not (HOST_ZONEINFO / value).is_file():
        die(f"--timezone {value}: unknown time zone (not in {HOST_ZONEINFO})")
    return value
