"""Check LaMP files and report every problem, grouped, with counts and examples (``lamp validate``).

Exit code 2 when any error is found; warnings (e.g. an empty profile text) are reported but pass.
A folder or zip is checked file by file, and each ``{split}_outputs.json`` is checked against the
``{split}_questions.json`` beside it (ids must match).
"""

from __future__ import annotations

import contextlib
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lamp.core.errors import LampDataError, LampError
from lamp.core.jsonio import Problems, read_json
from lamp.core.outputs import outputs_from_json
from lamp.core.questions import iter_questions
from lamp.core.sources import (ARROW_STATE, DATASET_DICT, TABLE_SUFFIXES, Source, _clean_read_errors, _file, _table,
                               _zip_member, dataset_splits, max_member_bytes, task_from_path)
from lamp.core.tasks import TASKS, get_task

EXAMPLES = 3


@dataclass
class FileReport:
    """Problems found in one file."""

    name: str
    kind: str
    task: str | None
    records: int = 0
    errors: list[LampDataError] = field(default_factory=list)
    warnings: list[LampDataError] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


def guess_task_from_input(text: str) -> str | None:
    """The task whose input template starts like ``text`` (None when no template matches)."""
    for task in TASKS.values():
        prefix = task.input_template.split("{", 1)[0]
        if prefix and text.startswith(prefix):
            return task.name
    return None


def _sniff(src: Source) -> str:
    """'questions' or 'outputs', from the first record of the file (a ``datasets`` table: questions)."""
    if src.rows is not None:
        return "questions"
    with contextlib.closing(src.open()) as fh:
        head = fh.read(4096).lstrip()
    first = head.split("}", 1)[0]           # about the first record
    if head.startswith("{"):                # {"task", "golds"}, or JSON Lines of questions or outputs
        if '"golds"' in head:
            return "outputs" if '"input"' not in head else "questions"
        if '"task"' in first and '"id"' not in first:     # the optional first line of outputs lines
            return "outputs"
    return "outputs" if '"output"' in first and '"input"' not in first else "questions"


def check_file(src: Source, task: str | None = None) -> FileReport:
    """Every problem of one questions or outputs file."""
    task = task or task_from_path(src.name)
    problems = Problems(src.name, collect=True)
    try:
        with _clean_read_errors(src.name):
            kind = _sniff(src)
    except LampDataError as exc:
        report = FileReport(src.name, "unreadable", task)
        report.errors = [exc]
        return report
    report = FileReport(src.name, kind, task)
    try:
        if kind == "questions":
            first = True
            for q in iter_questions(src, task=task, problems=problems):
                if first and task is None:
                    report.task = task = guess_task_from_input(q.input)
                    first = False
                report.records += 1
                report.ids.add(q.id)
                if task:
                    _, fell_back = get_task(task).query_with_fallback(q.input)
                    if fell_back:
                        problems.warn("input lacks the query marker; the whole input will be the query",
                                      q.id, "input")
        else:
            obj = read_json(src)
            outputs = outputs_from_json(obj, problems, task)
            if task is None and outputs.task:
                with contextlib.suppress(LampError):
                    report.task = task = get_task(outputs.task).name
            report.records = len(outputs.golds)
            report.ids = {g.id for g in outputs.golds}
            if task and outputs.task is None and isinstance(obj, dict):
                problems.error("missing", None, "task")
            if task and get_task(task).labels and get_task(task).family == "classification":
                labels = set(get_task(task).labels)
                for g in outputs.golds:
                    if g.output.strip() not in labels:
                        problems.warn(f"output is not one of the {len(labels)} labels", g.id, "output")
    except LampDataError as exc:  # structural problems stop the file
        problems.errors.append(exc)
    report.errors, report.warnings = problems.errors, problems.warnings
    return report


