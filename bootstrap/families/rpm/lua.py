"""rpm's Lua scriptlets, run as rpm runs them (its embedded Lua with the `posix`
and `rpm` extensions), against the tree: every path a script names is the
tree's, resolved inside it as its chroot would, so this works in every mode,
PRoot's included. Commands a script runs (rpm.execute, os.execute) run in the
tree through the build's runner."""
from __future__ import annotations

import os
import stat as statmod
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from lupa import LuaError, LuaRuntime

from bootstrap import intree
from bootstrap.families.rpm.version import rpmvercmp

Run = Callable[[Sequence[str]], int]       # argv in the tree -> exit status


class LuaFailed(Exception):
    pass


class _File:
    """What Lua's io.open returns, for a file of the tree."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def read(self, self_: Any = None, what: Any = "l") -> Optional[str]:
        what = str(what).lstrip("*")
        if what.startswith("a"):
            return self.f.read()
        if what.startswith(("l", "L")):
            line = self.f.readline()
            return (line if what.startswith("L") else line.rstrip("\n")) if line else None
        return self.f.read(int(what))

    def write(self, *args: Any) -> "_File":
        for a in args[1:] if args and isinstance(args[0], _File) else args:
            self.f.write(str(a))
        return self

    def close(self, *args: Any) -> bool:
        self.f.close()
        return True


def run(tree: Path, script: str, args: Sequence[str], execute: Run,
        say: Callable[[str], None]) -> None:
    """script with arg (rpm's global `arg` table: the scriptlet name, then args)."""
    root = str(tree)

    def real(path: Any) -> str:
        rel = intree.resolve(root, str(path).lstrip("/"), strict=False)
        return os.path.join(root, rel) if rel != "." else root

    def real_nofollow(path: Any) -> str:
        text = str(path).lstrip("/")
        parent, _, name = text.rpartition("/")
        base = intree.resolve(root, parent, strict=False) if parent else "."
        return os.path.join(root, base, name) if base != "." else os.path.join(root, name)

    lua = LuaRuntime(unpack_returned_tuples=True, register_eval=False)
    g = lua.globals()

    def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any) -> Any:
            try:
                return fn(*a)
            except OSError as e:
                return None, e.strerror, e.errno
        return wrapped

    def lua_stat(path: Any, field: Any = None) -> Any:
        st = os.lstat(real_nofollow(path))
        kind = {statmod.S_IFDIR: "directory", statmod.S_IFLNK: "link",
                statmod.S_IFREG: "regular", statmod.S_IFCHR: "character device",
                statmod.S_IFBLK: "block device", statmod.S_IFIFO: "fifo",
                statmod.S_IFSOCK: "socket"}.get(statmod.S_IFMT(st.st_mode), "?")
        info = {"mode": statmod.filemode(st.st_mode)[1:], "ino": st.st_ino, "dev": st.st_dev,
                "nlink": st.st_nlink, "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
                "atime": int(st.st_atime), "mtime": int(st.st_mtime),
                "ctime": int(st.st_ctime), "type": kind}
        return info[str(field)] if field is not None else lua.table_from(info)

    def access(path: Any, mode: Any = "f") -> Any:
        bits = 0
        for c in str(mode):
            bits |= {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK, "f": os.F_OK}.get(c, 0)
        return 0 if os.access(real(path), bits) else None

    def mkdir(path: Any) -> int:
        os.mkdir(real_nofollow(path), 0o777)
        return 0

    def symlink(target: Any, path: Any) -> int:
        os.symlink(str(target), real_nofollow(path))
        return 0

    def listdir(path: Any) -> Any:
        return lua.table_from([".", ".."] + sorted(os.listdir(real(path))))

    posix = {
        "access": access, "stat": guard(lua_stat), "mkdir": guard(mkdir),
        "rmdir": guard(lambda p: os.rmdir(real_nofollow(p)) or 0),
        "unlink": guard(lambda p: os.unlink(real_nofollow(p)) or 0),
        "symlink": guard(symlink), "readlink": guard(lambda p: os.readlink(real_nofollow(p))),
        "link": guard(lambda a, b: os.link(real(a), real_nofollow(b)) or 0),
        "chmod": guard(lambda p, m: os.chmod(real(p), int(str(m), 8)) or 0),
        "chown": lambda *a: 0,         # owners of the build are the ledger's
        "utime": guard(lambda p, *t: os.utime(real(p)) or 0),
        "dir": guard(listdir), "getenv": lambda name: os.environ.get(str(name)),
        "getcwd": lambda: "/", "umask": lambda *a: "0022",
    }
    g.posix = lua.table_from(posix)

    def rpm_execute(*argv: Any) -> Any:
        code = execute([str(a) for a in argv])
        return (0 if code == 0 else None, "exit", code)

    g.rpm = lua.table_from({
        "vercmp": lambda a, b: rpmvercmp(str(a), str(b)),
        "expand": lambda text: str(text), "isdefined": lambda *a: False,
        "define": lambda *a: None, "interactive": lambda: False,
        "execute": rpm_execute,
    })
    io = g.io
    io.open = lambda path, mode="r": _open(real, path, str(mode))
    g.os.remove = guard(lambda p: os.unlink(real_nofollow(p)) or True)
    g.os.rename = guard(lambda a, b: os.rename(real_nofollow(a), real_nofollow(b)) or True)
    g.os.execute = lambda cmd=None: (True, "exit", execute(["/bin/sh", "-c", str(cmd)])) \
        if cmd is not None else True
    g.print = lambda *a: say("\t".join(str(x) for x in a))
    # nothing may reach the host's files or end this process: what would is gone
    for name in ("dofile", "loadfile", "require"):
        g[name] = None
    for name in ("popen", "input", "output", "lines", "tmpfile"):
        io[name] = None
    for name in ("exit", "tmpname"):
        g.os[name] = None
    g.package = None
    g.arg = lua.table_from(list(args))
    try:
        lua.execute(script)
    except LuaError as e:
        raise LuaFailed(str(e).splitlines()[0]) from None


def _open(real: Callable[[Any], str], path: Any, mode: str) -> Any:
    try:
        return _File(open(real(path), mode.replace("b", "") or "r", encoding="utf-8",
                          errors="surrogateescape"))
    except OSError as e:
        return None, f"{path}: {e.strerror}", e.errno
