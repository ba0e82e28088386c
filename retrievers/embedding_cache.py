"""An on-disk cache of text embeddings, so each distinct text is encoded once per encoder.

Storage: one SQLite file per encoder identity, ``<dir>/<identity hash>.sqlite``, with a table
``emb(key BLOB PRIMARY KEY, vec BLOB)`` where ``key`` is the SHA-1 of the UTF-8 text and ``vec``
the float32 embedding bytes. The identity (see :func:`encoder_identity`) covers every file of the
encoder folder (the same sha256 as the generation cache's model identity), the pooling and the maximum
length, so a different checkpoint never reads another's vectors. (Caches made before that identity,
a sha1 over some of the folder's files, are simply not found: each text is encoded once again.)
SQLite gives atomic commits (an interrupted run keeps what it committed) and safe concurrent readers.

Default folder: ``$LAMP_CACHE_DIR/embeddings`` when ``LAMP_CACHE_DIR`` is set, else
``~/.cache/lamp/embeddings``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lamp.core.identity import cache_dir, folder_identity
from lamp.core.sqlite import connect, erasing


def default_cache_dir() -> Path:
    return cache_dir() / "embeddings"


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def encoder_identity(checkpoint: str, revision: str | None, max_length: int, pooling: str = "mean",
                     memo_dir: Path | None = None) -> str:
    """A stable name for what produced an embedding: every file of the folder (file hashes
    remembered in ``memo_dir``, :func:`lamp.core.identity.folder_identity`) or hub id + revision."""
    path = Path(checkpoint)
    if path.is_dir():
        source = f"folder-{folder_identity(path, memo_dir)}"
    else:
        source = f"hub:{checkpoint}@{revision or 'unknown'}"
    return json.dumps({"source": source, "pooling": pooling, "max_length": max_length}, sort_keys=True)


class EmbeddingCache:
    """Get and put float32 vectors by text, for one encoder identity."""

    def __init__(self, folder: str | os.PathLike, identity: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(identity.encode()).hexdigest()[:20]
        self.path = self.folder / f"{name}.sqlite"
        self.db = connect(self.path, durable=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS emb (key BLOB PRIMARY KEY, vec BLOB NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('identity', ?)", (identity,))
        self.db.commit()

    def get_many(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of the texts found in the cache."""
        keys = {text_key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        klist = list(keys)
        for i in range(0, len(klist), 900):
            part = klist[i:i + 900]
            rows = self.db.execute(f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(part))})", part)
            for key, vec in rows:
                found[keys[key]] = np.frombuffer(vec, dtype=np.float32)
        return found

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)",
                            ((text_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in items))
        self.db.commit()

    def erase(self, texts: Iterable[str]) -> int:
        """Delete the vectors of these texts (a user's erasure: an embedding is derived from their text).

        Rows are overwritten (``secure_delete``) and the WAL truncated. Returns how many were deleted.
        """
        keys = [text_key(t) for t in dict.fromkeys(texts)]
        deleted = 0
        with erasing(self.db):
            for i in range(0, len(keys), 900):
                part = keys[i:i + 900]
                deleted += self.db.execute(f"DELETE FROM emb WHERE key IN ({','.join('?' * len(part))})",
                                           part).rowcount
        return deleted

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM emb").fetchone()[0]

    def close(self) -> None:
        self.db.close()
