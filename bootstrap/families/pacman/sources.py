"""What pacstrap leaves for the tree's own pacman: a mirrorlist naming the mirror
the tree came from and, where no package shipped one, a stock pacman.conf."""
from __future__ import annotations

from bootstrap.treewriter import TreeWriter

MIRRORLIST = "etc/pacman.d/mirrorlist"


def pacman_conf(repos: list[str]) -> str:
    sections = "".join(f"\n[{r}]\nInclude = /etc/pacman.d/mirrorlist\n" for r in repos)
    return ("# /etc/pacman.conf (written by rootstrap; see pacman.conf(5))\n\n"
            "[options]\nHoldPkg     = pacman glibc\nArchitecture = auto\nCheckSpace\n"
            "SigLevel    = Required DatabaseOptional\nLocalFileSigLevel = Optional\n"
            + sections)


def write(writer: TreeWriter, repos: list[str], server: str) -> None:
    """server: the mirror as a pacman Server line has it ($repo and $arch)."""
    writer.mkdir("etc", 0o755, 0, 0)
    writer.mkdir("etc/pacman.d", 0o755, 0, 0)
    writer.write_bytes(MIRRORLIST, (f"# The mirror this tree was built from (rootstrap)\n"
                                    f"Server = {server}\n").encode())
    if not writer.exists("etc/pacman.conf"):
        writer.write_bytes("etc/pacman.conf", pacman_conf(repos).encode())
