"""The base configuration every tree gets whatever its family: name resolution,
host name, hosts, an empty machine-id (so the first boot makes one)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from bootstrap.treewriter import TreeWriter

STUBS = ("127.0.0.53", "127.0.0.54")
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"


def host_resolv_conf_path(path: str = "/etc/resolv.conf") -> Optional[str]:
    """The host's resolv.conf, or systemd-resolved's upstream list when the host's
    names only the local stub, which means nothing inside a container."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    servers = [line.split()[1] for line in data.decode(errors="replace").splitlines()
               if line.startswith("nameserver") and len(line.split()) > 1]
    if servers and all(s in STUBS for s in servers) and os.path.isfile(RESOLVED_UPSTREAM):
        return RESOLVED_UPSTREAM
    return os.path.realpath(path)


def host_resolv_conf() -> bytes:
    path = host_resolv_conf_path()
    try:
        return Path(path).read_bytes() if path else b""
    except OSError:
        return b""


def write(writer: TreeWriter, hostname: str) -> None:
    writer.write_bytes("etc/resolv.conf", host_resolv_conf())
    writer.write_bytes("etc/hostname", f"{hostname}\n".encode())
    if not writer.exists("etc/hosts"):
        writer.write_bytes("etc/hosts", (
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n").encode())
    writer.write_bytes("etc/machine-id", b"", 0o444)
