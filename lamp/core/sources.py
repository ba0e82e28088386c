"""Where LaMP files are: a plain path, the one matching file of an official folder, or a zip member;
and the tables the Hugging Face ``datasets`` library writes (``save_to_disk`` folders, its cache's
``.arrow`` files, Parquet), read as rows with pyarrow (a dependency of ``datasets``).

Every reader takes a path or a :class:`Source`, so every verb finds files by the same rules and
names them the same way in errors (``archive.zip!LaMP_2/dev_questions.json``). Zip members are
read with a size limit, so a zip bomb costs no memory. The task a path belongs to is read from
it here too (:func:`task_from_path`), one rule for ``lamp validate`` and the evaluators.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from lamp.core.errors import LampDataError, LampError
from lamp.core.tasks import find_task

#: Bytes (or characters) read from a file or zip member at a time.
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- locating files

@dataclass(frozen=True)
class Source:
    """A JSON file on disk or inside a zip, or a table ``datasets`` wrote; ``name`` is what error
    messages show.

    ``open`` gives the text with any UTF-8 byte-order mark removed; ``path`` is set for a plain JSON
    file. ``rows`` is set for a table (an Arrow folder of ``save_to_disk``, an ``.arrow`` file of the
    ``datasets`` cache, a Parquet file): it yields the records, one dict a row, in order.
    """

    name: str
    open: Callable[[], IO[str]]
    path: Path | None = None
    rows: Callable[[], Iterator[dict]] | None = None


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


# --------------------------------------------------------------------------- tables that ``datasets`` writes

#: The files ``Dataset.save_to_disk`` writes beside its ``*.arrow`` shards, and ``DatasetDict``'s index.
ARROW_STATE, DATASET_DICT = "state.json", "dataset_dict.json"
TABLE_SUFFIXES = (".parquet", ".arrow")


def _batches_rows(batches: Iterator[Any]) -> Iterator[dict]:
    for batch in batches:
        yield from batch.to_pylist()


def _arrow_rows(path: Path) -> Iterator[dict]:
    """The rows of one ``.arrow`` file: the IPC stream ``datasets`` writes (or an IPC file)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        try:
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(source)
            yield from _batches_rows(reader.get_batch(i) for i in range(reader.num_record_batches))
            return
        yield from _batches_rows(iter(reader))


def _parquet_rows(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    yield from _batches_rows(pq.ParquetFile(str(path)).iter_batches(batch_size=256))


def _table_error(name: str, exc: Exception) -> LampDataError:
    return LampDataError(f"cannot read the table ({type(exc).__name__}: {exc})", file=name)


def _guarded(name: str, rows: Callable[[], Iterator[dict]]) -> Callable[[], Iterator[dict]]:
    """``rows`` with pyarrow's read errors turned into a LampDataError naming the file."""
    def read() -> Iterator[dict]:
        try:
            yield from rows()
        except (OSError, ValueError) as exc:        # pyarrow's ArrowInvalid is a ValueError
            if isinstance(exc, LampDataError):
                raise
            raise _table_error(name, exc) from None
    return read


def _no_text() -> IO[str]:
    return io.StringIO("")


def _table(path: Path) -> Source:
    """A Parquet or ``.arrow`` file, or a ``save_to_disk`` folder of one dataset, as rows."""
    if path.is_dir():
        import json

        try:
            state = json.loads((path / ARROW_STATE).read_text(encoding="utf-8"))
            shards = [path / f["filename"] for f in state["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LampDataError(f"not a folder written by datasets' save_to_disk ({exc})", file=str(path)) from None
        return Source(str(path), _no_text, None, _guarded(str(path), lambda: (r for s in shards for r in _arrow_rows(s))))
    reader = _parquet_rows if path.suffix == ".parquet" else _arrow_rows
    return Source(str(path), _no_text, None, _guarded(str(path), lambda: reader(path)))


def dataset_splits(path: Path) -> list[str] | None:
    """The split names of a ``DatasetDict.save_to_disk`` folder; None for any other folder."""
    index = path / DATASET_DICT
    if not index.is_file():
        return None
    import json

    try:
        return [str(s) for s in json.loads(index.read_text(encoding="utf-8"))["splits"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LampDataError(f"not a dataset_dict.json that datasets wrote ({exc})", file=str(index)) from None


def _dataset_dict_split(path: Path, split: str | None, task: str | None) -> Source:
    """The split ``split`` (ours, e.g. 'dev', or the dataset's own, e.g. 'val') of a DatasetDict folder."""
    names = dataset_splits(path) or []
    wanted = [split] if split else []
    found = find_task(task) if task else None
    if split and found is not None and found.schema is not None:
        wanted.append(dict(found.schema.splits).get(split, split))
    hits = [n for n in names if n in wanted]
    if len(hits) != 1:
        raise LampError(f"{path}: a datasets folder with splits {', '.join(names)}; pass --split to choose one"
                        if not split else f"{path}: no split {split!r} (it holds {', '.join(names)})")
    return _table(path / hits[0])


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
    if p.is_file() and p.suffix in TABLE_SUFFIXES and kind == "questions":
        return _table(p)
    if p.is_dir() and (p / ARROW_STATE).is_file() and kind == "questions":
        return _table(p)
    if p.is_dir() and (p / DATASET_DICT).is_file() and kind == "questions":
        return _dataset_dict_split(p, split, task)
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
    """``path`` itself when it is already a :class:`Source`, else :func:`find_file` of it."""
    return path if isinstance(path, Source) else find_file(path, kind, split, task)


def task_from_path(name: str) -> str | None:
    """The task a file's path names, by its nearest folder or file name that is a task spelling.

    ``'.../LaMP_2/dev/dev_questions.json'`` -> ``'LaMP-2'``, ``'LaMP_2_old/x.json'`` -> ``'LaMP-2-old'``,
    ``'golds.zip!LaMP_3/dev_outputs.json'`` -> ``'LaMP-3'``; a task spelling inside a longer name
    (``preds_LaMP_7.json``) is not read as one. None when no part names a task.
    """
    for part in reversed(re.split(r"[/\\!]", name)):
        task = find_task(part)
        if task is not None:
            return task.name
    return None




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


