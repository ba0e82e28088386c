"""Outputs (golds or predictions) and ranking files: the one reader of each, checking their shape.

* **Outputs**: ``{"task": "LaMP_i", "golds": [{"id", "output"}, ...]}``, a bare list of
  ``{"id", "output"}``, or JSON Lines: one ``{"id", "output"}`` per line, optionally after a first
  line ``{"task": "LaMP_i"}``. For a task whose dataset holds the gold text in each row (LongLaMP),
  the dataset's own rows too (``[{"input", "output", "profile", …}]``): each row's ``output`` under
  its made id (:mod:`lamp.core.native`).
* **Rankings**: ``{question id: [profile ids, best first]}``, or JSON Lines: one
  ``{"id": question id, "ranking": [profile ids]}`` per line.

File rules (encodings, JSON Lines) are those of :mod:`lamp.core.jsonio`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lamp.core.errors import LampDataError, LampError
from lamp.core.jsonio import JsonLines, Problems, as_id, read_json
from lamp.core.native import is_native, to_lamp
from lamp.core.records import Gold, Outputs
from lamp.core.sources import Source, as_source, task_folder_name
from lamp.core.tasks import get_task, normalize_task_name


def outputs_from_json(obj: Any, problems: Problems, task: str | None = None) -> Outputs:
    """Parse ``{"task", "golds"}``, a bare list of ``{"id", "output"}`` or their JSON Lines form.

    JSON Lines (:class:`JsonLines`): one ``{"id", "output"}`` per line, optionally after a first
    line ``{"task": ...}``; a lone ``{"id", "output"}`` object is a one-line file.
    """
    file_task: str | None = None
    if isinstance(obj, JsonLines) and obj and isinstance(obj[0], dict) and "task" in obj[0] and "id" not in obj[0]:
        obj = {**obj[0], "golds": obj[1:]}
    elif isinstance(obj, dict) and "id" in obj and "golds" not in obj and "task" not in obj:
        obj = [obj]
    if isinstance(obj, dict):
        if "golds" not in obj:
            problems.error(f"expected keys 'task' and 'golds', found {sorted(obj)[:6]}", None, "golds")
            return Outputs(None, [])
        file_task, records = obj.get("task"), obj["golds"]
        if file_task is not None and not isinstance(file_task, str):
            problems.error(f"expected a task name string, got {file_task!r}", None, "task")
            file_task = None
        if file_task is not None:
            try:
                canonical = normalize_task_name(file_task)
            except LampError as exc:
                problems.error(str(exc), None, "task")
                canonical = None
            if task and canonical and canonical != get_task(task).name and not get_task(task).accepts(file_task):
                problems.error(f"the file is for {file_task}, expected {task_folder_name(get_task(task).name)}",
                               None, "task")
    elif isinstance(obj, list):
        records = obj
    else:
        problems.error(f"expected an object with 'golds' or a list, got {type(obj).__name__}")
        return Outputs(None, [])
    if not isinstance(records, list):
        problems.error(f"expected a list, got {type(records).__name__}", None, "golds")
        return Outputs(file_task, [])
    golds: list[Gold] = []
    seen: set[str] = set()
    schema = get_task(task).schema if task else None
    for row, raw in enumerate(records):
        if schema is not None and schema.gold_field is not None and is_native(raw) and "id" not in raw:
            raw = to_lamp(schema, raw, row, problems)      # a LongLaMP row: its made id and its output
            if raw is None:
                continue
        if not isinstance(raw, dict) or "id" not in raw:
            problems.error(f"each entry must be an object with 'id' and 'output', got {str(raw)[:80]}", None, "golds")
            continue
        gid = as_id(raw["id"], problems, None, "id")
        if gid is None:
            continue
        out = raw.get("output")
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            out = str(out)
        if not isinstance(out, str):
            problems.error("missing" if out is None else f"expected a string, got {type(out).__name__}", gid, "output")
            continue
        if gid in seen:
            problems.error("duplicate id", gid, "id")
            continue
        seen.add(gid)
        golds.append(Gold(gid, out))
    return Outputs(file_task, golds)


def load_outputs(path: str | os.PathLike | Source, *, split: str | None = None,
                 task: str | None = None) -> Outputs:
    """An outputs or predictions file; raises :class:`LampDataError` on the first problem."""
    src = as_source(path, "outputs", split, task)
    return outputs_from_json(read_json(src), Problems(src.name), task)


def load_rankings(path: str | os.PathLike) -> dict[str, list[str]]:
    """The one reader of ranking files ({question id: [profile ids]}), checking their shape.

    JSON Lines: one ``{"id": question id, "ranking": [profile ids]}`` per line (a lone such
    object is a one-line file: its ``id`` is a string, which no ranking's value is).
    """
    name = str(path)
    if not Path(path).exists():
        raise LampDataError("no such file", file=name)
    obj = read_json(path)
    if isinstance(obj, dict) and set(obj) == {"id", "ranking"} and isinstance(obj["id"], (str, int)):
        obj = JsonLines([obj])
    if isinstance(obj, JsonLines):
        pairs: dict[Any, Any] = {}
        for record in obj:
            if not isinstance(record, dict) or "id" not in record or "ranking" not in record \
                    or not isinstance(record["id"], (str, int)):
                raise LampDataError(f"each line must be {{\"id\": question id, \"ranking\": [profile ids]}}, got "
                                    f"{str(record)[:80]}", file=name)
            if str(record["id"]) in pairs:
                raise LampDataError("the question is ranked twice", file=name, record_id=str(record["id"]))
            pairs[str(record["id"])] = record["ranking"]
        obj = pairs
    if not isinstance(obj, dict):
        raise LampDataError(f"expected an object {{question id: [profile ids]}}, got {type(obj).__name__}",
                            file=name)
    for qid, ids in obj.items():
        if not isinstance(ids, list) or not all(isinstance(i, (str, int)) for i in ids):
            raise LampDataError("expected a list of profile ids", file=name, record_id=qid)
    return {str(k): [str(i) for i in v] for k, v in obj.items()}
