"""``lamp run``: the whole pipeline — rank → prompt → generate → score → report — in one command.

Every stage writes a file in the run directory (:class:`lamp.core.rundir.RunDir`), so any stage can be
inspected, resumed or swapped::

    RUN_DIR/
      config.json                      the resolved configuration
      manifest.json                    package versions, seeds, git revision, model identities, timings
      rankings/LaMP_3/bm25.json        {question id: [profile ids, best first]} (the official format)
      prompts/LaMP_3/bm25.jsonl        one {"id", "prompt"} per question
      predictions/<method>/LaMP_3.json official predictions format
      scores.json                      {"<method>": {"LaMP_3": {"MAE": …}}, "_golds": {...}}
      judged/<method>/LaMP_QA_….json    a LaMP-QA task's judge verdicts per question and aspect, the judge named
      report.md, report.html           the evaluation report (eval.report)

Generations are cached in SQLite (``$LAMP_CACHE_DIR`` or ``~/.cache/lamp``), keyed by the model's
identity, the prompt and the settings: a run killed at any point and rerun redoes nothing that
finished and writes byte-identical predictions. Rankings already in the run directory are reused.

A LaMP-QA task (family ``rubric-qa``) has no gold text: its answers are scored by the LLM judge
(:func:`lamp.pipeline.judging.judge_with`, the official rubric prompt, greedy) as ``rubric-score``,
every judge answer cached like a generation; the judge is the run's own model unless ``judge``
names another, and the manifest names it (identity, prompt version and hash). ``per_task`` cuts
one task's lengths, questions or methods (the demo's long tasks).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from lamp.generation.backends.base import Backend, can_score_labels, load_backend
from lamp.generation.backends.opener import check_backend_options, open_backend, resolve_kind
from retrievers.base import RETRIEVERS, check_retriever_options
from lamp.core.errors import LampDataError, LampError
from lamp.core.outputs import load_outputs, load_rankings
from lamp.core.sources import find_file
from lamp.core.splits import read_split
from lamp.core.writing import write_json
from lamp.generation.driver import MethodSettings, build_examples, generate_all, task_settings
from lamp.core.identity import sha256_file
from lamp.core.records import Question
from lamp.core.rundir import GOLDS_KEY, RunDir
from lamp.core.settings import check, check_values, from_file, setting
from lamp.core.tasks import BENCHMARK_TASKS, get_task
from lamp.privacy.scrub import scrub_transform
from eval.judge import JudgeSettings
from eval.metrics import score_task
from eval.report import RunResult, build_report
from lamp.generation.cache import GenerationCache
from lamp.generation.models import cache_dir
from retrievers.ranking import partial_path_for, rank_questions
from lamp.pipeline.run_judge import JUDGED_FAMILY, RUBRIC_METRIC, RunJudge, judged_path

#: Retriever name that means "no profile": the prompt is the raw input.
NO_RETRIEVAL = "none"
#: The profile baselines run beside the LLM: (method name, baseline variant, retriever whose ranking they read).
BASELINES = (("baseline-blind", "blind", NO_RETRIEVAL), ("baseline-bm25", "profile", "bm25"))
#: RunConfig keys a ``per_task`` entry may set for one task.
PER_TASK_KEYS = ("k", "max_length", "max_new_tokens", "num_beams", "batch_size", "limit", "retrievers", "baselines",
                 "label_choice")
#: Settings with a least value (k may be 0: no profile).
_AT_LEAST = {"k": 0, "limit": 1, "max_length": 1, "max_new_tokens": 1, "num_beams": 1, "batch_size": 1,
             "judge_max_new_tokens": 1, "judge_retries": 0}
#: Distributions whose versions the manifest records: those that can change rankings, outputs or scores.
PACKAGES = ("lamp-harness", "torch", "transformers", "tokenizers", "rouge-score", "peft", "numpy", "msgspec")


@dataclass
class RunConfig(MethodSettings):
    """Everything a run depends on; a JSON or YAML config file sets any of these, flags override it."""

    data: str = setting("data/demo", "folder (or zip) of LaMP files: {task}/{split}/{split}_questions.json and "
                        "_outputs.json")
    split: str = setting("dev", "which split to run: train, dev or test")
    tasks: list[str] = setting(help="LaMP tasks to run, e.g. LaMP-2 LaMP-3 (default: all seven)",
                               default_factory=lambda: list(BENCHMARK_TASKS))
    retrievers: list[str] = setting(help="methods: 'none' (raw input) and rankers (bm25, contriever, recency, "
                                    "random, rrf …)",
                                    default_factory=lambda: [NO_RETRIEVAL, "bm25", "contriever", "recency"])
    backend: str = setting("auto", "auto (hf-seq2seq or hf-causal from the model's config), hf-causal, hf-seq2seq, "
                           "openai …")
    model: str = setting("SmolLM2-135M-Instruct", "model folder, hub id or the bundled SmolLM2-135M-Instruct; with "
                         "openai the served name")
    calibrate_labels: bool = setting(False, "with --label_choice: subtract a content-free prompt's label scores")
    baselines: bool = setting(True, "also run the non-LLM profile baselines (baseline-blind, baseline-bm25)")
    contriever_checkpoint: str | None = setting(None, "encoder of the contriever ranker (default: the bundled "
                                                "all-MiniLM-L6-v2)")
    limit: int | None = setting(None, "only the first N questions of each task (quick runs)")
    output_dir: str = setting("runs/latest", "the run directory (a rerun there resumes)")
    baseline_method: str = setting(NO_RETRIEVAL, "the method every other is compared with in the report")
    backend_options: dict[str, Any] = setting(
        help="JSON object of extra backend arguments, e.g. '{\"base_url\": \"http://127.0.0.1:8000/v1\", "
             "\"tokenizer\": \"SmolLM2-135M-Instruct\"}'", default_factory=dict)
    retriever_options: dict[str, Any] = setting(
        help="JSON object of ranker options, e.g. '{\"members\": \"bm25,contriever\", \"rrf_k\": 30}'",
        default_factory=dict)
    per_task: dict[str, Any] = setting(
        help="JSON object of per-task overrides, e.g. '{\"LongLaMP-product_review\": {\"max_new_tokens\": 64, "
             "\"limit\": 5, \"retrievers\": [\"none\", \"bm25\"]}}'; keys: " + ", ".join(PER_TASK_KEYS),
        default_factory=dict)
    judge: str | None = setting(None, "LaMP-QA's LLM judge as BACKEND:MODEL (e.g. hf-causal:Qwen/Qwen2.5-7B-Instruct, "
                                "openai:judge) or MODEL (backend auto); default: the run's own backend and model")
    judge_options: dict[str, Any] = setting(help="JSON object of the judge backend's arguments (with judge), e.g. "
                                            "'{\"base_url\": \"http://127.0.0.1:8001/v1\", \"chat\": true}'",
                                            default_factory=dict)
    judge_retries: int = setting(JudgeSettings.retries, "re-asks after an unreadable judge answer, then the aspect "
                                 "scores 0 and is counted")
    judge_max_new_tokens: int = setting(JudgeSettings.max_new_tokens, "most tokens per judge answer (official "
                                        f"{JudgeSettings.max_new_tokens})")
    scrub: bool = setting(False, "replace PII (emails, phones, card/SSN/IBAN numbers, IPs, URLs, street addresses; "
                          "names and places only with a spaCy NER model) by per-user placeholders as data is "
                          "loaded, before it reaches prompts, caches, stores or logs")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "RunConfig":
        """A config from a JSON or YAML file (``.yaml``/``.yml``), every key's type checked."""
        return from_file(cls, path)

    def validate(self, source: str = "the run config", check_backend: bool = True) -> None:
        """Every value's type and range, the tasks, and the backend with its options; raises
        :class:`LampError` naming the key. Called before anything is written."""
        check(self, source)
        _check_least({name: getattr(self, name) for name in _AT_LEAST}, source)
        if self.judge is not None and not self.judge.strip(":"):
            raise LampError(f"{source}: judge must be BACKEND:MODEL or MODEL, got {self.judge!r}")
        if self.judge_options and self.judge is None:
            raise LampError(f"{source}: judge_options need judge (BACKEND:MODEL); the run's own model judges "
                            "with backend_options")
        if not self.tasks:
            raise LampError(f"{source}: tasks is empty")
        for task in self.tasks:
            get_task(task)
        self._validate_per_task(source)
        check_retriever_options(self.retriever_options, f"{source}: retriever_options")
        for retrievers in {tuple(self.for_task(t).retrievers) for t in self.tasks}:
            if not retrievers:
                raise LampError(f"{source}: retrievers is empty")
            for name in retrievers:
                if name != NO_RETRIEVAL and name not in RETRIEVERS:
                    raise LampError(f"{source}: retrievers: {RETRIEVERS.unknown(name)}")
        if check_backend and self.backend != "auto":
            check_backend_options(self.backend, self.backend_options, source)
        personalized = self.k > 0 and any(r != NO_RETRIEVAL for r in self.retrievers)
        if check_backend and self.backend == "openai" and personalized and not self.backend_options.get("tokenizer"):
            raise LampError(f"{source}: the openai backend needs a tokenizer to budget personalized prompts: "
                            "backend_options {\"tokenizer\": <the served model's tokenizer folder or hub id, or "
                            "SmolLM2-135M-Instruct>}, or \"chars/4\" for a rough count (recorded in the manifest)")

    def _validate_per_task(self, source: str) -> None:
        """``per_task``: known tasks of the run, only :data:`PER_TASK_KEYS`, each value of its key's type."""
        names = {get_task(t).name for t in self.tasks}
        for task, overrides in self.per_task.items():
            where = f"{source}: per_task[{task!r}]"
            try:
                name = get_task(task).name
            except LampError as err:
                raise LampError(f"{where}: {err}") from None
            if name not in names:
                raise LampError(f"{where}: not one of the run's tasks ({', '.join(self.tasks)})")
            if not isinstance(overrides, dict):
                raise LampError(f"{where}: expected an object of settings, got {overrides!r:.60}")
            check_values(type(self), overrides, where)
            other = sorted(set(overrides) - set(PER_TASK_KEYS))
            if other:
                raise LampError(f"{where}: {', '.join(other)} cannot be set per task (only "
                                f"{', '.join(PER_TASK_KEYS)})")
            _check_least(overrides, where)

    def for_task(self, task: str) -> "RunConfig":
        """This configuration with ``task``'s ``per_task`` overrides applied (itself when it has none)."""
        name = get_task(task).name
        overrides = next((v for k, v in self.per_task.items() if get_task(k).name == name), None)
        return dataclasses.replace(self, **overrides) if overrides else self

    def judge_settings(self) -> JudgeSettings:
        """The judge's retries, answer budget and batch size (its prompt budget the official one)."""
        return JudgeSettings(retries=self.judge_retries, max_new_tokens=self.judge_max_new_tokens,
                             batch_size=self.batch_size)


