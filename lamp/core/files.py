"""Reading and writing LaMP files: questions, outputs and rankings, from a path, an official folder or a zip.

This module is the one reader of each kind of file, so every verb accepts the same forms and gives
the same errors (file, record id, field):

* **Encodings.** UTF-8, with or without a byte-order mark.
* **JSON or JSON Lines.** Each file may be one JSON document or JSON Lines (what ``datasets``'
  ``to_json`` writes): a file whose first line is a whole JSON object with more text after it is
  read one object per line. Questions files: one question per line. Outputs files: one
  ``{"id", "output"}`` per line, optionally after a first line ``{"task": "LaMP_i"}``. Ranking
  files: one ``{"id": question id, "ranking": [profile ids]}`` per line. A one-record JSON Lines
  file is a single object and is read as that record.
* **Speed.** :func:`load_questions` decodes a plain file straight into the typed records with
  ``msgspec`` and checks the rest (dates, ratings, duplicate ids, the task's fields) on the
  records; only when that fails does it read the file again with the detailed per-field
  validation of :func:`iter_questions`, so errors are the same either way. :func:`iter_questions`
  streams one record at a time (little more memory than the records themselves).

Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import contextlib
import io
import json
import mmap
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from operator import attrgetter
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

import msgspec

from lamp.core.errors import LampDataError, LampError
from lamp.core.records import ITEM_FIELDS, Gold, Outputs, ProfileItem, Question

_CHUNK = 1 << 20


# --------------------------------------------------------------------------- locating files

@dataclass(frozen=True)
class Source:
    """A JSON file on disk or inside a zip; ``name`` is what error messages show.

    ``open`` gives the text with any UTF-8 byte-order mark removed; ``path`` is set for a plain file.
    """

    name: str
    open: Callable[[], IO[str]]
    path: Path | None = None


def _zip_member(zip_path: Path, member: str) -> Source:
    def opener() -> IO[str]:
        zf = zipfile.ZipFile(zip_path)
        return io.TextIOWrapper(zf.open(member), encoding="utf-8-sig")
    return Source(f"{zip_path}!{member}", opener)


def max_member_bytes() -> int:
    """The largest uncompressed JSON member read whole from a zip (``LAMP_MAX_MEMBER_MB``, default 256)."""
    try:
        return int(float(os.environ.get("LAMP_MAX_MEMBER_MB", "256")) * 2 ** 20)
    except ValueError:
        raise LampError(f"LAMP_MAX_MEMBER_MB must be a number, got {os.environ['LAMP_MAX_MEMBER_MB']!r}") from None


def read_zip_member(zf: zipfile.ZipFile, member: str, name: str, limit: int | None = None) -> bytes:
    """A zip member's bytes, read in chunks and refused past ``limit`` (a zip bomb costs no memory).

    The declared size is checked first, and the count again while inflating (declared sizes can lie).
    """
    limit = max_member_bytes() if limit is None else limit
    declared = zf.getinfo(member).file_size
    if declared > limit:
        raise LampError(f"{name}: inflates to {declared:,} bytes, over the {limit:,}-byte limit for one "
                        "JSON member (set LAMP_MAX_MEMBER_MB to raise it)")
    chunks, seen = [], 0
    with zf.open(member) as fh:
        while block := fh.read(_CHUNK):
            seen += len(block)
            if seen > limit:
                raise LampError(f"{name}: inflates past the {limit:,}-byte limit for one JSON member "
                                "(set LAMP_MAX_MEMBER_MB to raise it)")
            chunks.append(block)
    return b"".join(chunks)


def _file(path: Path) -> Source:
    return Source(str(path), lambda: open(path, encoding="utf-8-sig"), Path(path))


def task_folder_name(task: str) -> str:
    """'LaMP-2' -> 'LaMP_2' (the official folder and file spelling)."""
    return task.replace("-", "_")


def find_file(path: str | os.PathLike, kind: str = "questions", split: str | None = None,
              task: str | None = None) -> Source:
    """Find ``{split}_{kind}.json`` (or ``.jsonl``) in a file path, an official folder layout or a zip.

    ``kind`` is ``questions`` or ``outputs``. A plain file path is returned as is.
    """
    p = Path(path)
    if not p.exists():
        raise LampError(f"{p}: no such file or folder")
    if p.is_file() and not zipfile.is_zipfile(p):
        return _file(p)
    suffix = f"{split}_{kind}.json" if split else f"_{kind}.json"
    folder = task_folder_name(task) if task else None
    if p.is_dir():
        names = sorted(str(q.relative_to(p)) for q in p.rglob(f"*{suffix}*") if q.name.endswith((suffix, f"{suffix}l")))
    else:
        with zipfile.ZipFile(p) as zf:
            names = sorted(n for n in zf.namelist() if n.endswith((suffix, f"{suffix}l")))
    if folder:
        names = [n for n in names if folder in Path(n).parts] or names
    if len(names) != 1:
        what = f"{suffix!r}" + (f" for {task}" if task else "")
        found = ", ".join(names[:5]) if names else "none"
        raise LampError(f"{p}: expected exactly one file ending in {what}, found {len(names)} ({found}); "
                        "pass the file itself or --split/--task to choose")
    return _file(p / names[0]) if p.is_dir() else _zip_member(p, names[0])


def as_source(path: str | os.PathLike | Source, kind: str = "questions", split: str | None = None,
              task: str | None = None) -> Source:
    return path if isinstance(path, Source) else find_file(path, kind, split, task)


# --------------------------------------------------------------------------- streaming JSON

class WholeObject(dict):
    """A file whose top level is one object rather than a list (yielded whole by iter_json_list)."""


class JsonLines(list):
    """The objects of a JSON Lines file, in order (what :func:`parse_json_text` returns for one)."""


def _split_lines(tail: str, stream: IO[str]) -> Iterator[str]:
    """The lines of ``tail`` followed by the rest of ``stream``, read in chunks."""
    pending = tail
    while True:
        *complete, pending = pending.split("\n")
        yield from complete
        more = stream.read(_CHUNK)
        if not more:
            break
        pending += more
    yield pending


def _iter_json_lines(first: dict, tail: str, stream: IO[str], name: str) -> Iterator[Any]:
    """``first`` (line 1), then one JSON value per non-blank line; errors name the line."""
    yield first
    for number, line in enumerate(_split_lines(tail, stream), start=2):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise LampDataError(f"line {number}: not valid JSON Lines ({exc.msg} at column {exc.colno}); "
                                    "expected one JSON object per line", file=name) from None


def _first_object(line: str) -> dict | None:
    """The JSON object that ``line`` holds on its own, if it is one (the mark of JSON Lines)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def iter_json_list(stream: IO[str], name: str) -> Iterator[Any]:
    """Yield the elements of a top-level JSON list, or the objects of JSON Lines, one at a time.

    Any other top-level object is yielded whole, as a :class:`WholeObject`, so that callers can
    handle wrapped files. Errors name the file and the character offset (or line).
    """
    decoder = json.JSONDecoder()
    buf = stream.read(_CHUNK)
    pos, consumed, eof = 0, 0, False

    def skip_ws() -> None:
        nonlocal pos, buf, consumed, eof
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or eof:
                return
            more = stream.read(_CHUNK)
            eof = not more
            consumed += pos
            buf, pos = more, 0

    skip_ws()
    if pos >= len(buf):
        raise LampDataError("the file is empty, expected a JSON list", file=name)
    if buf[pos] == "{":
        rest = buf[pos:]
        while "\n" not in rest and (more := stream.read(_CHUNK)):
            rest += more
        line, _, tail = rest.partition("\n")
        first = _first_object(line)
        while first is not None and not tail.strip() and (more := stream.read(_CHUNK)):
            tail += more
        if first is not None and tail.strip():
            yield from _iter_json_lines(first, tail, stream, name)
            return
        try:
            yield WholeObject(json.loads(rest + stream.read()))
        except json.JSONDecodeError as exc:
            raise LampDataError(f"not valid JSON ({exc})", file=name) from None
        return
    if buf[pos] != "[":
        raise LampDataError(f"expected a JSON list, found {buf[pos]!r} at offset {consumed + pos}", file=name)
    pos += 1
    first = True
    while True:
        skip_ws()
        if pos >= len(buf):
            raise LampDataError("the JSON list is not closed (file truncated?)", file=name)
        if buf[pos] == "]":
            return
        if not first:
            if buf[pos] != ",":
                raise LampDataError(f"expected ',' or ']' at offset {consumed + pos}", file=name)
            pos += 1
            skip_ws()
            if pos >= len(buf):
                raise LampDataError("the JSON list is not closed (file truncated?)", file=name)
        first = False
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                more = "" if eof else stream.read(max(_CHUNK, len(buf)))
                if not more:
                    raise LampDataError(f"not valid JSON at offset {consumed + exc.pos}: {exc.msg}",
                                        file=name) from None
                if pos > _CHUNK:
                    consumed += pos
                    buf, pos = buf[pos:], 0
                buf += more
        pos = end
        yield value


