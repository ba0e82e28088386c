"""One identity for a model folder or file, so that no cache ever serves one model's results for another's.

A local folder is named by a sha256 over every file in it (relative name, size and content hash):
weights, config, tokenizer and chat template all count, so any change gives a new identity. A hub id
is named by its revision (the resolved commit when known). File hashes are remembered by
(path, size, mtime) in ``file_hashes.json`` under the cache folder, so big weights are read once;
a rewritten or touched file is hashed again.

Both the generation cache (:mod:`lamp.generation.models`) and the embedding cache
(:mod:`retrievers.embedding_cache`) key on :func:`folder_identity`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from lamp.core.errors import LampError
from lamp.core.writing import write_json

#: Name of the per-file hash index in a cache folder.
HASH_INDEX = "file_hashes.json"
#: Hashes already known in this process, by "path|size|mtime" (saves rereading the index per file).
_KNOWN: dict[str, str] = {}


def cache_dir() -> Path:
    """``$LAMP_CACHE_DIR`` or ``~/.cache/lamp``: converted models, weight hashes, the caches."""
    return Path(os.environ.get("LAMP_CACHE_DIR") or Path.home() / ".cache" / "lamp")


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path, index_dir: Path | None = None) -> str:
    """sha256 of a file, remembered by (path, size, mtime) in ``index_dir/file_hashes.json``
    (default: :func:`cache_dir`) so big weights are hashed once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    index_path = (index_dir or cache_dir()) / HASH_INDEX
    if key in _KNOWN:
        return _KNOWN[key]
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key not in index:
        prefix = key.split("|", 1)[0] + "|"
        index = {k: v for k, v in index.items() if not k.startswith(prefix)}   # forget stale versions
        index[key] = sha256_file(path)
        try:
            write_json(index_path, index)
        except OSError:  # a read-only cache dir only costs a rehash next time
            pass
    _KNOWN[key] = index[key]
    return index[key]


def folder_identity(folder: str | os.PathLike, index_dir: Path | None = None) -> str:
    """``sha256:…``, a short hash over every file of a model folder: name, size and sha256.

    Hidden files and folders (``.git``, ``.cache``) are left out; an empty folder is an error.
    """
    root = Path(folder)
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise LampError(f"{root}: model folder is empty")
    for p in files:
        rel = p.relative_to(root).as_posix()
        h.update(f"{rel}\0{p.stat().st_size}\0{file_sha256(p, index_dir)}\n".encode())
    return "sha256:" + h.hexdigest()[:20]


def model_identity(name_or_path: str, revision: str | None = None, commit_hash: str | None = None) -> str:
    """``folder-name@sha256:…`` for a local folder; ``hub-id@revision`` (the resolved commit when
    known) for a hub id."""
    path = Path(name_or_path)
    if path.is_dir():
        return f"{path.name}@{folder_identity(path)}"
    return f"{name_or_path}@{commit_hash or revision or 'main'}"
