"""The LLM's feedback on each profile item (official ``LaMP/profile_item_utilization_scorer.py``, §6.1).

For every training question and each of its first ``profile_size`` items, in the given
(pre-ranked) order, the prompt holds that one item (the §3 builder with k=1); the LLM answers and
the answer is scored against the gold. The result maps ``"{qid}-{pid}"`` to the metric dict,
with the training-metric keys of the official code (``accuracy``/``f1``, ``mae``/``rmse``,
``rouge-1``/``rouge-L``). ``start``/``end`` index the flattened (question, item) pairs, as
officially, so shards can run on different machines and :func:`merge_shards` joins them.

Beyond the official script: every backend works (the OpenAI-compatible one included), prompts
go in batches through :func:`lamp.generation.driver.generate_all` (cached, so a killed run resumes
where it stopped), classification and rating can be answered by label choice, and
``with_loglik`` adds the gold output's log-likelihood (``loglik``, summed over its tokens) and
``loss`` (its mean negative log-likelihood per token, what the official ``trainer.predict``
reports as ``test_loss``): a denser signal than a 0/1 accuracy.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from eval.metrics import get_metric, sample_stats
from lamp.generation.backends.base import Backend, GenerationSettings
from lamp.core.errors import LampDataError, LampError
from lamp.core.writing import write_json
from lamp.generation.cache import GenerationCache
from lamp.generation.driver import generate_all, loglikelihood_all, option_scores_all
from lamp.generation.prompts import as_counter, build_prompt
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import Task, get_task

SHARD_NAME = re.compile(r"^scores_(\d+)_(-?\d+)\.json$")


@dataclass(frozen=True)
class Pair:
    """One (question, profile item) pair of the flattened training data."""

    question: Question
    item: ProfileItem
    gold: str

    @property
    def key(self) -> str:
        return f"{self.question.id}-{self.item.id}"


def flatten_pairs(questions: Sequence[Question], golds: Mapping[str, str], profile_size: int) -> list[Pair]:
    """Pairs (i, j) for every question i and its items j < ``profile_size`` (-1: all), in file order."""
    pairs: list[Pair] = []
    for q in questions:
        items = q.profile if profile_size < 0 else q.profile[:profile_size]
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise LampDataError("a profile id appears twice in this question's profile",
                                    record_id=q.id, field="profile")
            seen.add(item.id)
            pairs.append(Pair(q, item, golds[q.id]))
    return pairs


def short_profiles(questions: Sequence[Question], profile_size: int) -> int:
    """How many questions have fewer than ``profile_size`` items (all of theirs are used)."""
    return 0 if profile_size < 0 else sum(len(q.profile) < profile_size for q in questions)


def shard_range(n_pairs: int, start: int, end: int) -> tuple[int, int]:
    """The official slice ``[start, end)`` of the flattened pairs (``end=-1``: to the end), checked."""
    stop = n_pairs if end == -1 else end
    if start < 0 or (end != -1 and end < 0) or stop < start:
        raise LampError(f"--start_index {start} / --end_index {end}: expected 0 <= start <= end (or end -1)")
    return start, min(stop, n_pairs)


def item_metrics(task: Task, prediction: str, gold: str) -> dict[str, float]:
    """The official metric dict of one answer (macro-F1 over the full label list, as officially), keyed
    by the official training code's spelling (``mae``/``rmse``, reference §5.3), as its feedback files are."""
    metrics = sample_stats(task, [prediction], [gold]).metrics()
    return {get_metric(k).training_key: v for k, v in metrics.items()}


