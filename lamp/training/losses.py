"""The losses of ROPG (reference §6.3, §6.4) and of the RSPG selector (§7.3): the one KD definition.

``scores`` are the model's scores (the retriever's dot products ``q·d``, or the selector's score per
retriever); ``gold`` the feedback already mapped to higher-is-better (:func:`gold_values`); ``mask``
is True for real entries and False for the padding of profiles shorter than ``ctx_size``. By
default padding gets no target mass, cannot be sampled and earns no reward: the official LaMP-3
code gave padding a gold of ``w`` (reference §6.3 [BUG]), so its targets favoured empty documents.
:func:`official_padding` restores the official behaviour (``--official_padding``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from eval.metrics import get_metric
from lamp.core.errors import LampDataError

#: Feedback keys that are no metric of the registry (the gold output's likelihood) -> higher is better.
LIKELIHOOD_KEYS: dict[str, bool] = {"loglik": True, "loss": False}


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
    return rating_values(values, gold)


def rating_values(errors: Sequence[float], gold: str) -> list[float]:
    """LaMP-3's absolute errors as ``(w − err)/w``, ``w = max(|y − 1|, |y − 5|)``: the official
    mapping of both ROPG's feedback (§6.3) and RSPG's labels (§7.3), 1 for a perfect answer, 0 for the
    worst possible one."""
    try:
        w = rating_range(str(gold).strip())
    except ValueError:
        raise LampDataError(f"a rating gold must be a number, got {gold!r}", field="output") from None
    return [(w - float(e)) / w for e in errors]


def _masked(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return scores.masked_fill(~mask, torch.finfo(scores.dtype).min)


#: The KD forms. ``paper`` is the default of the ``lamp`` verbs; the official-name scripts default to
#: their own code's form (``train_kd.py``: ``official_double_softmax``; ``rspg.py``: ``official_kldiv``).
KD_FORMS = ("paper", "official_double_softmax", "official_kldiv")
#: Older names of the forms, still accepted on command lines.
KD_ALIASES = {"kl": "paper", "official": "official_kldiv"}
KD_LOSSES = KD_FORMS + tuple(KD_ALIASES)


def kd_form(name: str) -> str:
    """The canonical name of a KD form (``kl`` -> ``paper``, ``official`` -> ``official_kldiv``)."""
    form = KD_ALIASES.get(name, name)
    if form not in KD_FORMS:
        raise ValueError(f"unknown KD loss {name!r} (known: {', '.join(KD_LOSSES)})")
    return form


def kd_loss(scores: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0,
            form: str = "paper") -> torch.Tensor:
    """Knowledge distillation from feedback ``gold`` to scores ``s`` over ``(B, n)``, averaged over the batch.

    The one definition for ROPG-KD (the retriever's item scores, gold = the LLM's feedback per item)
    and RSPG (the selector's retriever scores, gold = each retriever's metric):

    * ``paper``: ``KL(softmax(g/T) || softmax(s/T))`` per row. This is ROPG Eq. 4 (Salemi et al.,
      SIGIR 2024, §4.2: the retriever's distribution is distilled towards the LLM's) and the RSPG
      selector's Eq. 5–7 (the same KL, over retrievers). Where T sits was checked against the only
      primary source at hand, the official ROPG trainer, which scales both sides by T (its
      ``softmax(s/T)`` and ``softmax(g/T)``); the paper's PDF was not available. At T = 1 every
      reading agrees.
    * ``official_double_softmax`` (official ``ROPG/trainers/trainer.py``): cross-entropy of
      ``t = softmax(g/T)`` against ``log_softmax(p)`` with ``p = softmax(s/T)``: probabilities taken
      as logits, a second softmax (reference §6.3 [QUIRK]); its gradients are much flatter.
    * ``official_kldiv`` (official ``RSPG/modeling``): ``KLDivLoss(batchmean)(log_softmax(s)/T,
      softmax(g))``: the log-probabilities, not the logits, divided by T, the target unscaled
      (reference §7.3 [QUIRK]).

    ``mask`` (True = a real entry) keeps padding out of every form: no target mass, no score mass.
    ``None`` means every entry is real (the official code's padding is :func:`official_padding`).
    """
    form = kd_form(form)
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    zeros = torch.zeros_like(scores)
    if form == "paper":
        target = torch.softmax(_masked(gold / temperature, mask), dim=-1)
        log_p = torch.log_softmax(_masked(scores / temperature, mask), dim=-1)
        terms = torch.where(mask, torch.xlogy(target, target) - target * log_p, zeros)
    elif form == "official_double_softmax":
        target = torch.softmax(_masked(gold / temperature, mask), dim=-1)
        p = torch.softmax(_masked(scores / temperature, mask), dim=-1)
        terms = torch.where(mask, -target * torch.log_softmax(_masked(p, mask), dim=-1), zeros)
    else:
        target = torch.softmax(_masked(gold, mask), dim=-1)
        log_input = torch.log_softmax(_masked(scores, mask), dim=-1) / temperature
        terms = torch.where(mask, torch.xlogy(target, target) - target * log_input, zeros)
    return terms.sum(-1).mean()


def official_padding(gold: torch.Tensor, mask: torch.Tensor, pad_gold: torch.Tensor | float = 0.0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The official code's padding (reference §6.3): padded slots are real entries (the retriever
    scores the empty document ``""``) whose gold is ``pad_gold``: 0 for higher-is-better metrics,
    ``w = max(|y−1|, |y−5|)`` per row for LaMP-3 ([BUG]: above any real item's ``(w−mae)/w``).
    Returns ``(gold, mask)`` to pass to the losses in place of the masked ones."""
    pad = torch.as_tensor(pad_gold, dtype=gold.dtype, device=gold.device)
    if pad.dim() == 1:
        pad = pad.unsqueeze(-1)
    return torch.where(mask, gold, pad.expand_as(gold)), torch.ones_like(mask)


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
