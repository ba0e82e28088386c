"""Fetch LongLaMP and LaMP-QA through the Hugging Face ``datasets`` library (``lamp data download --benchmark``).

``datasets.load_dataset(dataset_id, config, split=..., cache_dir=...)`` downloads once into its
cache (``HF_DATASETS_CACHE``, or ``--cache_dir``) and reads it from there afterwards; with
``HF_DATASETS_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) only the cache is read. Each split is then
written in LaMP's layout under ``dest``, like ``lamp data download --task``:
``{task}/{split}/{split}_questions.json`` (ids made where the data has none: :mod:`lamp.core.native`)
and, where the data has gold text (LongLaMP), ``{split}_outputs.json``; the temporal setting goes
under ``time/``, like LaMP's time-based files. LaMP-QA has no gold text, so no outputs file is
written (its rubric stays in each question; :func:`lamp.core.splits.read_split` gives it empty golds).
Every verb also reads the dataset's own files directly (Arrow folders, Parquet, JSON Lines).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from lamp.core.errors import LampError
from lamp.core.questions import questions_from_rows
from lamp.core.tasks import BENCHMARKS as TABLE_BENCHMARKS
from lamp.core.tasks import TASKS, Task, get_task
from lamp.core.writing import write_json, write_outputs

#: ``--benchmark`` names -> the table's benchmark, for those fetched through ``datasets``.
BENCHMARKS = {flag: name for flag, name in TABLE_BENCHMARKS.items()
              if any(t.benchmark == name and t.schema is not None for t in TASKS.values())}
SETTINGS = ("user", "temporal")


def benchmark_task(benchmark: str, config: str) -> tuple[Task, str]:
    """The task and setting a ``--benchmark``/``--config`` pair names ('product_review_temporal' ->
    (LongLaMP-product_review, 'temporal'); 'product_review' -> the user setting)."""
    wanted = BENCHMARKS.get(benchmark.lower())
    if wanted is None:
        raise LampError(f"unknown benchmark {benchmark!r} (known: {', '.join(BENCHMARKS)})")
    for task in TASKS.values():
        if task.benchmark != wanted or task.schema is None:
            continue
        for setting, name in task.schema.configs:
            if config == name:
                return task, setting
        if task.accepts(config):
            return task, "user"
    configs = [name for t in TASKS.values() if t.benchmark == wanted and t.schema for _, name in t.schema.configs]
    raise LampError(f"{wanted} has no config {config!r} (known: {', '.join(configs)})")


def local_folder(dest: Path, task: Task, split: str, setting: str) -> Path:
    return dest / ("time" if setting == "temporal" else "") / task.file_name / split


def _load(loader: Callable[..., Any], dataset: str, config: str, split: str, cache_dir: str | None) -> Any:
    try:
        return loader(dataset, config, split=split, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds (connection, offline, not found)
        offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in
                      ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))
        hint = ("offline mode is on and the cache has no copy: run once with network access, or pass the "
                "--cache_dir that holds it" if offline else
                "check the network (or set HF_DATASETS_OFFLINE=1 to read only the cache) and the config/split names")
        raise LampError(f"cannot load the Hugging Face dataset {dataset!r} (config {config!r}, split {split!r}): "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; {hint}") from None


def download_benchmark(task: str | Task, split: str, dest: str | os.PathLike, setting: str = "user",
                       cache_dir: str | None = None, loader: Callable[..., Any] | None = None) -> list[Path]:
    """Load one split of one benchmark task through ``datasets`` and write it in LaMP's layout;
    returns the paths written. ``loader`` stands in for ``datasets.load_dataset`` (tests)."""
    task = get_task(task)
    if task.schema is None:
        raise LampError(f"{task.name} is a LaMP task: use lamp data download --task {task.name}")
    schema = task.schema
    config, hub_split = schema.config(setting), schema.split(split)
    if loader is None:
        from datasets import load_dataset as loader     # the Hugging Face library, with its cache
    rows = _load(loader, schema.dataset, config, hub_split, cache_dir)
    name = f"{schema.dataset}[{config}/{hub_split}]"
    questions = list(questions_from_rows(rows, name, task.name))
    folder = local_folder(Path(dest), task, split, setting)
    paths = [folder / f"{split}_questions.json"]
    records = []
    for q in questions:
        record = q.to_json()
        record.pop("output", None)
        records.append(record)
    write_json(paths[0], records)
    if schema.gold_field is not None:
        paths.append(folder / f"{split}_outputs.json")
        write_outputs(paths[1], task.name, {q.id: str((q.extra or {}).get("output", "")) for q in questions})
    return paths
