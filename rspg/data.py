"""The selector's dataset (official ``RSPG/utils/create_data.py``, reference §7.2).

Each question becomes ``{id, input, gold, labels[k], outputs[k], inputs[k], retrievers[k]}``, ``k`` over
the pool in the given order: ``labels`` the chosen metric of retriever k's output, ``outputs`` that
output, ``inputs`` its prompt. [BUG fixed] The official also opens a ``data.json`` in every feedback
folder that no script writes (issue #9); the prompts are read from ``scores.json`` instead.
The pool may have any size (the official hard-codes 6).

Bad input stops with a message naming the file and the record: feedback files whose question ids
differ from the questions (or miss some), a metric not in the feedback (with the close name: the
official README's ``rouge-l`` is ``rouge-L``), or a retriever count below two.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from eval.metrics import default_feedback_metric
from lamp.core.errors import LampDataError, LampError
from lamp.core.registry import unknown_message
from lamp.core.splits import read_split
from lamp.core.writing import write_json

from rspg.feedback import SCORES_FILE, load_scores

def check_metric(metric: str, available: Sequence[str], where: str) -> None:
    """A clear error, with the close key, for a metric the feedback does not hold."""
    if metric in available:
        return
    raise LampError(f"{where}: not in the feedback: {unknown_message('metric', metric, available)}")


def names_of(folders: Sequence[str | os.PathLike]) -> list[str]:
    """Retriever names: each feedback folder's name (its ``feedback_info.json`` name when present)."""
    import json

    names = []
    for folder in folders:
        info = Path(folder) / "feedback_info.json"
        name = Path(folder).name if Path(folder).is_dir() else Path(folder).parent.name
        if info.exists():
            name = json.loads(info.read_text(encoding="utf-8")).get("retriever", {}).get("name", name)
        names.append(name)
    return names


def create_data(questions: Sequence[Mapping[str, Any]], golds: Mapping[str, str],
                feedback: Sequence[Mapping[str, Mapping[str, Any]]], metric: str, names: Sequence[str],
                sources: Sequence[str] | None = None, golds_file: str | None = None) -> list[dict[str, Any]]:
    """The selector's records (see the module docstring); ``feedback[k]`` is retriever k's scores.json."""
    if len(feedback) < 2:
        raise LampError(f"a selector needs at least two retrievers, got {len(feedback)}")
    sources = list(sources or names)
    ids = [str(q["id"]) for q in questions]
    first_metric = next(iter(feedback[0].values()), {}).get("metric", {}) if feedback[0] else {}
    check_metric(metric, list(first_metric), f"{sources[0]}/{SCORES_FILE}")
    for k, scores in enumerate(feedback):
        missing = [i for i in ids if i not in scores]
        extra = [i for i in scores if i not in set(ids)]
        if missing or extra:
            what = (f"{len(missing)} questions have no feedback (first {missing[0]!r})" if missing else
                    f"{len(extra)} feedback records are for questions not in the input (first {extra[0]!r})")
            raise LampDataError(f"the pool's question ids differ: {what}; score every retriever on the same "
                                "questions", file=f"{sources[k]}/{SCORES_FILE}",
                                record_id=(missing or extra)[0])
    out = []
    for q, qid in zip(questions, ids):
        if qid not in golds:
            raise LampDataError("no gold output for this question", file=golds_file, record_id=qid, field="output")
        labels = []
        for k, scores in enumerate(feedback):
            metrics = scores[qid]["metric"]
            if metric not in metrics:
                check_metric(metric, list(metrics), f"{sources[k]}/{SCORES_FILE} record id {qid!r}")
            labels.append(float(metrics[metric]))
        record = {key: value for key, value in q.items() if key != "profile"}
        record.update(id=qid, gold=golds[qid], labels=labels,
                      outputs=[scores[qid]["output"] for scores in feedback],
                      inputs=[scores[qid]["input"] for scores in feedback], retrievers=list(names))
        out.append(record)
    return out


def create_data_files(feedback_dirs: Sequence[str | os.PathLike], inputs_addr: str, outputs_addr: str,
                      output_addr: str, metric: str | None, task: str | None = None,
                      names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The file-level ``create_data``: read, check, write ``output_addr`` atomically."""
    found = read_split(inputs_addr, task, outputs_addr, require_outputs=False)
    task = found.task
    raw = [q.to_json() for q in found.questions]
    feedback = [load_scores(d) for d in feedback_dirs]
    names = list(names) if names else names_of(feedback_dirs)
    if len(names) != len(feedback):
        raise LampError(f"{len(names)} names for {len(feedback)} feedback folders")
    records = create_data(raw, found.golds, feedback, metric or default_feedback_metric(task), names,
                          [str(d) for d in feedback_dirs], outputs_addr)
    write_json(pool_info_path(output_addr), pool_info(feedback_dirs, names), indent=1)
    write_json(output_addr, records)
    return records


def pool_info_path(dataset_addr: str | os.PathLike) -> Path:
    """The sidecar beside a selector dataset that says how its prompts were made (for RSPG-Pre as a retriever)."""
    return Path(f"{dataset_addr}.pool.json")


def pool_info(feedback_dirs: Sequence[str | os.PathLike], names: Sequence[str]) -> dict[str, Any]:
    """The pool's members and prompt settings, from each feedback folder's ``feedback_info.json``."""
    import json

    members, configs, tokenizers = [], [], []
    for folder, name in zip(feedback_dirs, names):
        path = Path(folder) / "feedback_info.json"
        info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        member = dict(info.get("retriever") or {"name": name, "ranker": name, "options": {}})
        member["name"] = name
        members.append(member)
        configs.append(info.get("config"))
        tokenizers.append(info.get("tokenizer"))
    config = next((c for c in configs if c), None)
    return {"members": members, "k": (config or {}).get("k"), "max_length": (config or {}).get("max_length"),
            "use_date": (config or {}).get("use_date", False), "tokenizer": next((t for t in tokenizers if t), None)}
