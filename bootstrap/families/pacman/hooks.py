"""libalpm hooks (alpm-hooks(5)): read the hook files of a tree, and tell which
of them a transaction triggers and with which targets.

Parsing, target matching, Exec splitting and ordering follow libalpm rather
than the letter of the man page where the two differ; each such place says so.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Optional, Sequence

from bootstrap import intree
from bootstrap.families.pacman.libc_fnmatch import fnmatch

SUFFIX = ".hook"
PRE, POST = "PreTransaction", "PostTransaction"
OPERATIONS = ("Install", "Upgrade", "Remove")
TYPES = {"Path": "Path", "File": "Path", "Package": "Package"}
# C isspace() in the C locale; str.strip() would also eat Unicode spaces
_SPACE = " \t\n\v\f\r"


class HookError(Exception):
    """A hook file libalpm would refuse, or one that cannot be read."""


@dataclass(frozen=True)
class Trigger:
    operations: tuple[str, ...]
    type: str                      # 'Path' or 'Package'
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Hook:
    name: str                      # the file name, suffix included, as pacman reports it
    path: Path
    triggers: tuple[Trigger, ...]
    when: str
    exec: tuple[str, ...]
    description: str
    depends: tuple[str, ...]
    abort_on_fail: bool
    needs_targets: bool


# -- parsing ------------------------------------------------------------------

class _Draft:
    def __init__(self) -> None:
        self.triggers: list[dict[str, list[str]]] = []
        self.when = ""
        self.exec: Optional[tuple[str, ...]] = None
        self.description = ""
        self.depends: list[str] = []
        self.abort_on_fail = False
        self.needs_targets = False


def split_exec(value: str) -> tuple[str, ...]:
    """Exec split into argv as libalpm's wordsplit does.

    Words break on whitespace; '...' and "..." group, and may sit inside a
    word (a'b c'd is one word). A backslash escapes only a quote: outside
    quotes either kind, inside only the quote that closes. Any other
    backslash is kept as it is. Unbalanced quotes are a ValueError.
    """
    words: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in _SPACE:
            i += 1
        if i >= n:
            return tuple(words)
        word: list[str] = []
        while i < n and value[i] not in _SPACE:
            c = value[i]
            if c in "'\"":
                i += 1
                while i < n and value[i] != c:
                    if value[i] == "\\" and i + 1 < n and value[i + 1] == c:
                        i += 1
                    word.append(value[i])
                    i += 1
                if i >= n:
                    raise ValueError(f"unbalanced {c} in {value!r}")
                i += 1
            else:
                if c == "\\" and i + 1 < n and value[i + 1] in "'\"":
                    i += 1
                word.append(value[i])
                i += 1
        words.append("".join(word))


def _read(path: Path, name: str, label: str) -> Hook:
    """The hook in path, which may have no triggers (libalpm's masking dummy)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HookError(f"{label}: cannot read: {e.strerror or e}") from None
    draft = _Draft()
    section: Optional[str] = None
    # fgets splits on '\n' alone; str.splitlines() would also split on \v, \f...
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.decode("utf-8", "surrogateescape").strip(_SPACE)
        if not line or line.startswith("#"):
            continue
        where = f"{label} line {number}"
        if len(line) >= 2 and line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if section == "Trigger":
                draft.triggers.append({"Operation": [], "Type": [], "Target": []})
            elif section != "Action":
                raise HookError(f"{where}: unknown section '{section}'")
            continue
        key, eq, rest = line.partition("=")
        key = key.strip(_SPACE)
        value: Optional[str] = rest.strip(_SPACE) if eq else None
        if section is None:
            raise HookError(f"{where}: '{key}' outside any section")
        if section == "Trigger":
            _trigger_key(draft.triggers[-1], key, value, where)
        else:
            _action_key(draft, key, value, where)
    return _finish(draft, path, name, label)


def _need(key: str, value: Optional[str], where: str) -> str:
    if value is None:
        raise HookError(f"{where}: '{key}' needs a value")
    return value


def _trigger_key(trigger: dict[str, list[str]], key: str, value: Optional[str],
                 where: str) -> None:
    if key == "Operation":
        op = _need(key, value, where)
        if op not in OPERATIONS:
            raise HookError(f"{where}: invalid Operation '{op}'")
        if op not in trigger["Operation"]:      # libalpm keeps a bit mask
            trigger["Operation"].append(op)
    elif key == "Type":
        kind = _need(key, value, where)
        if kind not in TYPES:
            raise HookError(f"{where}: invalid Type '{kind}'")
        trigger["Type"] = [TYPES[kind]]        # a repeated Type overrides, as in libalpm
    elif key == "Target":
        trigger["Target"].append(_need(key, value, where))
    else:
        raise HookError(f"{where}: unknown key '{key}' in [Trigger]")


def _action_key(draft: _Draft, key: str, value: Optional[str], where: str) -> None:
    if key == "When":
        when = _need(key, value, where)
        if when not in (PRE, POST):
            raise HookError(f"{where}: invalid When '{when}'")
        draft.when = when
    elif key == "Exec":
        try:
            argv = split_exec(_need(key, value, where))
        except ValueError:
            raise HookError(f"{where}: unbalanced quotes in Exec") from None
        if not argv:
            raise HookError(f"{where}: empty Exec")
        draft.exec = argv
    elif key == "Description":
        draft.description = value or ""
    elif key == "Depends":
        draft.depends.append(_need(key, value, where))
    elif key == "AbortOnFail":                  # a flag: libalpm ignores any value
        draft.abort_on_fail = True
    elif key == "NeedsTargets":
        draft.needs_targets = True
    else:
        raise HookError(f"{where}: unknown key '{key}' in [Action]")


def _finish(draft: _Draft, path: Path, name: str, label: str) -> Hook:
    triggers: list[Trigger] = []
    for t in draft.triggers:
        for key in ("Operation", "Type", "Target"):
            if not t[key]:
                raise HookError(f"{label}: [Trigger] without {key}")
        triggers.append(Trigger(tuple(t["Operation"]), t["Type"][0], tuple(t["Target"])))
    if triggers:
        if not draft.when:
            raise HookError(f"{label}: missing When (or the [Action] section)")
        if draft.exec is None:
            raise HookError(f"{label}: missing Exec (or the [Action] section)")
    return Hook(
        name=name, path=path, triggers=tuple(triggers), when=draft.when,
        exec=draft.exec or (), description=draft.description,
        depends=tuple(draft.depends),
        # pacman only warns about AbortOnFail on a PostTransaction hook: it has
        # nothing to abort there
        abort_on_fail=draft.abort_on_fail and draft.when == PRE,
        needs_targets=draft.needs_targets,
    )


def parse_hook(path: Path, name: str, *, label: Optional[str] = None) -> Hook:
    """The hook in the file path, called name; label names it in errors (path by default)."""
    label = label or str(path)
    hook = _read(path, name, label)
    if not hook.triggers:
        raise HookError(f"{label}: no [Trigger] section")
    return hook


# -- loading a tree's hooks ---------------------------------------------------

def _resolve(root: Path, rel: str, label: str) -> str:
    """rel with every symlink resolved inside root; missing components are kept.
    The tree's own dev/null may be a placeholder or a link to the host's: it
    stands for /dev/null whatever it is."""
    try:
        return intree.resolve(str(root), rel, opaque=("dev/null",), strict=False)
    except intree.Loop:
        raise HookError(f"{label}: too many levels of symbolic links") from None


def _order(name: str) -> bytes:
    # libalpm compares names without the suffix, byte by byte: "a.hook" runs
    # before "a-b.hook" although '-' sorts before '.'
    return os.fsencode(name[: -len(SUFFIX)])


def load_hooks(root: Path, dirs: Sequence[str] = ("usr/share/libalpm/hooks",
                                                   "etc/pacman.d/hooks")) -> list[Hook]:
    """The hooks of the tree at root, in the order pacman runs them.

    A later dir overrides an earlier one name by name. A file that defines no
    trigger (an empty file, a symlink to /dev/null) masks its name, as
    libalpm's triggerless dummy hooks do. Symlinks are resolved inside root,
    never on the host.
    """
    seen: set[str] = set()
    hooks: list[Hook] = []
    for d in reversed(dirs):
        where = _resolve(root, d, f"/{d.strip('/')}")
        full_dir = root / where if where else root
        try:
            names = sorted(os.listdir(full_dir))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if not name.endswith(SUFFIX) or name in seen:
                continue
            label = f"/{d.strip('/')}/{name}"
            rel = _resolve(root, f"{where}/{name}" if where else name, label)
            if rel == "dev/null":
                seen.add(name)
                continue
            target = root / rel
            try:
                st = os.lstat(target)
            except (FileNotFoundError, NotADirectoryError):
                raise HookError(f"{label}: dangling symlink (to /{rel} in the tree)") from None
            if stat.S_ISDIR(st.st_mode):
                continue                        # libalpm skips it, and it masks nothing
            if not stat.S_ISREG(st.st_mode):
                raise HookError(f"{label}: not a regular file")
            hook = _read(target, name, label)
            seen.add(name)
            if hook.triggers:
                hooks.append(hook)
    hooks.sort(key=lambda h: _order(h.name))
    return hooks


# -- matching -----------------------------------------------------------------
def target_matches(targets: Sequence[str], subject: str) -> bool:
    """libalpm's pattern list: the last pattern that matches decides; '!'
    negates it. A leading backslash is dropped, so '\\!x' means a literal '!x'
    (and, as in libalpm, '\\*' is then a plain '*' glob)."""
    for pattern in reversed(targets):
        inverted = pattern.startswith("!")
        if inverted or pattern.startswith("\\"):
            pattern = pattern[1:]
        if fnmatch(pattern, subject):
            return not inverted
    return False


def matches(hook: Hook, operation: str, packages: Sequence[str],
            files: Sequence[str]) -> list[str]:
    """The targets that trigger hook, sorted and unique (what NeedsTargets
    feeds to stdin); empty when the hook does not run for this transaction."""
    found: set[str] = set()
    for trigger in hook.triggers:
        if operation not in trigger.operations:
            continue
        pool = packages if trigger.type == "Package" else files
        found.update(s for s in pool if target_matches(trigger.targets, s))
    return sorted(found, key=os.fsencode)       # strcmp order, as libalpm sorts


def runnable(hook: Hook, installed: Collection[str]) -> Optional[str]:
    """None when every Depends is installed (by name or provides), else the
    first that is not. A version constraint in Depends is not checked."""
    for dep in hook.depends:
        name = re.split(r"[<>=]", dep, maxsplit=1)[0].strip(_SPACE)
        if name not in installed:
            return dep
    return None
