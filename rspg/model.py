"""The selector (official ``RSPG/modeling/modeling.py``, reference §7.3) and its inputs and losses.

An encoder with a linear head gives one score per (input, retriever). The official model is
Longformer's ``pooler_output`` (a dense+tanh layer over the first token) -> ``Linear(hidden, 1)``;
here any HF encoder folder works, pooled by ``pooling``:

* ``pooler``: the model's ``pooler_output`` (the official choice);
* ``cls``: the first token's last hidden state (for encoders without a pooler);
* ``mean``: the masked mean of the last hidden state (what sentence encoders such as the bundled
  all-MiniLM-L6-v2 were trained for);
* ``auto`` (default): ``pooler`` when the checkpoint has trained pooler weights, else ``mean``.

Inputs (:func:`selector_text`): Pre reads the prompt, Post reads ``"{prompt} {sep} {output}"``
(Longformer's ``sep_token`` is ``</s>``); the prompt is lower-cased as the official dataset does, the
generated output is kept as it is (the official lower-cases ``inputs`` only).

Losses: the one KD definition, :func:`lamp.training.losses.kd_loss` (shared with ROPG), from the
retrievers' metrics ``labels`` (B, n) and the scores ``o`` (B, n):

* ``paper`` (the ``lamp rspg`` default): ``KL(softmax(labels/T) || softmax(o/T))`` per input (Eq. 5-7);
* ``official`` (the ``rspg.py`` default): ``KLDivLoss(batchmean)(log_softmax(o)/T, softmax(labels))``
  [QUIRK]: the log-probabilities, not the logits, are divided by T, and the target is not scaled.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamp.core.errors import LampError
from lamp.core.writing import atomic_write, write_json
from retrievers.dense import load_tokenizer, mean_pool

POOLINGS = ("auto", "pooler", "cls", "mean")
RSPG_TYPES = ("Pre", "Post")
CONFIG_FILE = "rspg_config.json"
HEAD_FILE = "head.pt"


def selector_text(rspg_type: str, prompt: str, output: str, sep: str) -> str:
    """What the encoder reads for one (input, retriever) pair: the prompt lower-cased as the official
    dataset does (``inputs`` only; a Post output keeps its case)."""
    if rspg_type == "Pre":
        return prompt.lower()
    if rspg_type == "Post":
        return f"{prompt.lower()} {sep} {output}"
    raise LampError(f"--rspg_type must be one of {', '.join(RSPG_TYPES)}, got {rspg_type!r}")


class Selector(nn.Module):
    """Encoder + ``Linear(hidden, 1)``: one score per (input, retriever), shaped (B, n)."""

    def __init__(self, encoder: nn.Module, pooling: str, prior: int = 0) -> None:
        super().__init__()
        if pooling not in POOLINGS[1:]:
            raise LampError(f"pooling must be one of {', '.join(POOLINGS[1:])} here, got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.head = nn.Linear(encoder.config.hidden_size, 1)
        # Optional (not in the official model): a learned score per retriever position, so the selector
        # can learn the pool's prior (e.g. fall back to the best single retriever) when the text says little.
        self.prior = nn.Parameter(torch.zeros(prior)) if prior else None

    def score_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        """Scores (B, n) of pooled vectors (B, n, H)."""
        scores = self.head(vectors).squeeze(-1)
        return scores + self.prior if self.prior is not None else scores

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, n: int) -> torch.Tensor:
        """``input_ids`` is (B*n, T), question-major; returns scores (B, n)."""
        return self.score_vectors(self.embed(input_ids, attention_mask).view(-1, n, self.head.in_features))


def load_encoder(checkpoint: str, pooling: str = "auto") -> tuple[Any, Any, str]:
    """(encoder, tokenizer, resolved pooling) from any HF encoder folder or hub id."""
    from transformers import AutoModel

    tokenizer = load_tokenizer(checkpoint, flag="--tokenizer")
    try:
        encoder, info = AutoModel.from_pretrained(checkpoint, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise LampError(f"cannot load the selector encoder {checkpoint!r}: {exc}") from None
    if pooling not in POOLINGS:
        raise LampError(f"--pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    has_pooler = getattr(encoder, "pooler", None) is not None and \
        not any("pooler" in key for key in info.get("missing_keys", ()))
    if pooling == "auto":
        pooling = "pooler" if has_pooler else "mean"
    elif pooling == "pooler" and getattr(encoder, "pooler", None) is None:
        raise LampError(f"{checkpoint}: this encoder has no pooler; use --pooling cls or mean")
    elif pooling == "pooler" and not has_pooler:
        print(f"note: {checkpoint} has no trained pooler weights; its pooler starts from random weights",
              file=sys.stderr)
    return encoder, tokenizer, pooling


def separator(tokenizer: Any) -> str:
    """The separator between prompt and output in Post inputs (Longformer's is ``</s>``)."""
    return tokenizer.sep_token or tokenizer.eos_token or "</s>"


def save_selector(model: Selector, tokenizer: Any, folder: str | Path, config: dict[str, Any]) -> None:
    """``folder/encoder`` (save_pretrained), ``folder/head.pt`` and ``folder/rspg_config.json``, each atomically."""
    folder = Path(folder)
    tmp = folder / "encoder.tmp"
    model.encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    final = folder / "encoder"
    if final.exists():
        import shutil

        shutil.rmtree(final)
    tmp.rename(final)
    with atomic_write(folder / HEAD_FILE, "wb") as fh:
        state = {k: v.detach().cpu() for k, v in model.head.state_dict().items()}
        if model.prior is not None:
            state["prior"] = model.prior.detach().cpu()
        torch.save(state, fh)
    write_json(folder / CONFIG_FILE, {**config, "pooling": model.pooling,
                                      "prior": 0 if model.prior is None else int(model.prior.numel())}, indent=1)


def load_selector(folder: str | Path) -> tuple[Selector, Any, dict[str, Any]]:
    """A saved selector: (model in eval mode, tokenizer, its config)."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.exists():
        raise LampError(f"{folder}: not a selector folder (no {CONFIG_FILE}; train one with `lamp rspg train`)")
    config = json.loads(path.read_text(encoding="utf-8"))
    encoder, tokenizer, pooling = load_encoder(str(folder / "encoder"), config.get("pooling", "auto"))
    model = Selector(encoder, pooling, int(config.get("prior") or 0))
    state = torch.load(folder / HEAD_FILE, map_location="cpu")
    prior = state.pop("prior", None)
    model.head.load_state_dict(state)
    if model.prior is not None:
        model.prior.data.copy_(prior)
    return model.eval(), tokenizer, config
