"""The ownership ledger: the intended owner, mode, device numbers and xattrs of
every entry of a tree, kept apart from the files because an unprivileged build
cannot always make the filesystem hold them."""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

FILE, DIR, SYMLINK, CHAR, BLOCK, FIFO = "file", "dir", "symlink", "char", "block", "fifo"
KINDS = (FILE, DIR, SYMLINK, CHAR, BLOCK, FIFO)


@dataclass
class Entry:
    kind: str
    mode: int                # permission bits, setuid/setgid/sticky included
    uid: int = 0
    gid: int = 0
    rdev: Optional[tuple[int, int]] = None    # (major, minor) of a device node
    xattrs: dict[str, bytes] = field(default_factory=dict)


def norm(path: str) -> str:
    """The ledger's key for a path relative to the tree root: 'usr/bin/sh', '.' for the root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/".join(parts) or "."


def ledger_path(tree: Path) -> Path:
    """Where a directory tree's ledger lives: beside it, not inside the rootfs."""
    return tree.parent / f"{tree.name}.rootstrap-ledger"


class Ledger:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def __contains__(self, path: str) -> bool:
        return norm(path) in self.entries

    def get(self, path: str) -> Optional[Entry]:
        return self.entries.get(norm(path))

    def set(self, path: str, entry: Entry) -> None:
        self.entries[norm(path)] = entry

    def drop(self, path: str) -> None:
        """Forget path and everything below it."""
        key = norm(path)
        self.entries.pop(key, None)
        prefix = key + "/"
        for k in [k for k in self.entries if k.startswith(prefix)]:
            del self.entries[k]

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        return iter(sorted(self.entries.items()))

    def save(self, path: Path) -> None:
        doc = {}
        for key, e in self.entries.items():
            item: dict = {"kind": e.kind, "mode": e.mode, "uid": e.uid, "gid": e.gid}
            if e.rdev:
                item["rdev"] = list(e.rdev)
            if e.xattrs:
                item["xattrs"] = {k: base64.b64encode(v).decode() for k, v in e.xattrs.items()}
            doc[key] = item
        tmp = path.with_name(path.name + ".tmp")
        # ASCII escapes keep a name's bytes that are not UTF-8 (surrogate escapes,
        # \udc80-\udcff) as they are: load() gives back the same name
        tmp.write_text(json.dumps({"version": 1, "entries": doc}, sort_keys=True,
                                  ensure_ascii=True), encoding="ascii")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Ledger":
        doc = json.loads(path.read_text(encoding="utf-8"))
        ledger = cls()
        for key, item in doc["entries"].items():
            ledger.entries[key] = Entry(
                kind=item["kind"], mode=item["mode"], uid=item["uid"], gid=item["gid"],
                rdev=tuple(item["rdev"]) if "rdev" in item else None,
                xattrs={k: base64.b64decode(v) for k, v in item.get("xattrs", {}).items()},
            )
        return ledger
