"""The tree's own users and groups, as package managers look owners up by name
while they unpack (after the scripts that add them have run)."""
from __future__ import annotations

import os

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
