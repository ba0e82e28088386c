"""Questions files: each record checked field by field, or decoded at parser speed when it is plain.

One questions file is a JSON list (or JSON Lines, one question per line) of ``{id, input, profile,
user_id?}`` records (file rules: :mod:`lamp.core.jsonio`). :func:`load_questions` decodes a plain
file straight into the typed records with ``msgspec`` and checks the rest (dates, ratings,
duplicate ids, the task's fields) on the records; only when that fails does it read the file again
with the detailed per-field validation of :func:`iter_questions`, so errors are the same either
way. :func:`iter_questions` streams one record at a time.

A loader given a ``transform`` (a :data:`QuestionTransform`, e.g. ``--scrub``'s scrubber) applies it
to every question as it is loaded, with one state dict per user; the caller hands it down, so no
setting of the process decides what a load returns.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import mmap
import os
from operator import attrgetter
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

import msgspec

from lamp.core.jsonio import Problems, WholeObject, as_id, iter_json_list
from lamp.core.records import ITEM_FIELDS, ProfileItem, Question
from lamp.core.native import is_native, matching_tasks, to_lamp
from lamp.core.sources import Source, _clean_read_errors, as_source
from lamp.core.tasks import RecordSchema, get_task

#: A change made to each question as it is loaded, given a dict it may keep per-user state in
#: (``--scrub``'s placeholder map: the same email is the same placeholder across a user's questions).
QuestionTransform = Callable[[Question, dict], Question]


def parse_date(value: Any) -> tuple[int, ...]:
    """The official date key: ``str(date).split('-')`` as a tuple of ints ('2020-03-01' -> (2020, 3, 1)).

    Impossible dates (month 13, February 30) are refused: they would sort silently in the wrong place.
    """
    try:
        parts = tuple(int(part) for part in str(value).split("-"))
    except ValueError:
        raise ValueError(f"expected a date like YYYY-MM-DD, got {value!r}") from None
    if len(parts) > 3 or any(p < 0 for p in parts):
        raise ValueError(f"expected a date like YYYY-MM-DD, got {value!r}")
    try:
        datetime.date(parts[0] or 1, *(parts[1:2] or (1,)), *(parts[2:3] or (1,)))
    except ValueError as exc:
        raise ValueError(f"impossible date {value!r} ({exc})") from None
    return parts


def check_score(value: str, lo: float | None = None, hi: float | None = None) -> str | None:
    """Why a rating is unusable (not a number, NaN/infinite, outside [lo, hi]); None when it is fine."""
    try:
        number = float(value)
    except ValueError:
        return f"expected a number, got {value!r}"
    if not math.isfinite(number):
        return f"expected a finite number, got {value!r}"
    if lo is not None and hi is not None and not lo <= number <= hi:
        return f"expected a rating from {lo:g} to {hi:g}, got {value!r}"
    return None


def item_from_json(obj: Any, problems: Problems, question_id: str,
                   required: tuple[str, ...] = ()) -> ProfileItem | None:
    """Build a profile item; problems name the item id (or the question id when it has none)."""
    if not isinstance(obj, dict):
        problems.error(f"profile item must be an object, got {type(obj).__name__}", question_id, "profile")
        return None
    if "id" not in obj:
        problems.error("profile item has no 'id'", question_id, "profile[].id")
        return None
    item_id = as_id(obj["id"], problems, question_id, "profile[].id")
    if item_id is None:
        return None
    item = ProfileItem(id=item_id)
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "id":
            continue
        if key in ITEM_FIELDS:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value) if key in ("score", "date") else value
            if not isinstance(value, str):
                problems.error(f"expected a string, got {type(value).__name__}", item_id, key)
                continue
            setattr(item, key, value)
        else:
            extra[key] = value
    item.extra = extra or None
    for name in required:
        if item.get(name) is None:
            problems.error(f"missing (profile item of question {question_id!r})", item_id, name)
        elif name != "date" and isinstance(item.get(name), str) and item.get(name).strip() == "":
            problems.warn("empty text", item_id, name)
    if item.date is not None:
        try:
            parse_date(item.date)
        except ValueError as exc:
            problems.error(str(exc), item_id, "date")
    if item.score is not None:
        reason = _score_problem(item.score, required)
        if reason:
            problems.error(reason, item_id, "score")
    return item


def _score_problem(score: str, required: tuple[str, ...]) -> str | None:
    """Why an item's ``score`` is refused: any non-finite one; when the task needs ratings, any non-rating."""
    reason = check_score(score, *((1.0, 5.0) if "score" in required else (None, None)))
    return reason if reason and ("score" in required or "finite" in reason) else None


