"""Writing results: atomically (temp file + rename), and never over an input.

An interrupted run leaves no half-written file, and a result path that names one of its inputs
(through links or ``..``) is refused before anything is read or written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from lamp.core.errors import LampError
from lamp.core.records import Gold
from lamp.core.sources import task_folder_name


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
