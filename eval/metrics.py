"""The official LaMP metrics (reference §5.1) as pure functions over aligned lists or id-keyed dicts.

Every metric of a task is a function of the *column sums* of a per-sample statistics matrix
(:class:`SampleStats`): accuracy and the per-class TP/FP/FN of macro-F1, absolute and squared
errors, per-sample ROUGE F. So a subset (a user, a profile-size bucket), a bootstrap resample
(row weights) or a randomization swap is one matrix product, and corpus-level metrics (macro-F1,
RMSE) are recomputed exactly rather than averaged.

Each metric is defined once, in the registry :data:`METRICS`: its name (the key of the official
output JSON), whether higher is better, the family statistics it reads, and its formula as the
docstring of its function. A task names its metrics in its table entry (``lamp/core/tasks.py``,
``Task.metrics``; the first is its primary metric).

Definitions, identical to the official ``eval/evaluation.py``:

* LaMP-1/2 — ``str(x).strip()``, then the index in the task's label list, or -1 when not an exact
  match (no lower-casing). ``accuracy`` = share of equal indices; ``f1`` = macro-F1 over the *full*
  label list: a label absent from golds and predictions counts F1 = 0, a -1 prediction is a false
  negative of the gold class. [QUIRK, kept] a gold outside the label list also maps to -1, so an
  unknown prediction "matches" it in ``accuracy``; :func:`golds_outside_labels` finds such golds.
* LaMP-3 — ``float(pred.strip())``; when that fails the *worst case* for the gold:
  1.0 if ``|1-gold| > |5-gold|`` else 5.0 (gold 3 -> 5.0). Out-of-range values ("7") are kept
  [QUIRK, kept]. [BUG fixed] "nan"/"inf" parse as floats and then crash the official scorer inside
  scikit-learn ("Input contains NaN"); here a non-finite prediction takes the worst case too.
  ``MAE`` = mean |err|, ``RMSE`` = sqrt(mean err²).
* LaMP-4…7 — ``rouge_score`` (``use_stemmer=False``, default tokenizer: lower-case, every char
  outside ``[a-z0-9]`` becomes a space, so "héllo" -> "h llo" and Chinese text has no tokens and
  scores 0). ``rouge-1`` = ROUGE-1 F, ``rouge-L`` = sentence-level LCS F (``rougeL``).
  [DEVIATION] the official scorer reports HF ``evaluate``'s *median of 1000 unseeded bootstrap
  means*; we report the plain mean. The bootstrap median is random (two official runs on the same
  80 predictions differed by up to 2.4e-3) and needs the HF hub at run time; the mean is what it
  estimates, so our numbers are deterministic and within its noise.
* LongLaMP (family ``long-generation``) — the official ``longLaMP/metrics/generation_metrics.py``
  prints ``rouge-1``, ``rouge-2``, ``rouge-L``, ``rouge-LSum`` (HF ``evaluate``'s rouge, the same
  tokenizer and the same [DEVIATION] mean for its bootstrap median), ``meteor`` (HF ``evaluate``'s,
  a plain mean, so identical: :mod:`eval.meteor`) and ``bleu`` (HF ``evaluate``'s sacrebleu: corpus
  BLEU, 0-100, computed by sacrebleu itself from summed per-sample statistics, so identical). Its ``evaluate_data`` first drops every pair whose prediction or gold is empty, which
  inflates all of them: each metric is reported both ways, over all pairs (``meteor``, an empty pair
  scoring 0, as every other task here counts a missing answer) and over the kept pairs as officially
  (``meteor-nonempty``).
* LaMP-QA (family ``rubric-qa``) — ``rubric-score``, the mean over questions of the LLM judge's
  per-question rubric score (:mod:`eval.judge`); it has no gold text to compare with here.

Example::

    >>> classification_metrics(["[1]", " [2] ", "2"], ["[1]", "[2]", "[2]"], ("[1]", "[2]"))
    {'accuracy': 0.6666666666666666, 'f1': 0.8333333333333333}
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from lamp.core.errors import LampDataError, LampError
from lamp.core.registry import Registry
from lamp.core.tasks import Task, get_task

from eval import longform

# --------------------------------------------------------------------------- per-family statistics

#: (predictions, golds, label list, ids for messages) -> (n_samples, n_columns) additive statistics.
StatsFn = Callable[[Sequence[str], Sequence[str], Sequence[str], Sequence[str] | None], np.ndarray]


def label_index(text: str, labels: Sequence[str]) -> int:
    """Index of ``str(text).strip()`` in ``labels``; -1 when it is not an exact match."""
    try:
        return list(labels).index(str(text).strip())
    except ValueError:
        return -1


def _classification_stats(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str],
                          ids: Sequence[str] | None) -> np.ndarray:
    """Columns: correct, then TP, FP and FN of each label (k columns each)."""
    lookup = {label: i for i, label in enumerate(labels)}
    p = np.array([lookup.get(str(x).strip(), -1) for x in preds], dtype=np.int64)
    g = np.array([lookup.get(str(x).strip(), -1) for x in golds], dtype=np.int64)
    classes = np.arange(len(labels))
    p_is = p[:, None] == classes[None, :]
    g_is = g[:, None] == classes[None, :]
    tp = p_is & g_is
    return np.hstack([(p == g)[:, None], tp, p_is & ~g_is, g_is & ~p_is]).astype(np.float64)


def parse_rating(text: str) -> float | None:
    """``float(text.strip())`` when finite, else None (the caller applies the worst case)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def worst_rating(gold: float) -> float:
    """The official fallback for an unparseable prediction: the farther end of the 1–5 scale."""
    return 1.0 if abs(1 - gold) > abs(5 - gold) else 5.0


