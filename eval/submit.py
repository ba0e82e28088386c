"""``lamp submit``: pack one benchmark's test predictions into a zip, after checking them.

Checks, each refusing with one clear paragraph (exit 2): every file is a predictions file; all tasks
belong to one benchmark (the official LaMP scorer reads every JSON of a zip as LaMP predictions); no
task appears twice; the ids of each task equal the ids of that task's test questions. A partial
entry (a subset of the benchmark's tasks, as the leaderboard publishes them with the missing tasks
blank) is packed with a warning naming the missing tasks (``--require-all`` refuses it instead; the
official ``eval_all.py`` demands all seven LaMP tasks). Out-of-label classification outputs,
unparseable ratings and empty texts only warn (they are legal, and scored by the official rules).

**Separation** (user- or time-based): ``--separation user|time``, else read from the run that made the
predictions (its ``config.json`` ``data`` path, when a prediction path lies under
``RUN_DIR/predictions/``) and from the questions checked against: a path with a ``time`` folder is the
time-based release (the official layout ``time/LaMP_i/...``; LongLaMP's ``*_temporal`` configs are
written there too, :mod:`lamp.core.hub`); with no such folder anywhere, user-based. A flag that says
user where a path says time is refused. LaMP-QA has no time-based setting.

**Zip members**: one ``<task>.json`` per task, in the benchmark's official format, and nothing else the
official scorer would read as predictions (it reads every ``**/*.json``):

* LaMP: ``{"task": "LaMP_i", "golds": [{"id", "output"}]}`` (the official ``eval/evaluation.py``);
* LongLaMP: ``[{"id", "generated_text", "output"}]`` in the questions' order, the list its official
  scorer reads (``evaluate_data`` in ``longLaMP/metrics/generation_metrics.py`` of
  LongLaMP-benchmark/LongLaMP-Benchmark pairs ``generated_text`` with the gold ``output`` of each
  row; ``id`` is the made question id, which it ignores); the gold text comes from the test data;
* LaMP-QA: ``{question id: [{"output": answer}]}`` (the response file of the official
  ``evaluate_responses.py`` of LaMP-Benchmark/LaMP-QA, as its README specifies).

What the entry is (benchmark, separation, split, tasks packed and missing) is recorded where no
scorer reads predictions: the zip's comment and a plain-text member ``SUBMISSION.txt``. The zip is
written atomically, and an existing file is never overwritten without ``--force``.

Example::

    lamp submit runs/demo/predictions/bm25 --questions data/lamp/time --output bm25_time_test.zip
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError
from lamp.core.outputs import load_outputs
from lamp.core.questions import iter_questions
from lamp.core.sources import Source, find_file
from lamp.core.tasks import BENCHMARK_TASKS, TASKS, get_task
from lamp.core.writing import atomic_write

from eval.loading import OutputsFile, read_outputs_set
from eval.metrics import id_mismatch_message, label_index, parse_rating

#: The separations a submission can be (``--separation``), as the LaMP leaderboard splits its tables.
SEPARATIONS = ("user", "time")
#: The plain-text member that records what the entry is (not a ``.json``: no scorer reads it).
RECORD_MEMBER = "SUBMISSION.txt"


def benchmark_tasks(benchmark: str) -> tuple[str, ...]:
    """The tasks of a complete entry: LaMP's seven, or every table task of the benchmark."""
    if benchmark == "LaMP":
        return BENCHMARK_TASKS
    return tuple(t.name for t in TASKS.values() if t.benchmark == benchmark)