def parse_json_text(text: str, name: str) -> Any:
    """One JSON document, or a :class:`JsonLines` list for JSON Lines (rules in the module docstring)."""
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line, _, tail = text.lstrip().partition("\n")
        first = _first_object(line) if exc.msg == "Extra data" else None
        if first is None:
            raise LampDataError(f"not valid JSON ({exc})", file=name) from None
        return JsonLines(_iter_json_lines(first, tail, io.StringIO(), name))


def decode_json_bytes(data: bytes, name: str) -> Any:
    """:func:`parse_json_text` of UTF-8 bytes (a byte-order mark allowed); clear errors for bad bytes."""
    with _clean_read_errors(name):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LampDataError(f"not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at offset "
                                f"{exc.start}); save the file as UTF-8", file=name) from None
        return parse_json_text(text, name)


def read_json(src: str | os.PathLike | Source) -> Any:
    """The parsed content of a whole JSON or JSON Lines file (outputs, rankings, settings)."""
    src = src if isinstance(src, Source) else _file(Path(src))
    with _clean_read_errors(src.name):
        with contextlib.closing(src.open()) as stream:
            text = stream.read()
        return parse_json_text(text, src.name)


# --------------------------------------------------------------------------- records

class Problems:
    """Collects data problems, or raises on the first error when ``collect`` is False."""

    def __init__(self, file: str, collect: bool = False) -> None:
        self.file, self.collect = file, collect
        self.errors: list[LampDataError] = []
        self.warnings: list[LampDataError] = []

    def error(self, message: str, record_id: str | None = None, field: str | None = None) -> None:
        exc = LampDataError(message, file=self.file, record_id=record_id, field=field)
        if not self.collect:
            raise exc
        self.errors.append(exc)

    def warn(self, message: str, record_id: str | None = None, field: str | None = None) -> None:
        self.warnings.append(LampDataError(message, file=self.file, record_id=record_id, field=field))