def _check_least(values: dict[str, Any], source: str) -> None:
    """Every setting of :data:`_AT_LEAST` in ``values`` at least its least value (None: unset)."""
    for name, least in _AT_LEAST.items():
        value = values.get(name)
        if value is not None and value < least:
            raise LampError(f"{source}: {name} must be at least {least}, got {value}")


def resolve_backend(cfg: RunConfig) -> str:
    """The backend the run loads (``auto`` resolved from the model), its options checked."""
    kind = resolve_kind(cfg.backend, cfg.model, "the run config", cfg.backend_options)
    check_backend_options(kind, cfg.backend_options, "the run config")
    return kind


def input_files(cfg: RunConfig, tasks: list[str]) -> dict[str, str]:
    """sha256 of every data file the run reads (questions and outputs of each task's split)."""
    out: dict[str, str] = {}
    for task in tasks:
        for kind in ("questions", "outputs"):
            try:
                source = find_file(cfg.data, kind, cfg.split, task)
            except LampError:
                continue
            real = Path(source.name.split("!", 1)[0])         # a zip member: the zip's hash
            if str(real) not in out and real.is_file():
                out[str(real)] = sha256_file(real)
    return out


def _git_dirty() -> bool | None:
    """True when the source tree has uncommitted changes (None: not a git checkout)."""
    try:
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


