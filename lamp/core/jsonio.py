"""JSON and JSON Lines, read the one way every loader reads them, and the problems found in records.

* **Encodings.** UTF-8, with or without a byte-order mark.
* **JSON or JSON Lines.** Each file may be one JSON document or JSON Lines (what ``datasets``'
  ``to_json`` writes): a file whose first line is a whole JSON object with more text after it is
  read one object per line. A one-record JSON Lines file is a single object and is read as that
  record (each kind of file says what its lines hold: :mod:`lamp.core.questions`,
  :mod:`lamp.core.outputs`).
* **Streaming.** :func:`iter_json_list` yields a list's elements one at a time, so a large file
  costs little more memory than the records built from it.

Errors name the file and the offset or line (:class:`lamp.core.errors.LampDataError`);
:class:`Problems` collects them per record and field for ``lamp validate``, or raises the first.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import IO, Any, Iterator

from lamp.core.errors import LampDataError
from lamp.core.sources import _CHUNK, Source, _clean_read_errors, _file


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


# --------------------------------------------------------------------------- problems in records

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


def as_id(value: Any, problems: Problems, record_id: str | None, field: str) -> str | None:
    """An id as the official files hold it (a string, or an int read as its digits); else a problem."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    problems.error(f"expected a string id, got {type(value).__name__} {value!r}", record_id, field)
    return None