def _as_id(value: Any, problems: Problems, record_id: str | None, field: str) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    problems.error(f"expected a string id, got {type(value).__name__} {value!r}", record_id, field)
    return None


def parse_date(value: Any) -> tuple[int, ...]:
    """The official date key: ``str(date).split('-')`` as a tuple of ints ('2020-03-01' -> (2020, 3, 1)).

    Impossible dates (month 13, February 30) are refused: they would sort silently in the wrong place.
    """
    import datetime

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
    import math

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
    item_id = _as_id(obj["id"], problems, question_id, "profile[].id")
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
        elif name != "date" and item.get(name).strip() == "":
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
    qid = _as_id(obj["id"], problems, None, "id")
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
        user_id = _as_id(user_id, problems, qid, "user_id")
    extra = {k: v for k, v in obj.items() if k not in ("id", "input", "profile", "user_id")}
    return Question(id=qid, input=text, profile=profile, user_id=user_id, extra=extra or None)


#: Applied to each question as it is loaded, with a per-user dict it may keep state in (``--scrub``
#: sets it through :func:`lamp.privacy.scrub.set_active`); None loads questions as they are in the file.
_question_hook: Callable[[Question, dict], Question] | None = None


def question_hook() -> Callable[[Question, dict], Question] | None:
    """The transform :func:`set_question_hook` set (None: questions load as they are)."""
    return _question_hook


