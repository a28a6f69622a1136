"""Parsed sync databases kept in the cache, by the SHA256 of the database's
bytes (checked against its signature where the mirror signs it, as pacman's
DatabaseOptional does, before they get here): a warm build reads back the
packages instead of decompressing and parsing the tarball again. Only a parse
this user stored is taken (Cache.derived), and only in the form this module
writes; anything else is parsed afresh."""
from __future__ import annotations

import hashlib
import json
from typing import Optional

import zstandard

from bootstrap.cache import Cache
from bootstrap.digest import Digest
from bootstrap.families.pacman.depend import Depend
from bootstrap.families.pacman.syncdb import SyncDb, SyncPackage, parse_db

FORMAT = "rootstrap-pacman-syncdb-2"
KIND = "pacman-syncdb"
RELATIONS = ("depends", "provides", "conflicts", "replaces")


def sync_db(cache: Cache, data: bytes, repo: str, where: str) -> SyncDb:
    """parse_db(data, repo, where), kept from an earlier parse of the same bytes
    under the same repository name when there is one.

    Raises ValueError for a database that is not one (from parse_db)."""
    digest = Digest("sha256", hashlib.sha256(data).hexdigest())
    kept = cache.derived(digest, KIND)
    loaded = load(kept, repo) if kept else None
    if loaded is not None:
        return loaded
    db = parse_db(data, repo, where)
    cache.store_derived(digest, KIND, dump(db))
    return db


def _deps(deps: tuple[Depend, ...]) -> list[list[str]]:
    return [[d.name, d.op, d.version] for d in deps]


def dump(db: SyncDb) -> bytes:
    rows = [[p.name, p.version, p.filename, p.digest.algorithm, p.digest.value, p.csize,
             p.arch, *(_deps(getattr(p, k)) for k in RELATIONS), list(p.groups), p.pgpsig, p.isize]
            for p in db.packages]
    text = json.dumps({"format": FORMAT, "repo": db.repo, "packages": rows,
                       "refused": db.refused}, separators=(",", ":"))
    return zstandard.ZstdCompressor(level=3).compress(text.encode())


def load(data: bytes, repo: str) -> Optional[SyncDb]:
    """The database dump() kept, if it is one and was of repo."""
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data))
        if doc.get("format") != FORMAT or doc.get("repo") != repo:
            return None
        packages = []
        for (name, version, filename, algorithm, value, csize, arch, depends, provides,
             conflicts, replaces, groups, pgpsig, isize) in doc["packages"]:
            packages.append(SyncPackage(
                repo=repo, name=name, version=version, filename=filename,
                digest=Digest(algorithm, value), csize=csize, arch=arch,
                depends=tuple(Depend(*d) for d in depends),
                provides=tuple(Depend(*d) for d in provides),
                conflicts=tuple(Depend(*d) for d in conflicts),
                replaces=tuple(Depend(*d) for d in replaces),
                groups=tuple(groups), pgpsig=pgpsig, isize=isize))
        return SyncDb(repo, packages, dict(doc["refused"]))
    except (ValueError, TypeError, KeyError, AttributeError, zstandard.ZstdError):
        return None
