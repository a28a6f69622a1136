"""TARGET: whether a build may write it, whether there is room, what killed
builds left beside it, and how the finished tree takes its place.

A build works in a staging directory beside TARGET (`.NAME.rootstrap-XXXX`) and
holds a lock on it for its life; TARGET changes only by one rename at the end,
so a build killed at any moment leaves the earlier TARGET as it was. The next
build removes the staging directories whose lock nobody holds."""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Callable

from bootstrap.errors import die
from bootstrap.ledger import ledger_path

# a package's files take about this many times its archive's size on disk
# (xz-compressed debs and zstd pacman packages expand 3-4x); the check is a
# guard against a build that cannot finish, not an accounting
EXPANSION = 4
MIB = 1 << 20
_RENAME_EXCHANGE = 2


def _is_rootstrap_tree(path: Path) -> bool:
    """A tree rootstrap wrote: a directory with its ledger beside it, a bundle, an
    OCI layout, or a regular file (a tarball or image rootstrap writes whole)."""
    if path.is_symlink():
        return False
    if path.is_file():
        return True
    if not path.is_dir():
        return False
    return (ledger_path(path).is_file()
            or (path / "config.json").is_file() and (path / "rootfs").is_dir()
            or (path / "oci-layout").is_file())


def check(target: Path, is_dir: bool, force: bool) -> None:
    """Refuse, before any download, a TARGET that holds something: unless --force
    and it is a tree rootstrap wrote (which the build then replaces whole)."""
    if not os.path.lexists(target):
        return
    if is_dir and target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return
    if not force:
        die(f"{target} already exists; remove it, choose another target, or pass --force "
            "to replace a tree rootstrap built")
    if not _is_rootstrap_tree(target):
        die(f"{target} exists and is not a tree rootstrap built (no {ledger_path(target).name} "
            "beside it); --force replaces only those")
    if is_dir != target.is_dir():
        die(f"{target} is a {'directory' if target.is_dir() else 'file'}; --force replaces a "
            "tree with one of the same kind")


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_space(target: Path, archives: int, to_download: int, cache: Path) -> None:
    """Refuse a build that cannot fit: the unpacked tree (and an output made from
    it) beside TARGET, the missing downloads in the cache."""
    need_tree = archives * EXPANSION
    same = os.stat(target.parent).st_dev == os.stat(cache).st_dev
    need_here = need_tree + (to_download if same else 0)
    free_here = _free(target.parent)
    if free_here < need_here:
        die(f"not enough space for {target}: about {need_here // MIB + 1} MiB needed, "
            f"{free_here // MIB} MiB free in {target.parent}")
    if not same and _free(cache) < to_download:
        die(f"not enough space in the cache {cache}: {to_download // MIB + 1} MiB to "
            f"download, {_free(cache) // MIB} MiB free")


def staging(target: Path) -> tuple[Path, int]:
    """A new staging directory beside target, locked for this build's life (the
    descriptor returned holds the lock; close it when the build is over)."""
    path = Path(tempfile.mkdtemp(prefix=f".{target.name}.rootstrap-", dir=target.parent))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def leftovers(target: Path) -> list[Path]:
    """Staging directories of target's builds that were killed (nobody holds their
    lock)."""
    out = []
    for path in sorted(target.parent.glob(f".{target.name}.rootstrap-*")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out.append(path)
        except OSError:
            pass                        # a build running now
        finally:
            os.close(fd)
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE); False where the
    kernel or the file system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def put_in_place(new: Path, target: Path, remove: Callable[[Path], None]) -> None:
    """new becomes target in one rename. An earlier tree at target (--force) is
    exchanged with it in one step where the file system allows (else moved aside
    first) and then removed with remove."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
        os.rename(new, target)
        return
    if _exchange(new, target):
        remove(new)                     # now the earlier tree
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
    os.rename(target, aside / "tree")
    os.rename(new, target)
    remove(aside)
