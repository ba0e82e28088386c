"""Feedback per retriever (official ``LaMP/retriever_utilization_scorer.py``, reference §7.1).

For one retriever of the pool and every question: the prompt (its top-k items, the official
token-budgeted builder), the LLM's output and that output's metric dict, written as the official
``scores.json``: ``{qid: {"metric": {...}, "output": text, "input": prompt}}``.

Nothing is generated twice. The prompts and outputs of a ``lamp run`` directory are read as they are
(``--run_dir``); otherwise the ranking, the prompts and the generation go through the same code and the
same generation cache as ``lamp run`` (:func:`lamp.generation.driver.generate_all`, keyed by the model's
identity, the prompt and the settings), so a retriever already run by ``lamp run`` or by an earlier
scorer call is a cache hit, and a killed call resumes where it stopped.

Metric dicts hold the official scorer's keys for one sample (``accuracy``/``f1``, ``MAE``/``RMSE``,
``rouge-1``/``rouge-L``); LaMP-3 also carries the official feedback's lower-case ``mae``/``rmse``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from lamp.generation.backends.base import Backend, can_score_labels
from lamp.core.errors import LampDataError, LampError
from lamp.core.writing import write_json
from lamp.generation.driver import MethodSettings, build_examples, generate_all
from lamp.core.records import Question
from lamp.core.rundir import RunDir
from lamp.core.tasks import get_task

from rspg.pool import PoolMember
from eval.metrics import get_metric, score_task
from retrievers.ranking import partial_path_for, rank_questions

SCORES_FILE = "scores.json"
INFO_FILE = "feedback_info.json"


@dataclass
class FeedbackConfig(MethodSettings):
    """What changes a retriever's feedback: ``lamp run``'s method settings, four items by default."""

    k: int = 4


def question_metrics(task: str, gold: str, output: str) -> dict[str, float]:
    """The official metrics of one sample, plus the official training code's spelling of each (LaMP-3's
    ``mae``/``rmse``), which the official feedback files use."""
    metrics = score_task(task, {"q": gold}, {"q": output})
    return metrics | {get_metric(k).training_key: v for k, v in metrics.items()}


def build_scores(task: str, golds: Mapping[str, str], prompts: Mapping[str, str],
                 outputs: Mapping[str, str], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The official ``scores.json`` content for the questions ``ids``."""
    return {qid: {"metric": question_metrics(task, golds[qid], outputs[qid]), "output": outputs[qid],
                  "input": prompts[qid]} for qid in ids}


def _read_run(run: RunDir, task: str, method: str, ids: Sequence[str],
              cfg: FeedbackConfig) -> tuple[dict[str, str], dict[str, str]] | None:
    """Prompts and outputs of ``method`` from a ``lamp run`` directory, when it holds every question."""
    if not (run.prompts(task, method).exists() and run.predictions(method, task).exists()):
        return None
    config = run.read_config()
    want = {"k": cfg.k if method != "none" else config.get("k"), "max_length": cfg.max_length,
            "max_new_tokens": cfg.max_new_tokens, "num_beams": cfg.num_beams, "label_choice": cfg.label_choice}
    differs = {key: (config.get(key), value) for key, value in want.items() if config.get(key) != value}
    if differs:
        raise LampError(f"{run.config}: the run was made with other settings than asked "
                        + ", ".join(f"{k}={a!r} (asked {b!r})" for k, (a, b) in differs.items())
                        + "; pass matching flags or drop --run_dir")
    prompts = run.read_prompts(task, method)
    outputs = run.read_predictions(method, task)
    if not all(i in prompts and i in outputs for i in ids):
        return None
    return prompts, outputs


