"""The customize point, at the end of a build, before the tree is written out:
files copied in, the user, the locale and the time zone set the distribution's
way (its recipe's `conventions`), then the customize hooks and --run-in
commands in the order given, then files copied out. Every path in the tree goes
through the confined tree writer: nothing lands outside it, whatever links the
tree holds."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Optional

from bootstrap import accounts, hooks, reproducible
from bootstrap.errors import die
from bootstrap.hooks import HookContext
from bootstrap.ledger import DIR, FILE, SYMLINK
from bootstrap.ownership import walk
from bootstrap.recipe import Conventions
from bootstrap.sandbox.base import CommandFailed, TreeRunner
from bootstrap.shaping import Shaping
from bootstrap.treewriter import TreeWriter, Unsafe, shown

SYSTEM_LOCALES = ("C", "POSIX", "C.UTF-8", "C.utf8")   # built into the C library


def customize(shaping: Shaping, conventions: Conventions, writer: TreeWriter,
              ctx: HookContext, configure: bool, quiet: bool) -> None:
    if not (shaping.copy_in or shaping.user or shaping.locale or shaping.timezone
            or shaping.steps or shaping.copy_out):
        return
    runner: Optional[TreeRunner] = None
    if ctx.sandbox and (configure or shaping.runs_inside):
        # what runs inside speaks on stderr (stdout is the build's result)
        runner = TreeRunner(ctx.sandbox, writer, ctx.owners_real, verbose=not quiet)
    try:
        for src, dest in shaping.copy_in:
            copy_in(writer, src, dest)
        if shaping.user:
            add_user(writer, runner if configure else None, shaping, conventions)
        if shaping.locale:
            set_locale(writer, runner if configure else None, shaping.locale, conventions)
        if shaping.timezone:
            set_timezone(writer, shaping.timezone, conventions)
        for step in shaping.steps:
            if step.kind == "hook":
                if runner:
                    runner.close()         # the stand-ins leave; hooks see the tree as it is
                hooks.run(ctx, "customize", [step.command])
            else:
                assert runner is not None
                _run_in(runner, step.command, ctx.env)
        if runner:
            runner.close()
        for src, dest in shaping.copy_out:
            copy_out(writer, src, dest)
    except BaseException:
        if runner:
            runner.close(collect=False)
        raise


def _run_in(runner: TreeRunner, command: str, env: dict[str, str]) -> None:
    try:
        runner.run([["/bin/sh", "-c", command]],
                   {**env, "HOME": "/root", "LC_ALL": "C.UTF-8", "TERM": "dumb"})
    except CommandFailed as e:
        reason = f": {e.reason}" if e.reason else ""
        die(f"--run-in {command}: failed with exit status {e.code}{reason}")
    except RuntimeError as e:
        die(f"--run-in {command}: {e}")


# -- copies ---------------------------------------------------------------------

def _into(writer: TreeWriter, dest: str, name: str) -> str:
    """cp's rule: into DEST when it is a directory (or written DEST/), else as DEST."""
    if dest == "." or dest.endswith("/"):
        return f"{dest.rstrip('/')}/{name}" if dest != "." else name
    try:
        resolved = writer.resolve(dest, follow_last=True)
    except Unsafe as e:
        die(f"--copy-in: {shown(dest)}: {e}")
    return f"{resolved}/{name}" if os.path.isdir(writer.full(resolved)) else dest


def copy_in(writer: TreeWriter, src: Path, dest: str) -> None:
    """A host file or directory into the tree: modes and times kept, owned by root;
    symbolic links copied as links."""
    target = _into(writer, dest, src.name)
    try:
        for rel, st in walk(src) if src.is_dir() and not src.is_symlink() \
                else [(".", os.lstat(src))]:
            path = target if rel == "." else f"{target}/{rel}"
            full = src if rel == "." else src / rel
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                writer.mkdir(path, perm, 0, 0)
            elif stat.S_ISLNK(st.st_mode):
                writer.symlink(path, os.readlink(full), mtime=st.st_mtime)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    writer.write_file(path, f, perm, 0, 0, mtime=st.st_mtime)
            else:
                die(f"--copy-in: {full} is neither a file, a directory nor a link")
    except Unsafe as e:
        die(f"--copy-in {src}: refusing: {e}")
    except OSError as e:
        die(f"--copy-in {src}: {e.strerror or e} ({e.filename or src})")


