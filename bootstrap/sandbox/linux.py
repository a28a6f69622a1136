"""The few Linux calls Python's os module lacks, through libc."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Optional

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
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


def mount(source: Optional[str], target: str, fstype: Optional[str], flags: int) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags), None),
           f"mount {target}")


# -- seccomp: pretend chown to an unmappable id worked ----------------------
# In a namespace that maps one id, chown(2) to any other id fails with EINVAL and
# aborts maintainer scripts. The filter lets chown to root (0 or -1) through and
# answers success for the rest without doing it; the shim records what was meant.
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO_0 = 0x00050000
_LD_ABS_W, _JEQ_K, _JA, _RET_K = 0x20, 0x15, 0x05, 0x06

# machine -> (audit arch, {syscall number: index of the uid argument})
CHOWN_SYSCALLS = {
    "x86_64": (0xC000003E, {92: 1, 93: 1, 94: 1, 260: 2}),
    "aarch64": (0xC00000B7, {54: 2, 55: 1}),
}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _chown_program(arch: int, calls: dict[int, int]) -> list[tuple[int, str, str, int]]:
    """BPF as (code, jump-if-true label, jump-if-false label, k); '' is the next one."""
    prog: list[tuple[int, str, str, int]] = [
        (_LD_ABS_W, "", "", 4), (_JEQ_K, "", "allow", arch), (_LD_ABS_W, "", "", 0)]
    for nr, arg in sorted(calls.items()):
        prog.append((_JEQ_K, f"check{arg}", "", nr))
    prog.append((_JA, "", "", 0))      # patched to 'allow' below
    for arg in sorted(set(calls.values())):
        uid_off, gid_off = 16 + 8 * arg, 16 + 8 * (arg + 1)
        prog += [(_LD_ABS_W, f"=check{arg}", "", uid_off),
                 (_JEQ_K, f"gid{arg}", "", 0), (_JEQ_K, f"gid{arg}", "fake", 0xFFFFFFFF),
                 (_LD_ABS_W, f"=gid{arg}", "", gid_off),
                 (_JEQ_K, "allow", "", 0), (_JEQ_K, "allow", "fake", 0xFFFFFFFF)]
    prog += [(_RET_K, "=allow", "", RET_ALLOW), (_RET_K, "=fake", "", RET_ERRNO_0)]
    return prog


def fake_foreign_chown() -> bool:
    """Install the filter in this process (inherited by children); False if this
    machine has no table."""
    entry = CHOWN_SYSCALLS.get(os.uname().machine)
    if entry is None:
        return False
    raw = _chown_program(*entry)
    labels: dict[str, int] = {}
    for i, (_, jt, _, _) in enumerate(raw):
        if jt.startswith("="):
            labels[jt[1:]] = i
    filters = []
    for i, (code, jt, jf, k) in enumerate(raw):
        if jt.startswith("="):
            jt = ""
        if code == _JA:
            k = labels["allow"] - i - 1
        t = labels[jt] - i - 1 if jt else 0
        f = labels[jf] - i - 1 if jf else 0
        filters.append(_Filter(code, t, f, k))
    array = (_Filter * len(filters))(*filters)
    prog = _Prog(len(filters), array)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
           "prctl(SECCOMP)")
    return True