# --------------------------------------------------------------------------- stages

def load_split(cfg: RunConfig, task: str) -> tuple[list[Question], dict[str, str] | None, str | None]:
    """Questions of the split (first ``limit``), and the golds with their path when the split has them."""
    found = read_split(cfg.data, task, split=cfg.split, require_outputs=False, limit=cfg.limit,
                       transform=scrub_transform(cfg.scrub))
    return found.questions, found.golds if found.golds_source else None, found.golds_source


def ranking_for(cfg: RunConfig, run_dir: str | os.PathLike | RunDir, task: str, retriever: str,
                questions: list[Question]) -> dict[str, list[str]] | None:
    """The ranking of every question (reused from the run directory when already there)."""
    if retriever == NO_RETRIEVAL:
        return None
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    path = run.ranking(task, retriever)
    opts: dict[str, Any] = {"use_date": cfg.use_date, "seed": cfg.seed}
    if cfg.contriever_checkpoint:
        opts["contriever_checkpoint"] = cfg.contriever_checkpoint
    opts.update(cfg.retriever_options)
    settings = ranking_settings(retriever, opts, questions, cfg.scrub)
    settings_path = run.ranking_settings(task, retriever)
    if path.exists():
        ranking, why = reusable_ranking(path, settings_path, settings, questions)
        if ranking is not None:
            return ranking
        print(f"note: {path}: {why}; ranking again", file=sys.stderr)
    partial = partial_path_for(path)
    if partial.exists() and not _same_settings(settings_path, settings):
        partial.unlink()                       # progress made under other settings is not resumed
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(settings_path, settings, indent=1)
    ranking = rank_questions(questions, task, retriever, partial_path=partial, **opts)
    write_json(path, ranking)
    partial.unlink(missing_ok=True)
    return ranking


