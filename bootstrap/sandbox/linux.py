"""The few Linux calls Python's os module lacks, through libc."""
from __future__ import annotations

import ctypes
import ctypes.util
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


# -- seccomp: chown that cannot be made real answers success -----------------
# In a namespace that maps one id, chown(2) to any other id fails with EINVAL; on
# a filesystem that refuses chown (NFS root_squash, some FUSE mounts) even chown
# to oneself may fail. Either way maintainer scripts would abort. The filter
# answers every chown with success without doing it; the chown/chgrp stand-ins
# (shim.py) record what was meant for the ledger.
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO_0 = 0x00050000
_LD_ABS_W, _JEQ_K, _RET_K = 0x20, 0x15, 0x06

# machine -> (audit arch, chown-family syscall numbers)
CHOWN_SYSCALLS = {
    "x86_64": (0xC000003E, (92, 93, 94, 260)),     # chown fchown lchown fchownat
    "aarch64": (0xC00000B7, (54, 55)),             # fchownat fchown
}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _chown_program(arch: int, calls: tuple[int, ...]) -> list[_Filter]:
    n = len(calls)
    prog = [_Filter(_LD_ABS_W, 0, 0, 4),                 # A = seccomp_data.arch
            _Filter(_JEQ_K, 0, n + 2, arch),             # foreign ABI: allow
            _Filter(_LD_ABS_W, 0, 0, 0)]                 # A = seccomp_data.nr
    for i, nr in enumerate(calls):
        prog.append(_Filter(_JEQ_K, n - i, 0, nr))       # a chown: jump to 'fake'
    prog += [_Filter(_RET_K, 0, 0, RET_ALLOW), _Filter(_RET_K, 0, 0, RET_ERRNO_0)]
    return prog


def fake_chown() -> bool:
    """Install the filter in this process (inherited by its children); False where
    this machine has no table of syscall numbers."""
    entry = CHOWN_SYSCALLS.get(os.uname().machine)
    if entry is None:
        return False
    filters = _chown_program(*entry)
    array = (_Filter * len(filters))(*filters)
    prog = _Prog(len(filters), array)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
           "prctl(SECCOMP)")
    return True
