"""The trainable part: an aggregator (profile -> one user vector) and a projector (user vector ->
soft tokens or an additive vector in the LLM's embedding space). The LLM itself is never here.

Shapes: ``keys``/``values`` ``(B, N, E)`` (L2-normalised item vectors, zero-padded), ``mask``
``(B, N)`` (True for real items), ``query`` ``(B, E)``, ``control`` ``(B,)`` attribute ids. The
user vector has ``2E`` features ([key; value] pooled); the output is ``(B, n_tokens, D)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import torch
from torch import nn

from lamp.core.errors import LampError
from retrievers.dense import mean_pool

Aggregator = Literal["mean", "attention", "control"]
Injection = Literal["prefix", "add"]
AGGREGATORS: tuple[str, ...] = get_args(Aggregator)
INJECTIONS: tuple[str, ...] = get_args(Injection)


@dataclass(frozen=True)
class UembSpec:
    """The conditioner's architecture (stored in the artifact; a mismatch refuses to load)."""

    aggregator: str = "mean"
    injection: str = "prefix"
    n_tokens: int = 1
    hidden: int = 512
    enc_dim: int = 384
    llm_dim: int = 576
    n_control: int = 0
    embed_rms: float = 1.0     # the LLM's typical token-embedding RMS: soft tokens start at that scale

    def check(self) -> None:
        if self.aggregator not in AGGREGATORS:
            raise LampError(f"unknown aggregator {self.aggregator!r} (known: {', '.join(AGGREGATORS)})")
        if self.injection not in INJECTIONS:
            raise LampError(f"unknown injection {self.injection!r} (known: {', '.join(INJECTIONS)})")
        if self.n_tokens < 1:
            raise LampError(f"n_tokens must be at least 1, got {self.n_tokens}")
        if self.injection == "add" and self.n_tokens != 1:
            raise LampError("injection 'add' adds one vector to every input token: use n_tokens 1")
        if self.aggregator == "control" and self.n_control < 1:
            raise LampError("the control aggregator needs at least one attribute value")

    def to_json(self) -> dict:
        return asdict(self)


class UserConditioner(nn.Module):
    """Aggregator + projector: item vectors of a profile -> ``(B, n_tokens, llm_dim)``."""

    def __init__(self, spec: UembSpec) -> None:
        super().__init__()
        spec.check()
        self.spec = spec
        feat = 2 * spec.enc_dim
        if spec.aggregator == "attention":
            # PPlug's input-aware aggregator: the query attends over the item keys. The query map
            # starts as the identity and the temperature at 0.1, i.e. as dense retrieval.
            self.query_map = nn.Linear(spec.enc_dim, spec.enc_dim, bias=False)
            nn.init.eye_(self.query_map.weight)
            self.log_temperature = nn.Parameter(torch.tensor(math.log(0.1)))
        if spec.aggregator == "control":
            self.table = nn.Embedding(spec.n_control, feat)
            nn.init.normal_(self.table.weight, std=1.0 / math.sqrt(feat))
        self.projector = nn.Sequential(nn.Linear(feat, spec.hidden), nn.GELU(),
                                       nn.Linear(spec.hidden, spec.n_tokens * spec.llm_dim))
        if spec.injection == "add":
            # Start as the base model exactly: the added vector is zero until training moves it.
            nn.init.zeros_(self.projector[2].weight)
            nn.init.zeros_(self.projector[2].bias)
            self.gain = None
        else:
            self.gain = nn.Parameter(torch.tensor(float(spec.embed_rms)))

    def user_vector(self, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                    query: torch.Tensor | None, control: torch.Tensor | None) -> torch.Tensor:
        """``(B, 2E)``: pooled [key; value] (or the attribute's learned vector)."""
        if self.spec.aggregator == "control":
            if control is None:
                raise LampError("the control aggregator needs the users' attribute ids")
            return self.table(control)
        items = torch.cat([keys, values], dim=-1)                          # (B, N, 2E)
        if self.spec.aggregator == "attention":
            if query is None:
                raise LampError("the attention aggregator needs the input's query vector")
            scores = torch.einsum("be,bne->bn", self.query_map(query), keys) / self.log_temperature.exp()
            scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)          # all-masked rows: zeros
            return torch.einsum("bn,bnf->bf", weights, items)
        return mean_pool(items, mask)

    def forward(self, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                query: torch.Tensor | None = None, control: torch.Tensor | None = None) -> torch.Tensor:
        u = self.user_vector(keys, values, mask, query, control)
        out = self.projector(u).view(u.shape[0], self.spec.n_tokens, self.spec.llm_dim)
        if self.gain is not None:      # soft tokens at the scale of real token embeddings
            out = nn.functional.layer_norm(out, (self.spec.llm_dim,)) * self.gain
        return out


def embed_rms(model: nn.Module) -> float:
    """The root-mean-square of the LLM's input embedding entries (the scale of a real token)."""
    weight = model.get_input_embeddings().weight
    return float(weight.detach().float().pow(2).mean().sqrt())