@dataclass
class Submission:
    """A checked entry: its benchmark, separation, predictions and (LongLaMP) the golds beside them."""

    benchmark: str
    separation: str
    split: str | None
    preds: dict[str, OutputsFile]
    missing: list[str]
    why_separation: str = ""
    #: LongLaMP: per task, the test questions' gold texts in their order (its official format holds both).
    golds: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
                     require_all: bool = False, separation: str | None = None,
                     pred_paths: list[str | os.PathLike] = ()) -> Submission:
    """Refuse (LampError) a mixed, mismatched or (with ``require_all``) partial set; the checked entry
    with its warnings (missing tasks, legal oddities) otherwise."""
    benchmarks = sorted({get_task(t).benchmark for t in preds})
    if len(benchmarks) > 1:
        raise LampError("refusing to pack the submission: one benchmark per zip (the official LaMP scorer reads "
                        f"every JSON of it as LaMP predictions); found {', '.join(benchmarks)}: "
                        + "; ".join(f"{b}: " + ", ".join(get_task(t).file_name for t in preds
                                                                  if get_task(t).benchmark == b) for b in benchmarks))
    benchmark = benchmarks[0]
    wanted = benchmark_tasks(benchmark)
    problems: list[str] = []
    extra = [get_task(t).file_name for t in preds if t not in wanted]
    if extra:
        problems.append(f"the leaderboard has no task {', '.join(extra)} (it has "
                        f"{', '.join(get_task(t).file_name for t in wanted)})")
    missing = [get_task(t).file_name for t in wanted if t not in preds]
    warnings: list[str] = []
    if missing and require_all:
        problems.append(f"{benchmark} needs all {len(wanted)} tasks; missing {', '.join(missing)} "
                        "(without --require-all a partial entry is packed)")
    elif missing:
        warnings.append(f"a partial {benchmark} entry: missing {', '.join(missing)} (the leaderboard shows "
                        "partial entries with those tasks blank; the official eval_all.py demands every task)")
    sources: list[Source] = []
    golds: dict[str, dict[str, str]] = {}
    for task, out in preds.items():
        if task not in wanted:
            continue
        name = get_task(task).file_name
        try:
            src = find_file(questions, "questions", split, task)
            ids = [q.id for q in iter_questions(src, task=task if get_task(task).schema else None)]
        except LampError as exc:
            problems.append(f"{name}: cannot read its {split or ''} questions: {exc}")
            continue
        sources.append(src)
        message = id_mismatch_message(ids, list(out.outputs), name, src.name, out.source, reference="question")
        if message:
            problems.append(message)
            continue
        if get_task(task).family == "long-generation":
            try:
                golds[task] = _test_golds(questions, src, split, task, ids)
            except LampError as exc:
                problems.append(str(exc))
        warnings += _format_warnings(task, out)
    try:
        chosen, why = resolve_separation(separation, list(pred_paths), sources, list(preds))
    except LampError as exc:
        problems.append(str(exc))
        chosen, why = "user", ""
    if problems:
        raise LampError("refusing to pack the submission: " + " ".join(problems))
    return Submission(benchmark, chosen, split, preds, missing, why, golds, warnings)


def _test_golds(questions: str | os.PathLike, src: Source, split: str | None, task: str,
                ids: list[str]) -> dict[str, str]:
    """A LongLaMP task's gold texts by question id, in the questions' order: from the dataset rows
    themselves, else the ``{split}_outputs.json`` beside LaMP-form questions (``lamp data download``)."""
    try:
        by_id = load_outputs(src, task=task).by_id()
    except LampError:
        by_id = {}
    if set(ids) - set(by_id):
        try:
            by_id = load_outputs(find_file(questions, "outputs", split, task), task=task).by_id()
        except LampError as exc:
            raise LampError(f"{get_task(task).file_name}: LongLaMP's official format holds each prediction beside "
                            f"its gold text, and {src.name} has none; the test data (or its {split or ''}"
                            f"_outputs.json) is needed: {exc}") from None
    lost = [i for i in ids if i not in by_id]
    if lost:
        raise LampError(f"{get_task(task).file_name}: {len(lost)} test questions have no gold text (first "
                        f"{lost[0]!r}); LongLaMP's official format holds each prediction beside its gold")
    return {i: by_id[i] for i in ids}


def _time_path(path: str | os.PathLike) -> bool:
    """A path of the time-based release: one of its folders is ``time`` (``time/LaMP_i/...``)."""
    return "time" in Path(str(path).replace("!", "/")).parts


