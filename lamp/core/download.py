"""Fetch the official LaMP files (reference §1.1), resumable, with a size check (``lamp data download``).

Files land in the official layout under ``--dest`` (``LaMP_4/dev/dev_questions.json``; time-based
files under ``time/``). A partial download is kept as ``*.part`` and resumed with an HTTP Range
request; a finished file whose size matches the server's is not fetched again.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from lamp.core.errors import LampError
from lamp.core.tasks import get_task

OFFICIAL_BASE_URL = "https://ciir.cs.umass.edu/downloads/LaMP/"
SPLITS = ("train", "dev", "test")


def remote_folder(task: str, split: str, time_based: bool = False) -> str:
    """The folder of a task's split on the download host ('LaMP_2/new/dev', 'time/LaMP_4/dev')."""
    t = get_task(task)
    folder = f"{t.download_folder or t.file_name}/{split}"
    return f"time/{folder}" if time_based else folder


def file_names(split: str) -> list[str]:
    """Test splits have no public outputs."""
    kinds = ("questions",) if split == "test" else ("questions", "outputs")
    return [f"{split}_{k}.json" for k in kinds]


def local_path(dest: Path, task: str, split: str, name: str, time_based: bool) -> Path:
    return dest / ("time" if time_based else "") / get_task(task).file_name / split / name


def _remote_size(url: str, timeout: float) -> int | None:
    req = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        size = resp.headers.get("Content-Length")
    return int(size) if size is not None else None


def fetch(url: str, target: Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``target``, resuming a ``.part`` file; raises LampError naming the URL."""
    part = target.with_name(target.name + ".part")
    try:
        total = _remote_size(url, timeout)
        if target.exists() and total is not None and target.stat().st_size == total:
            return target
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have > total:
            part.unlink()
            have = 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        req = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if have and resp.status != 206:  # server ignored Range: start over
                have = 0
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "ab" if have else "wb") as fh, \
                    tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=target.name,
                         disable=not progress) as bar:
                while chunk := resp.read(1 << 16):
                    fh.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise LampError(f"download failed: {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LampError(f"download failed: cannot reach {url} ({reason}); the partial file is kept at {part} "
                        "and the next run resumes it") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise LampError(f"download incomplete: {url} gave {size} of {total} bytes; rerun to resume")
    os.replace(part, target)
    return target


def download(task: str, split: str, dest: str | os.PathLike, time_based: bool = False,
             base_url: str = OFFICIAL_BASE_URL, timeout: float = 60.0, progress: bool = True) -> list[Path]:
    """Fetch one split of one task; returns the local paths."""
    if split not in SPLITS:
        raise LampError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    base = base_url if base_url.endswith("/") else base_url + "/"
    folder = remote_folder(task, split, time_based)
    return [fetch(f"{base}{folder}/{name}", local_path(Path(dest), task, split, name, time_based), timeout, progress)
            for name in file_names(split)]