def _rating_stats(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str],
                  ids: Sequence[str] | None) -> np.ndarray:
    """Columns: absolute error, squared error."""
    out = np.empty((len(preds), 2), dtype=np.float64)
    for i, (pred, gold) in enumerate(zip(preds, golds)):
        g = parse_rating(gold)
        if g is None:
            raise LampDataError(f"expected a number, got {gold!r}", record_id=ids[i] if ids else f"#{i}",
                                field="output (gold)")
        p = parse_rating(pred)
        err = abs((worst_rating(g) if p is None else p) - g)
        out[i] = err, err * err
    return out


@lru_cache(maxsize=1)
def rouge_scorer():
    """The shared ``rouge_score`` scorer (built once: construction is slow-ish)."""
    from rouge_score import rouge_scorer as rs

    return rs.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)


def _generation_stats(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str],
                      ids: Sequence[str] | None) -> np.ndarray:
    """Columns: ROUGE-1 F, ROUGE-L F of each sample."""
    scorer = rouge_scorer()
    out = np.empty((len(preds), 2), dtype=np.float64)
    for i, (pred, gold) in enumerate(zip(preds, golds)):
        s = scorer.score(str(gold).strip(), str(pred).strip())   # (target, prediction)
        out[i] = s["rouge1"].fmeasure, s["rougeL"].fmeasure
    return out


def _judge_stats(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str],
                 ids: Sequence[str] | None) -> np.ndarray:
    """LaMP-QA has no gold text to compare with: its one metric is the LLM judge's (eval.judge)."""
    raise LampError("rubric-qa answers are scored by an LLM judge, not against gold text: run "
                    "`lamp judge --data QUESTIONS --preds PREDICTIONS --backend ... --model ...`")


@dataclass(frozen=True)
class Statistics:
    """How a task family turns (prediction, gold) pairs into additive per-sample columns."""

    rows: StatsFn
    per_sample: tuple[str, ...]   # names of the leading columns that are per-sample scores
    #: Metrics reported for every task of the family beside the task's own (``Task.metrics``):
    #: what the official scorer also prints, and variants a reader must see side by side.
    also_report: tuple[str, ...] = ()


#: The per-sample statistics of each task family; every metric of the family reads their column sums.
STATISTICS: dict[str, Statistics] = {
    "classification": Statistics(_classification_stats, ("correct",)),
    "rating": Statistics(_rating_stats, ("abs_error", "squared_error")),
    "generation": Statistics(_generation_stats, ("rouge-1", "rouge-L")),
    "long-generation": Statistics(longform.long_generation_stats, longform.PER_SAMPLE, longform.ALSO_REPORT),
    "rubric-qa": Statistics(_judge_stats, ("rubric-score",)),
}


