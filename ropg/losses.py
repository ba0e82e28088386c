"""ROPG's losses (reference §6.3, §6.4), on ``(batch, ctx)`` score matrices with a padding mask.

``scores`` are the retriever's dot products ``q·d``; ``gold`` the per-item feedback already mapped
to higher-is-better (:func:`gold_values`); ``mask`` is True for real items and False for the
padding of profiles shorter than ``ctx_size``. Padding gets no target mass, cannot be sampled and
earns no reward: the official LaMP-3 code gave padding a gold of ``w`` (reference §6.3 [BUG]),
so its targets favoured empty documents.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from eval.metrics import get_metric
from lamp.errors import LampDataError

#: Feedback keys that are no metric of the registry (the gold output's likelihood) -> higher is better.
LIKELIHOOD_KEYS: dict[str, bool] = {"loglik": True, "loss": False}
KD_LOSSES = ("kl", "official_double_softmax")


def rating_range(gold: str) -> float:
    """``w = max(|y − 1|, |y − 5|)``: the worst error a 1–5 rating can have for gold ``y``."""
    y = float(gold)
    return max(abs(y - 1), abs(y - 5))


def higher_is_better(key: str) -> bool:
    """The direction of a feedback key: a likelihood key, or a metric of the registry by name or
    training key (``mae``); an unknown key is an error rather than a guess."""
    if key in LIKELIHOOD_KEYS:
        return LIKELIHOOD_KEYS[key]
    return get_metric(key).higher_is_better


def gold_values(metrics: Sequence[Mapping[str, float]], metric: str, gold: str, family: str) -> list[float]:
    """Each item's feedback as a higher-is-better value.

    Rating errors become ``(w − err)/w`` (1 for a perfect answer, 0 for the worst possible), as the
    official code maps LaMP-3's MAE; the per-token ``loss`` becomes ``−loss``; everything else
    (accuracy, ROUGE, log-likelihood) is taken as it is."""
    values = [float(m[metric]) for m in metrics]
    if higher_is_better(metric):
        return values
    if metric in LIKELIHOOD_KEYS or family != "rating":
        return [-v for v in values]
    try:
        w = rating_range(gold)
    except ValueError:
        raise LampDataError(f"a rating gold must be a number, got {gold!r}", field="output") from None
    return [(w - v) / w for v in values]


def _masked(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return scores.masked_fill(~mask, torch.finfo(scores.dtype).min)


def kd_loss(scores: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0,
            form: str = "kl") -> torch.Tensor:
    """Knowledge distillation from the LLM's feedback, averaged over the batch.

    ``kl`` (the paper, default): ``KL(softmax(g/T) ‖ softmax(s))``.
    ``official_double_softmax`` (the official code): the cross-entropy of ``t = softmax(g/T)``
    against ``log_softmax(p)`` where ``p = softmax(s/T)`` is itself a probability, i.e. a second
    softmax over probabilities (reference §6.3 [QUIRK]); its gradients are much flatter.
    """
    target = torch.softmax(_masked(gold / temperature, mask), dim=-1)
    if form == "kl":
        log_p = torch.log_softmax(_masked(scores, mask), dim=-1)
        log_t = torch.log(target.clamp_min(1e-30))
        terms = torch.where(mask, target * (log_t - log_p), torch.zeros_like(target))
        return terms.sum(-1).mean()
    if form == "official_double_softmax":
        p = torch.softmax(_masked(scores / temperature, mask), dim=-1)
        log_q = torch.log_softmax(_masked(p, mask), dim=-1)
        terms = torch.where(mask, -target * log_q, torch.zeros_like(target))
        return terms.sum(-1).mean()
    raise ValueError(f"unknown KD loss {form!r} (known: {', '.join(KD_LOSSES)})")


def rl_loss(scores: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """REINFORCE with one sampled item per query (reference §6.4).

    ``j ~ softmax(s)`` over real items; reward ``r = g_j − g_0``, relative to the initial ranking's
    top item (position 0), so only items better than what the initial retriever would have put
    first are reinforced. Returns ``(loss, sampled indices, rewards)``; the loss is
    ``−mean(log p_j · r)``."""
    log_p = torch.log_softmax(_masked(scores, mask), dim=-1)
    probs = log_p.detach().exp() * mask
    picked = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    rows = torch.arange(scores.shape[0], device=scores.device)
    reward = gold[rows, picked] - gold[:, 0]
    loss = -(log_p[rows, picked] * reward).mean()
    return loss, picked, reward
