"""``lamp run``: the whole pipeline — rank → prompt → generate → score → report — in one command.

Every stage writes a file in the run directory, so any stage can be inspected, resumed or swapped::

    RUN_DIR/
      config.json                      the resolved configuration
      manifest.json                    package versions, seeds, git revision, model identities, timings
      rankings/LaMP_3/bm25.json        {question id: [profile ids, best first]} (the official format)
      prompts/LaMP_3/bm25.jsonl        one {"id", "prompt"} per question
      predictions/<method>/LaMP_3.json official predictions format
      scores.json                      {"<method>": {"LaMP_3": {"MAE": …}}, "_golds": {...}}
      report.md, report.html           the evaluation report (eval.report)

Generations are cached in SQLite (``$LAMP_CACHE_DIR`` or ``~/.cache/lamp``), keyed by the model's
identity, the prompt and the settings: a run killed at any point and rerun redoes nothing that
finished and writes byte-identical predictions. Rankings already in the run directory are reused.
"""

from __future__ import annotations

import argparse
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

from lamp.backends.base import Backend, GenerationSettings, load_backend
from lamp.errors import LampError
from lamp.files import find_file, load_outputs, load_questions, write_json, write_outputs, atomic_write
from lamp.records import Question
from lamp.tasks import BENCHMARK_TASKS, get_task

#: Retriever name that means "no profile": the prompt is the raw input.
NO_RETRIEVAL = "none"
#: The profile baselines run beside the LLM: (method name, baseline variant, retriever whose ranking they read).
BASELINES = (("baseline-blind", "blind", NO_RETRIEVAL), ("baseline-bm25", "profile", "bm25"))
PACKAGES = ("lamp-harness", "torch", "transformers", "sentence-transformers", "rank-bm25", "rouge-score",
            "peft", "numpy", "faiss-cpu", "scikit-learn")


@dataclass
class RunConfig:
    """Everything a run depends on; a JSON config file sets any of these, flags override it."""

    data: str = "data/demo"
    split: str = "dev"
    tasks: list[str] = field(default_factory=lambda: list(BENCHMARK_TASKS))
    retrievers: list[str] = field(default_factory=lambda: [NO_RETRIEVAL, "bm25", "contriever", "recency"])
    k: int = 1
    backend: str = "hf-causal"
    model: str = "SmolLM2-135M-Instruct"
    max_length: int = 256
    max_new_tokens: int = 128
    num_beams: int = 4
    batch_size: int = 8
    label_choice: bool = False
    calibrate_labels: bool = False
    baselines: bool = True
    use_date: bool = False
    contriever_checkpoint: str | None = None
    limit: int | None = None
    seed: int = 0
    output_dir: str = "runs/latest"
    baseline_method: str = NO_RETRIEVAL
    backend_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "RunConfig":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LampError(f"{path}: cannot read the run config ({exc})") from None
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise LampError(f"{path}: unknown config keys {unknown} (known: {', '.join(sorted(names))})")
        return cls(**raw)

    def settings(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, seed=self.seed,
                                  max_input_length=self.max_length, stop_at_newline=True)


# --------------------------------------------------------------------------- stages

def load_split(cfg: RunConfig, task: str) -> tuple[list[Question], dict[str, str] | None, str | None]:
    """Questions of the split (first ``limit``), and the golds with their path when the split has them."""
    questions = load_questions(cfg.data, split=cfg.split, task=task)
    if cfg.limit:
        questions = questions[: cfg.limit]
    try:
        src = find_file(cfg.data, "outputs", cfg.split, task)
    except LampError:
        return questions, None, None
    golds = load_outputs(src, task=task).by_id()
    ids = {q.id for q in questions}
    return questions, {i: o for i, o in golds.items() if i in ids}, src.name


def ranking_for(cfg: RunConfig, run_dir: Path, task: str, retriever: str,
                questions: list[Question]) -> dict[str, list[str]] | None:
    """The ranking of every question (reused from the run directory when already there)."""
    if retriever == NO_RETRIEVAL:
        return None
    from retrievers.ranking import partial_path_for, rank_questions

    path = run_dir / "rankings" / get_task(task).file_name / f"{retriever}.json"
    opts: dict[str, Any] = {"use_date": cfg.use_date, "seed": cfg.seed}
    if cfg.contriever_checkpoint:
        opts["contriever_checkpoint"] = cfg.contriever_checkpoint
    settings = ranking_settings(retriever, opts, questions)
    settings_path = path.with_name(f"{retriever}.settings.json")
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


