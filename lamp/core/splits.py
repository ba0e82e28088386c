"""A split: its questions with their golds, read one way by every verb that needs both.

``lamp run``, ``lamp train``, ``evaluate_llm.py``, ROPG, RSPG and the method comparisons all
pair a split's questions with its golds through :func:`read_split`, so each finds the golds by the
same rules (and names the same file when one is missing):

1. the outputs file given (``--train_outputs``, ``--outputs_addr`` …);
2. else the ``output`` field of each record (the merged "sorted dataset" of ``lamp merge``:
   ``{id, input, profile, output}``);
3. else ``{split}_outputs.json`` beside a ``{split}_questions.json`` (``.jsonl`` too), or the one
   ``*_outputs.json`` of the split in the official folder or zip given;
4. else, for a task whose data has no gold text (LaMP-QA: a judge scores each answer against the
   question's rubric, kept in the question), an empty gold for every question, so the verbs
   that pair questions with golds take it without an outputs file (``golds_source`` stays None:
   nothing is scored against them).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lamp.core.errors import LampDataError, LampError
from lamp.core.outputs import load_outputs
from lamp.core.questions import QuestionTransform, load_questions
from lamp.core.records import Outputs, Question
from lamp.core.sources import Source, find_file
from lamp.core.tasks import Task, get_task


@dataclass(frozen=True)
class Split:
    """The questions of a split and the golds found for them."""

    task: str                          # canonical task name
    questions: list[Question]
    golds: dict[str, str]              # question id -> gold output, for the questions that have one
    golds_source: str | None           # the file the golds came from; None when none was found

    def pair(self) -> tuple[list[Question], dict[str, str]]:
        """``(questions, golds)``, for a caller that takes them apart."""
        return self.questions, self.golds


def sibling_outputs(path: Path, task: Task, split: str | None = None) -> Path | Source | None:
    """``dev_questions.json`` -> ``dev_outputs.json`` next to it (``.jsonl`` too); in a folder or
    zip of the official layout, its one ``*_outputs.json`` (of ``split``); None when there is none."""
    for suffix in ("_questions.json", "_questions.jsonl"):
        if path.is_file() and path.name.endswith(suffix):
            stem = path.name[: -len(suffix)]
            candidates = [path.with_name(f"{stem}_outputs{ext}") for ext in (".json", ".jsonl")]
            return next((c for c in candidates if c.is_file()), None)
    if path.is_dir() or (path.is_file() and zipfile.is_zipfile(path)):
        try:
            return find_file(path, "outputs", split, task=task.name)
        except LampError:
            return None
    return None


def read_split(questions_path: str | os.PathLike, task: str | Task | None,
               outputs_path: str | os.PathLike | None = None, *, split: str | None = None,
               require_outputs: bool = True, limit: int | None = None,
               transform: QuestionTransform | None = None) -> Split:
    """The questions of ``questions_path`` (the first ``limit``) and their golds (rules: module docstring).

    ``task`` None takes the task from the outputs file's ``task`` field. ``split`` picks the split
    in a folder or zip holding several; ``transform`` changes each question as it is loaded
    (``--scrub``). With ``require_outputs`` a question without a gold is an error naming the file
    and the question id.
    """
    given: Outputs | None = None
    if task is None:
        if outputs_path is None:
            raise LampError(f"{questions_path}: the task is unknown; pass --task")
        given = load_outputs(outputs_path)
        if given.task is None:
            raise LampDataError("no 'task' field to take the task from; pass --task", file=str(outputs_path),
                                field="task")
    task = get_task(task if task is not None else given.task)
    questions = load_questions(questions_path, split=split, task=task.name, transform=transform)
    if limit:
        questions = questions[:limit]
    source: str | os.PathLike | Source | None = outputs_path or None
    if source is None and not any((q.extra or {}).get("output") is not None for q in questions[:1]):
        source = sibling_outputs(Path(questions_path), task, split)
    golds: dict[str, str] = {}
    if source is not None:
        golds = (given or load_outputs(source, task=task.name)).by_id()
    ids = {q.id for q in questions}
    golds = {qid: output for qid, output in golds.items() if qid in ids}
    for q in questions:
        embedded = (q.extra or {}).get("output")
        if q.id not in golds and embedded is not None:
            golds[q.id] = str(embedded)
    where = None if source is None else source.name if isinstance(source, Source) else str(source)
    if where is None and golds:
        where = str(questions_path)
    if source is None and not golds and task.schema is not None and task.schema.gold_field is None:
        golds = {q.id: "" for q in questions}      # no gold text: golds_source stays None
    if require_outputs:
        for q in questions:
            if q.id not in golds:
                raise LampDataError("no gold output for this question (pass the outputs file, e.g. "
                                    "--train_outputs, or use the merged file of 'lamp merge')",
                                    file=where or str(questions_path), record_id=q.id, field="output")
    return Split(task.name, questions, golds, where)
