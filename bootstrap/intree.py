"""Paths inside a tree, resolved as the tree itself would resolve them: a
symlink's absolute target means the tree's root, '..' stops at the root, so a
path never leads out of the tree whatever links its entries planted."""
from __future__ import annotations

import os
import stat
from typing import Collection

MAX_LINKS = 40


class Loop(Exception):
    """More symbolic links than any sane tree needs (or a cycle)."""


class NotADir(Exception):
    """A component that must be a directory is something else."""


def resolve(root: str, rel: str, *, follow_last: bool = True, opaque: Collection[str] = (),
            strict: bool = True) -> str:
    """rel (relative to root) with its symlinks resolved inside root; '.' for the
    root itself. Components that do not exist are kept as they are. opaque holds
    paths taken as they stand, never looked into (a tree's dev/null may be a
    placeholder or a link to the host's). strict: a non-directory met in the
    middle raises NotADir, else it is kept like a missing component."""
    out: list[str] = []
    pending = [p for p in rel.split("/") if p not in ("", ".")]
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
        path = "/".join(out)
        if path in opaque:
            continue
        try:
            st = os.lstat(os.path.join(root, path))
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            if strict:
                raise NotADir(path.rpartition("/")[0]) from None
            continue
        if stat.S_ISLNK(st.st_mode) and (pending or follow_last):
            hops += 1
            if hops > MAX_LINKS:
                raise Loop(rel)
            target = os.readlink(os.path.join(root, path))
            out.pop()
            if target.startswith("/"):
                out = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
        elif pending and strict and not stat.S_ISDIR(st.st_mode):
            raise NotADir(path)
    return "/".join(out) or "."