def ranking_settings(retriever: str, opts: dict[str, Any], questions: list[Question], scrub: bool) -> dict[str, Any]:
    """What a ranking depends on: the ranker and its options, scrubbing, and the exact questions."""
    import hashlib

    digest = hashlib.sha256()
    for q in questions:
        digest.update(json.dumps(q.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return {"retriever": retriever, **opts, "scrub": scrub,
            "questions_sha256": digest.hexdigest()}


def _same_settings(settings_path: Path, settings: dict[str, Any]) -> bool:
    try:
        return json.loads(settings_path.read_text(encoding="utf-8")) == settings
    except (OSError, ValueError):
        return False


def reusable_ranking(path: Path, settings_path: Path, settings: dict[str, Any],
                     questions: list[Question]) -> tuple[dict[str, list[str]] | None, str]:
    """(the ranking, "") when the file is whole and was made with these settings, else (None, why not)."""
    if not _same_settings(settings_path, settings):
        return None, "made with other settings (or without a settings record)"
    try:
        ranking = load_rankings(path)
    except LampDataError as exc:
        return None, f"damaged ({exc.reason})"
    for q in questions:
        ids = ranking.get(q.id)
        if not isinstance(ids, list) or len(set(map(str, ids))) != len(ids) or \
                not set(map(str, ids)) <= {it.id for it in q.profile}:
            return None, f"damaged or stale (question {q.id!r})"
    return ranking, ""


def predict(cfg: RunConfig, backend: Backend, task: str, examples: list, cache: Any, desc: str) -> list[str]:

    t = get_task(task)
    kind = type(backend)
    can_choose = can_score_labels(backend)
    choose = cfg.label_choice and t.labels is not None and not backend.uses_examples
    if choose and not can_choose:         # never free generation under a "label likelihood" manifest
        raise LampError(f"label_choice: backend {kind.__name__} cannot score labels; drop --label_choice "
                        "for free generation")
    settings = task_settings(t, cfg.settings())
    if choose and cfg.calibrate_labels:
        settings = dataclasses.replace(settings, calibration_prompt=t.content_free_input())
    outputs = generate_all(backend, examples, settings, cache, mode="choose" if choose else "generate",
                           options=list(t.labels) if choose else None, desc=desc, batch_size=cfg.batch_size)
    return [t.answer_text(out) for out in outputs]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _git_revision() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_pipeline(cfg: RunConfig, backend: Backend | None = None, judge: Backend | None = None) -> dict[str, Any]:
    """Run every task × retriever (plus the profile baselines) and write the run directory; LaMP-QA
    answers are scored by ``judge`` (default: the ``judge`` setting's model, else the run's own)."""
    cfg.validate(check_backend=backend is None)     # nothing is written for a bad config...
    tasks = [get_task(t).name for t in cfg.tasks]
    kind = resolve_backend(cfg) if backend is None else cfg.backend
    splits = {task: load_split(cfg.for_task(task), task) for task in tasks}   # ...nor for bad data
    run_dir = RunDir.create(cfg.output_dir)
    run_dir.write_config(dataclasses.asdict(cfg))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if backend is None:
        tick = time.perf_counter()
        # A backend that reads questions of its own (uemb's profiles) names transform, and gets --scrub's.
        backend = open_backend(kind, cfg.model, cfg.backend_options, source="the run config",
                               batch_size=cfg.batch_size, defaults={"transform": scrub_transform(cfg.scrub)})
        timings["load model"] = time.perf_counter() - tick
    judges = RunJudge(cfg.judge, cfg.judge_options, cfg.judge_settings(), own=(backend, kind, cfg.model),
                      given=judge, timings=timings)
    scores: dict[str, dict[str, Any]] = {GOLDS_KEY: {}}
    results: list[RunResult] = []
    with GenerationCache(cache_dir() / "generations.sqlite") as cache:
        for task in tasks:
            t, tcfg = get_task(task), cfg.for_task(task)
            questions, golds, golds_path = splits.pop(task)
            if golds_path:
                scores[GOLDS_KEY][t.file_name] = str(Path(golds_path).resolve()) if "!" not in golds_path \
                    else golds_path
            for method, model, retriever, k in _methods(tcfg, task, backend, golds):
                tick = time.perf_counter()
                ranking = ranking_for(tcfg, run_dir, task, retriever, questions)
                timings[f"rank {t.file_name} {retriever}"] = timings.get(f"rank {t.file_name} {retriever}", 0.0) + \
                    time.perf_counter() - tick
                examples = build_examples(task, questions, k, tcfg.max_length, backend.tokenizer, ranking)
                if model is backend:
                    run_dir.write_prompts(task, method, ((ex.id, ex.prompt) for ex in examples))
                tick = time.perf_counter()
                outputs = predict(tcfg, model, task, examples, cache, desc=f"{t.file_name} {method}")
                timings[f"generate {t.file_name} {method}"] = time.perf_counter() - tick
                preds = {ex.id: out for ex, out in zip(examples, outputs)}
                run_dir.write_predictions(method, task, preds)
                if t.family == JUDGED_FAMILY:
                    judged = judges.score(task, method, questions, preds, cache)
                    write_json(judged_path(run_dir, method, task), judged.to_json(), indent=1)
                    scores.setdefault(method, {})[t.file_name] = {RUBRIC_METRIC: judged.score}
                    results.append(RunResult(method, task, {RUBRIC_METRIC: judged.score}, judge=judges.info))
                elif golds is not None:
                    metrics = score_task(task, golds, preds)
                    scores.setdefault(method, {})[t.file_name] = metrics
                    results.append(RunResult(method, task, metrics, golds, preds))
    timings["total"] = time.perf_counter() - started
    run_dir.write_scores(scores)
    manifest = {"versions": _versions(), "git_revision": _git_revision(), "git_dirty": _git_dirty(),
                "input_files_sha256": input_files(cfg, tasks), "seed": cfg.seed,
                "model_identity": backend.identity, "backend": kind,
                "prompt_budget": getattr(backend, "prompt_budget", "tokenizer"),
                "mode": ("calibrated label likelihood" if cfg.calibrate_labels else "label likelihood")
                + " for classification/rating" if cfg.label_choice else "free generation",
                "timings_s": {k: round(v, 2) for k, v in timings.items()}, "argv": sys.argv}
    if judges.info is not None:
        manifest["judge"] = judges.info
    run_dir.write_manifest(manifest)
    if results:
        report = build_report(results, baseline=cfg.baseline_method if cfg.baseline_method in
                              {r.method for r in results} else None)
        run_dir.write_report(_report_header(cfg, manifest) + report.markdown(), report.html())
    return {"run_dir": str(run_dir.root), "scores": scores, "manifest": manifest}


def _methods(cfg: RunConfig, task: str, backend: Backend, golds: dict[str, str] | None,
             ) -> list[tuple[str, Backend, str, int]]:
    """(method, model, retriever whose ranking it reads, k) of each method run on ``task``."""
    methods: list[tuple[str, Backend, str, int]] = [(r, backend, r, 0 if r == NO_RETRIEVAL else cfg.k)
                                                    for r in cfg.retrievers]
    if cfg.baselines:
        for name, variant, retriever in BASELINES:
            base = load_backend("profile-baseline", task=task, variant=variant)
            if golds and variant == "blind":
                train_golds = _train_outputs(cfg, task)
                base.fit(train_golds or [])
            methods.append((name, base, retriever, 0 if retriever == NO_RETRIEVAL else max(cfg.k, 4)))
    return methods


def _train_outputs(cfg: RunConfig, task: str) -> list[str] | None:
    """Train-split outputs (the profile-blind baseline's prior), when the data has them."""
    try:
        return [g.output for g in load_outputs(cfg.data, split="train", task=task).golds]
    except LampError:
        return None


def _report_header(cfg: RunConfig, manifest: dict[str, Any]) -> str:
    return (f"# lamp run: {cfg.split} split of {cfg.data}\n\n"
            f"Model `{cfg.model}` ({manifest['backend']}), k={cfg.k}, max_length={cfg.max_length}, "
            f"{manifest['mode']}, beams={cfg.num_beams}, max_new_tokens={cfg.max_new_tokens}. "
            f"Total time {manifest['timings_s']['total']:.0f} s.\n"
            "Methods: `none` = no profile (raw input); `bm25`, `contriever`, `recency` = top-k items in the prompt; "
            "`baseline-blind` = majority label / mean rating / first sentence of the input; "
            "`baseline-bm25` = the same read from the BM25 top-4 items (no LLM).\n\n")