def copy_out(writer: TreeWriter, src: str, dest: Path) -> None:
    """A path of the tree (links on the way followed inside it) to the host, with
    the modes the ledger gives; the copies belong to the caller."""
    try:
        path = writer.resolve(src, follow_last=True)
    except Unsafe as e:
        die(f"--copy-out: {shown(src)}: {e}")
    root = Path(writer.full(path))
    if not os.path.lexists(root):
        die(f"--copy-out: the tree has no /{shown(src)}")
    out = dest / root.name if dest.is_dir() and path != "." else dest
    if path == "." and dest.is_dir():
        out = dest / "rootfs"
    if os.path.lexists(out):
        die(f"--copy-out: {out} already exists")
    dirs: list[tuple[Path, int]] = []
    try:
        for rel, st in walk(root) if root.is_dir() and not root.is_symlink() \
                else [(".", os.lstat(root))]:
            entry = writer.ledger.get(path if rel == "." else f"{path}/{rel}")
            where = out if rel == "." else out / rel
            perm = entry.mode if entry else stat.S_IMODE(st.st_mode)
            kind = entry.kind if entry else None
            if stat.S_ISDIR(st.st_mode) and kind in (DIR, None):
                where.mkdir(mode=0o700)
                dirs.append((where, perm))
            elif stat.S_ISLNK(st.st_mode) and kind in (SYMLINK, None):
                os.symlink(os.readlink(root if rel == "." else root / rel), where)
            elif stat.S_ISREG(st.st_mode) and kind in (FILE, None):
                shutil.copyfile(root if rel == "." else root / rel, where)
                os.chmod(where, perm)
        for folder, perm in reversed(dirs):      # deepest last-made first
            os.chmod(folder, perm)
    except OSError as e:
        die(f"--copy-out {src}: {e.strerror or e} ({e.filename or dest})")


# -- user, locale, time zone -------------------------------------------------------

def _tool(writer: TreeWriter, name: str) -> Optional[str]:
    for folder in ("usr/sbin", "usr/bin", "sbin", "bin"):
        try:
            path = writer.resolve(f"{folder}/{name}", follow_last=True)
        except Unsafe:
            continue
        full = writer.full(path)
        if os.path.isfile(full) and os.stat(full).st_mode & 0o111:
            return f"/{folder}/{name}"
    return None


def _shell(writer: TreeWriter, conventions: Conventions) -> str:
    """The distribution's shell for users where the tree has it, else /bin/sh."""
    wanted = conventions.user_shell
    try:
        full = writer.full(writer.resolve(wanted, follow_last=True))
    except Unsafe:
        return "/bin/sh"
    return wanted if os.path.isfile(full) else "/bin/sh"


