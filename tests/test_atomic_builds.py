"""A TARGET changes whole or not at all: --force replaces only a tree rootstrap
built, a build killed at any moment (SIGKILL) leaves the earlier TARGET as it was
and the next run reuses every verified download, Ctrl-C ends in one line and exit
130 with nothing left, and a build that cannot fit is refused before it
downloads anything. Run as an unprivileged user through the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from debmirror import snapshot


def _args(user, mirror, target, *extra):
    return ["debian", target, *mirror.cli_args(), "--no-configure", "--cache", user.cache,
            *extra]


def _staging(user, name: str) -> list[str]:
    return sorted(p.name for p in user.workdir.iterdir()
                  if p.name.startswith(f".{name}.rootstrap-"))


def test_force_replaces_a_rootstrap_tree_and_nothing_else(as_user, local_mirror):
    tree = as_user.path("tree")
    as_user.run(*_args(as_user, local_mirror, tree), check=True)
    (tree / "etc" / "left-by-the-user").write_text("old")
    refused = as_user.run(*_args(as_user, local_mirror, tree))
    assert refused.returncode == 1 and "pass --force" in refused.stderr
    assert (tree / "etc" / "left-by-the-user").exists()

    as_user.run(*_args(as_user, local_mirror, tree, "--force"), check=True)
    assert not (tree / "etc" / "left-by-the-user").exists()
    assert (tree / "etc" / "os-release").exists() or (tree / "usr/lib/os-release").exists()
    assert _staging(as_user, "tree") == []
    assert [p.name for p in as_user.workdir.iterdir() if ".replaced-" in p.name] == []

    # a directory rootstrap did not build is never replaced, --force or not
    mine = as_user.mkdir("mine")
    (mine / "thesis.tex").write_text("years of work")
    proc = as_user.run(*_args(as_user, local_mirror, mine, "--force"))
    assert proc.returncode == 1 and "is not a tree rootstrap built" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert (mine / "thesis.tex").read_text() == "years of work"

    tarball = as_user.path("tree.tar")
    as_user.run(*_args(as_user, local_mirror, tarball), check=True)
    first = tarball.stat().st_ino
    as_user.run(*_args(as_user, local_mirror, tarball, "--force"), check=True)
    assert tarball.stat().st_ino != first and tarball.stat().st_size > 0
    kind = as_user.run(*_args(as_user, local_mirror, tree.parent / "tree", "--force",
                              "--format", "tar"))
    assert kind.returncode == 1 and "same kind" in kind.stderr


def _start(user, argv) -> subprocess.Popen:
    return subprocess.Popen(user.command([user.python, "-m", "bootstrap", *map(str, argv)]),
                            cwd=user.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _interrupt(proc: subprocess.Popen) -> None:
    """SIGINT to rootstrap, as Ctrl-C sends it: as root the tests start it under
    runuser (rootstrap is runuser's child), else it is the process itself."""
    pids = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)],
                                           stdout=subprocess.PIPE, text=True).stdout.split()]
    if os.geteuid() != 0:
        pids = [proc.pid]
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGINT)


