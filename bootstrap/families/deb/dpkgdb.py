"""The target's dpkg database, written the way dpkg leaves it after unpacking,
so the target's own dpkg can configure and later manage every package."""
from __future__ import annotations

import hashlib
from typing import Iterable

from bootstrap.archive import as_bytes, as_text
from bootstrap.families.deb.debfile import Unpacked
from bootstrap.treewriter import TreeWriter

ADMIN = "var/lib/dpkg"
# Control members dpkg keeps under info/ (the control file itself goes to status).
KEPT = ("preinst", "postinst", "prerm", "postrm", "config", "templates", "md5sums",
        "conffiles", "triggers", "shlibs", "symbols")


def info_name(fields: dict[str, str]) -> str:
    """dpkg names info files pkg or pkg:arch (for Multi-Arch: same)."""
    if fields.get("Multi-Arch") == "same":
        return f"{fields['Package']}:{fields['Architecture']}"
    return fields["Package"]


def _stanza(control: bytes, status: str, conffiles: list[tuple[str, str]]) -> str:
    lines = as_text(control).strip("\n").splitlines()
    out = [lines[0], f"Status: {status}"] + lines[1:]
    if conffiles:
        out.append("Conffiles:")
        out += [f" {path} {md5}" for path, md5 in conffiles]
    return "\n".join(out) + "\n"


def _conffiles(writer: TreeWriter, unpacked: Unpacked) -> list[tuple[str, str]]:
    out = []
    for line in as_text(unpacked.control.get("conffiles", b"")).splitlines():
        line = line.strip()
        if not line.startswith("/"):
            continue   # 'remove-on-upgrade' and other flagged lines name no file we ship
        path = writer.resolve(line.lstrip("/"), follow_last=False)
        try:
            with open(writer.full(path), "rb") as f:
                md5 = hashlib.md5(f.read()).hexdigest()
        except OSError:
            md5 = "newconffile"
        out.append((line, md5))
    return out


def skeleton(writer: TreeWriter, arch: str) -> None:
    """The folders and empty files dpkg expects in an admin directory."""
    for d in ("", "info", "updates", "triggers", "alternatives", "parts"):
        writer.mkdir(f"{ADMIN}/{d}", 0o755, 0, 0)
    for name, mode in (("diversions", 0o644), ("lock", 0o640), ("triggers/Lock", 0o600),
                       ("triggers/Unincorp", 0o644)):
        writer.write_bytes(f"{ADMIN}/{name}", b"", mode)
    writer.write_bytes(f"{ADMIN}/info/format", b"1\n")
    writer.write_bytes(f"{ADMIN}/arch", f"{arch}\n".encode())


def register(writer: TreeWriter, packages: Iterable[Unpacked]) -> dict[str, list[str]]:
    """Write status (every package 'unpacked'), info/* and the trigger interests.

    Returns trigger activations to replay: trigger name -> packages activating it."""
    status: list[str] = []
    interests: dict[str, list[str]] = {}
    activations: dict[str, list[str]] = {}
    file_interests: list[tuple[str, str]] = []
    all_paths: list[str] = []
    for unpacked in packages:
        fields = unpacked.fields
        name = info_name(fields)
        status.append(_stanza(unpacked.control["control"], "install ok unpacked",
                              _conffiles(writer, unpacked)))
        listing = "\n".join(unpacked.paths) + "\n"
        writer.write_bytes(f"{ADMIN}/info/{name}.list", as_bytes(listing))
        all_paths += unpacked.paths
        for member in KEPT:
            if member in unpacked.control:
                mode = 0o755 if member in ("preinst", "postinst", "prerm", "postrm",
                                           "config") else 0o644
                writer.write_bytes(f"{ADMIN}/info/{name}.{member}", unpacked.control[member],
                                   mode)
        for line in as_text(unpacked.control.get("triggers", b"")).splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) != 2:
                continue
            directive, trigger = words
            if directive.startswith("interest"):
                who = fields["Package"] + ("/noawait" if directive.endswith("noawait") else "")
                if trigger.startswith("/"):
                    file_interests.append((trigger, who))
                else:
                    interests.setdefault(trigger, []).append(who)
            elif directive.startswith("activate"):
                activations.setdefault(trigger, []).append(fields["Package"])
    writer.write_bytes(f"{ADMIN}/status", as_bytes("\n".join(status)))
    for trigger, who in interests.items():
        writer.write_bytes(f"{ADMIN}/triggers/{trigger}", as_bytes("\n".join(who) + "\n"))
    if file_interests:
        writer.write_bytes(f"{ADMIN}/triggers/File",
                           as_bytes("".join(f"{p} {w}\n" for p, w in file_interests)))
        # a file trigger fires when an unpacked path lies at or below its interest
        for prefix, _ in file_interests:
            if any(p == prefix or p.startswith(prefix.rstrip("/") + "/") for p in all_paths):
                activations.setdefault(prefix, [])
    watched = set(interests) | {p for p, _ in file_interests}
    return {t: who for t, who in activations.items() if t in watched}
