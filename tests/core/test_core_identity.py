"""One identity for model folders and files (lamp.core.identity), shared by the generation and embedding caches."""

from __future__ import annotations

import os
import time

import pytest

from lamp.core import identity
from lamp.core.errors import LampError
from retrievers.embedding_cache import encoder_identity


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_folder_identity_hashes_every_file_and_changes_with_weights(cache, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights-1")
    (folder / "config.json").write_text("{}")
    first = identity.model_identity(str(folder))
    assert first.startswith("my-model@sha256:") and identity.model_identity(str(folder)) == first
    (folder / "model.safetensors").write_bytes(b"weights-2")
    assert identity.model_identity(str(folder)) != first
    (folder / "model.safetensors").write_bytes(b"weights-1")
    (folder / "tokenizer.json").write_text("{}")
    assert identity.model_identity(str(folder)) != first      # tokenizer / chat template count too


def test_file_hashes_are_remembered_by_size_and_mtime(cache, tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"w" * 1000)
    calls = []
    real = identity.sha256_file
    monkeypatch.setattr(identity, "sha256_file", lambda p: calls.append(p) or real(p))
    digest = identity.file_sha256(weights)
    assert identity.file_sha256(weights) == digest and len(calls) == 1
    assert (cache / identity.HASH_INDEX).is_file()
    stamp = time.time() + 10
    os.utime(weights, (stamp, stamp))                      # touched: hashed again
    assert identity.file_sha256(weights) == digest and len(calls) == 2


def test_hub_ids_are_named_with_revision_or_commit():
    assert identity.model_identity("google/flan-t5-base") == "google/flan-t5-base@main"
    assert identity.model_identity("google/flan-t5-base", revision="v1") == "google/flan-t5-base@v1"
    assert identity.model_identity("google/flan-t5-base", "main", "abc123") == "google/flan-t5-base@abc123"


def test_empty_model_folder_is_a_user_error(tmp_path):
    with pytest.raises(LampError, match="empty"):
        identity.folder_identity(tmp_path)


def test_encoder_identity_is_the_folder_identity_and_follows_any_weight_change(cache, tmp_path):
    folder = tmp_path / "encoder"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights-1")
    (folder / "1_Pooling" / "config.json").write_text("{}")
    first = encoder_identity(str(folder), None, 128, memo_dir=tmp_path / "emb")
    assert identity.folder_identity(folder) in first and (tmp_path / "emb" / identity.HASH_INDEX).is_file()
    (folder / "model.safetensors").write_bytes(b"weights-2")
    assert encoder_identity(str(folder), None, 128, memo_dir=tmp_path / "emb") != first
    (folder / "model.safetensors").write_bytes(b"weights-1")
    (folder / "1_Pooling" / "config.json").write_text('{"pooling": "cls"}')   # a file in a subfolder counts too
    assert encoder_identity(str(folder), None, 128, memo_dir=tmp_path / "emb") != first