def set_question_hook(hook: Callable[[Question, dict], Question] | None) -> None:
    """Transform every question loaded from now on in this process (None: stop)."""
    global _question_hook
    _question_hook = hook


def _hooked(questions: Iterable[Question]) -> Iterator[Question]:
    """The questions through the hook, in order, with one state dict per user (e.g. ``--scrub``'s
    placeholder map); unchanged without a hook."""
    hook, maps = _question_hook, {}
    for q in questions:
        yield q if hook is None else hook(q, maps.setdefault(q.user_id, {}) if q.user_id is not None else {})


def iter_questions(path: str | os.PathLike | Source, *, split: str | None = None, task: str | None = None,
                   problems: Problems | None = None) -> Iterator[Question]:
    """Stream the questions of a file (or of the one matching file in a folder or zip)."""
    from lamp.core.tasks import get_task

    src = as_source(path, "questions", split, task)
    problems = problems or Problems(src.name)
    fields = get_task(task).item_fields if task else ()
    with contextlib.closing(src.open()) as stream, _clean_read_errors(src.name):
        yield from _hooked(_checked_questions(stream, src.name, problems, fields))


def _checked_questions(stream: IO[str], name: str, problems: Problems,
                       fields: tuple[str, ...]) -> Iterator[Question]:
    """The questions of an open file, each checked field by field, duplicates refused."""
    seen: set[str] = set()
    for obj in iter_json_list(stream, name):
        if isinstance(obj, WholeObject) and isinstance(obj.get("golds"), list):
            # The official Avocado script wraps LaMP-6 test questions as {"task", "golds"} [BUG fix].
            records = obj["golds"]
        elif isinstance(obj, WholeObject) and "id" in obj and "golds" not in obj:
            records = [dict(obj)]       # a JSON Lines file of one question
        elif isinstance(obj, WholeObject):
            problems.error(f"expected a JSON list of questions, found an object with keys {sorted(obj)[:6]}")
            return
        else:
            records = [obj]
        for raw in records:
            q = question_from_json(raw, problems, fields)
            if q is None:
                continue
            if q.id in seen:
                problems.error("duplicate question id", q.id, "id")
                continue
            seen.add(q.id)
            yield q


def load_questions(path: str | os.PathLike | Source, *, split: str | None = None,
                   task: str | None = None) -> list[Question]:
    """All questions of a file; raises :class:`LampDataError` on the first problem.

    A plain file is decoded straight into records (:func:`fast_questions`); when that refuses the
    file, or for a zip member, the detailed loader reads it and names the problem.
    """
    src = as_source(path, "questions", split, task)
    questions = fast_questions(src, task) if src.path is not None else None
    if questions is None:
        return list(iter_questions(src, task=task))
    return questions if _question_hook is None else list(_hooked(questions))


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
    from lamp.core.tasks import get_task

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


def outputs_from_json(obj: Any, problems: Problems, task: str | None = None) -> Outputs:
    """Parse ``{"task", "golds"}``, a bare list of ``{"id", "output"}`` or their JSON Lines form.

    JSON Lines (:class:`JsonLines`): one ``{"id", "output"}`` per line, optionally after a first
    line ``{"task": ...}``; a lone ``{"id", "output"}`` object is a one-line file.
    """
    from lamp.core.tasks import get_task, normalize_task_name

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
    for raw in records:
        if not isinstance(raw, dict) or "id" not in raw:
            problems.error(f"each entry must be an object with 'id' and 'output', got {str(raw)[:80]}", None, "golds")
            continue
        gid = _as_id(raw["id"], problems, None, "id")
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


