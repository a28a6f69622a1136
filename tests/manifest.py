"""What a tree holds, path by path, read the same way from a directory and from
a tarball, so a rootstrap tarball can be held against a reference root."""
from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from pathlib import Path


def _digest(path: Path, st: os.stat_result) -> str:
    """A file's SHA-256, read even where its mode lets nobody read it (a rootless
    unpack by an ordinary user leaves /etc/shadow 0000 and the user's own)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except PermissionError:
        if st.st_uid != os.geteuid():
            raise
        os.chmod(path, stat.S_IMODE(st.st_mode) | 0o400)
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        finally:
            os.chmod(path, stat.S_IMODE(st.st_mode))


def tree_manifest(root: Path) -> dict[str, tuple]:
    """path -> (kind, mode, uid, gid, digest, link target) of a directory tree."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = str(full.relative_to(root))
            st = full.lstat()
            kind, digest, link = "other", "", ""
            if stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISLNK(st.st_mode):
                kind, link = "symlink", os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                kind, digest = "file", _digest(full, st)
            out[rel] = (kind, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, digest, link)
    return out


def tar_manifest(tarball: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    digests: dict[str, str] = {}
    with tarfile.open(tarball) as tar:
        for m in tar:
            name = (m.name[2:] if m.name.startswith("./") else m.name).rstrip("/")
            if name in ("", "."):
                continue
            kind, digest, link = "other", "", ""
            if m.isdir():
                kind = "dir"
            elif m.issym():
                kind, link = "symlink", m.linkname
            elif m.isreg():
                f = tar.extractfile(m)
                assert f is not None
                kind, digest = "file", hashlib.sha256(f.read()).hexdigest()
                digests[name] = digest
            elif m.islnk():
                target = m.linkname[2:] if m.linkname.startswith("./") else m.linkname
                kind, digest = "file", digests[target]
            out[name] = (kind, oct(m.mode), m.uid, m.gid, digest, link)
    return out
