"""chown/chgrp stand-ins for a namespace that maps one id.

There `chown root:shadow F` fails with EINVAL because gid 42 has no mapping,
and a maintainer script that does it would abort the build. The stand-ins run
the real tool and, when only the mapping is missing, record what was meant in
a log that rootstrap folds into the ledger afterwards."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

from bootstrap.ledger import Ledger, norm

DIR = ".rootstrap"          # in the tree's root while scriptlets run; removed afterwards
LOG = f"{DIR}/owners.log"

_SCRIPT = """#!/bin/sh
# rootstrap: an id this namespace cannot map is recorded, not fatal
PATH=${PATH#/.rootstrap/bin:}
export PATH
if err=$(command TOOL "$@" 2>&1); then
    [ -z "$err" ] || printf '%s\\n' "$err" >&2
    exit 0
fi
case $err in
    *"Invalid argument"*) ;;
    *) printf '%s\\n' "$err" >&2; exit 1 ;;
esac
{ printf '%s\\037' TOOL "$PWD" "$@"; printf '\\n'; } >> /.rootstrap/owners.log
exit 0
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


def _ids(root: Path, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        lines = (root / "etc" / name).read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":")
        if len(parts) > 2 and parts[2].isdigit():
            out.setdefault(parts[0], int(parts[2]))
    return out


def _lookup(table: dict[str, int], value: str) -> Optional[int]:
    if value.isdigit():
        return int(value)
    return table.get(value)


def collect(root: Path, ledger: Ledger, resolve) -> int:  # type: ignore[no-untyped-def]
    """Fold the recorded owner changes into the ledger, remove the stand-ins.
    resolve(path_in_tree, follow) gives the tree-relative real path."""
    log = root / LOG
    applied = 0
    if log.is_file():
        users, groups = _ids(root, "passwd"), _ids(root, "group")
        for record in log.read_text(errors="replace").split("\n"):
            fields = record.split("\037")[:-1]
            if len(fields) < 3:
                continue
            tool, cwd, args = fields[0], fields[1], fields[2:]
            recursive = any(a in ("-R", "--recursive") for a in args)
            follow = not any(a in ("-h", "--no-dereference") for a in args)
            words = [a for a in args if not a.startswith("-")]
            if len(words) < 2:
                continue
            spec, files = words[0], words[1:]
            uid: Optional[int] = None
            gid: Optional[int] = None
            if tool == "chgrp":
                gid = _lookup(groups, spec)
            else:
                user, sep, group = spec.replace(".", ":", 1).partition(":") \
                    if ":" not in spec and "." in spec else spec.partition(":")
                uid = _lookup(users, user) if user else None
                if group:
                    gid = _lookup(groups, group)
                elif sep and uid is not None:
                    gid = next((int(p.split(":")[3]) for p in
                                (root / "etc/passwd").read_text().splitlines()
                                if p.split(":")[0] == user), None)
            for f in files:
                path = resolve(os.path.join(cwd, f).lstrip("/"), follow)
                targets = [path]
                if recursive:
                    prefix = norm(path) + "/"
                    targets += [k for k in ledger.entries if k.startswith(prefix)]
                for t in targets:
                    entry = ledger.get(t)
                    if entry is None:
                        continue
                    if uid is not None:
                        entry.uid = uid
                    if gid is not None:
                        entry.gid = gid
                    applied += 1
    shutil.rmtree(root / DIR, ignore_errors=True)
    ledger.drop(DIR)
    return applied