def _wait_for(what, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not what():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _objects(cache: Path) -> list[Path]:
    return [p for p in (cache / "objects").rglob("*")
            if p.is_file() and not p.name.endswith(".partial") and not p.name.startswith(".")]


def _agents(uid: int) -> list[str]:
    """The gpg agents uid runs for rootstrap (not the test mirror's signer's)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"gpg-agent" in command and b"rootstrap-gpg-" in command:
            found.append(command.decode(errors="replace"))
    return found


def test_a_killed_build_leaves_the_earlier_target_and_the_next_run_finishes(user, local_mirror):
    tree = user.path("tree")
    user.run(*_args(user, local_mirror, tree, "--cache", user.path("warm")), check=True)
    before = snapshot(tree)
    local_mirror.server.delay = 0.7            # one package at a time, slowly
    proc = _start(user, _args(user, local_mirror, tree, "--force", "--jobs", "1"))
    try:
        _wait_for(lambda: len(_objects(user.cache)) >= 2 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        local_mirror.server.delay = 0.0
    kept = {p.name for p in _objects(user.cache)}
    assert snapshot(tree) == before
    assert _agents(user.uid) == []     # nothing the killed build started lives on

    time.sleep(1.0)        # the mirror answers the killed build's last request meanwhile
    local_mirror.reset_requests()
    proc2 = user.run(*_args(user, local_mirror, tree, "--force", "--json"), check=True)
    again = [r for r in local_mirror.requests if r.startswith("/pool/")]
    assert again and not any(Path(r).name in kept for r in again)
    assert not any(name in r for r in again for name in kept)
    assert _staging(user, "tree") == []
    assert json.loads(proc2.stdout)["downloads"] == len(again)
    assert set(snapshot(tree)) == set(before)   # the same packages, whole


def test_ctrl_c_ends_every_process_and_leaves_nothing(as_user, local_mirror):
    local_mirror.server.delay = 0.7
    target = as_user.path("tree")
    proc = _start(as_user, _args(as_user, local_mirror, target, "--jobs", "1"))
    try:
        _wait_for(lambda: _staging(as_user, "tree") or proc.poll() is not None)
        _wait_for(lambda: len(_objects(as_user.cache)) >= 1 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()
        _interrupt(proc)
        out, err = proc.communicate(timeout=60)
    finally:
        local_mirror.server.delay = 0.0
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["rootstrap: error: interrupted; nothing was left behind"]
    assert not os.path.lexists(target) and _staging(as_user, "tree") == []
    left = subprocess.run(["pgrep", "-u", as_user.name, "-f", "bootstrap debian"],
                          stdout=subprocess.PIPE, text=True).stdout.split()
    assert left == []


@pytest.fixture
def tiny_disk(as_user):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for the test needs root")
    where = as_user.mkdir("tiny")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o",
                              f"size=1m,uid={as_user.uid},gid={as_user.gid},mode=0755",
                              "tmpfs", str(where)], stderr=subprocess.PIPE, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_build_that_cannot_fit_is_refused_before_any_download(as_user, local_mirror,
                                                                 tiny_disk):
    proc = as_user.run(*_args(as_user, local_mirror, tiny_disk / "tree"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("rootstrap: error: not enough space for ")
    assert proc.stderr.count("\n") == 1
    assert not [r for r in local_mirror.requests if r.startswith("/pool/")]
    assert list(tiny_disk.iterdir()) == []


@pytest.mark.parametrize("fmt, made", [("oci", "index.json"), ("bundle", "config.json"),
                                       ("oci-archive", None)])
def test_force_replaces_every_kind_of_output(as_user, local_mirror, fmt, made):
    out = as_user.path(f"out-{fmt}")
    as_user.run(*_args(as_user, local_mirror, out, "--format", fmt), check=True)
    marker = out / "left-by-the-user" if out.is_dir() else None
    if marker:
        marker.write_text("old")
    refused = as_user.run(*_args(as_user, local_mirror, out, "--format", fmt))
    assert refused.returncode == 1 and "pass --force" in refused.stderr
    as_user.run(*_args(as_user, local_mirror, out, "--format", fmt, "--force"), check=True)
    if marker:
        assert not marker.exists() and (out / made).is_file()
    else:
        assert out.is_file() and out.stat().st_size > 0
    assert _staging(as_user, out.name) == []


def test_ctrl_c_while_a_command_runs_in_the_tree_ends_it_too(as_user, local_mirror):
    target = as_user.path("tree")
    proc = _start(as_user, _args(as_user, local_mirror, target, "--run-in", "sleep 4242"))

    def sleeping() -> list[str]:
        return subprocess.run(["pgrep", "-u", as_user.name, "-f", "^sleep 4242"],
                              stdout=subprocess.PIPE, text=True).stdout.split()
    _wait_for(lambda: sleeping() or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    _interrupt(proc)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [\
        "rootstrap: error: interrupted; nothing was left behind"], err
    _wait_for(lambda: not sleeping(), timeout=10)
    assert not os.path.lexists(target) and _staging(as_user, "tree") == []
