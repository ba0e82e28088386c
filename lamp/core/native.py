"""Records in a benchmark's own layout (LongLaMP, LaMP-QA) read into LaMP's ``{id, input, profile}``.

A task with a :class:`~lamp.core.tasks.RecordSchema` accepts its Hugging Face dataset's rows as they
are (from the Hub, ``save_to_disk``, Parquet, JSON Lines or the official JSON dumps); every loader
reads them through :func:`to_lamp`, field by field, so a missing or wrong-typed field names the
file, the row and the field. Rows already in LaMP's layout (files ``lamp`` wrote) pass unchanged.

Ids, where the data has none (the rule is part of the format: the same file gives the same ids):

* a question: ``"{row}-{h}"``, ``row`` the record's 0-based position in its file (the dataset's
  index) and ``h`` the first 8 hex digits of the SHA-1 of its input text, so a prediction made for
  another file (another split, a reordered copy) does not match by accident;
* a profile item: ``"{position}-{h}"``, its 0-based position in the profile and the first 8 hex
  digits of the SHA-1 of the item's canonical JSON (sorted keys), unless the data gives it a
  non-empty ``id`` (LongLaMP abstracts and posts, LaMP-QA).

Values: numbers (a review's ``overall``, an abstract's ``year``) are kept as ``str(value)``, the text
the official f-strings write (``5.0`` -> ``"5.0"``); the schema's ``date_field`` becomes the item's
``date`` (an abstract's year), which the ``recency`` ranker reads; the user field becomes
``user_id``; the gold text becomes ``output`` (read as the golds by :func:`lamp.core.splits.read_split`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lamp.core.jsonio import Problems
from lamp.core.tasks import TASKS, RecordSchema


def is_native(raw: Any) -> bool:
    """True for a record in a benchmark's own layout: LaMP's records carry both ``id`` and ``input``."""
    return isinstance(raw, dict) and ("id" not in raw or "input" not in raw)


def matching_tasks(raw: dict[str, Any]) -> list[str]:
    """The tasks whose record layout has every top-level field of ``raw`` that it requires (for
    the hint when a row comes without ``--task``)."""
    found = []
    for task in TASKS.values():
        schema = task.schema
        if schema is None:
            continue
        needed = {schema.input_field, "profile", *(n for n, _ in schema.fields),
                  *((schema.user_field,) if schema.user_field else ())}
        if needed <= set(raw):
            found.append(task.name)
    return found


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def made_id(row: int, text: str) -> str:
    """The id of a question without one: its row and a hash of its input (module docstring)."""
    return f"{row}-{_digest(text)}"


def made_item_id(position: int, item: dict[str, Any]) -> str:
    """The id of a profile item without one: its position and a hash of its content."""
    return f"{position}-{_digest(json.dumps(item, sort_keys=True, ensure_ascii=False, default=str))}"


def _kind_problem(value: Any, kind: str) -> str | None:
    """Why ``value`` is not of the schema kind ``kind``; None when it is."""
    if value is None:
        return "missing"
    if kind == "str":
        return None if isinstance(value, str) else f"expected a string, got {type(value).__name__}"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return f"expected a number, got {type(value).__name__}"
        try:
            float(value)
        except ValueError:
            return f"expected a number, got {value!r}"
        return None
    if kind == "rubric":
        if not isinstance(value, list):
            return f"expected a list of {{aspect, reason, evidence}}, got {type(value).__name__}"
        for i, aspect in enumerate(value):
            if not isinstance(aspect, dict):
                return f"aspect {i}: expected an object, got {type(aspect).__name__}"
            for key in ("aspect", "reason", "evidence"):
                if not isinstance(aspect.get(key), str):
                    what = "missing" if aspect.get(key) is None else f"not a string ({type(aspect[key]).__name__})"
                    return f"aspect {i}: {key!r} is {what}"
        return None
    raise ValueError(f"unknown field kind {kind!r}")


def _value(value: Any, kind: str) -> Any:
    return str(value) if kind == "number" else value


def to_lamp(schema: RecordSchema, raw: dict[str, Any], row: int, problems: Problems) -> dict[str, Any] | None:
    """The record in LaMP's layout, or None (after reporting each problem) when it cannot be read.

    Problems name the file (``problems.file``), the row (in the message), the record id and the field.
    """
    text = raw.get(schema.input_field)
    where = f"row {row}"
    if not isinstance(text, str):
        qid = made_id(row, "") if schema.id_field is None else str(raw.get(schema.id_field, f"row {row}"))
        problems.error(f"{where}: " + (_kind_problem(text, "str") or ""), qid, schema.input_field)
        return None
    if schema.id_field is None:
        qid = made_id(row, text)
    else:
        value = raw.get(schema.id_field)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            problems.error(f"{where}: " + ("missing" if value in (None, "") else
                                           f"expected a string id, got {type(value).__name__}"),
                           None, schema.id_field)
            return None
        qid = str(value)
    out: dict[str, Any] = {"id": qid, "input": text}
    ok = True
    if schema.gold_field is not None:
        reason = _kind_problem(raw.get(schema.gold_field), "str")
        if reason:
            problems.error(f"{where}: {reason}", qid, schema.gold_field)
            ok = False
        else:
            out["output"] = raw[schema.gold_field]
    if schema.user_field is not None and raw.get(schema.user_field) is not None:
        user = raw[schema.user_field]
        if isinstance(user, (str, int)) and not isinstance(user, bool):
            out["user_id"] = str(user)
        else:
            problems.error(f"{where}: expected a string, got {type(user).__name__}", qid, schema.user_field)
            ok = False
    for name, kind in schema.fields:
        reason = _kind_problem(raw.get(name), kind)
        if reason:
            problems.error(f"{where}: {reason}", qid, name)
            ok = False
        else:
            out[name] = _value(raw[name], kind)
    known = {schema.input_field, schema.gold_field, schema.user_field, schema.id_field, "profile",
             *(name for name, _ in schema.fields)}
    out.update({k: v for k, v in raw.items() if k not in known})     # columns of no schema: kept as they are
    profile = raw.get("profile")
    if not isinstance(profile, list):
        problems.error(f"{where}: " + ("missing" if profile is None else
                                       f"expected a list, got {type(profile).__name__}"), qid, "profile")
        return None
    items = [_item(schema, it, i, qid, where, problems) for i, it in enumerate(profile)]
    if not ok or any(it is None for it in items):
        return None
    out["profile"] = items
    return out


def _item(schema: RecordSchema, raw: Any, position: int, qid: str, where: str,
          problems: Problems) -> dict[str, Any] | None:
    """One profile item in LaMP's layout (ids made where the data has none), or None after the problems."""
    if not isinstance(raw, dict):
        problems.error(f"{where}: profile item {position}: expected an object, got {type(raw).__name__}", qid,
                       "profile")
        return None
    given = raw.get(schema.item_id_field) if schema.item_id_field else None
    if given not in (None, "") and (isinstance(given, bool) or not isinstance(given, (str, int))):
        problems.error(f"{where}: profile item {position}: expected a string id, got {type(given).__name__}",
                       qid, f"profile[{position}].{schema.item_id_field}")
        return None
    out: dict[str, Any] = {"id": str(given) if given not in (None, "") else made_item_id(position, raw)}
    ok = True
    for name, kind in schema.item_fields:
        reason = _kind_problem(raw.get(name), kind)
        if reason:
            problems.error(f"{where}: {reason}", qid, f"profile[{position}].{name}")
            ok = False
        else:
            out["date" if name == schema.date_field else name] = _value(raw[name], kind)
    known = {schema.item_id_field, *(name for name, _ in schema.item_fields)}
    out.update({k: v for k, v in raw.items() if k not in known and v is not None})
    return out if ok else None


def item_to_lamp(schema: RecordSchema, raw: Any, position: int, where: str,
                 problems: Problems) -> dict[str, Any] | None:
    """One profile item sent in the benchmark's own layout (``lamp serve``'s PUT/POST of, say, a
    LongLaMP review without an id) in LaMP's layout, read by the rules the data files follow."""
    return _item(schema, raw, position, where, where, problems)
