"""File capabilities as rpm's %caps writes them (cap_from_text's language:
`cap_net_raw=ep`, `cap_a,cap_b+ei`), as the security.capability xattr the
kernel reads (struct vfs_cap_data, revision 2)."""
from __future__ import annotations

import re
import struct

# the capability numbers of linux/capability.h
NAMES = ("chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
         "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock "
         "ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot "
         "sys_nice sys_resource sys_time sys_tty_config mknod lease audit_write audit_control "
         "setfcap mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon "
         "bpf checkpoint_restore").split()
NUMBER = {f"cap_{name}": i for i, name in enumerate(NAMES)}
REVISION_2 = 0x02000000
EFFECTIVE = 0x000001
_CLAUSE = re.compile(r"\s*([a-z_0-9,]*)\s*([=+-])\s*([eip]*)\s*")


def from_text(text: str) -> bytes:
    """The xattr value for a capability text; ValueError for one rpm would refuse."""
    permitted = inheritable = 0
    effective = False
    for clause in text.split():
        pos = 0
        m = _CLAUSE.match(clause, pos)
        if not m or m.end() != len(clause):
            raise ValueError(f"not a capability text: {text!r}")
        names, op, flags = m.groups()
        bits = 0
        for name in (names.split(",") if names and names != "all" else NAMES):
            full = name if name.startswith("cap_") else f"cap_{name}"
            if full not in NUMBER:
                raise ValueError(f"unknown capability {name!r} in {text!r}")
            bits |= 1 << NUMBER[full]
        if op == "=":
            permitted &= ~bits
            inheritable &= ~bits
        for flag in flags:
            if flag == "p":
                permitted = permitted & ~bits if op == "-" else permitted | bits
            elif flag == "i":
                inheritable = inheritable & ~bits if op == "-" else inheritable | bits
            elif flag == "e":
                effective = op != "-"
    return struct.pack("<IIIII", REVISION_2 | (EFFECTIVE if effective else 0),
                       permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
                       permitted >> 32, inheritable >> 32)
