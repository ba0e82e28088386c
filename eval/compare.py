"""``lamp compare A B``: is B really better than A on the same golds?

Per metric this gives the difference ``B - A``, a 95% confidence interval from a **paired
bootstrap** (resample the samples with replacement, recompute both metrics on the same resample,
take the 2.5/97.5 percentiles of the difference) and a two-sided p-value from **approximate
randomization** (swap A's and B's prediction for each sample with probability 1/2; p =
(1 + #{|d*| >= |d|}) / (1 + R)). Both are seeded.

Corpus-level metrics (macro-F1, RMSE) are recomputed on every resample from the per-sample
statistics (:class:`eval.metrics.SampleStats`); a resample is a row-weight vector and a swap is a
0/1 mask, so each is one matrix product — 10,000 resamples of 10,000 samples take seconds.

Example::

    >>> golds = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5"}
    >>> preds_bm25 = {"1": "2", "2": "3", "3": "4", "4": "5", "5": "4"}
    >>> preds_contriever = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "4"}
    >>> c = compare_predictions(golds, preds_bm25, preds_contriever, "LaMP-3", n_resamples=2000, seed=0)
    >>> mae = c.metrics["MAE"]
    >>> round(mae.diff, 4), mae.b_is_better, (mae.ci_low, mae.ci_high)
    (-0.8, True, (-1.0, -0.4))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from lamp.core.errors import LampError
from lamp.core.tasks import get_task

from eval.metrics import SampleStats, get_metric, task_stats

_CHUNK_CELLS = 4_000_000     # resamples per chunk x samples: bounds memory to ~32 MB per array


@dataclass
class MetricComparison:
    """One metric of A vs B: values, ``diff = b - a``, its confidence interval and p-value."""

    metric: str
    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    higher_is_better: bool

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    @property
    def b_is_better(self) -> bool:
        return self.diff > 0 if self.higher_is_better else self.diff < 0


@dataclass
class Comparison:
    """A vs B on one task."""

    task: str
    n_samples: int
    n_resamples: int
    seed: int
    confidence: float
    metrics: dict[str, MetricComparison] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["metrics"] = {k: asdict(v) for k, v in self.metrics.items()}
        return out


def _chunks(n_resamples: int, n: int) -> Iterator[int]:
    size = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < n_resamples:
        yield min(size, n_resamples - done)
        done += size


def compare_stats(a: SampleStats, b: SampleStats, n_resamples: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> Comparison:
    """Paired test between two :class:`SampleStats` of the same samples (same ids, same order)."""
    if a.ids != b.ids or a.task.name != b.task.name:
        raise LampError("compare: the two prediction sets must cover the same samples of the same task")
    if n_resamples < 1:
        raise LampError(f"compare: --n_resamples must be at least 1, got {n_resamples}")
    n, keys = len(a), a.task.metrics
    if n == 0:
        raise LampError(f"{a.task.name}: no samples to compare")
    rng = np.random.default_rng(seed)
    value_a, value_b = a.metrics(), b.metrics()
    observed = {k: value_b[k] - value_a[k] for k in keys}

    boot: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for size in _chunks(n_resamples, n):
        picks = rng.integers(0, n, size=(size, n))
        picks += (np.arange(size) * n)[:, None]
        weights = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        ma, mb = a.finalize(weights @ a.matrix, n), b.finalize(weights @ b.matrix, n)
        for k in keys:
            boot[k].append(mb[k] - ma[k])

    sum_a, sum_b = a.matrix.sum(axis=0), b.matrix.sum(axis=0)
    delta = b.matrix - a.matrix
    extreme = {k: 0 for k in keys}
    for size in _chunks(n_resamples, n):
        swap = (rng.random((size, n)) < 0.5).astype(np.float64) @ delta
        ma, mb = a.finalize(sum_a + swap, n), b.finalize(sum_b - swap, n)
        for k in keys:
            tol = 1e-12 * max(1.0, abs(observed[k]))
            extreme[k] += int(np.count_nonzero(np.abs(mb[k] - ma[k]) >= abs(observed[k]) - tol))

    tail = (1 - confidence) / 2 * 100
    result = Comparison(a.task.name, n, n_resamples, seed, confidence)
    for k in keys:
        diffs = np.concatenate(boot[k])
        low, high = np.percentile(diffs, [tail, 100 - tail])
        result.metrics[k] = MetricComparison(k, value_a[k], value_b[k], observed[k], float(low), float(high),
                                             (1 + extreme[k]) / (1 + n_resamples),
                                             get_metric(k).higher_is_better)
    return result


def compare_predictions(golds: Mapping[str, str], preds_a: Mapping[str, str], preds_b: Mapping[str, str],
                        task: str, n_resamples: int = 1000, seed: int = 0,
                        confidence: float = 0.95) -> Comparison:
    """Paired test of predictions B against A on the same golds (id-keyed dicts; ids must match)."""
    return compare_stats(task_stats(task, golds, preds_a, preds_name="predictions A"),
                         task_stats(task, golds, preds_b, preds_name="predictions B"),
                         n_resamples, seed, confidence)


def format_comparison(comparisons: Comparison | list[Comparison], name_a: str = "A", name_b: str = "B",
                      alpha: float = 0.05) -> str:
    """A plain-text table; ``*`` marks p < alpha, the last column says which side is better."""
    cs = [comparisons] if isinstance(comparisons, Comparison) else comparisons
    confidence = cs[0].confidence if cs else 0.95
    rows = [("task", "metric", name_a, name_b, f"{name_b}-{name_a}", f"{confidence:.0%} CI", "p", "better")]
    for c, m in ((c, m) for c in cs for m in c.metrics.values()):
        better = "-" if m.diff == 0 else (name_b if m.b_is_better else name_a)
        rows.append((get_task(c.task).file_name, m.metric + (" ↑" if m.higher_is_better else " ↓"),
                     f"{m.a:.4f}", f"{m.b:.4f}", f"{m.diff:+.4f}", f"[{m.ci_low:+.4f}, {m.ci_high:+.4f}]",
                     f"{m.p_value:.4f}" + ("*" if m.significant(alpha) else ""), better))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(col.ljust(w) for col, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