def ranking_settings(retriever: str, opts: dict[str, Any], questions: list[Question]) -> dict[str, Any]:
    """What a ranking depends on: the ranker and its options, scrubbing, and the exact questions."""
    import hashlib

    from lamp.scrub import active_scrubber

    digest = hashlib.sha256()
    for q in questions:
        digest.update(json.dumps(q.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return {"retriever": retriever, **opts, "scrub": active_scrubber() is not None,
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
        ranking = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"damaged ({exc.__class__.__name__})"
    if not isinstance(ranking, dict):
        return None, "damaged (not an object)"
    for q in questions:
        ids = ranking.get(q.id)
        if not isinstance(ids, list) or len(set(map(str, ids))) != len(ids) or \
                not set(map(str, ids)) <= {it.id for it in q.profile}:
            return None, f"damaged or stale (question {q.id!r})"
    return ranking, ""


def write_prompts(path: Path, examples: list) -> None:
    with atomic_write(path) as fh:
        for ex in examples:
            fh.write(json.dumps({"id": ex.id, "prompt": ex.prompt}, ensure_ascii=False) + "\n")


def predict(cfg: RunConfig, backend: Backend, task: str, examples: list, cache: Any, desc: str) -> list[str]:
    from lamp.generation import generate_all

    t = get_task(task)
    can_choose = type(backend).choose is not Backend.choose
    choose = cfg.label_choice and t.labels is not None and can_choose and not backend.uses_examples
    settings = cfg.settings()
    if choose and cfg.calibrate_labels:
        settings = dataclasses.replace(settings, calibration_prompt=t.content_free_input())
    return generate_all(backend, examples, settings, cache, mode="choose" if choose else "generate",
                        options=list(t.labels) if choose else None, desc=desc, batch_size=cfg.batch_size)


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


def prepare_run_dir(path: str | os.PathLike) -> Path:
    """The run directory; refuses a non-empty folder that is not a lamp run (never clobber user files)."""
    run_dir = Path(path)
    if run_dir.exists() and any(run_dir.iterdir()) and not (run_dir / "config.json").exists():
        raise LampError(f"{run_dir} exists and is not a lamp run directory; choose another --output_dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def run_pipeline(cfg: RunConfig, backend: Backend | None = None) -> dict[str, Any]:
    """Run every task × retriever (plus the profile baselines) and write the run directory."""
    from eval.metrics import score_task
    from eval.report import RunResult, build_report
    from lamp.gen_cache import GenerationCache
    from lamp.generation import build_examples
    from lamp.models import cache_dir

    tasks = [get_task(t).name for t in cfg.tasks]
    run_dir = prepare_run_dir(cfg.output_dir)
    write_json(run_dir / "config.json", dataclasses.asdict(cfg), indent=1)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if backend is None:
        tick = time.perf_counter()
        opts = {"model": cfg.model, "batch_size": cfg.batch_size} if cfg.backend.startswith("hf-") else \
            {"model": cfg.model or None}
        backend = load_backend(cfg.backend, **{**opts, **cfg.backend_options})
        timings["load model"] = time.perf_counter() - tick
    scores: dict[str, dict[str, Any]] = {"_golds": {}}
    results: list[RunResult] = []
    with GenerationCache(cache_dir() / "generations.sqlite") as cache:
        for task in tasks:
            t = get_task(task)
            questions, golds, golds_path = load_split(cfg, task)
            if golds_path:
                scores["_golds"][t.file_name] = str(Path(golds_path).resolve()) if "!" not in golds_path else golds_path
            methods: list[tuple[str, Backend, str, int]] = [(r, backend, r, 0 if r == NO_RETRIEVAL else cfg.k)
                                                            for r in cfg.retrievers]
            if cfg.baselines:
                for name, variant, retriever in BASELINES:
                    base = load_backend("profile-baseline", task=task, variant=variant)
                    if golds and variant == "blind":
                        train_golds = _train_outputs(cfg, task)
                        base.fit(train_golds or [])
                    methods.append((name, base, retriever, 0 if retriever == NO_RETRIEVAL else max(cfg.k, 4)))
            for method, model, retriever, k in methods:
                tick = time.perf_counter()
                ranking = ranking_for(cfg, run_dir, task, retriever, questions)
                timings[f"rank {t.file_name} {retriever}"] = timings.get(f"rank {t.file_name} {retriever}", 0.0) + \
                    time.perf_counter() - tick
                examples = build_examples(task, questions, k, cfg.max_length, backend.tokenizer, ranking)
                if model is backend:
                    write_prompts(run_dir / "prompts" / t.file_name / f"{method}.jsonl", examples)
                tick = time.perf_counter()
                outputs = predict(cfg, model, task, examples, cache, desc=f"{t.file_name} {method}")
                timings[f"generate {t.file_name} {method}"] = time.perf_counter() - tick
                preds = {ex.id: out for ex, out in zip(examples, outputs)}
                write_outputs(run_dir / "predictions" / method / f"{t.file_name}.json", task, preds)
                if golds is not None:
                    metrics = score_task(task, golds, preds)
                    scores.setdefault(method, {})[t.file_name] = metrics
                    results.append(RunResult(method, task, metrics, golds, preds))
    timings["total"] = time.perf_counter() - started
    write_json(run_dir / "scores.json", scores, indent=1)
    manifest = {"versions": _versions(), "git_revision": _git_revision(), "seed": cfg.seed,
                "model_identity": backend.identity, "backend": cfg.backend,
                "mode": ("calibrated label likelihood" if cfg.calibrate_labels else "label likelihood")
                + " for classification/rating" if cfg.label_choice else "free generation",
                "timings_s": {k: round(v, 2) for k, v in timings.items()}, "argv": sys.argv}
    write_json(run_dir / "manifest.json", manifest, indent=1)
    if results:
        report = build_report(results, baseline=cfg.baseline_method if cfg.baseline_method in
                              {r.method for r in results} else None)
        with atomic_write(run_dir / "report.md") as fh:
            fh.write(_report_header(cfg, manifest) + report.markdown())
        with atomic_write(run_dir / "report.html") as fh:
            fh.write(report.html())
    return {"run_dir": str(run_dir), "scores": scores, "manifest": manifest}


def _train_outputs(cfg: RunConfig, task: str) -> list[str] | None:
    """Train-split outputs (the profile-blind baseline's prior), when the data has them."""
    try:
        return [g.output for g in load_outputs(cfg.data, split="train", task=task).golds]
    except LampError:
        return None


def _report_header(cfg: RunConfig, manifest: dict[str, Any]) -> str:
    return (f"# lamp run: {cfg.split} split of {cfg.data}\n\n"
            f"Model `{cfg.model}` ({cfg.backend}), k={cfg.k}, max_length={cfg.max_length}, "
            f"{manifest['mode']}, beams={cfg.num_beams}, max_new_tokens={cfg.max_new_tokens}. "
            f"Total time {manifest['timings_s']['total']:.0f} s.\n"
            "Methods: `none` = no profile (raw input); `bm25`, `contriever`, `recency` = top-k items in the prompt; "
            "`baseline-blind` = majority label / mean rating / first sentence of the input; "
            "`baseline-bm25` = the same read from the BM25 top-4 items (no LLM).\n\n")


# --------------------------------------------------------------------------- CLI

def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON file with any RunConfig keys (flags override it)")
    for f in dataclasses.fields(RunConfig):
        flag = f"--{f.name}"
        if f.name == "backend_options":
            parser.add_argument(flag, type=json.loads, default=None, help="JSON object passed to the backend")
        elif f.type in ("bool",):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif f.name in ("tasks", "retrievers"):
            parser.add_argument(flag, nargs="+", default=None)
        else:
            kind = {"int": int, "int | None": int}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=None)
    from lamp.scrub import add_scrub_flag

    add_scrub_flag(parser)
    parser.epilog = ("examples:\n  lamp run --config data/demo_run.json\n"
                     "  lamp run --tasks LaMP-3 --retrievers none bm25 --k 4 --limit 20 --output_dir runs/try\n"
                     "  lamp run --backend openai --model llama-3-8b "
                     "--backend_options '{\"base_url\": \"http://127.0.0.1:8000/v1\"}'")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    cfg = RunConfig.from_file(args.config) if args.config else RunConfig()
    for f in dataclasses.fields(RunConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            setattr(cfg, f.name, value)
    return cfg


def run(args: argparse.Namespace) -> int:
    from lamp.scrub import set_active

    set_active(getattr(args, "scrub", False))
    result = run_pipeline(config_from_args(args))
    report = Path(result["run_dir"]) / "report.md"
    if report.exists():
        print(report.read_text(encoding="utf-8"))
    print(f"run directory: {result['run_dir']}")
    return 0
