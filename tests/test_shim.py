"""The chown, chgrp and mknod stand-ins: what scriptlets meant, folded into the
ledger, resolved inside the tree, and the stand-ins gone afterwards."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bootstrap.ledger import BLOCK, CHAR, Entry, Ledger
from bootstrap.sandbox import shim
from bootstrap.treewriter import TreeWriter

PASSWD = "root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nfixture:x:1234:1300::/:\n"
GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nshadow:x:42:\nfx:x:1300:\n"


@pytest.fixture
def writer(tmp_path: Path) -> TreeWriter:
    (tmp_path / "t").mkdir()
    w = TreeWriter(tmp_path / "t", Ledger())
    w.mkdir(".", 0o755, 0, 0)
    w.write_bytes("etc/passwd", PASSWD.encode())
    w.write_bytes("etc/group", GROUP.encode())
    for name in ("a", "b", "dir/c", "dir/d", "link-target"):
        w.write_bytes(f"var/{name}", b"")
    w.symlink("var/link", "link-target")
    return w


def _record(w: TreeWriter, *calls: tuple[str, str, list[str]]) -> None:
    lines = "".join("\037".join([tool, cwd, *args]) + "\037\n" for tool, cwd, args in calls)
    (Path(w.full(shim.LOG))).write_text(lines)


def test_stand_ins_are_installed_through_the_writer_and_select_by_path(writer):
    assert shim.install(writer, chown=True) == "/.rootstrap/bin"
    for tool in ("chown", "chgrp", "mknod"):
        entry = writer.ledger.get(f".rootstrap/bin/{tool}")
        assert entry and entry.mode == 0o755
        assert stat.S_IMODE(Path(writer.full(f".rootstrap/bin/{tool}")).stat().st_mode) & 0o111
    (writer.root.parent / "t2").mkdir()
    other = TreeWriter(writer.root.parent / "t2", Ledger())
    other.mkdir(".", 0o755, 0, 0)
    shim.install(other, chown=False)
    assert not Path(other.full(".rootstrap/bin/chown")).exists()      # chown is real there


@pytest.mark.parametrize("tool, args, want", [
    ("chown", ["root:shadow", "a"], {"var/a": (0, 42)}),
    ("chown", ["daemon:", "a"], {"var/a": (1, 1)}),             # 'user:' = the login group
    ("chown", ["fixture", "a"], {"var/a": (1234, 0)}),          # the group stays
    ("chown", ["daemon.tty", "a"], {"var/a": (1, 5)}),          # the old spelling
    ("chown", ["1234:1300", "a", "b"], {"var/a": (1234, 1300), "var/b": (1234, 1300)}),
    ("chgrp", ["tty", "a"], {"var/a": (0, 5)}),
    ("chgrp", ["-R", "tty", "dir"], {"var/dir": (0, 5), "var/dir/c": (0, 5),
                                     "var/dir/d": (0, 5)}),
    ("chown", ["daemon", "link"], {"var/link-target": (1, 0), "var/link": (0, 0)}),
    ("chown", ["-h", "daemon", "link"], {"var/link": (1, 0), "var/link-target": (0, 0)}),
    ("chown", ["nosuchuser", "a"], {"var/a": (0, 0)}),          # unknown names change nothing
])
def test_recorded_owner_changes_reach_the_ledger(writer, tool, args, want):
    shim.install(writer, chown=True)
    _record(writer, (tool, "/var", args))
    shim.collect(writer)
    for path, owner in want.items():
        entry = writer.ledger.get(path)
        assert (entry.uid, entry.gid) == owner, path
    assert not Path(writer.full(".rootstrap")).exists()
    assert writer.ledger.get(".rootstrap") is None


def test_device_nodes_scripts_could_not_make_are_recorded(writer):
    shim.install(writer, chown=True)
    writer.write_bytes("dev/loop0", b"")           # what a failed mknod leaves, if anything
    _record(writer, ("mknod", "/dev", ["-m", "600", "loop0", "b", "7", "0"]),
            ("mknod", "/", ["dev/null", "c", "1", "3"]),
            ("mknod", "/", ["dev/fifo", "p"]))       # not a device: mkfifo made it
    shim.collect(writer)
    assert writer.ledger.get("dev/loop0") == Entry(BLOCK, 0o600, 0, 0, rdev=(7, 0))
    assert writer.ledger.get("dev/null") == Entry(CHAR, 0o644, 0, 0, rdev=(1, 3))
    assert not Path(writer.full("dev/loop0")).exists()
    assert writer.ledger.get("dev/fifo") is None


def test_a_log_planted_as_a_link_is_not_read(writer, tmp_path):
    outside = tmp_path / "host-log"
    outside.write_text("chown\037/\037daemon\037var/a\037\n")
    shim.install(writer, chown=True)
    Path(writer.full(shim.LOG)).symlink_to(outside)
    shim.collect(writer)
    assert (writer.ledger.get("var/a").uid, writer.ledger.get("var/a").gid) == (0, 0)
    assert outside.exists()
