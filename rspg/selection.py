"""Selection and what the paper reports (and what it does not), reference §7.3 and issue item 5.

* :func:`select_records`: the argmax of the selector's scores picks a retriever per input; the
  prediction is that retriever's stored output (Post's only choice; for Pre it is also exactly what
  generating with the chosen retriever's prompt gives, since the feedback is deterministic and cached).
  Written as the official ``final_preds.json``: ``{"task", "golds": [{"id", "output", "index"}]}``.
* :func:`pool_table`: every single retriever, the oracle (per input the retriever whose output
  scores best against the gold: the upper bound of selection), and each selector, with the
  selector's accuracy (how often its pick ties the best retriever of that input), how its picks are
  spread, and a paired test (:func:`eval.compare.compare_predictions`) against the best single
  retriever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lamp.core.errors import LampError
from lamp.core.writing import write_json
from lamp.core.tasks import get_task
from eval.compare import compare_predictions
from eval.metrics import get_metric, score_task

FINAL_PREDS = "final_preds.json"


def final_preds(task: str, records: Sequence[Mapping[str, Any]], picks: Sequence[int]) -> dict[str, Any]:
    """The official ``final_preds.json`` content."""
    return {"task": get_task(task).file_name,
            "golds": [{"id": r["id"], "output": r["outputs"][k], "index": int(k)} for r, k in zip(records, picks)]}


def oracle_picks(labels: np.ndarray, prefer: int | None = None) -> list[int]:
    """Per input, a retriever with the best label (labels higher-is-better): ``prefer`` (e.g. the best
    single retriever) when it ties the best, else the first best. The tie rule changes no per-sample
    metric (accuracy, MAE, ROUGE); macro-F1 can move when tied retrievers give different wrong labels."""
    best = labels.max(axis=1)
    return [prefer if prefer is not None and labels[i, prefer] >= best[i] else int(labels[i].argmax())
            for i in range(len(labels))]


def selector_accuracy(labels: np.ndarray, picks: Sequence[int]) -> float:
    """Share of inputs where the pick's label ties the best label of that input."""
    best = labels.max(axis=1)
    return float(np.mean([labels[i, k] >= best[i] - 1e-12 for i, k in enumerate(picks)])) if len(picks) else 0.0


def select_records(model_dir: str | Path, records: Sequence[Mapping[str, Any]], batch_size: int = 16,
                   progress: bool = True) -> tuple[list[int], np.ndarray, dict[str, Any]]:
    """(picks, scores (N, n), the selector's config) for the records of a ``create_data`` file."""
    from rspg.model import load_selector, separator
    from rspg.train import frozen_memo, score_texts, texts_of

    model, tokenizer, config = load_selector(model_dir)
    train_config = config.get("train_config") or {}
    memo = frozen_memo(config["encoder"], config["pooling"], config["max_length_input"]) \
        if train_config.get("freeze_encoder") and config.get("encoder") else None
    names = list(records[0].get("retrievers") or [])
    if config.get("retrievers") and names and config["retrievers"] != names:
        raise LampError(f"{model_dir}: the selector was trained on the pool {config['retrievers']}, "
                        f"the data holds {names}")
    scores = score_texts(model, tokenizer, texts_of(records, config["rspg_type"], separator(tokenizer)),
                         config["max_length_input"], batch_size, progress, memo)
    return [int(i) for i in scores.argmax(axis=1)], scores, config


def write_selection(out_dir: str | Path, task: str, records: Sequence[Mapping[str, Any]], picks: Sequence[int],
                    scores: np.ndarray | None = None) -> Path:
    """``final_preds.json`` (official) and ``selection.json`` (scores and names per input) in ``out_dir``."""
    out = Path(out_dir)
    names = list(records[0].get("retrievers") or [])
    write_json(out / FINAL_PREDS, final_preds(task, records, picks))
    detail = [{"id": r["id"], "index": int(k), "retriever": names[k] if names else None,
               **({"scores": [round(float(s), 6) for s in scores[i]]} if scores is not None else {})}
              for i, (r, k) in enumerate(zip(records, picks))]
    write_json(out / "selection.json", {"task": get_task(task).name, "retrievers": names, "picks": detail}, indent=1)
    return out / FINAL_PREDS


def _primary(task: str) -> tuple[str, bool]:
    key = get_task(task).primary_metric
    return key, get_metric(key).higher_is_better


def pool_table(task: str, records: Sequence[Mapping[str, Any]], selectors: Mapping[str, Sequence[int]],
               n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Every single retriever, the oracle and each selector on ``records`` (see the module docstring)."""
    from rspg.train import target_labels

    task = get_task(task).name
    names = list(records[0].get("retrievers") or [f"r{k}" for k in range(len(records[0]["labels"]))])
    labels = target_labels(records, task)
    golds = {r["id"]: r["gold"] for r in records}
    n = len(names)

    def preds_of(picks: Sequence[int]) -> dict[str, str]:
        return {r["id"]: r["outputs"][k] for r, k in zip(records, picks)}

    key, higher = _primary(task)
    rows: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        rows[name] = {"kind": "single", "metrics": score_task(task, golds, preds_of([k] * len(records)))}
    best_single = (max if higher else min)(names, key=lambda nm: rows[nm]["metrics"][key])
    all_picks = {"oracle": oracle_picks(labels, names.index(best_single)), **{name: list(p) for name, p in selectors.items()}}
    best_preds = preds_of([names.index(best_single)] * len(records))
    for name, picks in all_picks.items():
        preds = preds_of(picks)
        comparison = compare_predictions(golds, best_preds, preds, task, n_resamples, seed)
        rows[name] = {"kind": "oracle" if name == "oracle" else "selector",
                      "metrics": score_task(task, golds, preds),
                      "selector_accuracy": selector_accuracy(labels, picks),
                      "picks": {names[k]: int(sum(1 for p in picks if p == k)) for k in range(n)},
                      "vs_best_single": {m: {"diff": c.diff, "ci": [c.ci_low, c.ci_high], "p": c.p_value}
                                         for m, c in comparison.metrics.items()}}
    ties = float(np.mean(labels.max(axis=1) == labels.min(axis=1)))
    return {"task": task, "questions": len(records), "retrievers": names, "best_single": best_single,
            "primary_metric": key, "rows": rows, "share_all_retrievers_tie": ties,
            "best_single_accuracy": selector_accuracy(labels, [names.index(best_single)] * len(records))}


def format_pool_table(table: Mapping[str, Any]) -> str:
    """A markdown table of :func:`pool_table` (single retrievers, oracle, selectors)."""
    keys = get_task(table["task"]).metrics
    head = ["method", *keys, "picks the best", "p vs best single", "picks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in table["rows"].items():
        m = row["metrics"]
        single = row["kind"] == "single"
        label = f"{name} (best single)" if name == table["best_single"] else name
        acc = f"{row['selector_accuracy']:.3f}" if not single else \
            (f"{table['best_single_accuracy']:.3f}" if name == table["best_single"] else "")
        p = "" if single else f"{row['vs_best_single'][table['primary_metric']]['p']:.4f}"
        picks = "" if single else ", ".join(f"{k} {v}" for k, v in row["picks"].items() if v)
        lines.append("| " + " | ".join([label, *(f"{m[k]:.4f}" for k in keys), acc, p, picks]) + " |")
    return "\n".join(lines)
