"""Real Debian packages without the network: the host's own installed packages
(it is a Debian machine) rebuilt into .debs with dpkg-deb, the way dpkg-repack
does it: the files dpkg lists for each package as they are on disk, its
control stanza from the status database, its maintainer scripts and conffiles.

Enough to build and configure a real minbase tree offline (dpkg, apt, the
essential set and their libraries) from a local mirror, and to run the tree's
own apt in it. Needs root, so that the rebuilt packages keep the owners the
files have on the host.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Optional

INFO = Path("/var/lib/dpkg/info")
SCRIPTS = ("preinst", "postinst", "prerm", "postrm", "config", "templates", "triggers",
           "shlibs", "symbols", "md5sums")
# status fields that describe the host's installation, not the package
LOCAL_FIELDS = ("Status", "Conffiles", "Config-Version")
EXTRA = ("apt", "usr-is-merged")       # minbase asks for apt; merged /usr for this one


def _query(fmt: str, *names: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f", fmt, *names], check=True,
                          capture_output=True, text=True).stdout


def installed() -> dict[str, dict[str, str]]:
    """Installed packages: name -> a few fields."""
    out: dict[str, dict[str, str]] = {}
    fmt = "${db:Status-Abbrev}\\t${Package}\\t${Essential}\\t${Priority}\\t${Depends}\\t" \
          "${Pre-Depends}\\t${Provides}\\t${Architecture}\\n"
    for line in _query(fmt).splitlines():
        status, name, essential, priority, depends, pre, provides, arch = line.split("\t")
        if status.startswith("ii"):
            out[name] = {"Essential": essential, "Priority": priority, "Depends": depends,
                         "Pre-Depends": pre, "Provides": provides, "Architecture": arch}
    return out


def _names(field: str) -> list[list[str]]:
    """Alternative groups of a relationship field, names only."""
    groups = []
    for group in field.split(","):
        alts = [re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")]
        alts = [a for a in alts if a]
        if alts:
            groups.append(alts)
    return groups


def closure(pkgs: dict[str, dict[str, str]]) -> list[str]:
    """Essential and required packages, EXTRA, and what they depend on, as installed."""
    provided: dict[str, str] = {}
    for name, f in pkgs.items():
        for alts in _names(f["Provides"]):
            provided.setdefault(alts[0], name)
    todo = [n for n, f in pkgs.items() if f["Essential"] == "yes" or f["Priority"] == "required"]
    todo += [n for n in EXTRA if n in pkgs]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for alts in _names(pkgs[name]["Pre-Depends"]) + _names(pkgs[name]["Depends"]):
            for alt in alts:
                real = alt if alt in pkgs else provided.get(alt)
                if real:
                    todo.append(real)
                    break
    return sorted(seen)


def _diversions() -> dict[str, tuple[str, str]]:
    """path -> (where it was moved, the diverting package)."""
    out = {}
    listing = subprocess.run(["dpkg-divert", "--list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        m = re.match(r"(?:local )?diversion of (\S+) to (\S+)(?: by (\S+))?", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3) or "")
    return out


def _info(name: str, arch: str, suffix: str) -> Optional[Path]:
    for base in (f"{name}:{arch}", name):
        path = INFO / f"{base}.{suffix}"
        if path.exists():
            return path
    return None


def _copy_entry(host: str, dest: Path, is_dir: bool) -> None:
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return                              # excluded or removed on the host
    if is_dir or stat.S_ISDIR(st.st_mode):
        dest.mkdir(parents=True, exist_ok=True)
        if stat.S_ISDIR(os.stat(host).st_mode):
            st = os.stat(host)
    elif stat.S_ISLNK(st.st_mode):
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.readlink(host), dest)
    elif stat.S_ISREG(st.st_mode):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(host, dest)
    else:
        return
    os.lchown(dest, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode) or is_dir:
        os.chmod(dest, stat.S_IMODE(st.st_mode))


def repack(name: str, arch: str, out: Path, work: Path,
           diversions: dict[str, tuple[str, str]]) -> Path:
    """name as a .deb in out, rebuilt from the host's installation."""
    stage = work / name
    (stage / "DEBIAN").mkdir(parents=True)
    listing = _info(name, arch, "list")
    paths = listing.read_text().splitlines() if listing else []
    parents = {p.rsplit("/", 1)[0] for p in paths}
    for path in paths:
        if path in ("/.", ""):
            continue
        host = path
        if path in diversions and diversions[path][1] not in (name, ""):
            host = diversions[path][0]      # another package's file stands there
        _copy_entry(host, stage / path.lstrip("/"), path in parents)
    control = subprocess.run(["dpkg-query", "-s", f"{name}:{arch}"], check=True,
                             capture_output=True, text=True).stdout
    kept, skip = [], False
    for line in control.splitlines():
        if line[:1] in (" ", "\t"):
            if not skip:
                kept.append(line)
            continue
        skip = line.split(":", 1)[0] in LOCAL_FIELDS
        if not skip:
            kept.append(line)
    (stage / "DEBIAN/control").write_text("\n".join(kept) + "\n")
    conffiles = _info(name, arch, "conffiles")
    if conffiles:
        present = [c for c in conffiles.read_text().splitlines()
                   if c.startswith("/") and (stage / c.lstrip("/")).is_file()]
        if present:
            (stage / "DEBIAN/conffiles").write_text("\n".join(present) + "\n")
    for script in SCRIPTS:
        src = _info(name, arch, script)
        if src:
            shutil.copyfile(src, stage / "DEBIAN" / script)
            os.chmod(stage / "DEBIAN" / script,
                     0o755 if script in ("preinst", "postinst", "prerm", "postrm", "config")
                     else 0o644)
    deb = out / f"{name}.deb"
    subprocess.run(["dpkg-deb", "-Znone", "--build", str(stage), str(deb)], check=True,
                   capture_output=True)
    shutil.rmtree(stage)
    return deb


def repack_minbase(out: Path, work: Path, names: Iterable[str] = ()) -> list[Path]:
    """The host's minbase closure (plus names), rebuilt into out."""
    if os.geteuid() != 0:
        raise PermissionError("repacking the host's packages keeps their owners only as root")
    pkgs = installed()
    wanted = sorted(set(closure(pkgs)) | set(names))
    diversions = _diversions()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda n: repack(n, pkgs[n]["Architecture"], out, work,
                                              diversions), wanted))
