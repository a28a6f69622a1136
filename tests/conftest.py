"""Test harness: run the CLI as unprivileged users, against a local signed mirror.

CI runs as root, but rootstrap's promise is "no root", so every CLI run goes
through `runuser` to one of two throwaway users:

- rs-mapped: has a subordinate id range (200000-265535) in /etc/subuid and
  /etc/subgid, so a user namespace can map 65536 ids;
- rs-single: has none, so a user namespace maps only the user itself.

The CLI runs from a virtual environment every test user can read, made from
Debian's /usr/bin/python3 with rootstrap pip-installed into it from a copy of the
checkout (not editable: recipes and keys come from the installed data, as for a
user who installed it), because the checkout and the default python3 may be
unreadable by other users. ROOTSTRAP_TEST_PYTHON names a ready interpreter instead.

When the tests themselves run as an ordinary user, that user is used for the
kind it actually is and the other kind is skipped.

Set ROOTSTRAP_TEST_KEEP=1 to keep the session directory (printed at the end,
with -s) and the throwaway keys.
"""
from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence, Union

import pytest

import debmirror
from debmirror import MirrorServer, PackageSpec, Repo, Signer

CHECKOUT = Path(__file__).resolve().parent.parent
BASE_PYTHON = os.environ.get("ROOTSTRAP_TEST_BASE_PYTHON", "/usr/bin/python3")
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
USERS = {"mapped": "rs-mapped", "single": "rs-single"}
SUBID_START, SUBID_COUNT = 200000, 65536
KINDS = ("mapped", "single")
DEFAULT_TIMEOUT = float(os.environ.get("ROOTSTRAP_TEST_TIMEOUT", "1800"))

Arg = Union[str, os.PathLike]


# --------------------------------------------------------------------------- session dir


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"rootstrap: CLI venv from {os.environ.get('ROOTSTRAP_TEST_PYTHON') or BASE_PYTHON}, "
            f"uid {os.geteuid()}"]


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    """A world-traversable scratch directory for the whole session.

    pytest's own tmp_path lives under a 0700 directory of the invoking user,
    which the test users could not enter.
    """
    base = os.environ.get("ROOTSTRAP_TEST_TMP") or None
    path = Path(tempfile.mkdtemp(prefix="rootstrap-tests-", dir=base))
    path.chmod(0o755)
    yield path
    if os.environ.get("ROOTSTRAP_TEST_KEEP"):
        print(f"\nrootstrap tests: kept {path}")
        return
    _force_remove(path)


