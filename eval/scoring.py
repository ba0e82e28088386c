"""Score prediction sets against gold sets (files, folders or zips): the library behind ``lamp eval``,
``eval_task.py`` and ``eval_all.py``.

Example::

    scored = score_paths("dev_golds.zip", "preds.zip")          # tasks present in preds.zip
    results_json(scored)   # {"LaMP_1": {"accuracy": …, "f1": …}, "LaMP_3": {"MAE": …, "RMSE": …}}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lamp.core.tasks import get_task

from eval.loading import OutputsFile, pair_sets, read_outputs_set
from eval.metrics import SampleStats, golds_outside_labels, sample_stats


@dataclass
class ScoredTask:
    """One task's golds, predictions, per-sample statistics and official metrics."""

    golds: OutputsFile
    preds: OutputsFile
    stats: SampleStats
    metrics: dict[str, float]

    @property
    def task(self) -> str:
        return self.golds.task

    @property
    def key(self) -> str:
        """The task key of the official output JSON: 'LaMP_1'."""
        return get_task(self.task).file_name

    def warnings(self) -> list[str]:
        """Data oddities worth a line on stderr (the scores follow the official rules regardless)."""
        notes = []
        bad = golds_outside_labels(self.task, self.golds.outputs)
        if bad:
            notes.append(f"{self.golds.source}: {len(bad)} gold labels are not in the {self.task} label list "
                         f"(first id {bad[0]!r}); the official scorer maps them to -1, so any unknown prediction "
                         "counts as correct for them")
        shared = get_task(self.task).file_task
        if shared is not None:
            notes.append(f"{self.golds.source}: the {get_task(shared).file_name} golds are {self.task} labels "
                         f"({get_task(self.task).title}), scored as {self.task}")
        return notes


def score_pair(golds: OutputsFile, preds: OutputsFile) -> ScoredTask:
    ids = list(golds.outputs)
    stats = sample_stats(golds.task, [preds.outputs[i] for i in ids], [golds.outputs[i] for i in ids], ids)
    return ScoredTask(golds, preds, stats, stats.metrics())


def score_paths(golds: str | os.PathLike, preds: str | os.PathLike, task: str | None = None,
                require_all: bool = False, split: str | None = None) -> list[ScoredTask]:
    """Score every task present in ``preds`` (or only ``task``); ``require_all`` demands all seven.

    ``split`` picks ``{split}_outputs.json`` among the golds of an official data folder or zip.
    """
    gold_set = read_outputs_set(golds, "golds", task, split)
    pred_set = read_outputs_set(preds, "predictions", task)
    pairs = pair_sets(gold_set, pred_set, require_all, str(golds), str(preds))
    return [score_pair(g, p) for g, p in pairs]


def results_json(scored: list[ScoredTask], flat: bool = False) -> dict[str, Any]:
    """The official output: ``{"LaMP_1": {metric: value}}``, or ``{metric: value}`` when ``flat``."""
    if flat:
        return dict(scored[0].metrics) if scored else {}
    return {s.key: dict(s.metrics) for s in scored}


def format_table(scored: list[ScoredTask]) -> str:
    """A short plain-text table for the terminal."""
    rows = [("task", "samples", "metric", "value")]
    for s in scored:
        for k, value in s.metrics.items():
            rows.append((s.key, str(len(s.stats)), k, f"{value:.4f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
