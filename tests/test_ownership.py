"""Moving ownership between the ledger and the disk."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from bootstrap import ownership
from bootstrap.ledger import DIR, FILE, SYMLINK, Entry, Ledger


def test_rootless_containers_values_are_the_protobuf_umoci_reads():
    assert ownership.rootless_value(0, 0) == b""
    assert ownership.rootless_value(0, 42) == b"\x10\x2a"
    assert ownership.rootless_value(1000, 0) == b"\x08\xe8\x07"
    assert ownership.rootless_value(300, 70000) == b"\x08\xac\x02\x10\xf0\xa2\x04"


def test_materialize_then_harvest_gives_back_what_the_ledger_says(tmp_path: Path):
    root = tmp_path / "t"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("x")
    ledger = Ledger()
    ledger.set(".", Entry(DIR, 0o755))
    ledger.set("d", Entry(DIR, 0o500))
    ledger.set("d/f", Entry(FILE, 0o400))
    ownership.materialize(root, ledger, chown=False)
    assert stat.S_IMODE(os.stat(root / "d").st_mode) == 0o500
    seen = ownership.harvest(root, chown=False)
    # given back to the caller, readable and writable again
    assert stat.S_IMODE(os.stat(root / "d").st_mode) == 0o700
    assert seen["d"][:2] == (DIR, 0o500) and seen["d/f"][:2] == (FILE, 0o400)


def test_merge_keeps_the_ledger_s_owners_where_they_could_not_be_real(tmp_path: Path):
    ledger = Ledger()
    ledger.set("etc/shadow", Entry(FILE, 0o640, 0, 42))
    ledger.set("gone", Entry(FILE, 0o644))
    seen = {"etc/shadow": (FILE, 0o640, 1000, 1000, None),
            "new": (FILE, ownership.relaxed(FILE, 0o644), 1000, 1000, None),
            "link": (SYMLINK, 0o777, 1000, 1000, None)}
    ownership.merge(ledger, seen, owners_real=False)
    assert (ledger.get("etc/shadow").uid, ledger.get("etc/shadow").gid) == (0, 42)
    assert ledger.get("gone") is None                   # the scriptlets removed it
    assert (ledger.get("new").uid, ledger.get("new").gid) == (0, 0)
    real = Ledger()
    real.set("etc/shadow", Entry(FILE, 0o640, 0, 0))
    ownership.merge(real, {"etc/shadow": (FILE, 0o640, 0, 42, None)}, owners_real=True)
    assert real.get("etc/shadow").gid == 42


def test_a_relaxed_mode_the_ledger_explains_is_the_ledger_s():
    ledger = Ledger()
    ledger.set("d", Entry(DIR, 0o555))
    ownership.merge(ledger, {"d": (DIR, 0o755, 0, 0, None)}, owners_real=False)
    assert ledger.get("d").mode == 0o555
    ownership.merge(ledger, {"d": (DIR, 0o751, 0, 0, None)}, owners_real=False)
    assert ledger.get("d").mode == 0o751            # a real change by a scriptlet
