"""Files that appear whole or not at all: written to a temporary name in the
target's folder and renamed into place."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO


class AtomicFile:
    """A temporary file that becomes visible only through commit()."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        self.tmp = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.done = False

    @classmethod
    def taking(cls, tmp: Path) -> "AtomicFile":
        """One over a file already written in the target's folder (a finished
        download): committed, it is renamed into place; else removed."""
        self = cls.__new__(cls)
        self.tmp = tmp
        self.file = open(tmp, "ab")
        self.done = False
        return self

    def commit(self, dest: Path, mode: int = 0o644) -> None:
        self.file.flush()
        os.fchmod(self.file.fileno(), mode)
        self.file.close()
        os.replace(self.tmp, dest)
        self.done = True

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.file.close()
            self.tmp.unlink(missing_ok=True)


def write_atomic(dest: Path, data: bytes, mode: int = 0o644) -> None:
    with AtomicFile(dest.parent) as out:
        out.file.write(data)
        out.commit(dest, mode)
