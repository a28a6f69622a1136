"""The tree's own users and groups: as package managers look owners up by name
while they unpack (after the scripts that add them have run), as `rootstrap run
--user` finds one, and a user added by editing the files where the tree has no
useradd to run."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bootstrap import intree
from bootstrap.errors import die
from bootstrap.ownership import walk
from bootstrap.treewriter import TreeWriter


def ids(writer: TreeWriter, table: str) -> dict[str, int]:
    """name -> id from the tree's /etc/passwd or /etc/group as it is now."""
    out: dict[str, int] = {}
    path = writer.full(writer.resolve(f"etc/{table}", follow_last=False))
    try:
        if os.path.islink(path):
            return out
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split(":")
                if len(parts) > 2 and parts[2].isdigit():
                    out.setdefault(parts[0], int(parts[2]))
    except OSError:
        pass
    return out


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def lookup(tree: Path, name: str) -> Optional[Account]:
    """NAME's line of the tree's /etc/passwd (resolved as the tree would)."""
    try:
        path = tree / intree.resolve(str(tree), "etc/passwd", strict=False)
        text = path.read_text(errors="replace")
    except (OSError, intree.Loop):
        return None
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 7 and f[0] == name and f[2].isdigit() and f[3].isdigit():
            return Account(f[0], int(f[2]), int(f[3]), f[5] or "/", f[6] or "/bin/sh")
    return None


def _lines(writer: TreeWriter, table: str) -> tuple[str, list[str]]:
    """The resolved path of etc/TABLE and its lines ([] where it is missing)."""
    path = writer.resolve(f"etc/{table}", follow_last=True)
    try:
        with open(writer.full(path), errors="surrogateescape") as f:
            return path, f.read().splitlines()
    except FileNotFoundError:
        return path, []


def _append(writer: TreeWriter, path: str, lines: list[str], line: str,
            default_mode: int) -> None:
    """lines plus line written back, the file's owner and mode as the ledger has them."""
    entry = writer.ledger.get(path)
    mode, uid, gid = (entry.mode, entry.uid, entry.gid) if entry else (default_mode, 0, 0)
    text = "".join(f"{ln}\n" for ln in [*lines, line])
    writer.write_bytes(path, text.encode(errors="surrogateescape"), mode, uid, gid)


def check_new_user(writer: TreeWriter, name: str, uid: int, gid: int) -> bool:
    """Refuse a name or uid the tree already has; whether group gid must be made."""
    _, passwd = _lines(writer, "passwd")
    for line in passwd:
        f = line.split(":")
        if f[0] == name:
            die(f"--user {name}: the tree already has a user {name}")
        if len(f) > 2 and f[2] == str(uid):
            die(f"--user {name}: uid {uid} is {f[0]}'s in the tree; give NAME:UID:GID")
    _, group = _lines(writer, "group")
    for line in group:
        f = line.split(":")
        if f[0] == name and (len(f) < 3 or f[2] != str(gid)):
            die(f"--user {name}: the tree has a group {name} with another gid than {gid}")
    return not any(line.split(":")[2:3] == [str(gid)] for line in group)


def add_user(writer: TreeWriter, name: str, uid: int, gid: int, home: str, shell: str,
             days: int) -> None:
    """NAME added to the tree's passwd, group, shadow and gshadow the way useradd
    writes them (password locked; the group NAME made unless gid has one), with
    a home made from /etc/skel. days: the last password change (days since 1970)."""
    new_group = check_new_user(writer, name, uid, gid)
    path, passwd = _lines(writer, "passwd")
    _append(writer, path, passwd, f"{name}:x:{uid}:{gid}::{home}:{shell}", 0o644)
    path, shadow = _lines(writer, "shadow")
    if shadow or writer.exists(path):
        _append(writer, path, shadow, f"{name}:!:{days}:0:99999:7:::", 0o600)
    if new_group:
        path, group = _lines(writer, "group")
        _append(writer, path, group, f"{name}:x:{gid}:", 0o644)
        path, gshadow = _lines(writer, "gshadow")
        if gshadow or writer.exists(path):
            _append(writer, path, gshadow, f"{name}:!::", 0o600)
    make_home(writer, home, uid, gid)


def make_home(writer: TreeWriter, home: str, uid: int, gid: int) -> None:
    """home (mode 0700, as useradd's HOME_MODE on these distributions) with the
    tree's /etc/skel copied in, all of it the user's; an existing home is left."""
    if writer.exists(home):
        return
    parent = home.rpartition("/")[0]
    if parent.strip("/"):
        writer.ensure_dir(parent.strip("/"))
    writer.mkdir(home, 0o700, uid, gid)
    skel = writer.resolve("etc/skel", follow_last=True)
    if not os.path.isdir(writer.full(skel)):
        return
    for rel, st in walk(Path(writer.full(skel))):
        if rel == ".":
            continue
        dest, source = f"{home}/{rel}", os.path.join(writer.full(skel), rel)
        mode = writer.ledger.get(f"{skel}/{rel}")
        perm = mode.mode if mode else stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            writer.mkdir(dest, perm, uid, gid)
        elif stat.S_ISLNK(st.st_mode):
            writer.symlink(dest, os.readlink(source), uid, gid)
        elif stat.S_ISREG(st.st_mode):
            with open(source, "rb") as f:
                writer.write_file(dest, f, perm, uid, gid)
