"""The few Linux calls Python's os module lacks, through libc."""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Optional

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: Optional[str], target: str, fstype: Optional[str], flags: int,
          data: Optional[str] = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None),
           f"mount {target}")


# -- seccomp filters -----------------------------------------------------------
# In a namespace that maps one id, chown(2) to any other id fails with EINVAL; on
# a filesystem that refuses chown (NFS root_squash, some FUSE mounts) even chown
# to oneself may fail. Either way maintainer scripts would abort. The filter
# answers every chown with success without doing it; the chown/chgrp stand-ins
# (shim.py) record what was meant for the ledger.
#
# PRoot translates only the path-taking system calls it knows. Older ones (5.1,
# Debian 12's) do not know statx, faccessat2 or openat2, which then act on the
# host's paths instead of the tree's; answering them ENOSYS makes libc fall back
# to the calls PRoot translates (fstatat, faccessat, openat).
#
# While a tree is being built nothing in it needs to reach the disk before the
# build ends (a failed build is thrown away, a finished one is as durable as any
# file written): dpkg alone asks for 600 flushes configuring minbase, each a
# disk cache flush, or an NFS commit. The filter answers the sync family with
# success, as eatmydata does for mmdebstrap, without a library in the tree.
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
ENOSYS = 38
_LD_ABS_W, _JEQ_K, _RET_K = 0x20, 0x15, 0x06

# machine -> (audit arch, chown-family syscall numbers, statx faccessat2 openat2,
# fsync fdatasync sync syncfs sync_file_range)
SYSCALLS = {
    "x86_64": (0xC000003E, (92, 93, 94, 260), (332, 439, 437), (74, 75, 162, 306, 277)),
    "aarch64": (0xC00000B7, (54, 55), (291, 439, 437), (82, 83, 81, 267, 84)),
}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _program(arch: int, answers: list[tuple[int, int]]) -> list[_Filter]:
    """Each (syscall number, errno) of answers fails with that errno (0: success
    without effect); everything else, and every foreign ABI, is allowed."""
    prog = [_Filter(_LD_ABS_W, 0, 0, 4),                      # A = seccomp_data.arch
            _Filter(_JEQ_K, 0, 2 * len(answers) + 1, arch),   # foreign ABI: allow
            _Filter(_LD_ABS_W, 0, 0, 0)]                      # A = seccomp_data.nr
    for nr, code in answers:
        prog += [_Filter(_JEQ_K, 0, 1, nr), _Filter(_RET_K, 0, 0, RET_ERRNO | code)]
    prog.append(_Filter(_RET_K, 0, 0, RET_ALLOW))
    return prog


def install_filter(fake_chown: bool = False, hide_from_proot: bool = False,
                   no_sync: bool = False) -> bool:
    """Install the filter in this process (inherited by its children); False where
    there is nothing to filter, or this machine has no table of system call
    numbers."""
    entry = SYSCALLS.get(os.uname().machine)
    if entry is None or not (fake_chown or hide_from_proot or no_sync):
        return False
    arch, chowns, untranslated, syncs = entry
    answers = [(nr, 0) for nr in chowns] if fake_chown else []
    answers += [(nr, ENOSYS) for nr in untranslated] if hide_from_proot else []
    answers += [(nr, 0) for nr in syncs] if no_sync else []
    filters = _program(arch, answers)
    array = (_Filter * len(filters))(*filters)
    prog = _Prog(len(filters), array)
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        if ctypes.get_errno() != errno.EACCES:
            _check(-1, "prctl(SECCOMP)")
        # without CAP_SYS_ADMIN (no namespace of our own: PRoot's mode) the kernel
        # takes a filter only from a process that gains no privileges by exec;
        # where it is root, setuid programs and SELinux transitions keep working
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
               "prctl(SECCOMP)")
    return True