def score_items(task: str | Task, questions: Sequence[Question], golds: Mapping[str, str], backend: Backend,
                settings: GenerationSettings, *, profile_size: int, start: int = 0, end: int = -1,
                label_choice: bool = False, with_loglik: bool = False, cache: GenerationCache | None = None,
                progress: bool = True, batch_size: int | None = None) -> dict[str, dict[str, float]]:
    """The feedback of each pair in ``[start, end)``: ``{"{qid}-{pid}": {metric: value}}``."""
    task = get_task(task)
    pairs = flatten_pairs(questions, golds, profile_size)
    lo, hi = shard_range(len(pairs), start, end)
    pairs = pairs[lo:hi]
    counter = as_counter(backend.tokenizer)
    prompts = [build_prompt(task, p.question.input, [p.item], settings.max_input_length, counter) for p in pairs]
    gold_texts = [p.gold for p in pairs]
    common: dict[str, Any] = {"progress": progress, "batch_size": batch_size}
    loglik: list[tuple[float, int] | None] = [None] * len(pairs)
    if label_choice:
        if task.labels is None:
            raise LampError(f"{task.name} has no label set: label choice is for classification and rating tasks")
        labels = list(task.labels)
        rows = option_scores_all(backend, prompts, labels, settings, cache, desc=f"feedback {task.name}", **common)
        outputs = [labels[max(range(len(labels)), key=row.__getitem__)] for row in rows]
        if with_loglik:
            for i, (row, gold) in enumerate(zip(rows, gold_texts)):
                if gold.strip() in labels:
                    loglik[i] = (row[labels.index(gold.strip())], backend.continuation_length(gold.strip()))
    else:
        outputs = generate_all(backend, prompts, settings, cache, desc=f"feedback {task.name}", **common)
    todo = [i for i, value in enumerate(loglik) if value is None] if with_loglik else []
    if todo:
        found = loglikelihood_all(backend, [prompts[i] for i in todo], [gold_texts[i] for i in todo], settings,
                                  cache, desc=f"gold log-likelihood {task.name}", **common)
        for i, value in zip(todo, found):
            loglik[i] = value
    scores: dict[str, dict[str, float]] = {}
    for i, (pair, output) in enumerate(zip(pairs, outputs)):
        metrics = item_metrics(task, output, pair.gold)
        if with_loglik:
            logp, n = loglik[i]  # type: ignore[misc]
            metrics["loglik"] = logp
            metrics["loss"] = -logp / n if n else 0.0
        scores[pair.key] = metrics
    return scores


def shard_path(output_dir: str | os.PathLike, start: int, end: int) -> Path:
    """The official file name of a shard: ``scores_{start}_{end}.json`` (end as given, -1 included)."""
    return Path(output_dir) / f"scores_{start}_{end}.json"


def read_scores(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """A feedback file: ``{"{qid}-{pid}": {metric: number}}``, checked record by record."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            obj = json.load(fh)
    except FileNotFoundError:
        raise LampError(f"{path}: no such feedback file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LampDataError(f"not a JSON feedback file ({exc})", file=str(path)) from None
    if not isinstance(obj, dict):
        raise LampDataError(f"expected an object {{'qid-pid': {{metric: value}}}}, got {type(obj).__name__}",
                            file=str(path))
    for key, metrics in obj.items():
        if not isinstance(metrics, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in metrics.values()):
            raise LampDataError("expected a metric dict of finite numbers", file=str(path), record_id=key)
    return obj


def merge_shards(paths: Sequence[str | os.PathLike], pairs: Sequence[Pair]) -> dict[str, dict[str, float]]:
    """Join shard files into one dict, refusing overlapping or missing ranges.

    Ranges come from the official file names (``scores_{start}_{end}.json``, end -1: to the end);
    the shards must cover every pair of the flattened training data, and each must hold exactly
    its range's keys."""
    total = len(pairs)
    ranges = []
    for path in paths:
        found = SHARD_NAME.match(Path(path).name)
        if not found:
            raise LampError(f"{path}: a shard must be named scores_START_END.json, as the scorer writes it")
        start, end = int(found.group(1)), int(found.group(2))
        ranges.append((start, total if end == -1 else min(end, total), Path(path)))
    if not ranges:
        raise LampError("no shard files to merge")
    ranges.sort(key=lambda r: (r[0], r[1]))
    merged: dict[str, dict[str, float]] = {}
    covered, previous = 0, None
    for start, stop, path in ranges:
        if start > covered:
            raise LampError(f"missing range: no shard covers pairs {covered}..{start - 1} (next: {path.name})")
        if start < covered:
            raise LampError(f"overlapping shards: {path.name} starts at pair {start}, but {previous} "
                            f"already covers pairs up to {covered - 1}")
        scores = read_scores(path)
        wanted = [p.key for p in pairs[start:stop]]
        missing = [k for k in wanted if k not in scores]
        extra = sorted(set(scores) - set(wanted))
        if missing or extra:
            what = (f"lacks {len(missing)} keys of its range {start}..{stop - 1} (e.g. {missing[0]!r})" if missing
                    else f"holds {len(extra)} keys outside its range {start}..{stop - 1} (e.g. {extra[0]!r})")
            raise LampDataError(f"{what}: the shard does not match the training data "
                                f"(same --train_data and --profile_size as when scoring?)", file=str(path))
        merged.update(scores)
        covered, previous = stop, path.name
    if covered < total:
        raise LampError(f"missing range: the shards end at pair {covered - 1}, the data has {total} pairs "
                        f"(pairs {covered}..{total - 1} are not scored)")
    return merged


def write_scores(path: str | os.PathLike, scores: Mapping[str, Mapping[str, float]]) -> None:
    """Write a feedback file atomically (indented, as the official)."""
    write_json(path, dict(scores), indent=4)
