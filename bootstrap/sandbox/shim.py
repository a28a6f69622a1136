"""chown, chgrp and mknod stand-ins for scriptlets where they cannot take effect.

In a namespace that maps one id, under PRoot, or on a filesystem that refuses
chown, `chown root:shadow F` cannot happen; the sandbox's seccomp filter makes
chown calls succeed without effect so scripts go on, and these stand-ins record
what was meant in a log that rootstrap folds into the ledger afterwards. Device
nodes cannot be made without real root at all: `mknod` that fails is recorded
as a ledger-only node (tarballs carry it). What a compiled program does with its
own chown(2) or mknod(2) is not recorded: the documented gap of these modes."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Optional

from bootstrap import intree
from bootstrap.ledger import BLOCK, CHAR, Entry, Ledger, norm
from bootstrap.treewriter import TreeWriter

DIR = ".rootstrap"          # in the tree's root while scriptlets run; removed afterwards
LOG = f"{DIR}/owners.log"

_HEAD = """#!/bin/sh
# rootstrap: record what was meant; do what can be done
PATH=${PATH#/.rootstrap/bin:}
export PATH
"""
_RECORD = """{ printf '%s\\037' TOOL "$PWD" "$@"; printf '\\n'; } >> /.rootstrap/owners.log\n"""
_CHOWN = _HEAD + _RECORD + 'exec TOOL "$@"\n'
# recorded always: PRoot's fake root may answer a device mknod with success and no node
_MKNOD = _HEAD + _RECORD + 'command mknod "$@" 2>/dev/null\nexit 0\n'


def install(writer: TreeWriter, chown: bool) -> str:
    """Put the stand-ins into the tree (chown and chgrp only when chown cannot be
    real), through the confined writer; return the PATH prefix that selects them."""
    writer.mkdir(DIR, 0o755, 0, 0)
    writer.mkdir(f"{DIR}/bin", 0o755, 0, 0)
    tools = {"mknod": _MKNOD}
    if chown:
        tools.update(chown=_CHOWN, chgrp=_CHOWN)
    for tool, script in tools.items():
        writer.write_bytes(f"{DIR}/bin/{tool}", script.replace("TOOL", tool).encode(), 0o755)
    return f"/{DIR}/bin"


def _table(writer: TreeWriter, name: str) -> dict[str, tuple[int, int]]:
    """name -> (id, primary group id) from the tree's /etc/passwd or /etc/group."""
    out: dict[str, tuple[int, int]] = {}
    try:
        path = intree.resolve(str(writer.root), f"etc/{name}", strict=False)
        lines = Path(writer.full(path)).read_text(errors="replace").splitlines()
    except (OSError, intree.Loop):
        return out
    for line in lines:
        parts = line.split(":")
        if len(parts) > 3 and parts[2].isdigit():
            gid = int(parts[3]) if parts[3].isdigit() else int(parts[2])
            out.setdefault(parts[0], (int(parts[2]), gid))
    return out


def _owner(tool: str, spec: str, users: dict[str, tuple[int, int]],
           groups: dict[str, tuple[int, int]]) -> tuple[Optional[int], Optional[int]]:
    """chown's OWNER[:GROUP] (or chgrp's GROUP) as ids; None leaves one unchanged."""
    def look(table: dict[str, tuple[int, int]], name: str) -> Optional[int]:
        return int(name) if name.isdigit() else table.get(name, (None,))[0]
    if tool == "chgrp":
        return None, look(groups, spec)
    user, sep, group = spec.partition(":")
    if not sep and "." in spec and spec.partition(".")[0] in users:
        user, sep, group = spec.partition(".")     # the old USER.GROUP spelling
    uid = look(users, user) if user else None
    if group:
        return uid, look(groups, group)
    if sep and user in users:
        return uid, users[user][1]                 # 'user:' means the login group
    return uid, None


def collect(writer: TreeWriter) -> None:
    """Fold the recorded owner changes into the ledger, in the order they were made,
    and remove the stand-ins."""
    root, ledger = writer.root, writer.ledger

    def resolve(path: str, follow: bool) -> str:
        return writer.resolve(path, follow_last=follow)

    log = Path(writer.full(writer.resolve(LOG)))
    if log.is_file() and not log.is_symlink():
        users, groups = _table(writer, "passwd"), _table(writer, "group")
        for record in log.read_text(errors="replace").split("\n"):
            fields = record.split("\037")[:-1]
            if len(fields) < 3:
                continue
            tool, cwd, args = fields[0], fields[1], fields[2:]
            if tool == "mknod":
                _node(root, ledger, resolve, cwd, args)
                continue
            words = [a for a in args if not a.startswith("-")]
            if len(words) < 2:
                continue
            uid, gid = _owner(tool, words[0], users, groups)
            recursive = any(a in ("-R", "--recursive") for a in args)
            follow = not any(a in ("-h", "--no-dereference") for a in args)
            for f in words[1:]:
                path = norm(resolve(os.path.join(cwd, f).lstrip("/"), follow))
                targets = [path]
                if recursive:
                    targets += [k for k in ledger.entries if k.startswith(path + "/")]
                for t in targets:
                    entry = ledger.get(t)
                    if entry is not None:
                        entry.uid = entry.uid if uid is None else uid
                        entry.gid = entry.gid if gid is None else gid
    writer.remove(DIR)


def _node(root: Path, ledger: Ledger, resolve: Callable[[str, bool], str], cwd: str,
          args: list[str]) -> None:
    """A device node `mknod [-m MODE] NAME b|c|u MAJOR MINOR` could not make."""
    mode = 0o644                      # 0666 under the usual umask of 022
    words: list[str] = []
    it = iter(args)
    for a in it:
        if a in ("-m", "--mode"):
            a = "--mode=" + next(it, "")
        if a.startswith("--mode=") or (a.startswith("-m") and len(a) > 2):
            value = a.split("=", 1)[1] if a.startswith("--") else a[2:]
            if value.isdigit():
                mode = int(value, 8)
        elif not a.startswith("-"):
            words.append(a)
    if len(words) != 4 or words[1] not in ("b", "c", "u") \
            or not (words[2].isdigit() and words[3].isdigit()):
        return
    path = norm(resolve(os.path.join(cwd, words[0]).lstrip("/"), False))
    full = root / path
    try:
        st = os.lstat(full)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            return                    # made for real: the harvest has it
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            full.unlink()             # whatever stood in for the node goes
    except FileNotFoundError:
        pass
    ledger.set(path, Entry(BLOCK if words[1] == "b" else CHAR, mode & 0o7777, 0, 0,
                           rdev=(int(words[2]), int(words[3]))))
