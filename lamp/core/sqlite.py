"""One way to open the harness's SQLite files: the generation cache, the embedding cache, the profile store.

Every store wants the same things, so they live here once: WAL journaling (many readers beside one
writer, a killed process keeps every committed transaction), a busy timeout instead of an instant
"database is locked", and an erasure that leaves no copy of deleted text in any file of the store
(``secure_delete`` overwrites the freed pages; a truncating checkpoint empties the WAL). A store of
personal data (``private``) is created 0600, and so are the side files SQLite makes beside it.

    db = connect(path, durable=False)          # a cache: losing the last commit to a power cut is fine
    with erasing(db):
        db.execute("DELETE FROM emb WHERE key = ?", (key,))
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

MEMORY = ":memory:"
#: Files SQLite keeps beside the database.
SIDE_FILES = ("-wal", "-shm", "-journal")


def connect(path: str | os.PathLike, *, timeout: float = 60.0, durable: bool = True, threads: bool = False,
            autocommit: bool = False, secure_delete: bool = False, foreign_keys: bool = False,
            private: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode (``":memory:"`` keeps its own journal) waiting up to ``timeout`` s on a lock.

    ``durable=False`` syncs less (``synchronous=NORMAL``: a cache can recompute a lost commit);
    ``threads`` lets several threads share it (the caller locks); ``autocommit`` leaves transactions
    to explicit ``BEGIN``; ``secure_delete`` overwrites every deletion, not only those of :func:`erasing`;
    ``private`` creates the file 0600 before SQLite opens it.
    """
    name = str(path)
    if private and name != MEMORY:
        _create_private(name)
    db = sqlite3.connect(name, timeout=timeout, check_same_thread=not threads,
                         **({"isolation_level": None} if autocommit else {}))
    if foreign_keys:
        db.execute("PRAGMA foreign_keys = ON")
    if secure_delete:
        db.execute("PRAGMA secure_delete = ON")
    if name != MEMORY:
        db.execute("PRAGMA journal_mode = WAL")
        if not durable:
            db.execute("PRAGMA synchronous = NORMAL")
    return db


def truncate_wal(db: sqlite3.Connection) -> None:
    """Copy the WAL into the database and truncate it to zero bytes (deleted text leaves the WAL)."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def erasing(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A committed transaction whose deleted rows are in no file afterwards (a user's erasure)."""
    db.execute("PRAGMA secure_delete = ON")
    with db:
        yield db
    truncate_wal(db)


def side_files(path: str | os.PathLike) -> list[str]:
    """The database and those of SQLite's side files that exist now (none for ``":memory:"``)."""
    name = str(path)
    if name == MEMORY:
        return []
    return [p for p in (name, *(name + s for s in SIDE_FILES)) if os.path.exists(p)]


def make_private(path: str | os.PathLike) -> None:
    """Owner-only modes (0600) on the database and its side files, which SQLite may have just made."""
    for file in side_files(path):
        if os.stat(file).st_mode & 0o077:
            os.chmod(file, 0o600)


def _create_private(path: str) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite gives its side files the same mode)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)
