"""What a tree says of itself, read as the tree would read it (paths resolved
inside it): root's shell, its host name, /etc/os-release, the machine its
programs are built for."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional

from bootstrap import intree

HOSTNAME_MAX = 64
# ELF e_machine -> the kernel's name for the machine (uname -m); 32-bit ARM
# does not say which revision in the header, so no variant is claimed for it
_ELF = {(0x3E, 2): "x86_64", (0x03, 1): "i686", (0xB7, 2): "aarch64", (0x28, 1): "arm",
        (0x15, 2): "ppc64", (0x16, 2): "s390x", (0xF3, 2): "riscv64",
        (0x102, 2): "loongarch64"}


def _path(tree: Path, rel: str) -> Optional[Path]:
    try:
        return tree / intree.resolve(str(tree), rel, strict=False)
    except (intree.Loop, intree.NotADir):
        return None


def read(tree: Path, rel: str) -> Optional[str]:
    path = _path(tree, rel)
    try:
        return path.read_text(errors="replace") if path else None
    except OSError:
        return None


def login_shell(tree: Path) -> str:
    for line in (read(tree, "etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2] == "0" and fields[6]:
            return fields[6]
    return "/bin/sh"


def hostname(tree: Path) -> Optional[str]:
    """The tree's /etc/hostname, where it names a host the kernel takes."""
    lines = [ln.strip() for ln in (read(tree, "etc/hostname") or "").splitlines()
             if ln.strip() and not ln.startswith("#")]
    name = lines[0] if lines else ""
    if not name or len(name.encode()) > HOSTNAME_MAX or "/" in name:
        return None
    return name


def os_release(tree: Path) -> dict[str, str]:
    """/etc/os-release (else /usr/lib/os-release) as a dict, quotes removed."""
    text = read(tree, "etc/os-release") or read(tree, "usr/lib/os-release") or ""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key.strip()] = value
    return out


def runnable(tree: Path, rel: str) -> bool:
    path = _path(tree, rel)
    try:
        st = os.stat(path) if path else None
    except OSError:
        return False
    return st is not None and stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def machine(tree: Path) -> Optional[str]:
    """The machine root's shell is built for, from its ELF header."""
    path = _path(tree, login_shell(tree).lstrip("/"))
    try:
        with open(path, "rb") as f:  # type: ignore[arg-type]
            head = f.read(20)
    except (OSError, TypeError):
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    name = _ELF.get((int.from_bytes(head[18:20], order), head[4]))
    if name == "ppc64" and order == "little":
        return "ppc64le"
    return name
