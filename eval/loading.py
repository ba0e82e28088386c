"""Read sets of outputs/predictions files — one JSON, a folder or a zip — keyed by task.

Each file is parsed by the rules of every loader (:mod:`lamp.core.jsonio`: a UTF-8 byte-order mark
allowed, JSON or JSON Lines; ``.json`` and ``.jsonl`` files of a folder or zip are read).

As in the official ``eval_all.py`` only each file's ``task`` field matters, not its name. Unlike it,
zips are read in place (no extraction, nothing deleted): the official script empties ``--temp_dir``.
Files whose name contains ``questions`` are skipped, so an official data folder can be passed as is,
except where a benchmark keeps the gold text in its dataset rows (LongLaMP: ``Task.schema.gold_field``):
a questions file of such a task in the benchmark's own layout is its golds (each row's ``output``
under its made id, :mod:`lamp.core.native`), so ``lamp eval --golds`` takes the dataset file itself.
LongLaMP's official generation output (``[{"id", "generated_text", "output"}]``, a ``lamp submit``
member) is read as predictions by its ``generated_text``; its ``output`` is the gold.
A bare list without a ``task`` field takes its task from a ``LaMP_i`` folder on its path
(:func:`lamp.core.sources.task_from_path`, the rule ``lamp validate`` uses), or from ``--task``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from lamp.core.errors import LampDataError, LampError
from lamp.core.jsonio import Problems, decode_json_bytes
from lamp.core.native import is_native, matching_tasks
from lamp.core.outputs import outputs_from_json
from lamp.core.sources import read_zip_member, task_from_path
from lamp.core.tasks import BENCHMARK_TASKS, TASKS, get_task, normalize_task_name

from eval.metrics import id_mismatch_message
from eval.metrics import IdMismatchError


@dataclass
class OutputsFile:
    """One task's outputs (or predictions) with the name of the file they came from."""

    task: str                  # canonical task name, e.g. "LaMP-1"
    source: str                # "golds.zip!LaMP_1/dev_outputs.json" — for messages
    outputs: dict[str, str]    # id -> output, in file order


def _is_questions(name: str) -> bool:
    return "questions" in PurePosixPath(name).name.lower()


def _holds_golds(name: str) -> bool:
    """A questions file that may carry the golds: under a folder of a task whose rows hold the gold text."""
    task = task_from_path(name)
    schema = get_task(task).schema if task else None
    return schema is not None and schema.gold_field is not None


def _native_rows(obj: Any) -> bool:
    """A list of records in a benchmark's own layout (LongLaMP's ``{input, output, profile, ...}``)."""
    return isinstance(obj, list) and bool(obj) and is_native(obj[0]) and "output" in obj[0]


def _json_members(path: Path, split: str | None = None) -> Iterator[tuple[str, Any]]:
    """(display name, parsed JSON) for every JSON file of a folder, a zip or a single file.

    ``split`` keeps only ``{split}_*.json`` inside folders and zips (official data folders hold
    train and dev outputs side by side).
    """
    def skip(name: str) -> bool:
        base = PurePosixPath(name).name
        return (_is_questions(base) and not _holds_golds(name)) or \
            (split is not None and not base.startswith(f"{split}_"))

    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json*") if p.is_file() and p.suffix.lower() in (".json", ".jsonl")
                       and not p.name.startswith("."))
        for p in files:
            if skip(str(p)):
                continue
            yield str(p), _parse(p.read_bytes(), str(p))
        return
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith((".json", ".jsonl")) and not n.endswith("/")
                         and not n.startswith("__MACOSX/") and not PurePosixPath(n).name.startswith(".")]
                for n in sorted(names):
                    if not skip(n):
                        yield f"{path}!{n}", _parse(read_zip_member(zf, n, f"{path}!{n}"), f"{path}!{n}")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise LampError(f"{path}: the zip file is damaged ({exc}); download or pack it again") from None
        return
    data = path.read_bytes()
    if path.suffix.lower() == ".zip":
        raise LampError(f"{path}: not a valid zip file (truncated download?); expected a zip of "
                        "LaMP outputs/predictions JSON files")
    yield str(path), _parse(data, str(path), hint=True)


def _parse(data: bytes, name: str, hint: bool = False) -> Any:
    """The file's JSON (or JSON Lines) by the rules of every loader (:func:`lamp.core.jsonio.decode_json_bytes`)."""
    try:
        return decode_json_bytes(data, name)
    except LampDataError as exc:
        if hint:
            raise LampError(f"{name}: neither a zip nor a JSON file ({exc.reason})") from None
        raise


def _generated_rows(obj: Any) -> bool:
    """LongLaMP's official generation output (``[{"generated_text", "output": gold}]``, what ``lamp submit``
    packs): its prediction is ``generated_text``; its ``output`` is the gold and must never be read as one."""
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], dict) and "generated_text" in obj[0]


def _from_generated(obj: list[Any], name: str) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(obj):
        if not isinstance(row, dict) or "id" not in row or "generated_text" not in row:
            raise LampError(f"{name}: row {i}: expected {{\"id\", \"generated_text\", \"output\"}} (LongLaMP's "
                            "generation output with lamp's question ids); the official file without ids cannot be "
                            "matched to questions")
        text = row["generated_text"]
        rows.append({"id": row["id"], "output": "" if text is None else text})     # officially None: no answer
    return rows


def _rows_task(obj: list[Any], name: str, wanted: str | None) -> str:
    """The task whose record layout reads a dataset's own rows (it makes their ids): ``--task`` or the path's."""
    task = wanted or task_from_path(name)
    if task is None:
        fits = ", ".join(matching_tasks(obj[0])) or "none"
        raise LampError(f"{name}: dataset rows without ids ({{\"input\", \"output\", \"profile\", ...}}) and no task "
                        f"folder on the path; pass --task (tasks with this layout: {fits})")
    return task