def run_data_path(pred_path: str | os.PathLike) -> tuple[Path, str] | None:
    """(run directory, its config's ``data``) for a path under ``RUN_DIR/predictions/``; None otherwise."""
    p = Path(pred_path).resolve()
    for parent in p.parents:
        if parent.name == "predictions" and (parent.parent / "config.json").is_file():
            try:
                data = json.loads((parent.parent / "config.json").read_text(encoding="utf-8")).get("data")
            except (ValueError, OSError, AttributeError):
                return None
            return (parent.parent, str(data)) if isinstance(data, str) else None
    return None


def resolve_separation(flag: str | None, pred_paths: list[str | os.PathLike], sources: list[Source],
                       tasks: list[str]) -> tuple[str, str]:
    """The entry's separation and why (see the module docstring); LampError on a contradiction."""
    evidence: list[str] = []
    for path in pred_paths:
        run = run_data_path(path)
        if run and _time_path(run[1]):
            evidence.append(f"the run {run[0]} read data from {run[1]}")
    evidence += [f"the questions {s.name}" for s in sources if _time_path(s.name)]
    if flag is not None and flag not in SEPARATIONS:
        raise LampError(f"--separation must be one of {', '.join(SEPARATIONS)}, got {flag!r}")
    single = [get_task(t).file_name for t in tasks
              if get_task(t).schema is not None and "temporal" not in dict(get_task(t).schema.configs)]
    chosen = flag or ("time" if evidence else "user")
    if chosen == "time" and single:
        raise LampError(f"{', '.join(single)}: this benchmark has no time-based setting; pack it as user-based")
    if flag == "user" and evidence:
        raise LampError(f"--separation user, but {evidence[0]} (a time/ folder: the time-based release); "
                        "pass --separation time, or the user-based questions")
    if flag:
        return chosen, "--separation"
    return chosen, (f"{evidence[0]} (a time/ folder)" if evidence else
                    "no time/ folder in the questions' or the run's data path; pass --separation time if not")


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


def member_body(sub: Submission, task: str) -> Any:
    """One task's predictions in its benchmark's official format (module docstring)."""
    t, outputs = get_task(task), sub.preds[task].outputs
    if t.family == "long-generation":
        return [{"id": i, "generated_text": outputs[i], "output": gold} for i, gold in sub.golds[task].items()]
    if t.family == "rubric-qa":
        return {i: [{"output": o}] for i, o in outputs.items()}
    return {"task": t.file_name, "golds": [{"id": i, "output": o} for i, o in outputs.items()]}


def record_text(sub: Submission) -> str:
    """What the entry is, as ``key: value`` lines (the zip comment and ``SUBMISSION.txt``)."""
    packed = [get_task(t).file_name for t in benchmark_tasks(sub.benchmark) if t in sub.preds]
    lines = [f"benchmark: {sub.benchmark}", f"separation: {sub.separation}-based", f"split: {sub.split or ''}",
             f"tasks: {', '.join(packed)}", f"missing: {', '.join(sub.missing) or 'none'}",
             "written by: lamp submit"]
    return "\n".join(lines) + "\n"


def write_submission(sub: Submission, output: str | os.PathLike, force: bool = False) -> Path:
    """Write one official-format member per task, and the record, into a zip atomically; refuse to
    replace a file without ``force``."""
    target = Path(output)
    if target.exists() and not force:
        raise LampError(f"{target}: already exists; choose another --output or pass --force to replace it")
    if target.is_dir():
        raise LampError(f"{target}: is a folder; --output must be a .zip file path")
    order = list(benchmark_tasks(sub.benchmark))
    record = record_text(sub)
    with atomic_write(target, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for task in sorted(sub.preds, key=lambda t: order.index(t) if t in order else len(order)):
                zf.writestr(f"{get_task(task).file_name}.json", json.dumps(member_body(sub, task), ensure_ascii=False))
            zf.writestr(RECORD_MEMBER, record)
            zf.comment = record.encode("utf-8")
    return target
