"""Users' profiles for ``lamp serve``, kept in SQLite.

One profile per user: the task it serves and its items in LaMP format, in insertion order. Every
statement that touches items is filtered by ``user_id`` (there is no query that reads items across
users), so one user's request can never see another user's history.

Personal data handling: the database (and its WAL and shared-memory files) are created 0600;
``secure_delete`` overwrites deleted rows, and every deletion ends with a truncating WAL checkpoint,
so after :meth:`ProfileStore.delete_user` the user's text is in none of the store's files (and after
:meth:`ProfileStore.put_profile` the replaced items' text is in none of them). The
item cap is checked inside the write transaction (concurrent appends cannot overrun it), and
``retention_days`` drops items stored longer ago than that.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass

from lamp.core.errors import LampError
from lamp.core.records import ProfileItem
from lamp.core.sqlite import connect, make_private, side_files, truncate_wal
from lamp.core.jsonio import Problems
from lamp.core.questions import item_from_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    task    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    user_id  TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    item_id  TEXT NOT NULL,
    position INTEGER NOT NULL,
    data     TEXT NOT NULL,
    added    REAL,
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX IF NOT EXISTS items_by_user ON items (user_id, position);
CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY,
    v BLOB NOT NULL
);
"""


class DuplicateItems(LampError):
    """Items whose ids the user's profile already holds."""

    def __init__(self, user_id: str, ids: list[str], repeated: bool = False) -> None:
        self.ids = ids
        shown = ", ".join(repr(i) for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
        where = "are repeated in the request" if repeated else f"are already in user {user_id!r}'s profile"
        super().__init__(f"profile item id(s) {shown} {where}; item ids must be unique per user")


class TooManyItems(LampError):
    """The append would take the user's profile over the item cap (nothing was written)."""

    def __init__(self, user_id: str, total: int, limit: int) -> None:
        self.total, self.limit = total, limit
        super().__init__(f"user {user_id!r} would have {total} items; the limit is {limit}")


@dataclass(frozen=True)
class Profile:
    user_id: str
    task: str
    items: list[ProfileItem]


class ProfileStore:
    """A thread-safe SQLite store of ``user_id -> (task, items)``; ``":memory:"`` for a throwaway one."""

    def __init__(self, path: str | os.PathLike = ":memory:", retention_days: float | None = None) -> None:
        self.path = str(path)
        self.retention_days = retention_days
        if retention_days is not None and not retention_days > 0:
            raise LampError(f"retention must be a positive number of days, got {retention_days}")
        try:
            self._db = connect(self.path, threads=True, autocommit=True, secure_delete=True, foreign_keys=True,
                               private=True)
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
            if "added" not in columns:                  # a store from before retention
                self._db.execute("ALTER TABLE items ADD COLUMN added REAL")
            self._private_side_files()
        except OSError as exc:
            raise LampError(f"{self.path}: cannot create the profile database: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise LampError(f"{self.path}: cannot open the profile database: {exc}") from None
        self._lock = threading.Lock()
        self.expire()

    # ------------------------------------------------------------------ writes

    def put_profile(self, user_id: str, task: str, items: list[ProfileItem]) -> None:
        """Replace the user's profile (task and items) in one transaction."""
        _check_unique(user_id, items)
        with self._lock:
            with self._transaction():
                replaced = self._db.execute("DELETE FROM items WHERE user_id = ?", (user_id,)).rowcount
                self._db.execute("INSERT INTO users (user_id, task) VALUES (?, ?) "
                                 "ON CONFLICT(user_id) DO UPDATE SET task = excluded.task", (user_id, task))
                self._insert(user_id, items, 0)
            if replaced:                 # the replaced text leaves the WAL now, as a deleted user's does
                self._checkpoint()

    def add_items(self, user_id: str, items: list[ProfileItem], task: str | None = None,
                  max_items: int | None = None) -> int:
        """Append items; creates the user when ``task`` is given. Returns the profile's new size.

        Raises :class:`DuplicateItems` (nothing written) if an id is already in the profile,
        :class:`TooManyItems` (nothing written) if the profile would exceed ``max_items`` (counted
        inside the transaction, so concurrent appends cannot overrun it), and KeyError if the
        user does not exist and no task is given.
        """
        _check_unique(user_id, items)
        with self._lock, self._transaction():
            row = self._db.execute("SELECT task FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                if task is None:
                    raise KeyError(user_id)
                self._db.execute("INSERT INTO users (user_id, task) VALUES (?, ?)", (user_id, task))
            if max_items is not None:
                (have,) = self._db.execute("SELECT COUNT(*) FROM items WHERE user_id = ?", (user_id,)).fetchone()
                if have + len(items) > max_items:
                    raise TooManyItems(user_id, have + len(items), max_items)
            ids = [it.id for it in items]
            clash: list[str] = []
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                clash += [r[0] for r in self._db.execute(
                    f"SELECT item_id FROM items WHERE user_id = ? AND item_id IN ({marks})", (user_id, *chunk))]
            if clash:
                raise DuplicateItems(user_id, sorted(clash))
            (last,) = self._db.execute("SELECT COALESCE(MAX(position), -1) FROM items WHERE user_id = ?",
                                       (user_id,)).fetchone()
            self._insert(user_id, items, last + 1)
            (count,) = self._db.execute("SELECT COUNT(*) FROM items WHERE user_id = ?", (user_id,)).fetchone()
        return int(count)

    def delete_user(self, user_id: str) -> bool:
        """Forget the user and all their items; False if there was no such user.

        The rows are overwritten (``secure_delete``) and the WAL is checkpointed and truncated, so
        no copy of the deleted text stays in the database's files.
        """
        with self._lock:
            with self._transaction():
                self._db.execute("DELETE FROM items WHERE user_id = ?", (user_id,))
                cur = self._db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
            self._checkpoint()
        return cur.rowcount > 0

    def expire(self) -> int:
        """Drop items stored more than ``retention_days`` ago (and users left empty); returns how many."""
        if self.retention_days is None:
            return 0
        cutoff = time.time() - self.retention_days * 86400
        with self._lock:
            with self._transaction():
                cur = self._db.execute("DELETE FROM items WHERE added IS NULL OR added < ?", (cutoff,))
                self._db.execute("DELETE FROM users WHERE user_id NOT IN (SELECT DISTINCT user_id FROM items)")
            if cur.rowcount:
                self._checkpoint()
        return cur.rowcount

    def secret(self) -> bytes:
        """A random per-store key (made once, kept in the store) for keyed scrub placeholders."""
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = 'placeholder_key'").fetchone()
            if row is None:
                row = (os.urandom(32),)
                self._db.execute("INSERT INTO meta (k, v) VALUES ('placeholder_key', ?)", row)
        return bytes(row[0])

    def files(self) -> list[str]:
        """The files this store writes (the database and SQLite's side files that exist now)."""
        return side_files(self.path)

    # ------------------------------------------------------------------ reads

    def get_profile(self, user_id: str) -> Profile | None:
        """The user's task and items in insertion order; None for an unknown user."""
        self.expire()
        with self._lock:
            row = self._db.execute("SELECT task FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                return None
            rows = self._db.execute("SELECT data FROM items WHERE user_id = ? ORDER BY position",
                                    (user_id,)).fetchall()
        return Profile(user_id, row[0], [_item(json.loads(data)) for (data,) in rows])

    def summary(self, user_id: str) -> tuple[str, int] | None:
        """The user's task and number of items, without loading them; None for an unknown user."""
        with self._lock:
            row = self._db.execute("SELECT task FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                return None
            (count,) = self._db.execute("SELECT COUNT(*) FROM items WHERE user_id = ?", (user_id,)).fetchone()
        return row[0], int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ helpers

    def _insert(self, user_id: str, items: list[ProfileItem], first: int) -> None:
        now = time.time()
        self._db.executemany("INSERT INTO items (user_id, item_id, position, data, added) VALUES (?, ?, ?, ?, ?)",
                             [(user_id, it.id, first + n, json.dumps(it.to_json(), ensure_ascii=False), now)
                              for n, it in enumerate(items)])
        self._private_side_files()

    def _checkpoint(self) -> None:
        truncate_wal(self._db)

    def _private_side_files(self) -> None:
        make_private(self.path)

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on any exception, so a failed write leaves nothing behind."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _check_unique(user_id: str, items: list[ProfileItem]) -> None:
    counts = Counter(it.id for it in items)
    dup = sorted(item_id for item_id, n in counts.items() if n > 1)
    if dup:
        raise DuplicateItems(user_id, dup, repeated=True)


def _item(obj: dict) -> ProfileItem:
    item = item_from_json(obj, Problems("profile store"), "")
    assert item is not None
    return item
