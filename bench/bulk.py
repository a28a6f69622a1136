"""The bulk packages' payload: the host's shared libraries shared out among
count packages (real, compressible binaries, as most of a real package set
is), so that unpacking has weight."""
from __future__ import annotations

from pathlib import Path

LIBRARIES = Path("/usr/lib/x86_64-linux-gnu")


def shares(count: int) -> list[list[Path]]:
    """The libraries of each of count packages, the same for the same host."""
    libs = sorted(p for p in LIBRARIES.glob("*.so.*")
                  if p.is_file() and not p.is_symlink() and p.stat().st_size < (8 << 20))
    return [libs[k::count] for k in range(count)]
