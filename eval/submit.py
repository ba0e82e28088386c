"""``lamp submit``: pack a leaderboard zip from prediction files, after checking them.

Checks, each refusing with one clear paragraph (exit 2): every file is in the official format
``{"task": "LaMP_i", "golds": [{"id", "output"}]}``; no task appears twice; all seven benchmark tasks
are present (``--allow-incomplete`` to pack fewer); the ids of each task equal the ids of that
task's test questions. Out-of-label classification outputs and unparseable ratings only warn
(they are legal, and scored by the official rules). The zip holds one ``LaMP_i.json`` per task
(the leaderboard reads only the ``task`` field), is written atomically, and an existing file is
never overwritten without ``--force``.

Example::

    lamp submit run/predictions/bm25 --questions data/lamp --output bm25_test.zip
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from lamp.core.errors import LampError
from lamp.core.questions import iter_questions
from lamp.core.sources import find_file
from lamp.core.writing import atomic_write
from lamp.core.tasks import BENCHMARK_TASKS, get_task

from eval.loading import OutputsFile, read_outputs_set
from eval.metrics import id_mismatch_message, label_index, parse_rating


def collect_predictions(paths: list[str | os.PathLike]) -> dict[str, OutputsFile]:
    """Prediction files from several files / folders / zips, keyed by task; duplicates refused."""
    found: dict[str, OutputsFile] = {}
    for path in paths:
        for task, out in read_outputs_set(path, "predictions").items():
            if task in found:
                raise LampError(f"two prediction files for {get_task(task).file_name}: {found[task].source} and "
                                f"{out.source}; keep one per task")
            found[task] = out
    return found


def check_submission(preds: dict[str, OutputsFile], questions: str | os.PathLike, split: str | None = "test",
                     allow_incomplete: bool = False) -> list[str]:
    """Refuse (LampError) an incomplete or mismatched set; return warnings for legal oddities."""
    problems: list[str] = []
    extra = [t for t in preds if t not in BENCHMARK_TASKS]
    if extra:
        problems.append(f"the leaderboard has no task {', '.join(extra)} (it has {', '.join(BENCHMARK_TASKS)})")
    missing = [get_task(t).file_name for t in BENCHMARK_TASKS if t not in preds]
    if missing and not allow_incomplete:
        problems.append(f"the leaderboard needs all {len(BENCHMARK_TASKS)} tasks; missing {', '.join(missing)} "
                        "(--allow-incomplete packs fewer)")
    warnings: list[str] = []
    for task, out in preds.items():
        if task not in BENCHMARK_TASKS:
            continue
        try:
            src = find_file(questions, "questions", split, task)
            ids = [q.id for q in iter_questions(src)]
        except LampError as exc:
            problems.append(f"{get_task(task).file_name}: cannot read its {split or ''} questions: {exc}")
            continue
        message = id_mismatch_message(ids, list(out.outputs), get_task(task).file_name, src.name, out.source,
                                      reference="question")
        if message:
            problems.append(message)
        warnings += _format_warnings(task, out)
    if problems:
        raise LampError("refusing to pack the submission: " + " ".join(problems))
    return warnings


def _format_warnings(task: str, out: OutputsFile) -> list[str]:
    t = get_task(task)
    if t.family == "classification":
        bad = [i for i, v in out.outputs.items() if label_index(v, t.labels or ()) < 0]
        what = "are not one of the task's labels (they count as wrong)"
    elif t.family == "rating":
        bad = [i for i, v in out.outputs.items() if parse_rating(v) is None]
        what = "are not numbers (they get the worst-case score)"
    else:
        bad = [i for i, v in out.outputs.items() if not v.strip()]
        what = "are empty"
    if not bad:
        return []
    return [f"{out.source}: {len(bad)} of {len(out.outputs)} outputs {what}; first id {bad[0]!r}"]


def write_submission(preds: dict[str, OutputsFile], output: str | os.PathLike, force: bool = False) -> Path:
    """Write ``LaMP_i.json`` per task into a zip, atomically; refuse to replace a file without ``force``."""
    target = Path(output)
    if target.exists() and not force:
        raise LampError(f"{target}: already exists; choose another --output or pass --force to replace it")
    if target.is_dir():
        raise LampError(f"{target}: is a folder; --output must be a .zip file path")
    with atomic_write(target, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for task in sorted(preds, key=lambda t: BENCHMARK_TASKS.index(t) if t in BENCHMARK_TASKS else 99):
                name = get_task(task).file_name
                body = {"task": name, "golds": [{"id": i, "output": o} for i, o in preds[task].outputs.items()]}
                zf.writestr(f"{name}.json", json.dumps(body, ensure_ascii=False))
    return target
