"""The contract of a refused build: exit 1, one line `rootstrap: error: ...`
naming what it should, and nothing left in the user's folder but the cache."""
from __future__ import annotations

import os

ERROR = "rootstrap: error: "


def refused(user, proc, *words: str,  # type: ignore[no-untyped-def]
            keep: tuple[str, ...] = ()) -> str:
    """keep: what the test itself made in the user's folder."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(ERROR), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    # no target, no staging directory beside it (the cache is the only thing made)
    left = sorted(set(os.listdir(user.workdir)) - {user.cache.name, *keep})
    assert left == [], left
    return lines[0]
