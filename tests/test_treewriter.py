"""The confined tree writer: nothing an archive says may land outside the tree."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from bootstrap.archive import tar_to_tree
from bootstrap.ledger import Ledger
from bootstrap.treewriter import TreeWriter, Unsafe


def _tar(*members: tuple[str, str, str]) -> tarfile.TarFile:
    """members: (type, name, content or link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                t.addfile(info, io.BytesIO(data.encode()))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "hard": tarfile.LNKTYPE}[kind]
            info.linkname = data
            info.mode = 0o755 if kind == "dir" else 0o777
            t.addfile(info)
    buf.seek(0)
    return tarfile.open(fileobj=buf, mode="r|")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path, TreeWriter]:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    return root, outside, TreeWriter(root, Ledger())


def test_dotdot_is_refused(tree):
    root, outside, w = tree
    with pytest.raises(Unsafe):
        tar_to_tree(_tar(("file", "./../outside/x", "evil")), w)
    assert not (outside / "x").exists()


def test_absolute_names_stay_inside(tree):
    root, outside, w = tree
    tar_to_tree(_tar(("file", str(outside / "x"), "ok")), w)
    assert not (outside / "x").exists()
    assert (root / str(outside).lstrip("/") / "x").read_text() == "ok"


def test_absolute_symlink_is_followed_inside_the_root(tree):
    root, outside, w = tree
    tar_to_tree(_tar(("sym", "./escape", str(outside)), ("file", "./escape/x", "evil")), w)
    assert not (outside / "x").exists()
    assert (root / str(outside).lstrip("/") / "x").read_text() == "evil"
    assert os.readlink(root / "escape") == str(outside)


def test_relative_symlink_cannot_climb_out(tree):
    root, outside, w = tree
    tar_to_tree(_tar(("sym", "./up", "../../../../outside"), ("file", "./up/x", "evil")), w)
    assert not (outside / "x").exists()
    assert (root / "outside" / "x").read_text() == "evil"


def test_hardlink_to_outside_file_is_refused(tree):
    root, outside, w = tree
    (outside / "secret").write_text("s")
    with pytest.raises(Unsafe):
        tar_to_tree(_tar(("sym", "./l", str(outside)), ("hard", "./h", "l/secret")), w)
    assert not (root / "h").exists()


def test_symlink_loop_is_an_error_not_a_hang(tree):
    root, outside, w = tree
    with pytest.raises(Unsafe):
        tar_to_tree(_tar(("sym", "./a", "b"), ("sym", "./b", "a"), ("file", "./a/x", "")), w)


def test_directory_symlink_is_kept_for_merged_usr(tree):
    root, outside, w = tree
    w.mkdir("usr/bin", 0o755, 0, 0)
    w.symlink("bin", "usr/bin")
    tar_to_tree(_tar(("dir", "./bin", ""), ("file", "./bin/sh", "#!")), w)
    assert os.path.islink(root / "bin")
    assert (root / "usr/bin/sh").read_text() == "#!"
    assert w.ledger.get("usr/bin/sh") is not None


def test_ledger_keeps_owner_and_mode_the_disk_cannot(tree):
    root, outside, w = tree
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("./etc/shadow")
        info.uid, info.gid, info.mode, info.size = 0, 42, 0o640, 1
        t.addfile(info, io.BytesIO(b"x"))
        info = tarfile.TarInfo("./usr/bin/su")
        info.uid, info.gid, info.mode, info.size = 0, 0, 0o4755, 1
        t.addfile(info, io.BytesIO(b"x"))
    buf.seek(0)
    tar_to_tree(tarfile.open(fileobj=buf, mode="r|"), w)
    shadow = w.ledger.get("etc/shadow")
    assert (shadow.uid, shadow.gid, shadow.mode) == (0, 42, 0o640)
    assert w.ledger.get("usr/bin/su").mode == 0o4755
    # on disk the caller can still read what it wrote
    assert os.access(root / "etc/shadow", os.R_OK)


def _swap_for_a_link(tree_root: Path, rel: str, to: Path) -> Path:
    """What a command left running in the tree may do while rootstrap writes:
    move a directory away and put a link to the host in its place."""
    moved = tree_root / (rel + ".moved")
    os.rename(tree_root / rel, moved)
    os.symlink(to, tree_root / rel)
    return moved


def test_a_directory_swapped_for_a_link_meanwhile_is_never_written_through(tree):
    """Whatever the writer knew of a directory, a link put in its place after
    that leads nothing out of the tree: every later entry lands inside it."""
    root, outside, w = tree
    w.write_bytes("usr/lib/first", b"1")
    w.write_bytes("usr/lib/again", b"1")       # the directory is known to the writer now
    _swap_for_a_link(root, "usr/lib", outside)
    w.write_bytes("usr/lib/second", b"2")
    w.symlink("usr/lib/third", "first")
    w.mkdir("usr/lib/fourth", 0o755, 0, 0)
    assert os.listdir(outside) == []
    inside = {name for _, dirs, files in os.walk(root) for name in dirs + files}
    assert {"first", "second", "third", "fourth"} <= inside


def test_a_directory_swapped_for_a_link_is_refused_when_reached_again(tree):
    """A directory reached anew (its descriptor let go, as when many are open) is
    opened component by component without following links: the link is refused."""
    root, outside, w = tree
    w.write_bytes("usr/lib/first", b"1")
    w.write_bytes("usr/lib/again", b"1")       # the directory is known to the writer now
    (outside / "lib").mkdir()
    _swap_for_a_link(root, "usr", outside)
    w._fds.close()
    for step in (lambda: w.write_bytes("usr/lib/second", b"2"),
                 lambda: w.remove("usr/lib/first"),
                 lambda: w.mkdir("usr/lib/sub", 0o755, 0, 0)):
        with pytest.raises(Unsafe, match="usr is no longer a directory"):
            step()
    assert os.listdir(outside / "lib") == []


def test_a_package_writing_far_past_its_declared_size_is_refused(tree):
    """Twice what the signed index declares, and 16 MiB, is all one package's files
    may hold; where the index declares nothing, only the decompression bound holds."""
    from bootstrap.treewriter import BUDGET_SLACK
    root, outside, w = tree
    with w.budget(4096):
        w.write_bytes("usr/a", bytes(BUDGET_SLACK))
        with pytest.raises(Unsafe, match="signed index says it installs 4096 bytes"):
            w.write_bytes("usr/b", bytes(2 * 4096 + 1))
    with w.budget(None):
        w.write_bytes("usr/c", bytes(BUDGET_SLACK + 1))
    with w.budget(BUDGET_SLACK):          # every package starts afresh
        w.write_bytes("usr/d", bytes(3 * BUDGET_SLACK))