def question_from_json(obj: Any, problems: Problems, item_fields: tuple[str, ...] = ()) -> Question | None:
    """Build a question with its profile; each problem names the record and field."""
    if not isinstance(obj, dict):
        problems.error(f"each question must be an object, got {type(obj).__name__}")
        return None
    if "id" not in obj:
        problems.error(f"question has no 'id' (keys: {sorted(obj)[:6]})", None, "id")
        return None
    qid = as_id(obj["id"], problems, None, "id")
    if qid is None:
        return None
    text = obj.get("input")
    if not isinstance(text, str):
        problems.error("missing" if text is None else f"expected a string, got {type(text).__name__}", qid, "input")
        text = ""
    profile_raw = obj.get("profile")
    profile: list[ProfileItem] = []
    if not isinstance(profile_raw, list):
        problems.error("missing" if profile_raw is None else f"expected a list, got {type(profile_raw).__name__}",
                       qid, "profile")
    else:
        if not profile_raw:
            problems.error("the profile is empty", qid, "profile")
        seen: set[str] = set()
        for raw in profile_raw:
            item = item_from_json(raw, problems, qid, item_fields)
            if item is None:
                continue
            if item.id in seen:
                problems.error(f"duplicate profile item id (in question {qid!r})", item.id, "profile[].id")
            seen.add(item.id)
            profile.append(item)
    user_id = obj.get("user_id")
    if user_id is not None:
        user_id = as_id(user_id, problems, qid, "user_id")
    extra = {k: v for k, v in obj.items() if k not in ("id", "input", "profile", "user_id")}
    return Question(id=qid, input=text, profile=profile, user_id=user_id, extra=extra or None)


def transformed(questions: Iterable[Question], transform: QuestionTransform | None) -> Iterator[Question]:
    """The questions through ``transform``, in order, with one state dict per user (questions
    without a ``user_id`` each get a fresh one); unchanged without a transform."""
    if transform is None:
        yield from questions
        return
    maps: dict[str, dict] = {}
    for q in questions:
        yield transform(q, maps.setdefault(q.user_id, {}) if q.user_id is not None else {})


def iter_questions(path: str | os.PathLike | Source, *, split: str | None = None, task: str | None = None,
                   problems: Problems | None = None, transform: QuestionTransform | None = None) -> Iterator[Question]:
    """Stream the questions of a file (or of the one matching file in a folder or zip: JSON, JSON
    Lines, a ``datasets`` Arrow folder or Parquet), each through ``transform`` when one is given.
    A task with a benchmark record layout also reads its rows as the dataset has them
    (:mod:`lamp.core.native`)."""
    src = as_source(path, "questions", split, task)
    problems = problems or Problems(src.name)
    t = get_task(task) if task else None
    fields = t.item_fields if t else ()
    with contextlib.closing(src.open()) as stream, _clean_read_errors(src.name):
        rows = src.rows() if src.rows is not None else _json_records(stream, src.name, problems)
        yield from transformed(_checked_questions(rows, problems, fields, t.schema if t else None), transform)


