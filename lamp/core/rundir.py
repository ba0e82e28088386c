"""The run directory: one type that names every file of a run and reads and writes them.

``lamp run`` writes it, ``lamp report`` reads it, ``lamp rspg score --run_dir`` reuses its prompts and
predictions, and ``lamp uemb compare`` reads its predictions and timings; all of them go through
:class:`RunDir`, so the layout is written down once::

    RUN_DIR/
      config.json                           the resolved configuration
      manifest.json                         package versions, seeds, git revision, model identities, timings
      rankings/LaMP_3/bm25.json             {question id: [profile ids, best first]} (the official format)
      rankings/LaMP_3/bm25.settings.json    what that ranking was made with (a rerun reuses it only if equal)
      prompts/LaMP_3/bm25.jsonl             one {"id", "prompt"} per question
      predictions/<method>/LaMP_3.json      official predictions format
      scores.json                           {"<method>": {"LaMP_3": {"MAE": …}}, "_golds": {"LaMP_3": path}}
      report.md, report.html                the evaluation report

Keys of ``scores.json`` starting with ``_`` are not methods. Gold paths are relative to the run
directory unless absolute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError
from lamp.core.outputs import load_outputs
from lamp.core.tasks import get_task
from lamp.core.writing import atomic_write, write_json, write_outputs

#: The key of ``scores.json`` that maps each task to its gold outputs' path.
GOLDS_KEY = "_golds"


@dataclass(frozen=True)
class RunDir:
    """The files of one run directory (see the module docstring for the layout)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))   # a str or any path-like is accepted

    @classmethod
    def create(cls, path: str | os.PathLike) -> "RunDir":
        """The run directory, made if needed; refuses a file, or a non-empty folder that is not a lamp run
        (never clobber user files)."""
        run = cls(path)
        root = run.root
        if root.exists() and not root.is_dir():
            raise LampError(f"{root}: output_dir is an existing file, not a folder; choose another --output_dir")
        if root.exists() and any(root.iterdir()) and not run.config.exists():
            raise LampError(f"{root} exists and is not a lamp run directory; choose another --output_dir")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:      # e.g. a parent is a file
            raise LampError(f"{root}: cannot create the output_dir ({exc.strerror}); choose another "
                            "--output_dir") from None
        return run

    # ------------------------------------------------------------------ paths

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def scores(self) -> Path:
        return self.root / "scores.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    def ranking(self, task: str, retriever: str) -> Path:
        return self.root / "rankings" / get_task(task).file_name / f"{retriever}.json"

    def ranking_settings(self, task: str, retriever: str) -> Path:
        return self.ranking(task, retriever).with_name(f"{retriever}.settings.json")

    def prompts(self, task: str, method: str) -> Path:
        return self.root / "prompts" / get_task(task).file_name / f"{method}.jsonl"

    def predictions(self, method: str, task: str) -> Path:
        return self.root / "predictions" / method / f"{get_task(task).file_name}.json"

    def predicted_methods(self) -> list[str]:
        """Methods with a predictions folder, sorted by name."""
        folder = self.root / "predictions"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def predicted_tasks(self, method: str) -> list[str]:
        """Tasks (canonical names) with a predictions file of ``method``, sorted by file name."""
        folder = self.root / "predictions" / method
        return [get_task(f.stem).name for f in sorted(folder.glob("*.json"))] if folder.is_dir() else []

    def golds_path(self, recorded: str) -> Path:
        """A gold path as ``scores.json`` records it: relative to the run directory unless absolute."""
        return Path(recorded) if Path(recorded).is_absolute() else self.root / recorded

    # ------------------------------------------------------------------ reading and writing

    def read_config(self) -> dict[str, Any]:
        """The run's configuration; empty when the run has none (an outside tool's folder)."""
        return self._read_object(self.config) if self.config.exists() else {}

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.config, config, indent=1)

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest.is_file():
            raise LampError(f"{self.root}: no manifest.json (not a finished lamp run)")
        return self._read_object(self.manifest)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.manifest, manifest, indent=1)

    def read_scores(self) -> dict[str, Any]:
        if not self.scores.is_file():
            raise LampError(f"{self.root}: no scores.json (expected {{\"<method>\": {{\"LaMP_1\": {{metric: value}}}}, "
                            "\"_golds\": {\"LaMP_1\": \"path\"}})")
        return self._read_object(self.scores, "an object keyed by method name")

    def write_scores(self, scores: dict[str, Any]) -> None:
        write_json(self.scores, scores, indent=1)

    def write_prompts(self, task: str, method: str, prompts: Iterable[tuple[str, str]]) -> None:
        """One ``{"id", "prompt"}`` line per (question id, prompt), written atomically."""
        with atomic_write(self.prompts(task, method)) as fh:
            for qid, prompt in prompts:
                fh.write(json.dumps({"id": qid, "prompt": prompt}, ensure_ascii=False) + "\n")

    def read_prompts(self, task: str, method: str) -> dict[str, str]:
        """{question id: prompt} of ``method``'s prompts file."""
        prompts = {}
        for line in self.prompts(task, method).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                prompts[str(rec["id"])] = rec["prompt"]
        return prompts

    def write_predictions(self, method: str, task: str, predictions: dict[str, str]) -> None:
        write_outputs(self.predictions(method, task), task, predictions)

    def read_predictions(self, method: str, task: str) -> dict[str, str]:
        return load_outputs(self.predictions(method, task), task=task).by_id()

    def write_report(self, markdown: str, html: str) -> None:
        with atomic_write(self.report_md) as fh:
            fh.write(markdown)
        with atomic_write(self.report_html) as fh:
            fh.write(html)

    @staticmethod
    def _read_object(path: Path, what: str = "a JSON object") -> dict[str, Any]:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise LampError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise LampError(f"{path}: expected {what}")
        return value
