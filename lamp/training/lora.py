"""The official LoRA settings per architecture: shared by ``lamp train --lora`` and the per-user adapters."""

from __future__ import annotations

from typing import Any

from lamp.core.errors import LampError
from lamp.training.data import is_seq2seq

#: model_type -> LoRA target modules (the attention projections; official T5: q, k, v).
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    **{t: ("q", "k", "v") for t in ("t5", "mt5", "umt5", "longt5")},
    **{t: ("q_proj", "k_proj", "v_proj") for t in (
        "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text",
        "olmo", "olmo2", "phi", "granite", "smollm3", "bart", "mbart", "pegasus", "marian", "opt")},
    **{t: ("query_key_value",) for t in ("gpt_neox", "falcon", "bloom")},
    "gpt2": ("c_attn",),
    "phi3": ("qkv_proj",),
}


def lora_targets(model: Any) -> list[str]:
    model_type = getattr(getattr(model, "config", model), "model_type", None)
    if model_type not in LORA_TARGETS:
        raise LampError(f"no LoRA target modules known for model type {model_type!r} "
                        f"(known: {', '.join(sorted(LORA_TARGETS))}); add it to lamp.training.lora.LORA_TARGETS")
    return list(LORA_TARGETS[model_type])


def lora_config_for(model: Any, r: int = 8, alpha: int = 32, dropout: float = 0.1) -> Any:
    """The official LoRA config for this model's architecture and kind (seq2seq or causal)."""
    from peft import LoraConfig, TaskType

    kind = TaskType.SEQ_2_SEQ_LM if is_seq2seq(model) else TaskType.CAUSAL_LM
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=lora_targets(model),
                      task_type=kind)