# --------------------------------------------------------------------------- the metric registry

#: (column sums, maybe with leading resample axes; number of samples; number of labels) -> metric values.
ValueFn = Callable[[np.ndarray, int, int], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One metric of the registry: its name is the key of the official output JSON."""

    name: str
    family: str                   # whose STATISTICS columns it reads (the first of ``families``)
    higher_is_better: bool
    value: ValueFn
    training_key: str             # the official training code's spelling, as in feedback files ("mae")
    #: Every family whose STATISTICS hold the columns it reads at the same places (ROUGE-1/L: LaMP's
    #: generation and LongLaMP's long-generation).
    families: tuple[str, ...] = ()

    @property
    def formula(self) -> str:
        """The definition, from the metric function's docstring."""
        return inspect.getdoc(self.value) or ""


#: Every metric, by name, in the official output order of each family.
METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, family: str | tuple[str, ...], *, higher_is_better: bool, training_key: str | None = None
           ) -> Callable[[ValueFn], ValueFn]:
    """Register the decorated function as the metric ``name`` (its docstring is the formula) of one
    family or of several that share its columns."""
    families = (family,) if isinstance(family, str) else tuple(family)

    def register(fn: ValueFn) -> ValueFn:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        METRICS.register(name, Metric(name, families[0], higher_is_better, fn, training_key or name, families))
        return fn
    return register