@contextlib.contextmanager
def _clean_read_errors(name: str) -> Iterator[None]:
    """Turn decoding, nesting and OS errors while reading a data file into one clear LampDataError."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise LampDataError(f"not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at offset "
                            f"{exc.start} of a read block); save the file as UTF-8", file=name) from None
    except RecursionError:
        raise LampDataError("JSON nested too deeply to be a LaMP file", file=name) from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise LampDataError(f"the zip file is damaged ({exc})", file=name) from None
    except IsADirectoryError:
        raise LampDataError("is a folder, expected a JSON file", file=name) from None
    except OSError as exc:
        raise LampDataError(f"cannot read ({exc.strerror or exc})", file=name) from None


# --------------------------------------------------------------------------- writing

def check_output_path(path: str | os.PathLike, what: str = "output") -> Path:
    """Refuse (LampError) an output path that cannot be written: a folder, under a file, read-only."""
    target = Path(path)
    if target.is_dir():
        raise LampError(f"{target}: is a folder; the {what} must be a file path")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise LampError(f"{target}: cannot be created, {parent} is a file, not a folder ({what})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LampError(f"{target}: cannot write in {parent} (permission denied) ({what})")
    if target.exists() and not os.access(target, os.W_OK) and not os.access(parent, os.W_OK):
        raise LampError(f"{target}: is read-only ({what})")
    return target


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name one file (through symlinks, hard links, ``..`` or a zip member path)."""
    pa, pb = Path(str(a).split("!", 1)[0]), Path(str(b).split("!", 1)[0])
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def check_distinct_outputs(inputs: list[Any], outputs: list[Any]) -> None:
    """Refuse outputs that are an input (or each other), before anything is read or written.

    Writing a result over its own input destroys the input; links are followed. Each output is
    also checked to be writable (:func:`check_output_path`). ``None`` entries are skipped.
    """
    ins = [x for x in inputs if x is not None]
    outs = [x for x in outputs if x is not None]
    for out in outs:
        for src in ins:
            if same_file(out, src):
                raise LampError(f"{out}: is the same file as the input {src}; writing it would destroy the "
                                "input; choose another output path")
        check_output_path(out)
    for i, a in enumerate(outs):
        for b in outs[i + 1:]:
            if same_file(a, b):
                raise LampError(f"{a} and {b}: two outputs are the same file; choose distinct paths")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temp file beside ``path`` and rename it into place only when the block succeeds."""
    target = Path(path)
    if target.is_dir():
        raise LampError(f"{target}: is a folder; expected a file path to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise LampError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise LampError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """Write JSON atomically (UTF-8, non-ASCII kept).

    ``json.dumps`` rather than ``json.dump``: the same text, from the C encoder (``dump`` encodes in
    Python, chunk by chunk; several times slower on a 2,000-question ranking file).
    """
    with atomic_write(path) as fh:
        fh.write(json.dumps(obj, ensure_ascii=False, indent=indent))
        fh.write("\n")


def write_outputs(path: str | os.PathLike, task: str, golds: dict[str, str] | list[Gold]) -> None:
    """Write an official-format predictions file ``{"task": "LaMP_i", "golds": [...]}``."""
    items = golds.items() if isinstance(golds, dict) else ((g.id, g.output) for g in golds)
    write_json(path, {"task": task_folder_name(task), "golds": [{"id": i, "output": o} for i, o in items]}, indent=1)


def link_latest(folder: Path, target: Path) -> None:
    """Point ``folder/latest`` at ``target`` (a sibling) atomically: a reader never sees it missing."""
    link = folder / ".latest.partial"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, folder / "latest")
