"""LongLaMP's metrics (family ``long-generation``), as the official ``longLaMP/metrics/generation_metrics.py``
prints them through HF ``evaluate``: ``rouge-1``, ``rouge-L`` (the LaMP definitions, same columns),
``meteor`` (:mod:`eval.meteor`), ``rouge-2``, ``rouge-LSum`` and corpus ``bleu`` (sacrebleu), each
also over the pairs the official ``evaluate_data`` keeps (``…-nonempty``). Each value
function's docstring is its formula; :mod:`eval.metrics` registers them (:data:`METRICS`) and the
family's statistics (:data:`STATISTICS`) in its tables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
from eval.meteor import meteor as meteor_of

ValueFn = Callable[[np.ndarray, int, int], np.ndarray]

#: The ROUGE types the official LongLaMP scorer reports, in its column order below.
_LONG_ROUGE = ("rouge1", "rougeL", "rouge2", "rougeLsum")


@lru_cache(maxsize=1)
def _rouge():
    """rouge_score's scorer of those types, as HF ``evaluate``'s rouge builds it (no stemmer)."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(_LONG_ROUGE), use_stemmer=False)


#: sacrebleu's sufficient statistics of one sample: matches and totals of 1- to 4-grams, lengths.
_BLEU_COLUMNS = 10


@lru_cache(maxsize=1)
def _bleu():
    """sacrebleu's BLEU as HF ``evaluate``'s sacrebleu runs it (13a tokenizer, case kept); effective
    order only silences its sentence-level warning: it changes scores, not the statistics read here."""
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)


def _bleu_row(pred: str, gold: str) -> list[float]:
    s = _bleu().sentence_score(pred, [gold])
    return [*s.counts, *s.totals, s.sys_len, s.ref_len]


def long_generation_stats(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str],
                           ids: Sequence[str] | None) -> np.ndarray:
    """Columns: ROUGE-1 F, ROUGE-L F (the same two as LaMP's generation family, so those metrics read
    both), METEOR, ROUGE-2 F, ROUGE-Lsum F, and 1 where the official LongLaMP scorer keeps the pair
    (``if d["generated_text"] and d["output"]``: both non-empty before stripping; a pair it drops
    scores 0 in every score column, so a column's sum over kept pairs is its sum); then sacrebleu's
    statistics of the pair (columns 6-15) and the same times the kept flag (16-25), since a dropped
    pair's reference length still counts in the corpus brevity penalty."""
    scorer = _rouge()
    out = np.empty((len(preds), 6 + 2 * _BLEU_COLUMNS), dtype=np.float64)
    for i, (pred, gold) in enumerate(zip(preds, golds)):
        p, g = str(pred), str(gold)
        s = scorer.score(g.strip(), p.strip())
        kept = float(bool(p) and bool(g))
        bleu = _bleu_row(p.strip(), g.strip())
        out[i] = (s["rouge1"].fmeasure, s["rougeL"].fmeasure, meteor_of(p, g), s["rouge2"].fmeasure,
                  s["rougeLsum"].fmeasure, kept, *bleu, *(kept * x for x in bleu))
    return out


#: The family's per-sample columns (the leading six; then BLEU statistics), and what it reports
#: beside a task's own metrics.
PER_SAMPLE = ("rouge-1", "rouge-L", "meteor", "rouge-2", "rouge-LSum", "kept")
ALSO_REPORT = ("rouge-2", "rouge-LSum", "bleu", "rouge-1-nonempty", "rouge-L-nonempty", "meteor-nonempty",
               "rouge-2-nonempty", "rouge-LSum-nonempty", "bleu-nonempty")


def meteor(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """meteor = (1/n) · Σ_i (1 − 0.5·(c_i/m_i)³) · P_i·R_i / (0.9·P_i + 0.1·R_i), NLTK's METEOR as HF
    ``evaluate`` computes it: P = m/|pred|, R = m/|gold| over ``word_tokenize`` tokens, lower-cased; m
    unigrams aligned by exact match, then Porter stem, then WordNet 3.0 synonym; c the fewest chunks of
    adjacent aligned unigrams; 0 when m = 0 or a side is empty (eval/meteor.py)."""
    return sums[..., 2] / n


def rouge_2(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """rouge-2 = (1/n) · Σ_i F1(bigrams(pred_i), bigrams(gold_i)), clipped bigram overlap, rouge_score's
    tokenizer, no stemmer (the official LongLaMP scorer prints it)."""
    return sums[..., 3] / n


def rouge_lsum(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """rouge-LSum = (1/n) · Σ_i summary-level LCS F1 (rouge_score's ``rougeLsum``: the union LCS over the
    newline-separated sentences; a text without newlines is one sentence)."""
    return sums[..., 4] / n


def _over_kept(column: int) -> ValueFn:
    def value(sums: np.ndarray, n: int, k: int) -> np.ndarray:
        kept = sums[..., 5]
        return np.divide(sums[..., column], kept, out=np.zeros_like(kept), where=kept > 0)
    return value


def _nonempty(name: str, column: int) -> ValueFn:
    fn = _over_kept(column)
    fn.__doc__ = (f"{name}-nonempty = Σ_i {name}_i / Σ_i kept_i, kept_i = 1 when prediction and gold "
                  "are both non-empty strings: the official LongLaMP scorer drops the other pairs "
                  "(``evaluate_data``), which raises the score; the plain metric counts them as 0 "
                  "(0 when nothing is kept).")
    return fn


def _corpus_bleu(stats: np.ndarray) -> np.ndarray:
    """sacrebleu's corpus BLEU (exp smoothing, no effective order) of summed statistics, per leading row."""
    from sacrebleu.metrics import BLEU

    flat = stats.reshape(-1, _BLEU_COLUMNS)
    # lengths are sums of whole counts (resamples weight rows by whole counts too); sacrebleu wants ints
    scores = [BLEU.compute_bleu(list(r[:4]), list(r[4:8]), int(round(r[8])), int(round(r[9])),
                                smooth_method="exp").score for r in flat]
    return np.asarray(scores, dtype=np.float64).reshape(stats.shape[:-1])


def bleu(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """bleu = BP · exp((1/4) · Σ_{n=1..4} log p_n) · 100, corpus BLEU over all pairs as HF ``evaluate``'s
    sacrebleu computes it: p_n = Σ matches_n / Σ totals_n over 13a-tokenized n-grams (a zero count
    smoothed to 1/(2^j · Σ totals_n), the j-th such order: "exp"), BP = min(1, exp(1 − Σ|gold| / Σ|pred|));
    0 when nothing matches. On a 0-100 scale, as the official LongLaMP scorer prints it."""
    return _corpus_bleu(sums[..., 6:6 + _BLEU_COLUMNS])


def bleu_nonempty(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """bleu-nonempty = bleu over the kept pairs only (prediction and gold both non-empty), as the official
    LongLaMP scorer computes it: a dropped pair's gold length no longer lowers the brevity penalty."""
    return _corpus_bleu(sums[..., 6 + _BLEU_COLUMNS:6 + 2 * _BLEU_COLUMNS])


#: name -> value function, in the order the family's metrics are registered (all: higher is better).
METRIC_FUNCTIONS: dict[str, ValueFn] = {
    "meteor": meteor, "rouge-2": rouge_2, "rouge-LSum": rouge_lsum, "bleu": bleu, "bleu-nonempty": bleu_nonempty,
    **{f"{name}-nonempty": _nonempty(name, column)
       for name, column in (("rouge-1", 0), ("rouge-L", 1), ("meteor", 2), ("rouge-2", 3), ("rouge-LSum", 4))},
}
