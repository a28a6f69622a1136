"""`rootstrap cache ls|verify|gc`: what the download cache holds, whether it is
still what the indexes promised, and removing what no recent build used."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from bootstrap.cache import Cache, Stored
from bootstrap.errors import die

DAY = 24 * 3600


def _readers() -> list[Callable[..., str]]:
    from bootstrap.families import family_class, known
    return [read for name in known() for read in family_class(name).part_digests]


def _row(s: Stored) -> dict[str, Any]:
    return {"digest": f"{s.algorithm}:{s.value}", "size": s.size,
            "last_used": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s.used)),
            "path": str(s.path)}


def _say(rows: list[dict[str, Any]], summary: dict[str, Any], as_json: bool,
         line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        print(json.dumps({**summary, "objects": rows}, indent=2))
        return
    for row in rows:
        print(line(row))
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


def ls(root: Path, as_json: bool) -> int:
    rows = [_row(s) for s in Cache(root).objects()]
    _say(rows, {"cache": str(root), "objects": len(rows),
                "size": _mib(sum(r["size"] for r in rows))}, as_json,
         lambda r: f"{r['digest']}  {r['size']:>10}  {r['last_used']}")
    return 0


def verify(root: Path, as_json: bool) -> int:
    """Every object hashed again; one that does not match is removed (the next
    build that needs it fetches it again). Exit status 1 if any did not."""
    cache = Cache(root)
    readers = _readers()
    bad = [s for s in cache.objects() if not cache.check(s, readers)]
    for s in bad:
        s.path.unlink(missing_ok=True)
    total = sum(1 for _ in cache.objects()) + len(bad)
    _say([_row(s) for s in bad], {"cache": str(root), "checked": total,
                                  "corrupt_removed": len(bad)}, as_json,
         lambda r: f"CORRUPT {r['path']} (not {r['digest']}): removed")
    return 1 if bad else 0


def gc(root: Path, older_days: float, dry_run: bool, as_json: bool) -> int:
    if older_days < 0:
        die("--older-than must be a number of days, 0 or more")
    gone = Cache(root).collect(older_days * DAY, dry_run)
    verb = "would remove" if dry_run else "removed"
    _say([_row(s) for s in gone], {"cache": str(root), verb.replace(" ", "_"): len(gone),
                                   "freed": _mib(sum(s.size for s in gone))}, as_json,
         lambda r: f"{verb} {r['digest']}  {r['size']}  last used {r['last_used']}")
    return 0


def run(action: str, root: Optional[Path], older_days: float, dry_run: bool,
        as_json: bool) -> int:
    from bootstrap.paths import default_cache
    root = root or default_cache()
    if not (root / "objects").is_dir():
        die(f"{root} is not a rootstrap cache (no objects/ in it)")
    if action == "ls":
        return ls(root, as_json)
    if action == "verify":
        return verify(root, as_json)
    return gc(root, older_days, dry_run, as_json)