def _same_task(file_task: str, wanted: str) -> bool:
    """Equal, or two tasks whose files name the same task (``Task.file_task``: both LaMP-2 versions say "LaMP_2")."""
    return (get_task(file_task).file_task or file_task) == (get_task(wanted).file_task or wanted)


def read_outputs_set(path: str | os.PathLike, role: str = "predictions",
                     task: str | None = None, split: str | None = None) -> dict[str, OutputsFile]:
    """All outputs files under ``path`` keyed by canonical task name.

    ``role`` ("golds" or "predictions") only words the messages. With ``task`` a file without a
    ``task`` field is taken to be that task and files of other tasks are ignored; a file that
    names a different task is an error when it is the only one. ``split`` (e.g. "dev") keeps only
    ``dev_*.json`` files of a folder or zip.
    """
    p = Path(path)
    if not p.exists():
        raise LampError(f"{p}: no such file or folder ({role})")
    wanted = get_task(task).name if task else None
    found: dict[str, OutputsFile] = {}
    n_json = 0
    single = p.is_file() and not zipfile.is_zipfile(p)
    for name, obj in _json_members(p, split):
        if _generated_rows(obj):
            obj = _from_generated(obj, name)
        native = _native_rows(obj)
        if not single and _is_questions(name) and not native:
            continue        # a questions file in LaMP's layout (no gold text in it)
        n_json += 1
        parsed = outputs_from_json(obj, Problems(name), _rows_task(obj, name, wanted) if native else None)
        if parsed.task is not None:
            file_task = normalize_task_name(parsed.task)
        else:
            file_task = wanted or task_from_path(name)
            if file_task is None:
                raise LampError(f"{name}: a bare list without a 'task' field and no LaMP_i folder on its path; "
                                "add \"task\": \"LaMP_i\" or pass --task")
        if wanted and not _same_task(file_task, wanted):
            if single:
                raise LampError(f"{name}: the file is for {get_task(file_task).file_name}, but "
                                f"{get_task(wanted).file_name} was asked for ({role})")
            continue
        if wanted:
            file_task = wanted     # e.g. a "LaMP_2" file scored as LaMP-2-old
        if file_task in found:
            hint = " (or pass --split dev)" if role == "golds" and not split else ""
            raise LampError(f"{role}: two files for {get_task(file_task).file_name}: {found[file_task].source} "
                            f"and {name}; keep one per task{hint}")
        found[file_task] = OutputsFile(file_task, name, parsed.by_id())
    if n_json == 0:
        only = f" named {split}_*.json" if split else ""
        raise LampError(f"{p}: no JSON outputs files{only} inside ({role}); expected one "
                        "{\"task\": \"LaMP_i\", \"golds\": [...]} file per task")
    if not found:
        raise LampError(f"{p}: no {role} for {get_task(wanted).file_name} inside" if wanted else
                        f"{p}: no {role} files inside")
    return found


def detect_old_lamp2(golds: OutputsFile) -> OutputsFile:
    """Treat "LaMP_2" golds whose values are all old news categories as LaMP-2-old.

    The file format names both LaMP-2 versions "LaMP_2"; scoring news categories against the
    movie tags would map every gold to -1 and report nonsense. In general: golds filed under a task
    that another task's files also name (``Task.file_task``) are that other task's when every value
    is one of its labels and none is one of the named task's.
    """
    values = {str(v).strip() for v in golds.outputs.values()}
    own = set(get_task(golds.task).labels or ())
    for other in TASKS.values():
        if other.file_task == golds.task and values and values <= set(other.labels or ()) and not values & own:
            return OutputsFile(other.name, golds.source, golds.outputs)
    return golds


def pair_sets(golds: dict[str, OutputsFile], preds: dict[str, OutputsFile], require_all: bool = False,
              golds_path: str = "golds", preds_path: str = "predictions") -> list[tuple[OutputsFile, OutputsFile]]:
    """(golds, predictions) per task present in the predictions, ids checked.

    Raises one :class:`LampError` paragraph listing every problem: predictions without golds,
    tasks missing under ``require_all`` (all of ``BENCHMARK_TASKS``), mismatched ids.
    """
    problems: list[str] = []
    pairs: list[tuple[OutputsFile, OutputsFile]] = []
    if require_all:
        missing = [get_task(t).file_name for t in BENCHMARK_TASKS if t not in preds]
        if missing:
            problems.append(f"{preds_path}: the leaderboard needs all {len(BENCHMARK_TASKS)} tasks; missing "
                            f"{', '.join(missing)} (found {', '.join(get_task(t).file_name for t in preds) or 'none'})")
    for task, pred in preds.items():
        if task not in golds:
            have = ", ".join(get_task(t).file_name for t in golds) or "none"
            problems.append(f"{pred.source}: predictions for {get_task(task).file_name} but {golds_path} has no "
                            f"golds for it (golds found: {have})")
            continue
        gold = detect_old_lamp2(golds[task])
        message = id_mismatch_message(list(gold.outputs), list(pred.outputs), get_task(task).file_name,
                                      gold.source, pred.source)
        if message:
            problems.append(message)
            continue
        pairs.append((gold, OutputsFile(gold.task, pred.source, pred.outputs)))
    if problems:
        error = IdMismatchError if all("do not match" in p for p in problems) else LampError
        raise error(" ".join(problems))
    return sorted(pairs, key=lambda pair: list(TASKS).index(pair[0].task))
