"""Who the contestants run as: rootstrap's promise is "no root", so it runs as
an ordinary user with a subordinate id range (rs-bench), or with none
(rs-bench-single), from a virtual environment of /usr/bin/python3 with the
checkout pip-installed (as tests/conftest.py's cli_python makes it). The peer
tools run as the same user where they can (mmdebstrap --mode=unshare)."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

CHECKOUT = Path(__file__).resolve().parent.parent
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
MAPPED, SINGLE = "rs-bench", "rs-bench-single"
SUBID_START, SUBID_COUNT = 300000, 65536
DEPS = "import requests, zstandard, gnupg, tqdm, yaml, cryptography, lupa, cyclonedx"
SOURCE = ("bootstrap", "recipes", "keys", "pyproject.toml", "setup.py", "README.md")


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path               # owned by the user: caches and outputs live below it

    def command(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None
                ) -> list[str]:
        """argv run as this user with a clean environment."""
        base = {"HOME": str(self.home), "PATH": SAFE_PATH, "USER": self.name,
                "LOGNAME": self.name, "LANG": "C.UTF-8", "TMPDIR": str(self.home / "tmp"),
                "PYTHONDONTWRITEBYTECODE": "1"}
        base.update(env or {})
        inner = ["env", "-i", *(f"{k}={v}" for k, v in base.items()), *argv]
        if os.geteuid() == 0 and pwd.getpwuid(os.geteuid()).pw_name != self.name:
            return ["runuser", "-u", self.name, "--", *inner]
        return inner

    def dir(self, *parts: str) -> Path:
        """A fresh, empty directory of this user's under its home."""
        path = self.home.joinpath(*parts)
        self.remove(path)
        self.mkdir(path)
        return path

    def mkdir(self, path: Path) -> Path:
        if os.geteuid() == 0:
            subprocess.run(self.command(["mkdir", "-p", str(path)]), check=True)
        else:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def remove(self, path: Path) -> None:
        """Remove what this user built, subordinate ids and read-only directories
        included (from inside a namespace that maps them, as rootstrap does)."""
        if not os.path.lexists(path):
            return
        if path.is_symlink() or not path.is_dir():
            path.unlink()
            return
        if os.geteuid() == 0:
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                return
            subprocess.run(["chmod", "-R", "u+rwX", str(path)], stderr=subprocess.DEVNULL)
            shutil.rmtree(path)
            return
        subprocess.run(["unshare", "--user", "--map-root-user", "--map-auto",
                        "rm", "-rf", "--", str(path)], stderr=subprocess.DEVNULL)
        shutil.rmtree(path, ignore_errors=True)


def _subids(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def _set_subids(name: str, line: Optional[str]) -> None:
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = _subids(path)
        kept = [x for x in lines if x.split(":")[0] != name] + ([line] if line else [])
        if kept != lines:
            tmp = f"{path}.rootstrap-bench"
            with open(tmp, "w") as f:
                f.write("".join(x + "\n" for x in kept))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)


def ensure(name: str, state: Path) -> User:
    """The user NAME (made if missing; rs-bench with SUBID_START's range, the
    single one with none), its home under state/users."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.getuid())
        home = state / "users" / pw.pw_name
        home.mkdir(parents=True, exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
        return User(pw.pw_name, pw.pw_uid, pw.pw_gid, home)
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--user-group", "--no-create-home", "--home-dir",
                        "/nonexistent", "--shell", "/bin/sh", name], check=True)
        pw = pwd.getpwnam(name)
    _set_subids(name, f"{name}:{SUBID_START}:{SUBID_COUNT}" if name == MAPPED else None)
    home = state / "users" / name
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    home.chmod(0o755)
    (home / "tmp").mkdir(exist_ok=True)
    os.chown(home / "tmp", pw.pw_uid, pw.pw_gid)
    return User(name, pw.pw_uid, pw.pw_gid, home)


def cli_python(state: Path) -> str:
    """An interpreter every user can run, with this checkout's rootstrap installed
    (reinstalled on each bench run: the code under test is the checkout's)."""
    venv = state / "python"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)],
                       check=True)
    src = state / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCE:
        if (CHECKOUT / name).is_dir():
            shutil.copytree(CHECKOUT / name, src / name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(CHECKOUT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
           "--disable-pip-version-check", "--no-warn-script-location"]
    has_deps = subprocess.run([str(python), "-c", DEPS], stderr=subprocess.DEVNULL).returncode == 0
    # the dependencies once; rootstrap itself every time
    subprocess.run(pip + (["--force-reinstall", "--no-deps"] if has_deps else []) + [str(src)],
                   check=True, stdout=subprocess.DEVNULL)
    for dirpath, dirnames, filenames in os.walk(state / "python"):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | 0o444 | (0o111 if os.path.isdir(p) else 0))
    return str(python)