def questions_from_rows(rows: Iterable[Any], name: str, task: str, problems: Problems | None = None,
                        ) -> Iterator[Question]:
    """The questions of records already read (a ``datasets`` split's rows), checked as a file's are;
    problems name ``name``."""
    t = get_task(task)
    yield from _checked_questions(rows, problems or Problems(name), t.item_fields, t.schema)


def _json_records(stream: IO[str], name: str, problems: Problems) -> Iterator[Any]:
    """The records of a JSON list or JSON Lines questions file, unwrapped."""
    for obj in iter_json_list(stream, name):
        if isinstance(obj, WholeObject) and isinstance(obj.get("golds"), list):
            # The official Avocado script wraps LaMP-6 test questions as {"task", "golds"} [BUG fix].
            yield from obj["golds"]
        elif isinstance(obj, WholeObject) and ("id" in obj or "input" in obj or "question" in obj) \
                and "golds" not in obj:
            yield dict(obj)             # a JSON Lines file of one question
        elif isinstance(obj, WholeObject):
            problems.error(f"expected a JSON list of questions, found an object with keys {sorted(obj)[:6]}")
            return
        else:
            yield obj


def _checked_questions(rows: Iterable[Any], problems: Problems, fields: tuple[str, ...],
                       schema: RecordSchema | None = None) -> Iterator[Question]:
    """The questions of a file's records, each checked field by field, duplicates refused; a row
    in the task's benchmark layout (``schema``) is read into LaMP's first."""
    seen: set[str] = set()
    for row, raw in enumerate(rows):
        if schema is not None and is_native(raw):
            raw = to_lamp(schema, raw, row, problems)
            if raw is None:
                continue
        elif schema is None and is_native(raw) and matching_tasks(raw):
            problems.error(f"row {row} is in a benchmark's own layout (keys {sorted(raw)[:6]}): pass --task, one "
                           f"of {', '.join(matching_tasks(raw))}", None, "id")
            return
        q = question_from_json(raw, problems, fields)
        if q is None:
            continue
        if q.id in seen:
            problems.error("duplicate question id", q.id, "id")
            continue
        seen.add(q.id)
        yield q


def load_questions(path: str | os.PathLike | Source, *, split: str | None = None,
                   task: str | None = None, transform: QuestionTransform | None = None) -> list[Question]:
    """All questions of a file, each through ``transform`` when one is given; raises
    :class:`LampDataError` on the first problem.

    A plain file is decoded straight into records (:func:`fast_questions`); when that refuses the
    file, or for a zip member, the detailed loader reads it and names the problem.
    """
    src = as_source(path, "questions", split, task)
    questions = fast_questions(src, task) if src.path is not None else None
    if questions is None:
        return list(iter_questions(src, task=task, transform=transform))
    return questions if transform is None else list(transformed(questions, transform))


_QUESTIONS = msgspec.json.Decoder(list[Question])
_QUESTION = msgspec.json.Decoder(Question)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_GET = {name: attrgetter(name) for name in ("id", "extra", *ITEM_FIELDS)}