def score_member(task: str, questions: Sequence[Question], golds: Mapping[str, str], member: PoolMember,
                 cfg: FeedbackConfig, backend: Backend | Callable[[], Backend], cache: Any,
                 output_dir: str | Path, run_dir: str | Path | None = None, is_ranked: bool = False,
                 progress: bool = True, golds_file: str | None = None) -> dict[str, dict[str, Any]]:
    """Write ``output_dir/scores.json`` for one retriever and return it (see the module docstring).

    ``backend`` may be a function that loads it, called only when something must be generated.
    """
    task = get_task(task).name
    out = Path(output_dir)
    ids = [q.id for q in questions]
    missing = [i for i in ids if i not in golds]
    if missing:
        raise LampDataError(f"{len(missing)} questions have no gold output (first {missing[0]!r})",
                            file=golds_file, record_id=missing[0], field="output")
    source, tokenizer = "generated", None
    found = _read_run(RunDir(run_dir), task, member.name, ids, cfg) if run_dir else None
    if found is not None:
        prompts, outputs = found
        source = f"lamp run {run_dir}"
    else:

        model = backend if isinstance(backend, Backend) else backend()
        ranking = None
        k = cfg.k if member.uses_profile else 0
        if member.uses_profile and not is_ranked:
            ranking = _ranking(task, questions, member, cfg, out / "ranking.json", progress)
        examples = build_examples(task, questions, k, cfg.max_length, model.tokenizer, ranking)
        t = get_task(task)
        kind = type(model)   # the same rule as `lamp run`, so both share the cache
        can_choose = can_score_labels(model)
        choose = cfg.label_choice and t.labels is not None and not model.uses_examples
        if choose and not can_choose:
            raise LampError(f"label_choice: backend {kind.__name__} cannot score labels; drop --label_choice "
                            "for free generation")
        texts = generate_all(model, examples, cfg.settings(), cache, mode="choose" if choose else "generate",
                             options=list(t.labels) if choose else None, progress=progress,
                             batch_size=cfg.batch_size, desc=f"{t.file_name} {member.name}")
        prompts = {ex.id: ex.text() for ex in examples}
        tokenizer = getattr(model.tokenizer, "name_or_path", None)
        outputs = dict(zip(ids, texts))
    scores = build_scores(task, golds, prompts, outputs, ids)
    write_json(out / INFO_FILE, {"task": task, "retriever": member.to_json(), "config": asdict(cfg),
                                 "is_ranked": is_ranked, "source": source, "questions": len(ids),
                                 "tokenizer": tokenizer}, indent=1)
    write_json(out / SCORES_FILE, scores)
    return scores


def _ranking(task: str, questions: Sequence[Question], member: PoolMember, cfg: FeedbackConfig, path: Path,
             progress: bool) -> dict[str, list[str]]:
    """The member's ranking of every question, reused from ``path`` when complete (resumable otherwise)."""
    if path.exists():
        ranking = json.loads(path.read_text(encoding="utf-8"))
        if all(q.id in ranking for q in questions):
            return ranking
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path_for(path)
    ranking = rank_questions(questions, task, member.ranker, use_date=cfg.use_date, progress=progress,
                             partial_path=partial, **{"seed": cfg.seed, **member.options})
    write_json(path, ranking)
    partial.unlink(missing_ok=True)
    return ranking


def load_scores(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``scores.json`` of a feedback folder (or the file itself), checked record by record."""
    path = Path(folder)
    path = path / SCORES_FILE if path.is_dir() else path
    if not path.exists():
        raise LampError(f"{path}: no such feedback file (run `lamp rspg score` for this retriever first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LampDataError(f"not readable JSON ({exc})", file=str(path)) from None
    if not isinstance(data, dict):
        raise LampDataError("expected {question id: {metric, output, input}}", file=str(path))
    for qid, rec in data.items():
        for key in ("metric", "output", "input"):
            if not isinstance(rec, dict) or key not in rec:
                raise LampDataError(f"the record lacks {key!r}", file=str(path), record_id=qid, field=key)
        if not isinstance(rec["metric"], dict):
            raise LampDataError("'metric' must be a dict of metric values", file=str(path), record_id=qid,
                                field="metric")
    return data
