"""An on-disk cache of text embeddings, so each distinct text is encoded once per encoder.

Storage: one SQLite file per encoder identity, ``<dir>/<identity hash>.sqlite``, with a table
``emb(key BLOB PRIMARY KEY, vec BLOB)`` where ``key`` is the SHA-1 of the UTF-8 text and ``vec``
the float32 embedding bytes. The identity (see :func:`encoder_identity`) covers the weights, the
tokenizer, the pooling and the maximum length, so a different checkpoint never reads another's
vectors. SQLite gives atomic commits (an interrupted run keeps what it committed) and safe
concurrent readers.

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

from lamp.core.sqlite import connect, erasing

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                    "sentencepiece.bpe.model", "spiece.model", "merges.txt", "vocab.json")


def default_cache_dir() -> Path:
    root = os.environ.get("LAMP_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "lamp") / "embeddings"


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def _hash_file(path: Path, h: "hashlib._Hash") -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)


_FINGERPRINTS: dict[str, str] = {}


def folder_fingerprint(folder: Path, memo_dir: Path | None = None) -> str:
    """SHA-1 over the config, tokenizer and weight files of a model folder (names and contents).

    Hashing large weights takes a while, so the result is remembered per (file, size, mtime),
    in this process and in ``memo_dir/fingerprints.json`` when given.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and (
        p.suffix in _WEIGHT_SUFFIXES or p.name in _TOKENIZER_FILES or p.name == "config.json"))
    stamp = json.dumps([[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    if stamp in _FINGERPRINTS:
        return _FINGERPRINTS[stamp]
    memo_file = memo_dir / "fingerprints.json" if memo_dir else None
    memo: dict[str, str] = {}
    if memo_file and memo_file.exists():
        try:
            memo = json.loads(memo_file.read_text())
        except (OSError, ValueError):
            memo = {}
    if stamp not in memo:
        h = hashlib.sha1()
        for p in files:
            h.update(p.name.encode() + b"\0")
            _hash_file(p, h)
        memo[stamp] = h.hexdigest()
        if memo_file:
            from lamp.core.files import write_json
            write_json(memo_file, memo)
    _FINGERPRINTS[stamp] = memo[stamp]
    return memo[stamp]


def encoder_identity(checkpoint: str, revision: str | None, max_length: int, pooling: str = "mean",
                     memo_dir: Path | None = None) -> str:
    """A stable name for what produced an embedding: folder contents or hub id + revision."""
    path = Path(checkpoint)
    if path.is_dir():
        source = f"folder-sha1:{folder_fingerprint(path, memo_dir)}"
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