def fast_questions(src: Source, task: str | None = None) -> list[Question] | None:
    """The questions of a plain file decoded at parser speed, or None when anything is off.

    ``msgspec`` decodes a JSON list (or JSON Lines) into :class:`Question` records, refusing
    unknown keys (anything the detailed loader would keep in ``extra``), explicit nulls in item
    fields and non-string values; :func:`records_pass` and a unique-id check then do what decoding
    cannot express. A file that passes gives exactly the records the detailed loader builds; None
    sends the caller to it, for the same records or the detailed error.
    """
    assert src.path is not None
    try:        # mapped, not read: no copy of the file in memory, a third less time
        with open(src.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            questions = _decode_questions(data)
    except (OSError, ValueError):          # unreadable or empty (mmap refuses size 0), not JSON, ...
        return None                        # the detailed loader words the error
    if questions is None or not records_pass(questions, task):
        return None
    return questions if len(set(map(_GET["id"], questions))) == len(questions) else None


def records_pass(questions: Sequence[Question], task: str | None) -> bool:
    """The checks of :func:`question_from_json` that decoding cannot express, over decoded records:
    non-empty profiles, unique item ids, the task's item fields, valid dates and ratings (each
    distinct value checked once), and no key named ``extra`` (the only way ``extra`` is set on a
    decoded record; the detailed loader nests it). Question ids are the caller's to compare."""
    required = get_task(task).item_fields if task else ()
    if any(name not in ITEM_FIELDS for name in required):
        return False
    get_id, get_extra = _GET["id"], _GET["extra"]
    getters = [_GET[name] for name in required]
    dates: set[str] = set()
    scores: set[str] = set()
    get_date, get_score = _GET["date"], _GET["score"]
    for q in questions:
        profile = q.profile
        n = len(profile)
        if not n or q.extra is not None or len(set(map(get_id, profile))) != n \
                or list(map(get_extra, profile)).count(None) != n or any(None in map(get, profile) for get in getters):
            return False
        dates.update(map(get_date, profile))
        scores.update(map(get_score, profile))
    dates.discard(None)                    # type: ignore[arg-type]
    scores.discard(None)                   # type: ignore[arg-type]
    try:
        for date in dates:
            parse_date(date)
    except ValueError:
        return False
    return not any(_score_problem(score, required) for score in scores)


@contextlib.contextmanager
def question_texts(path: str | os.PathLike) -> Iterator[list[Any] | None]:
    """Each question's JSON text in a plain questions file, found at parser speed without decoding
    it (``msgspec.Raw`` views of the mapped file), for workers that each decode a share with
    :func:`decode_questions`; None for a file that is not a JSON list or JSON Lines of objects.
    The texts are valid only inside the ``with`` block."""
    try:
        fh = open(path, "rb")
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        yield None
        return
    view = memoryview(data)
    texts: list[Any] | None = None
    try:
        pos, start = _body(data)
        try:
            if start == b"[":
                texts = _RAW_LIST.decode(view[pos:])
            elif start == b"{":
                texts = [view[a:b] for a, b in _line_spans(data, pos)]
        except (msgspec.DecodeError, RecursionError):
            texts = None
        yield texts
    finally:
        texts = None
        fh.close()
        try:
            view.release()
            data.close()
        except BufferError:                 # a caller still holds a text: the map goes with it
            pass


def decode_questions(texts: Sequence[Any], task: str | None) -> list[Question] | None:
    """Records from some of :func:`question_texts`, or None when any of them would need the
    detailed loader (see :func:`records_pass`)."""
    try:
        questions = [_QUESTION.decode(text) for text in texts]
    except (msgspec.DecodeError, RecursionError):
        return None
    return questions if records_pass(questions, task) else None


def _body(data: mmap.mmap) -> tuple[int, bytes]:
    """Where the JSON of a mapped file starts (past a UTF-8 byte-order mark), and its first
    non-blank byte: ``b"["`` for a list, ``b"{"`` for JSON Lines (or one object)."""
    pos = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    return pos, data[pos:pos + 256].lstrip()[:1]


def _line_spans(data: mmap.mmap, pos: int) -> Iterator[tuple[int, int]]:
    """(start, end) of every non-blank line from ``pos`` (longer blank lines fail to decode)."""
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        if end - pos > 2 or data[pos:end].strip():
            yield pos, end
        pos = end + 1


def _decode_questions(data: mmap.mmap) -> list[Question] | None:
    """A JSON list or JSON Lines of questions as records; None for any other file or any decoding error."""
    pos, start = _body(data)
    with memoryview(data) as view:
        try:
            if start == b"[":
                return _QUESTIONS.decode(view[pos:])
            if start != b"{":
                return None
            return [_QUESTION.decode(view[a:b]) for a, b in _line_spans(data, pos)]   # JSON Lines
        except (msgspec.DecodeError, RecursionError):
            return None
