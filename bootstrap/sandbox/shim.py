"""chown/chgrp stand-ins for a namespace that maps one id.

There (and on a filesystem that refuses chown) `chown root:shadow F` cannot
happen; the sandbox's seccomp filter makes chown calls succeed without effect so
scripts go on, and these stand-ins record what was meant in a log that rootstrap
folds into the ledger afterwards. Ownership set by a compiled program's own
chown(2) call is not recorded: that is the documented gap of these modes."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Optional

from bootstrap.ledger import Ledger, norm

DIR = ".rootstrap"          # in the tree's root while scriptlets run; removed afterwards
LOG = f"{DIR}/owners.log"

_SCRIPT = """#!/bin/sh
# rootstrap: this namespace maps one id; record what was meant, then do what can be done
PATH=${PATH#/.rootstrap/bin:}
export PATH
{ printf '%s\\037' TOOL "$PWD" "$@"; printf '\\n'; } >> /.rootstrap/owners.log
exec TOOL "$@"
"""


def install(root: Path) -> str:
    """Put the stand-ins into the tree; return the PATH prefix that selects them."""
    bindir = root / DIR / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in ("chown", "chgrp"):
        path = bindir / tool
        path.write_text(_SCRIPT.replace("TOOL", tool))
        path.chmod(0o755)
    return f"/{DIR}/bin"


def _table(root: Path, name: str) -> dict[str, tuple[int, int]]:
    """name -> (id, primary group id) from the tree's /etc/passwd or /etc/group."""
    out: dict[str, tuple[int, int]] = {}
    try:
        lines = (root / "etc" / name).read_text(errors="replace").splitlines()
    except OSError:
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


def collect(root: Path, ledger: Ledger, resolve: Callable[[str, bool], str]) -> None:
    """Fold the recorded owner changes into the ledger, in the order they were made,
    and remove the stand-ins. resolve(path, follow) gives the real tree path."""
    log = root / LOG
    if log.is_file():
        users, groups = _table(root, "passwd"), _table(root, "group")
        for record in log.read_text(errors="replace").split("\n"):
            fields = record.split("\037")[:-1]
            if len(fields) < 3:
                continue
            tool, cwd, args = fields[0], fields[1], fields[2:]
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
    shutil.rmtree(root / DIR, ignore_errors=True)
    ledger.drop(DIR)
