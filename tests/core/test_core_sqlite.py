"""The one SQLite opener of the stores: WAL, busy timeout, private files, erasure that leaves no trace."""

from __future__ import annotations

import os
import stat

from lamp.core.sqlite import connect, erasing, make_private, side_files, truncate_wal


def test_connect_uses_wal_and_a_busy_timeout(tmp_path):
    db = connect(tmp_path / "a.sqlite", timeout=7.5, durable=False)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 7500
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1          # NORMAL
    assert connect(tmp_path / "b.sqlite").execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL


def test_memory_database_keeps_its_own_journal_and_has_no_files():
    db = connect(":memory:", secure_delete=True, foreign_keys=True)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    truncate_wal(db)                                                      # nothing to do, no error
    assert side_files(":memory:") == []


def test_private_store_and_its_side_files_are_owner_only(tmp_path):
    path = tmp_path / "p.sqlite"
    db = connect(path, private=True, autocommit=True)
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    for file in side_files(path):
        os.chmod(file, 0o644)
    make_private(path)
    assert side_files(path) and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in side_files(path))


def test_erasing_leaves_the_deleted_text_in_no_file(tmp_path):
    path = tmp_path / "c.sqlite"
    db = connect(path, durable=False)
    with db:
        db.execute("CREATE TABLE t (x TEXT)")
        db.executemany("INSERT INTO t VALUES (?)", [("keep me",), ("secret-needle-1234",)])
    with erasing(db):
        db.execute("DELETE FROM t WHERE x LIKE 'secret%'")
    assert db.execute("SELECT x FROM t").fetchall() == [("keep me",)]
    assert all(b"secret-needle-1234" not in open(f, "rb").read() for f in side_files(path))
    assert not os.path.exists(str(path) + "-wal") or os.path.getsize(str(path) + "-wal") == 0