def _sources(path: Path) -> list[Source]:
    """The JSON files (and ``datasets`` tables) to check; a folder or zip without any is an error,
    not a silent pass."""
    if path.is_dir() and dataset_splits(path) is not None:
        return [_table(path / split) for split in dataset_splits(path) or []]
    if (path.is_dir() and (path / ARROW_STATE).is_file()) or (path.is_file() and path.suffix in TABLE_SUFFIXES):
        return [_table(path)]
    if path.is_dir():
        found = [_file(p) for p in sorted(path.rglob("*.json*")) if p.is_file() and p.suffix in (".json", ".jsonl")
                 and not _in_table_folder(p)]
        found += [_table(p) for p in sorted(path.rglob("*.parquet")) if p.is_file()]
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = sorted(n for n in zf.namelist() if n.endswith((".json", ".jsonl")) and not n.startswith("__MACOSX"))
                limit = max_member_bytes()
                for n in names:         # outputs members are parsed whole: refuse a zip bomb up front
                    if zf.getinfo(n).file_size > limit:
                        raise LampError(f"{path}!{n}: inflates to {zf.getinfo(n).file_size:,} bytes, over the "
                                        f"{limit:,}-byte limit for one JSON member (set LAMP_MAX_MEMBER_MB to "
                                        "raise it)")
        except (zipfile.BadZipFile, OSError) as exc:
            raise LampError(f"{path}: the zip file is damaged ({exc})") from None
        found = [_zip_member(path, n) for n in names]
    elif path.is_file():
        return [_file(path)]
    else:
        raise LampError(f"{path}: no such file or folder")
    if not found:
        raise LampError(f"{path}: no JSON files inside; expected LaMP *_questions.json / *_outputs.json files")
    return found


def _in_table_folder(path: Path) -> bool:
    """True for the JSON bookkeeping files of a ``save_to_disk`` folder (state, info, split index)."""
    return path.name in (ARROW_STATE, DATASET_DICT, "dataset_info.json")


def _pair_key(name: str) -> tuple[str, str] | None:
    m = re.search(r"(.*?)(\w+)_(questions|outputs)\.jsonl?$", name)
    return (m.group(1) + m.group(2), m.group(3)) if m else None


def check_paths(paths: list[str], task: str | None = None) -> list[FileReport]:
    """Check files, folders and zips; outputs are matched against the questions beside them."""
    reports = [check_file(src, task) for p in paths for src in _sources(Path(p))]
    by_key = {}
    for r in reports:
        key = _pair_key(r.name)
        if key:
            by_key[key] = r
    for (stem, kind), r in by_key.items():
        q = by_key.get((stem, "questions"))
        if kind == "outputs" and q is not None and q.ids and r.ids != q.ids:
            missing, extra = sorted(q.ids - r.ids), sorted(r.ids - q.ids)
            r.errors.append(LampDataError(
                f"ids do not match {PurePosixPath(q.name).name}: {len(missing)} missing "
                f"(e.g. {missing[:EXAMPLES]}), {len(extra)} extra (e.g. {extra[:EXAMPLES]})", file=r.name, field="id"))
    return reports


def _group(problems: list[LampDataError]) -> dict[tuple[str, str], list[LampDataError]]:
    groups: dict[tuple[str, str], list[LampDataError]] = defaultdict(list)
    for p in problems:
        reason = re.sub(r"\(.*\)|'[^']*'|\d+", "…", p.reason)
        groups[(p.field or "-", reason)].append(p)
    return groups


def format_reports(reports: list[FileReport]) -> str:
    lines = []
    for r in reports:
        status = "FAIL" if r.errors else "ok"
        lines.append(f"{status:4} {r.name} ({r.kind}, {r.task or 'task unknown'}, {r.records} records, "
                     f"{len(r.errors)} errors, {len(r.warnings)} warnings)")
        for label, problems in (("error", r.errors), ("warning", r.warnings)):
            for (fld, _), group in sorted(_group(problems).items(), key=lambda kv: -len(kv[1])):
                lines.append(f"     {label}: {fld}: {group[0].reason}  [{len(group)}x]")
                for p in group[:EXAMPLES]:
                    where = f"record {p.record_id!r}" if p.record_id is not None else "file"
                    lines.append(f"       - {where}: {p.reason}")
    n_err = sum(len(r.errors) for r in reports)
    n_warn = sum(len(r.warnings) for r in reports)
    lines.append(f"{len(reports)} files checked: {n_err} errors, {n_warn} warnings")
    return "\n".join(lines)
