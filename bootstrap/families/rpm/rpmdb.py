"""The tree's rpm database as rpm 4.16+ keeps it: /usr/lib/sysimage/rpm/rpmdb.sqlite.

Each installed package is a row of Packages holding its header as rpm stores it:
the package's own header, then the signature header's tags under their header
numbers and the installation's tags (time, transaction, file states, colour),
the added entries sorted by tag and their data aligned. The index tables map
names, provides, requires, files... to (package, position), as rpm's lookups
(`rpm -q`, `-qf`, `--whatprovides`, dnf) read them."""
from __future__ import annotations

import io
import sqlite3
import struct
import tempfile
from pathlib import Path
from typing import Sequence

from bootstrap.archive import as_bytes
from bootstrap.families.rpm.header import (BIN, CHAR, HEADER_MAGIC, INT16, INT32, INT64,
                                           STRING, STRING_ARRAY, Header, Package, read_header)
from bootstrap.treewriter import TreeWriter

DBPATH = "usr/lib/sysimage/rpm"
# signature-header tags -> their numbers in the installed header
SIGNATURE_TAGS = {1000: 257, 1002: 259, 1004: 261, 1005: 262, 1007: 1046, 267: 267,
                  268: 268, 269: 269, 270: 270, 271: 271, 273: 273}
INSTALLTIME, FILESTATES, INSTALLCOLOR, INSTALLTID = 1008, 1029, 1127, 1128
# a require rpm does not index: install-time prerequisites and rpmlib() features
INSTALL_ONLY = (1 << 9) | (1 << 10) | (1 << 24) | (1 << 26) | (1 << 7) | (1 << 5)
# index table -> the header tag its keys come from
INDEXES = {"Name": 1000, "Basenames": 1117, "Group": 1016, "Requirename": 1049,
           "Providename": 1047, "Conflictname": 1054, "Obsoletename": 1090,
           "Triggername": 1066, "Dirnames": 1118, "Installtid": INSTALLTID,
           "Sigmd5": 261, "Sha1header": 269, "Filetriggername": 5069,
           "Transfiletriggername": 5079, "Recommendname": 5046, "Suggestname": 5049,
           "Supplementname": 5052, "Enhancename": 5055}
BLOB_KEYS = ("Installtid", "Sigmd5")
UNINDEXED_BY_HNUM = ("Name", "Group", "Installtid", "Sigmd5", "Sha1header")
ALIGN = {INT16: 2, INT32: 4, INT64: 8}


def _encode(kind: int, value: object) -> bytes:
    if kind in (STRING,):
        return as_bytes(str(value)) + b"\0"
    if kind == STRING_ARRAY:
        return b"".join(as_bytes(str(v)) + b"\0" for v in value)  # type: ignore[union-attr]
    if kind == BIN:
        return bytes(value)  # type: ignore[arg-type]
    fmt = {CHAR: "B", INT16: "H", INT32: "I", INT64: "Q"}[kind]
    values = list(value)  # type: ignore[call-overload]
    return struct.pack(f">{len(values)}{fmt}", *values)


def _kind(value: object, tag: int) -> tuple[int, int]:
    """The type and count an added tag is stored with."""
    if isinstance(value, bytes):
        return BIN, len(value)
    if isinstance(value, str):
        return STRING, 1
    if tag == FILESTATES:
        return CHAR, len(value)  # type: ignore[arg-type]
    if isinstance(value, list) and value and isinstance(value[0], str):
        return STRING_ARRAY, len(value)
    return INT32, len(value)  # type: ignore[arg-type]


def installed_blob(pkg: Package, when: int, tid: int, color: int) -> bytes:
    """The header rpm stores for an installed package (headerExport's layout:
    entry count, data size, entries, data; no magic)."""
    h = pkg.header.blob
    count, size = struct.unpack(">II", h[8:16])
    index, data = bytearray(h[16:16 + 16 * count]), bytearray(h[16 + 16 * count:])
    added: dict[int, object] = {}
    for sig_tag, tag in SIGNATURE_TAGS.items():
        if sig_tag in pkg.signature.tags:
            added[tag] = pkg.signature.tags[sig_tag]
    files = len(pkg.header.strings(1117))
    added[INSTALLTIME] = [when]
    if files:
        added[FILESTATES] = [0] * files
    added[INSTALLCOLOR] = [color]
    added[INSTALLTID] = [tid]
    for tag in sorted(added):
        value = added[tag]
        kind, n = _kind(value, tag)
        align = ALIGN.get(kind, 1)
        while len(data) % align:
            data.append(0)
        index += struct.pack(">IIII", tag, kind, len(data), n)
        data += _encode(kind, value)
        count += 1
    return struct.pack(">II", count, len(data)) + bytes(index) + bytes(data)


