"""The LLM judge stage of ``lamp run``: a LaMP-QA task (family ``rubric-qa``) has no gold text, so each
method's answers are scored by the judge (:func:`lamp.pipeline.judging.judge_with`: the official rubric
prompt, greedy, every answer through the run's generation cache, so a rerun judges nothing twice).

The judge is the ``judge`` setting's ``BACKEND:MODEL`` when given, else the run's own model (the
backend already loaded, no second copy); :attr:`RunJudge.info` names it (backend, model, identity,
prompt version and hash, retries, decoding) for the manifest; each verdict file names its judge
too, which the report (:mod:`eval.report`) shows under the table, because judge scores compare only
under one judge.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from eval.judge import JudgeResult, JudgeSettings
from lamp.core.records import Question
from lamp.core.rundir import RunDir
from lamp.core.tasks import get_task
from lamp.generation.backends.base import Backend
from lamp.generation.backends.opener import open_backend, resolve_kind
from lamp.generation.cache import GenerationCache
from lamp.pipeline.judging import judge_with

#: The family whose answers the LLM judge scores (LaMP-QA).
JUDGED_FAMILY = "rubric-qa"
#: The metric the judge's mean per-question score is filed under in scores.json.
RUBRIC_METRIC = "rubric-score"


def parse_judge(spec: str) -> tuple[str, str]:
    """``BACKEND:MODEL`` as (backend, model), or ``MODEL`` alone as ("auto", model); the model part may
    hold colons of its own (``openai:llama3:8b``)."""
    backend, sep, model = spec.partition(":")
    return (backend, model) if sep and backend and model else ("auto", spec)


def judged_path(run_dir: RunDir, method: str, task: str) -> Path:
    """Where one method's verdicts on a task go: ``judged/<method>/<task file name>.json``."""
    return run_dir.root / "judged" / method / f"{get_task(task).file_name}.json"


class RunJudge:
    """The run's judge, opened on first use. ``own`` is (the run's backend, its kind, its model name);
    ``given`` a backend object to judge with (tests). :attr:`info` names the judge once it has judged."""

    def __init__(self, spec: str | None, options: dict[str, Any], settings: JudgeSettings,
                 own: tuple[Backend, str, str], given: Backend | None = None,
                 timings: dict[str, float] | None = None) -> None:
        self.spec, self.options, self.settings, self.own, self.given = spec, options, settings, own, given
        self.timings = timings if timings is not None else {}
        self.model: Backend | None = None
        self.named: dict[str, Any] = {}
        self.info: dict[str, Any] | None = None

    def _open(self) -> Backend:
        if self.model is not None:
            return self.model
        backend, kind, model = self.own
        if self.given is not None:
            self.model, self.named = self.given, {"backend": type(self.given).__name__, "model": None}
        elif self.spec is None:
            self.model, self.named = backend, {"backend": kind, "model": model, "own_model": True}
        else:
            name, judge_model = parse_judge(self.spec)
            source = "the run config: judge"
            judge_kind = resolve_kind(name, judge_model, source, self.options)
            tick = time.perf_counter()
            self.model = open_backend(judge_kind, judge_model, self.options, source=source,
                                      batch_size=self.settings.batch_size)
            self.timings["load judge"] = time.perf_counter() - tick
            self.named = {"backend": judge_kind, "model": judge_model, "own_model": False}
        return self.model

    def score(self, task: str, method: str, questions: list[Question], preds: dict[str, str],
              cache: GenerationCache) -> JudgeResult:
        """``preds`` judged against each question's rubric aspects."""
        model = self._open()
        tick = time.perf_counter()
        result = judge_with(model, questions, preds, self.settings, cache, progress=sys.stderr.isatty())
        self.timings[f"judge {get_task(task).file_name} {method}"] = time.perf_counter() - tick
        self.info = {**self.named, **result.judge}
        return result
