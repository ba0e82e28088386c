"""The on-disk generation cache: SQLite in WAL mode, one row per (model, prompt, settings, mode).

The key is a sha256 over everything that changes an answer: the backend's ``identity`` (backend
name, model id or weights hash, revision, dtype), the prompt text, the full generation settings,
the mode (``generate`` or ``choose``) and, for ``choose``, the options in order. So one model's
answers are never served for another's, and a changed setting misses rather than hits.

Rows are written one transaction per batch (:meth:`GenerationCache.put_many`), so a run killed at
any point keeps every finished batch and a rerun skips it. WAL lets several readers (and one
writer at a time) share the file; the connection may be used from several threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError
from lamp.core.sqlite import connect, erasing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key      TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    mode     TEXT NOT NULL,
    prompt   TEXT NOT NULL,
    output   TEXT NOT NULL,
    created  REAL NOT NULL
)
"""
#: SQLite caps the number of ``?`` in one statement; look keys up in chunks below it.
_CHUNK = 500


def cache_key(identity: str, prompt: str, settings: dict[str, Any], mode: str = "generate",
              options: Sequence[str] | None = None) -> str:
    """The sha256 key of one generation (see the module docstring for what it covers)."""
    if not identity:
        raise LampError("a backend without an identity cannot be cached (set Backend.identity)")
    payload = json.dumps({"identity": identity, "prompt": prompt, "settings": settings, "mode": mode,
                          "options": list(options) if options is not None else None},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class GenerationCache:
    """A persistent map from :func:`cache_key` to the generated text."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = connect(self.path, durable=False, threads=True)
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as err:
            raise LampError(f"{self.path}: not a usable generation cache ({err})") from err
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """The cached outputs of those keys that are present."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(
                    f"SELECT key, output FROM generations WHERE key IN ({marks})", chunk).fetchall())
        return found

    def get(self, key: str) -> str | None:
        return self.get_many([key]).get(key)

    def put_many(self, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Store ``(key, identity, mode, prompt, output)`` rows in one committed transaction."""
        now = time.time()
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO generations (key, identity, mode, prompt, output, created) "
                "VALUES (?, ?, ?, ?, ?, ?)", [(*row, now) for row in rows])

    def erase_containing(self, texts: Iterable[str]) -> int:
        """Delete every row whose prompt or output contains one of ``texts`` (a user's erasure).

        Prompts hold profile text, so erasing a user means dropping each cached generation that
        quotes any of their items. Rows are overwritten (``secure_delete``) and the WAL is
        checkpointed and truncated, so the text is in none of the cache's files afterwards.
        Returns the number of rows deleted.
        """
        needles = sorted({t for t in texts if t and t.strip()})
        deleted = 0
        with self._lock, erasing(self._db):
            for start in range(0, len(needles), 100):
                chunk = needles[start:start + 100]
                where = " OR ".join(["instr(prompt, ?) > 0 OR instr(output, ?) > 0"] * len(chunk))
                args = [x for n in chunk for x in (n, n)]
                deleted += self._db.execute(f"DELETE FROM generations WHERE {where}", args).rowcount
        return deleted

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "GenerationCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