def _keys(h: Header, table: str, extra: dict[int, object]) -> list[tuple[object, int]]:
    tag = INDEXES[table]
    value = extra.get(tag, h.tags.get(tag))
    if value is None:
        return []
    if table in BLOB_KEYS:
        if isinstance(value, list):           # INSTALLTID: the int, in host order
            return [(struct.pack("=I", value[0]), 0)]
        return [(bytes(value), 0)]  # type: ignore[arg-type]
    values = [value] if isinstance(value, (str, bytes)) else list(value)  # type: ignore[call-overload]
    if table == "Sha1header":
        return [(str(values[0]), 0)]
    flags = h.ints(1048) if table == "Requirename" else []
    out: list[tuple[object, int]] = []
    for i, key in enumerate(values):
        if flags and i < len(flags) and flags[i] & INSTALL_ONLY:
            continue
        out.append((str(key), i))
    return out


def _schema(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,"
               "blob BLOB NOT NULL)")
    for table in INDEXES:
        kind = "BLOB" if table in BLOB_KEYS else "TEXT"
        db.execute(f"CREATE TABLE '{table}' (key '{kind}' NOT NULL, hnum INTEGER NOT NULL, "
                   "idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))")
        if table not in BLOB_KEYS:
            db.execute(f"CREATE INDEX '{table}_key_idx' ON '{table}'(key ASC)")
        if table not in UNINDEXED_BY_HNUM:
            db.execute(f"CREATE INDEX '{table}_hnum_idx' ON '{table}'(hnum ASC)")


def write(writer: TreeWriter, packages: Sequence[Package], when: int, tid: int,
          color: int = 3, keys: Sequence[bytes] = ()) -> None:
    """The database of packages (in install order) into the tree, after the
    installed headers of imported keys (pubkey.installed_blob), as dnf imports
    them before its transaction."""
    with tempfile.TemporaryDirectory(prefix="rootstrap-rpmdb-") as scratch:
        path = Path(scratch) / "rpmdb.sqlite"
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            with db:
                _schema(db)
                for blob in keys:
                    h = read_header(io.BytesIO(HEADER_MAGIC + b"\0" * 4 + blob))
                    _add(db, blob, h, {INSTALLTID: h.tags[INSTALLTID]})
                for pkg in packages:
                    extra = {INSTALLTID: [tid],
                             261: pkg.signature.tags.get(1004),
                             269: pkg.signature.tags.get(269)}
                    _add(db, installed_blob(pkg, when, tid, color), pkg.header,
                         {k: v for k, v in extra.items() if v is not None})
        finally:
            db.close()
        data = path.read_bytes()
    writer.ensure_dir(DBPATH)
    writer.write_bytes(f"{DBPATH}/rpmdb.sqlite", data)
    writer.write_bytes(f"{DBPATH}/.rpm.lock", b"")


def _add(db: sqlite3.Connection, blob: bytes, h: Header, extra: dict[int, object]) -> None:
    hnum = db.execute("INSERT INTO Packages (blob) VALUES (?)", (blob,)).lastrowid
    for table in INDEXES:
        for key, idx in _keys(h, table, extra):
            if isinstance(key, str):
                # rpm binds a key's bytes as text whatever they are (a file name
                # need not be UTF-8): the same bytes, stored as TEXT
                db.execute(f"INSERT INTO '{table}' VALUES (CAST(? AS TEXT), ?, ?)",
                           (as_bytes(key), hnum, idx))
            else:
                db.execute(f"INSERT INTO '{table}' VALUES (?, ?, ?)", (key, hnum, idx))