def add_user(writer: TreeWriter, runner: Optional[TreeRunner], shaping: Shaping,
             conventions: Conventions) -> None:
    """With the tree's useradd where it is configured and has one, else by its files."""
    spec = shaping.user
    assert spec is not None
    shell, home = _shell(writer, conventions), f"/home/{spec.name}"
    useradd, groupadd = _tool(writer, "useradd"), _tool(writer, "groupadd")
    if runner and useradd and groupadd:
        new_group = accounts.check_new_user(writer, spec.name, spec.uid, spec.gid)
        commands = [[groupadd, "-g", str(spec.gid), spec.name]] if new_group else []
        commands.append([useradd, "-m", "-d", home, "-u", str(spec.uid), "-g", str(spec.gid),
                         "-s", shell, spec.name])
        try:
            runner.run(commands, {"HOME": "/root", "LC_ALL": "C"})
        except CommandFailed as e:
            die(f"--user {spec.name}: {' '.join(e.argv)} failed with exit status {e.code}")
        # useradd's own chown of the home cannot be real or recorded in every mode
        key = writer.resolve(home, follow_last=True)
        for path, entry in writer.ledger.entries.items():
            if path == key or path.startswith(f"{key}/"):
                entry.uid, entry.gid = spec.uid, spec.gid
        return
    accounts.add_user(writer, spec.name, spec.uid, spec.gid, home, shell,
                      reproducible.now() // 86400)


def set_locale(writer: TreeWriter, runner: Optional[TreeRunner], locale: str,
               conventions: Conventions) -> None:
    """LANG in the distribution's file; where glibc's locale.gen is there, the locale
    enabled in it (checked against the tree's list of supported locales) and
    generated with the tree's locale-gen when the tree is configured."""
    writer.write_bytes(conventions.locale_file.lstrip("/"),
                       conventions.locale_line.replace("{locale}", locale).encode() + b"\n")
    gen = conventions.locale_gen.lstrip("/")
    if not gen or locale in SYSTEM_LOCALES or not writer.exists(gen):
        return
    supported = _supported(writer)
    line = next((s for s in supported if s.split()[0] == locale), None)
    if supported and line is None:
        die(f"--locale {locale}: unknown locale (not in the tree's "
            "/usr/share/i18n/SUPPORTED)")
    if line is None:
        codeset = locale.partition(".")[2].partition("@")[0]
        line = f"{locale} {codeset or 'UTF-8'}"
    path = writer.resolve(gen, follow_last=True)
    with open(writer.full(path), errors="surrogateescape") as f:
        lines = f.read().splitlines()
    enabled = False
    for i, text in enumerate(lines):
        if text.lstrip("# ").split() == line.split():
            lines[i], enabled = line, True
    if not enabled:
        lines.append(line)
    entry = writer.ledger.get(path)
    writer.write_bytes(path, "".join(f"{ln}\n" for ln in lines).encode(errors="surrogateescape"),
                       entry.mode if entry else 0o644, entry.uid if entry else 0,
                       entry.gid if entry else 0)
    tool = _tool(writer, "locale-gen")
    if runner and tool:
        try:
            runner.run([[tool]], {"HOME": "/root", "LC_ALL": "C"})
        except CommandFailed as e:
            die(f"--locale {locale}: {tool} failed with exit status {e.code}")


def _supported(writer: TreeWriter) -> list[str]:
    try:
        path = writer.resolve("usr/share/i18n/SUPPORTED", follow_last=True)
        with open(writer.full(path), errors="replace") as f:
            return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    except (OSError, Unsafe):
        return []


def set_timezone(writer: TreeWriter, zone: str, conventions: Conventions) -> None:
    """/etc/localtime a link to the tree's own zone file (and the zone's name where
    the distribution keeps it); a zone the tree's tzdata lacks is refused."""
    zoneinfo = f"usr/share/zoneinfo/{zone}"
    try:
        found = os.path.isfile(writer.full(writer.resolve(zoneinfo, follow_last=True)))
        has_data = os.path.isdir(writer.full(writer.resolve("usr/share/zoneinfo",
                                                            follow_last=True)))
    except Unsafe:
        found = has_data = False
    if not has_data:
        die(f"--timezone {zone}: the tree has no time zone data (/usr/share/zoneinfo); "
            "include the distribution's tzdata package")
    if not found:
        die(f"--timezone {zone}: unknown time zone (no /{zoneinfo} in the tree)")
    writer.symlink("etc/localtime", f"/{zoneinfo}")
    if conventions.timezone_file:
        writer.write_bytes(conventions.timezone_file.lstrip("/"), f"{zone}\n".encode())
