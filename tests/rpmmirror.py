"""rpm repositories for tests, made with the real tools Debian packages:
rpmbuild builds each package from a generated spec, rpmsign signs it with a
throwaway gpg key, createrepo_c indexes the repository."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from debmirror import Signer

ARCH = "x86_64"
TOOLS = {"rpmbuild": "rpm", "rpmsign": "rpm", "createrepo_c": "createrepo-c", "rpm": "rpm"}


def missing_tools() -> list[str]:
    return [f"{tool} ({deb})" for tool, deb in TOOLS.items() if not shutil.which(tool)]


@dataclass(frozen=True)
class RpmFile:
    path: str
    content: str = ""
    mode: str = "0644"
    user: str = "root"
    group: str = "root"
    kind: str = "file"        # file, dir, symlink, hardlink (of target), ghost
    target: str = ""
    directive: str = ""       # %config(noreplace), %caps(...) and the like


@dataclass(frozen=True)
class RpmSpec:
    name: str
    version: str = "1.0"
    release: str = "1"
    epoch: Optional[int] = None
    arch: str = ARCH
    summary: str = ""
    requires: tuple[str, ...] = ()
    requires_pre: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    obsoletes: tuple[str, ...] = ()
    recommends: tuple[str, ...] = ()
    files: tuple[RpmFile, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()   # ("%pre", "body") or ("%post -p <lua>", ...)

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"


def _spec_text(spec: RpmSpec) -> str:
    lines = [f"Name: {spec.name}", f"Version: {spec.version}", f"Release: {spec.release}",
             f"Summary: {spec.summary or spec.name + ' (fixture)'}", "License: MIT",
             f"BuildArch: {spec.arch}", "AutoReqProv: no"]
    if spec.epoch is not None:
        lines.append(f"Epoch: {spec.epoch}")
    for key, values in (("Requires", spec.requires), ("Requires(pre)", spec.requires_pre),
                        ("Provides", spec.provides), ("Conflicts", spec.conflicts),
                        ("Obsoletes", spec.obsoletes), ("Recommends", spec.recommends)):
        lines += [f"{key}: {v}" for v in values]
    lines += ["", "%description", f"{spec.name} (a rootstrap test fixture)", "", "%install"]
    for f in spec.files:
        target = f"%{{buildroot}}{f.path}"
        lines.append(f"mkdir -p $(dirname {target})")
        if f.kind == "dir":
            lines.append(f"mkdir -p {target}")
        elif f.kind == "symlink":
            lines.append(f"ln -s {f.target} {target}")
        elif f.kind == "hardlink":
            lines.append(f"ln %{{buildroot}}{f.target} {target}")
        elif f.kind == "file":
            lines.append(f"cat > {target} <<'ROOTSTRAP_EOF'\n{f.content}ROOTSTRAP_EOF")
    lines += ["", "%files"]
    for f in spec.files:
        prefix = "%dir " if f.kind == "dir" else "%ghost " if f.kind == "ghost" else ""
        attr = f"%attr({f.mode},{f.user},{f.group}) " if f.kind not in ("symlink",) else ""
        lines.append(f"{f.directive} {prefix}{attr}{f.path}".strip())
    for head, body in spec.scripts:
        lines += ["", head, body.rstrip("\n")]
    return "\n".join(lines) + "\n"


def build_rpm(spec: RpmSpec, out: Path, signer: Optional[Signer],
              payload: str = "w19.zstdio") -> Path:
    """spec built by rpmbuild into out, signed by signer's key with rpmsign."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rs-rpmbuild-") as top:
        specfile = Path(top) / f"{spec.name}.spec"
        specfile.write_text(_spec_text(spec))
        proc = subprocess.run(
            ["rpmbuild", "--define", f"_topdir {top}", "--define", f"_binary_payload {payload}",
             "--define", "source_date_epoch_from_changelog 0", "--define", "_buildhost fixture",
             "-bb", str(specfile)], capture_output=True, text=True,
            env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000", LANG="C"))
        built = Path(top) / "RPMS" / spec.arch / spec.filename
        if proc.returncode or not built.is_file():
            raise RuntimeError(f"rpmbuild {spec.name} failed:\n{proc.stdout}\n{proc.stderr}")
        path = out / spec.filename
        shutil.copyfile(built, path)
    if signer is not None:
        sign_rpm(path, signer)
    path.chmod(0o644)
    return path


def sign_rpm(path: Path, signer: Signer) -> None:
    subprocess.run(
        ["rpmsign", "--define", "__gpg /usr/bin/gpg", "--define",
         f"_gpg_name {signer.fingerprint}", "--define", f"_gpg_path {signer.home}",
         "--define", "_gpg_sign_cmd_extra_args --pinentry-mode loopback --passphrase ''",
         "--addsign", str(path)], check=True, capture_output=True,
        env=dict(os.environ, GNUPGHOME=str(signer.home)))


def createrepo(folder: Path, comps: Optional[Path] = None) -> Path:
    argv = ["createrepo_c", "--quiet", "--no-database", "--simple-md-filenames"]
    if comps is not None:
        argv += ["--groupfile", str(comps)]
    subprocess.run(argv + [str(folder)], check=True, capture_output=True)
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return folder / "repodata" / "repomd.xml"