@metric("accuracy", "classification", higher_is_better=True)
def accuracy(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """accuracy = (1/n) · Σ_i [label(pred_i) = label(gold_i)], where label(x) is the index of
    str(x).strip() in the label list, or -1 (so an unknown gold "matches" an unknown prediction)."""
    return sums[..., 0] / n


@metric("f1", "classification", higher_is_better=True)
def f1(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """f1 = (1/k) · Σ_c 2·TP_c / (2·TP_c + FP_c + FN_c) over all k labels of the list (macro-F1);
    a label with 2·TP + FP + FN = 0 counts 0, and a -1 prediction is a false negative of the gold class."""
    tp, fp, fn = sums[..., 1:1 + k], sums[..., 1 + k:1 + 2 * k], sums[..., 1 + 2 * k:1 + 3 * k]
    denom = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)
    return per_label.mean(axis=-1)


@metric("MAE", "rating", higher_is_better=False, training_key="mae")
def mae(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """MAE = (1/n) · Σ_i |p_i − g_i|, p_i = float(pred_i), or the worst case (1.0 if |1−g_i| > |5−g_i|
    else 5.0) when it does not parse or is not finite."""
    return sums[..., 0] / n


@metric("RMSE", "rating", higher_is_better=False, training_key="rmse")
def rmse(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """RMSE = sqrt((1/n) · Σ_i (p_i − g_i)²), p_i as for MAE."""
    return np.sqrt(sums[..., 1] / n)


@metric("rouge-1", ("generation", "long-generation"), higher_is_better=True)
def rouge_1(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """rouge-1 = (1/n) · Σ_i F1(unigrams(pred_i), unigrams(gold_i)), F1 = 2·P·R/(P + R) over clipped
    unigram overlap, rouge_score's tokenizer (lower-case, [a-z0-9] runs), no stemmer."""
    return sums[..., 0] / n


@metric("rouge-L", ("generation", "long-generation"), higher_is_better=True)
def rouge_l(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """rouge-L = (1/n) · Σ_i F1 with P = LCS/|pred_i|, R = LCS/|gold_i| (sentence-level longest common
    subsequence of the tokens, rouge_score's ``rougeL``)."""
    return sums[..., 1] / n


@metric("rubric-score", "rubric-qa", higher_is_better=True)
def rubric_score(sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """rubric-score = (1/n) · Σ_q (Σ_a s_qa) / (2·|A_q|), s_qa ∈ {0, 1, 2} the judge's match_score of
    aspect a of question q (an answer that never parses: 0, counted); see eval/judge.py."""
    return sums[..., 0] / n


# LongLaMP's own metrics (METEOR, ROUGE-2/Lsum, BLEU, the kept-pairs variants): eval/longform.py.
for _name, _fn in longform.METRIC_FUNCTIONS.items():
    metric(_name, "long-generation", higher_is_better=True)(_fn)


def get_metric(name: str) -> Metric:
    """A metric by its name or its training key ("mae"); a clear error with a suggestion otherwise."""
    if name in METRICS:
        return METRICS[name]
    for m in METRICS.values():
        if m.training_key == name:
            return m
    raise METRICS.unknown(name, also=[m.training_key for m in METRICS.values() if m.training_key != m.name])


def default_feedback_metric(task: str | Task) -> str:
    """The feedback key ROPG and RSPG learn from by default: the task's primary metric, spelt as the
    official training code writes it in feedback files (``accuracy``, ``mae``, ``rouge-1``; reference §6.3)."""
    return get_metric(get_task(task).primary_metric).training_key


#: Whether a larger value is better, per metric name and training key (read-only, from :data:`METRICS`).
HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType(
    {key: m.higher_is_better for m in METRICS.values() for key in (m.name, m.training_key)})


def report_names(task: str | Task) -> tuple[str, ...]:
    """The metrics a task's score reports: its own (``Task.metrics``), then its family's ``also_report``."""
    t = get_task(task)
    extra = STATISTICS[t.family].also_report if t.family in STATISTICS else ()
    return tuple(dict.fromkeys((*t.metrics, *extra)))


def _values(names: Sequence[str], sums: np.ndarray, n: int, k: int) -> dict[str, np.ndarray]:
    return {name: get_metric(name).value(sums, n, k) for name in names}


# --------------------------------------------------------------------------- SampleStats

@dataclass
class SampleStats:
    """Per-sample additive statistics of one task; every metric is a function of the column sums."""

    task: Task
    ids: list[str]
    matrix: np.ndarray            # (n_samples, n_columns)

    def __len__(self) -> int:
        return len(self.ids)

    def finalize(self, sums: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """The task's metrics from column sums; ``sums`` may carry leading axes (one row per resample)."""
        return _values(report_names(self.task), sums, n, len(self.task.labels or ()))

    def metrics(self, rows: np.ndarray | Sequence[int] | None = None) -> dict[str, float]:
        """The official metrics over all samples, or over the given row indices / boolean mask."""
        m = self.matrix if rows is None else self.matrix[np.asarray(rows)]
        if len(m) == 0:
            raise LampError(f"{self.task.name}: no samples to score")
        return {k: float(v) for k, v in self.finalize(m.sum(axis=0), len(m)).items()}


def sample_stats(task: str | Task, preds: Sequence[str], golds: Sequence[str],
                 ids: Sequence[str] | None = None) -> SampleStats:
    """Per-sample statistics of aligned prediction and gold lists."""
    t = get_task(task)
    if len(preds) != len(golds):
        raise LampError(f"{t.name}: {len(preds)} predictions for {len(golds)} golds")
    ids = list(ids) if ids is not None else [str(i) for i in range(len(golds))]
    return SampleStats(t, ids, STATISTICS[t.family].rows(preds, golds, t.labels or (), ids))


# --------------------------------------------------------------------------- public metric functions

def family_metrics(family: str, preds: Sequence[str], golds: Sequence[str],
                   labels: Sequence[str] = ()) -> dict[str, float]:
    """Every registered metric of ``family`` over aligned lists, with no task (``labels``: classification)."""
    if len(preds) != len(golds):
        raise LampError(f"{family}: {len(preds)} predictions for {len(golds)} golds")
    if not golds:
        raise LampError(f"{family}: no samples to score")
    sums = STATISTICS[family].rows(preds, golds, labels, None).sum(axis=0)
    names = [m.name for m in METRICS.values() if family in m.families]
    return {k: float(v) for k, v in _values(names, sums, len(golds), len(labels)).items()}


def classification_metrics(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """LaMP-1/2 ``accuracy`` and macro-``f1`` over the full ``labels`` list (see module doc)."""
    return family_metrics("classification", preds, golds, tuple(labels))


def rating_metrics(preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """LaMP-3 ``MAE`` and ``RMSE`` with the official worst-case value for unparseable predictions."""
    return family_metrics("rating", preds, golds)


def generation_metrics(preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """LaMP-4…7 ``rouge-1`` and ``rouge-L`` F-measure, plain mean over samples (no stemmer)."""
    return family_metrics("generation", preds, golds)


class IdMismatchError(LampError):
    """Prediction ids differ from gold ids; the message counts and lists the first few of each."""


def id_mismatch_message(gold_ids: set[str] | Sequence[str], pred_ids: set[str] | Sequence[str],
                        what: str, golds_name: str = "the golds", preds_name: str = "the predictions",
                        show: int = 5, reference: str = "gold") -> str | None:
    """One paragraph naming missing and extra ids (first ``show`` of each), or None when they match."""
    gold_set, pred_set = set(gold_ids), set(pred_ids)
    missing = [i for i in gold_ids if i not in pred_set]
    extra = [i for i in pred_ids if i not in gold_set]
    if not missing and not extra:
        return None

    def first(ids: list[str]) -> str:
        head = ", ".join(repr(i) for i in ids[:show])
        return head + (", …" if len(ids) > show else "")

    parts = [f"{what}: the ids of {preds_name} do not match {golds_name}"]
    if missing:
        parts.append(f"{len(missing)} of {len(gold_set)} {reference} ids have no prediction "
                     f"(first: {first(missing)})")
    if extra:
        parts.append(f"{len(extra)} predicted ids are not in the {reference}s (first: {first(extra)})")
    return "; ".join(parts) + f". Every {reference} id needs exactly one prediction."


def align(task: str | Task, golds: Mapping[str, str], preds: Mapping[str, str],
          golds_name: str = "the golds", preds_name: str = "the predictions") -> tuple[list[str], list[str], list[str]]:
    """(ids, preds, golds) in gold order; :class:`IdMismatchError` when the id sets differ."""
    t = get_task(task)
    problem = id_mismatch_message(list(golds), list(preds), t.file_name, golds_name, preds_name)
    if problem:
        raise IdMismatchError(problem)
    ids = list(golds)
    return ids, [preds[i] for i in ids], [golds[i] for i in ids]


def task_stats(task: str | Task, golds: Mapping[str, str], preds: Mapping[str, str],
               golds_name: str = "the golds", preds_name: str = "the predictions") -> SampleStats:
    """:class:`SampleStats` of id-keyed golds and predictions (ids must match exactly)."""
    ids, p, g = align(task, golds, preds, golds_name, preds_name)
    return sample_stats(task, p, g, ids)


def score_task(task: str | Task, golds: Mapping[str, str], preds: Mapping[str, str]) -> dict[str, float]:
    """The official metrics of one task, e.g. ``{"accuracy": 0.5, "f1": 0.33}``."""
    return task_stats(task, golds, preds).metrics()


def per_sample_scores(task: str | Task, golds: Mapping[str, str], preds: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Per-sample scores in gold order: ``correct`` (0/1) for classification; ``abs_error`` and
    ``squared_error`` for rating (MAE = mean abs_error, RMSE = sqrt(mean squared_error));
    ``rouge-1`` and ``rouge-L`` for generation. Macro-F1 has no per-sample form: use
    :func:`task_stats` and ``SampleStats.metrics(rows)`` for subsets."""
    stats = task_stats(task, golds, preds)
    names = STATISTICS[stats.task.family].per_sample
    return {name: stats.matrix[:, i].copy() for i, name in enumerate(names)}


def golds_outside_labels(task: str | Task, golds: Mapping[str, str]) -> list[str]:
    """Ids of classification golds that are not an exact label (the official scorer maps them to -1)."""
    t = get_task(task)
    if t.family != "classification" or not t.labels:
        return []
    labels = set(t.labels)
    return [i for i, g in golds.items() if str(g).strip() not in labels]