def _force_remove(path: Path) -> None:
    """Remove a session's files, whoever they belong to now.

    Trees built by a mapped user as a non-root tester hold files of subordinate
    ids, and read-only directories: as rootstrap removes its own failed builds,
    they are removed from inside a user namespace that maps those ids (where the
    tester is root over them), else opened up and removed as the tester."""
    if os.geteuid() != 0 and shutil.which("unshare") and user_kind(
            pwd.getpwuid(os.getuid()).pw_name, os.getuid()) == "mapped":
        subprocess.run(["unshare", "--user", "--map-root-user", "--map-auto",
                        "rm", "-rf", "--", str(path)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.lexists(path):
        return
    subprocess.run(["chmod", "-R", "u+rwX", "--", str(path)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        print(f"\nrootstrap tests: could not remove all of {path}", file=sys.stderr)


SOURCE_FILES = ("bootstrap", "recipes", "keys", "pyproject.toml", "setup.py", "README.md")


@pytest.fixture(scope="session")
def source_copy(session_dir: Path) -> Path:
    """World-readable copy of what `pip install` of the checkout takes."""
    src = session_dir / "src"
    src.mkdir(mode=0o755)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCE_FILES:
        if (CHECKOUT / name).is_dir():
            shutil.copytree(CHECKOUT / name, src / name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(CHECKOUT / name, src / name)
    for dirpath, dirnames, filenames in os.walk(src):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)
    return src


@pytest.fixture(scope="session")
def cli_python(session_dir: Path, source_copy: Path) -> str:
    """The interpreter the test users run rootstrap with: a venv of BASE_PYTHON
    (made without pip, so Debian's python3-venv is not needed) into which this
    interpreter's pip installs the copy of the checkout and its dependencies."""
    ready = os.environ.get("ROOTSTRAP_TEST_PYTHON")
    if ready:
        return ready
    venv = session_dir / "python"
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
                    str(source_copy)], check=True)
    for dirpath, dirnames, filenames in os.walk(venv):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | 0o444 | (0o111 if os.path.isdir(p) else 0))
    return str(python)


# --------------------------------------------------------------------------- users


def _subid_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def subid_ranges(name: str, uid: int, path: str) -> list[tuple[int, int]]:
    """The (start, count) ranges /etc/subuid or /etc/subgid grants NAME (or UID)."""
    ranges = []
    for line in _subid_lines(path):
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (name, str(uid)):
            try:
                ranges.append((int(parts[1]), int(parts[2])))
            except ValueError:
                continue
    return ranges


def _write_subids(path: str, lines: list[str]) -> None:
    tmp = f"{path}.rootstrap-tests"
    with open(tmp, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _drop_subids(name: str, uid: int, keep: Sequence[str] = ()) -> None:
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = _subid_lines(path)
        kept = [line for line in lines
                if line.split(":")[0] not in (name, str(uid)) or line in keep]
        if kept != lines:
            _write_subids(path, kept)


def _ensure_users() -> None:
    """Create rs-mapped and rs-single and set their subordinate ids (as root)."""
    with open("/run/lock/rootstrap-tests-users.lock" if os.path.isdir("/run/lock")
              else "/tmp/rootstrap-tests-users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in USERS.values():
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(["useradd", "--user-group", "--no-create-home",
                                "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
                               check=True)
        # useradd hands out a range of its own choosing to every new user: replace it,
        # so both users are exactly what the tests claim.
        single = pwd.getpwnam(USERS["single"])
        _drop_subids(single.pw_name, single.pw_uid)
        mapped = pwd.getpwnam(USERS["mapped"])
        wanted = f"{mapped.pw_name}:{SUBID_START}:{SUBID_COUNT}"
        _drop_subids(mapped.pw_name, mapped.pw_uid, keep=[wanted])
        end = SUBID_START + SUBID_COUNT - 1
        if (wanted not in _subid_lines("/etc/subuid")
                or wanted not in _subid_lines("/etc/subgid")):
            subprocess.run(["usermod", "--add-subuids", f"{SUBID_START}-{end}",
                            "--add-subgids", f"{SUBID_START}-{end}", mapped.pw_name],
                           check=True)


def user_kind(name: str, uid: int) -> str:
    """"mapped" when NAME can map a full 65536-id range, else "single"."""
    tools = shutil.which("newuidmap") and shutil.which("newgidmap")
    full = all(any(count >= 65536 for _, count in subid_ranges(name, uid, path))
               for path in ("/etc/subuid", "/etc/subgid"))
    return "mapped" if tools and full else "single"


@dataclass
class HarnessUser:
    kind: str
    name: str
    uid: int
    gid: int
    home: Path
    shared_cache: Path  # one per user for the session: for warm-cache tests


@pytest.fixture(scope="session")
def harness_users(session_dir: Path) -> dict[str, Union[HarnessUser, str]]:
    """kind -> HarnessUser, or kind -> the reason it is unavailable."""
    users: dict[str, Union[HarnessUser, str]] = {}
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            return {k: "runuser is missing (util-linux)" for k in KINDS}
        _ensure_users()
        for kind, name in USERS.items():
            pw = pwd.getpwnam(name)
            if kind == "mapped" and not (shutil.which("newuidmap")
                                         and shutil.which("newgidmap")):
                users[kind] = "newuidmap/newgidmap are missing (Debian package uidmap)"
                continue
            users[kind] = _user_dirs(session_dir, kind, pw)
    else:
        pw = pwd.getpwuid(os.getuid())
        kind = user_kind(pw.pw_name, pw.pw_uid)
        users[kind] = _user_dirs(session_dir, kind, pw)
        other = "single" if kind == "mapped" else "mapped"
        users[other] = (f"tests run as the unprivileged user {pw.pw_name}, which is a "
                        f"'{kind}' user; a '{other}' user needs the tests to run as root")
    return users


def _owned_dir(path: Path, uid: int, gid: int, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def _user_dirs(session_dir: Path, kind: str, pw: pwd.struct_passwd) -> HarnessUser:
    base = session_dir / "users"
    base.mkdir(mode=0o755, exist_ok=True)
    mine = base / pw.pw_name
    mine.mkdir(mode=0o755, exist_ok=True)
    home = _owned_dir(mine / "home", pw.pw_uid, pw.pw_gid, 0o700)
    cache = _owned_dir(mine / "shared-cache", pw.pw_uid, pw.pw_gid)
    (mine / "work").mkdir(mode=0o755, exist_ok=True)
    return HarnessUser(kind=kind, name=pw.pw_name, uid=pw.pw_uid, gid=pw.pw_gid, home=home,
                    shared_cache=cache)


@dataclass
class UserRunner:
    """Runs commands, above all `python3 -m bootstrap`, as one test user."""

    kind: str
    name: str
    uid: int
    gid: int
    home: Path
    workdir: Path       # this test's own directory, owned by the user
    cache: Path         # workdir/cache: an empty --cache for this test
    shared_cache: Path  # the user's cache shared by every test of the session
    python: str
    history: list[subprocess.CompletedProcess] = field(default_factory=list)

    def environment(self, env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        base = {"HOME": str(self.home), "PATH": SAFE_PATH,
                "USER": self.name, "LOGNAME": self.name, "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1"}
        base.update(env or {})
        return base

    def command(self, argv: Sequence[Arg], env: Optional[Mapping[str, str]] = None) -> list[str]:
        """The full argv that runs ARGV as this user with a clean environment."""
        inner = ["env", "-i", *(f"{k}={v}" for k, v in self.environment(env).items()),
                 *map(str, argv)]
        if os.geteuid() == 0:
            return ["runuser", "-u", self.name, "--", *inner]
        return inner

    def exec(self, *argv: Arg, env: Optional[Mapping[str, str]] = None, check: bool = False,
             timeout: Optional[float] = None, input: Optional[str] = None,
             cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
        """Run any command as this user (text output captured)."""
        proc = subprocess.run(self.command(argv, env), cwd=cwd or self.workdir, input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout or DEFAULT_TIMEOUT)
        self.history.append(proc)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(map(str, argv))} as {self.name} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    def run(self, *args: Arg, env: Optional[Mapping[str, str]] = None, check: bool = False,
            timeout: Optional[float] = None,
            input: Optional[str] = None) -> subprocess.CompletedProcess:
        """`python3 -m bootstrap ARGS...` as this user, in its workdir."""
        return self.exec(self.python, "-m", "bootstrap", *args, env=env, check=check,
                         timeout=timeout, input=input)

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess:
        return self.exec("/bin/sh", "-c", script, **kwargs)  # type: ignore[arg-type]

    def mkdir(self, *parts: str, mode: int = 0o755) -> Path:
        """A directory under the workdir, owned by this user."""
        return _owned_dir(self.workdir.joinpath(*parts), self.uid, self.gid, mode)

    def path(self, *parts: str) -> Path:
        return self.workdir.joinpath(*parts)


def _runner(request: pytest.FixtureRequest, kind: str) -> UserRunner:
    users = request.getfixturevalue("harness_users")
    python = request.getfixturevalue("cli_python")
    info = users.get(kind)
    if not isinstance(info, HarnessUser):
        pytest.skip(f"no '{kind}' test user: {info}")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60]
    work_root = info.home.parent / "work"
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_root))
    _owned_dir(workdir, info.uid, info.gid)
    cache = _owned_dir(workdir / "cache", info.uid, info.gid)
    return UserRunner(kind=info.kind, name=info.name, uid=info.uid, gid=info.gid,
                      home=info.home, workdir=workdir, cache=cache,
                      shared_cache=info.shared_cache, python=python)


@pytest.fixture
def as_user(request: pytest.FixtureRequest) -> UserRunner:
    """A test user of the kind given by indirect parametrization ("mapped" or
    "single"); unparametrized, "mapped" where available, else "single"."""
    kind = getattr(request, "param", None)
    if kind is None:
        users = request.getfixturevalue("harness_users")
        kind = "mapped" if isinstance(users.get("mapped"), HarnessUser) else "single"
    if kind not in KINDS:
        raise ValueError(f"as_user: unknown kind {kind!r}, expected one of {KINDS}")
    return _runner(request, kind)


@pytest.fixture(params=KINDS)
def user(request: pytest.FixtureRequest) -> UserRunner:
    """Each test user in turn: the test runs once as "mapped", once as "single"."""
    return _runner(request, request.param)


@pytest.fixture
def mapped_user(request: pytest.FixtureRequest) -> UserRunner:
    return _runner(request, "mapped")


@pytest.fixture
def single_user(request: pytest.FixtureRequest) -> UserRunner:
    return _runner(request, "single")


# --------------------------------------------------------------------------- mirror


class LocalMirror:
    """The fixture Debian mirror (debmirror.fixture_packages), served over HTTP."""

    def __init__(self, repo: Repo, pristine: Path, server: MirrorServer,
                 untrusted: Signer, packages: list[PackageSpec]) -> None:
        self.repo = repo
        self.root = repo.root
        self.pristine = pristine
        self.server = server
        self.signer = repo.signer
        self.untrusted = untrusted
        self.packages = packages
        self.suite = repo.suite
        self.codename = repo.codename
        self.has_shell = debmirror.has_shell(packages)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def keyring(self) -> Path:
        return self.signer.keyring

    @property
    def untrusted_keyring(self) -> Path:
        return self.untrusted.keyring

    @property
    def requests(self) -> list[str]:
        return self.server.requests

    @property
    def log(self) -> list[debmirror.Request]:
        return self.server.log

    @property
    def faults(self) -> dict[str, int]:
        return self.server.faults

    def reset_requests(self) -> None:
        self.server.requests.clear()
        self.server.log.clear()

    def cli_args(self) -> list[str]:
        """--release/--mirror/--keyring that point the debian recipe here."""
        return ["--release", self.codename, "--mirror", self.url,
                "--keyring", str(self.keyring)]

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    @property
    def dist(self) -> Path:
        return self.repo.dist

    @property
    def packages_file(self) -> Path:
        return self.repo.packages_file

    def deb(self, name: str, version: Optional[str] = None) -> Path:
        """Pool path of package NAME (the highest-built version unless VERSION)."""
        matches = [(key, p) for key, p in self.repo.debs.items()
                   if key.rsplit("_", 1)[0] == name
                   and (version is None or key == f"{name}_{version}")]
        if not matches:
            raise KeyError(name)
        return matches[-1][1]

    def tamper(self, rel: str, data: bytes) -> Path:
        """Replace a served file's bytes (restored after the test)."""
        p = self.path(rel)
        p.write_bytes(data)
        return p

    def resign(self, signer: Optional[Signer] = None) -> None:
        """Re-sign InRelease and Release.gpg, by default with the untrusted key."""
        debmirror.sign_release(self.dist, signer or self.untrusted)

    def reindex(self, **kwargs: object) -> None:
        """Rewrite the indexes and Release (e.g. valid_until=..., date=...), signed."""
        debmirror.index_repo(self.root, self.suite, self.signer, codename=self.codename,
                             **kwargs)  # type: ignore[arg-type]

    def restore(self) -> list[str]:
        """Undo every change to the served tree; returns the paths it put back."""
        return debmirror.restore_tree(self.pristine, self.root)


@pytest.fixture(scope="session")
def _gpg_keys() -> Iterator[tuple[Signer, Signer]]:
    # gpg-agent's socket path must stay short: keep keys in their own dir under /tmp.
    dirs = []
    signers = []
    for name in ("rootstrap test archive", "rootstrap untrusted archive"):
        d = Path(tempfile.mkdtemp(prefix="rs-gpg-"))
        d.chmod(0o755)
        dirs.append(d)
        signers.append(debmirror.make_signer(d, name))
    yield signers[0], signers[1]
    for s in signers:
        debmirror.stop_agent(s)
    if not os.environ.get("ROOTSTRAP_TEST_KEEP"):
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def _mirror_session(session_dir: Path, _gpg_keys: tuple[Signer, Signer]) -> Iterator[LocalMirror]:
    signer, untrusted = _gpg_keys
    base = session_dir / "mirror"
    base.mkdir(mode=0o755)
    packages = debmirror.fixture_packages()
    repo = debmirror.build_repo(base / "root", debmirror.DEFAULT_SUITE, packages,
                                signer.home, signer.fingerprint, keyring=signer.keyring)
    repo.signer = signer
    pristine = base / "pristine"
    shutil.copytree(repo.root, pristine, symlinks=True)
    server = MirrorServer(repo.root)
    yield LocalMirror(repo, pristine, server, untrusted, packages)
    server.close()


@pytest.fixture
def local_mirror(_mirror_session: LocalMirror) -> Iterator[LocalMirror]:
    """The fixture mirror with an empty request log; any tampering is undone after."""
    mirror = _mirror_session
    mirror.server.reset()
    before = debmirror.snapshot(mirror.root)
    yield mirror
    if debmirror.snapshot(mirror.root) != before:
        mirror.restore()
    mirror.server.reset()


@pytest.fixture
def serve_mirror() -> Iterator:
    """Factory: serve_mirror(root) -> MirrorServer for a repository a test built."""
    servers: list[MirrorServer] = []

    def serve(root: Path) -> MirrorServer:
        server = MirrorServer(root)
        servers.append(server)
        return server

    yield serve
    for s in servers:
        s.close()


@pytest.fixture(scope="session")
def signer(_gpg_keys: tuple[Signer, Signer]) -> Signer:
    """The trusted throwaway key (its public half: signer.keyring)."""
    return _gpg_keys[0]


@pytest.fixture(scope="session")
def untrusted_signer(_gpg_keys: tuple[Signer, Signer]) -> Signer:
    return _gpg_keys[1]


# --------------------------------------------------------------------------- arch mirror

import archmirror  # noqa: E402


@pytest.fixture(scope="session")
def arch_mirror(session_dir: Path, signer: Signer) -> Iterator[archmirror.ArchMirror]:
    """The Arch fixture repositories core and extra (archmirror.arch_fixture), built
    with makepkg and repo-add, signed by `signer`, served over HTTP."""
    missing = archmirror.missing_tools()
    if missing:
        # as root (CI, where tests/run installs them) a missing tool fails the Arch
        # tests rather than letting them pass by skipping
        message = f"building Arch fixture packages needs: {', '.join(missing)}"
        if os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    fixture = archmirror.arch_fixture(session_dir / "arch-mirror", signer)
    server = MirrorServer(fixture.root)
    yield archmirror.ArchMirror(fixture, server)
    server.close()


# --------------------------------------------------------------------------- alpine mirror

import apkmirror  # noqa: E402


@dataclass
class AlpineMirror:
    repos: apkmirror.AlpineRepos
    server: MirrorServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def key(self) -> apkmirror.ApkKey:
        return self.repos.key

    def args(self) -> list[str]:
        """--release/--mirror/--keyring that point the alpine recipe here."""
        return ["--release", apkmirror.BRANCH, "--mirror", self.url,
                "--keyring", str(self.key.folder)]


@pytest.fixture(scope="session")
def apk_key(session_dir: Path) -> apkmirror.ApkKey:
    return apkmirror.make_key(session_dir / "apk-keys", "rootstrap-test-5f0c1a2b")


@pytest.fixture(scope="session")
def alpine_mirror(session_dir: Path, apk_key: apkmirror.ApkKey) -> Iterator[AlpineMirror]:
    """The Alpine fixture (apkmirror.fixture_specs): main and community of v3.20,
    signed with a throwaway key, served over HTTP."""
    if not os.path.isfile("/bin/busybox"):
        message = "the Alpine fixture needs /bin/busybox (Debian's busybox-static)"
        if os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    repos = apkmirror.alpine_fixture(session_dir / "alpine-mirror", apk_key)
    server = MirrorServer(repos.root)
    yield AlpineMirror(repos, server)
    server.close()


# --------------------------------------------------------------------------- fedora mirror

import rpmmirror  # noqa: E402


@dataclass
class FedoraMirror:
    repos: rpmmirror.FedoraRepos
    server: MirrorServer

    @property
    def url(self) -> str:
        return self.server.url

    def repo_url(self, repo: str) -> str:
        return self.repos.repo_url(self.url, repo)

    def args(self, *extra: object) -> list[object]:
        """--mirror (a base URL per repository) and --keyring for the fedora recipe."""
        return ["--mirror", self.repo_url("fedora"), "--mirror", self.repo_url("updates"),
                "--keyring", self.repos.signer.keyring, *extra]


@pytest.fixture(scope="session")
def fedora_mirror(session_dir: Path, signer: Signer) -> Iterator[FedoraMirror]:
    """The Fedora fixture (rpmmirror.fixture_specs): repositories fedora and
    updates of release 45, built with rpmbuild, signed with rpmsign by `signer`,
    indexed by createrepo_c (zstd metadata), with MirrorManager metalinks."""
    missing = rpmmirror.missing_tools()
    if not os.path.isfile("/bin/busybox"):
        missing.append("/bin/busybox (busybox-static)")
    if missing:
        message = f"the Fedora fixture needs {', '.join(missing)}"
        if os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    repos = rpmmirror.fedora_fixture(session_dir / "fedora-mirror", signer)
    server = MirrorServer(repos.root)
    repos.write_metalinks(server.url)
    yield FedoraMirror(repos, server)
    server.close()
