"""``lamp uemb compare``: every personalization method on the same dev questions, in one command.

Rows, per task: ``none`` and ``bm25`` (RAG) through ``lamp run`` (:func:`lamp.pipeline.run.run_pipeline`,
label choice for tasks with labels, greedy generation otherwise), ``lora`` (a LoRA adapter per
dev user trained on that user's profile, :mod:`lamp.methods.adapters`, answered the same way), and the
user embeddings trained on the train split: ``uemb-mean``, ``uemb-attention``,
``uemb-attention+bm25`` (soft user token plus the top-k items in the prompt) and ``uemb-control``
(a learned token per user attribute). Each row is scored with the official metrics, tested
against ``none`` with the paired bootstrap / randomization test of :mod:`eval.compare`, and timed
(training + answering, wall clock). The per-user state is what each method stores per user: an
adapter folder for LoRA, one user vector for the embeddings (which can also be recomputed from the
profile); the embeddings' shared artifact is listed beside it. Generation tasks also get the gold
output's perplexity per user (mean over users) under each method.

Everything lands in ``OUT``: ``OUT/<task>/...`` (run directory, adapters, artifacts, predictions,
step times) and ``OUT/results.json`` + ``OUT/report.md`` (every task compared so far in ``OUT``, so
tasks can run one invocation each). Finished steps are kept: a rerun after a kill redoes only
what did not finish (their recorded times are kept too).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

from lamp.generation.backends.base import GenerationSettings
from lamp.core.outputs import load_outputs
from lamp.core.sources import find_file
from lamp.core.splits import read_split
from lamp.core.writing import write_json, write_outputs
from lamp.core.rundir import RunDir
from lamp.core.tasks import get_task
from lamp.methods.uemb.artifact import CONFIG, WEIGHTS
from eval.compare import compare_predictions
from eval.metrics import HIGHER_IS_BETTER, score_task
from lamp.generation.models import load_model_and_tokenizer
from lamp.methods.adapters import AdapterSettings, adapter_path, group_users, has_adapter, train_user_adapters
from lamp.methods.uemb.features import UserRow
from lamp.methods.uemb.personalizer import Entry, Personalizer, entries_for, load_personalizer, user_perplexity
from lamp.methods.uemb.runner import Runner
from lamp.methods.uemb.training import UembSettings, train_uemb
from lamp.pipeline.run import RunConfig, run_pipeline
from retrievers.dense import Encoder

VARIANTS: dict[str, dict[str, Any]] = {
    "uemb-mean": {"aggregator": "mean"},
    "uemb-attention": {"aggregator": "attention"},
    "uemb-attention+bm25": {"aggregator": "attention", "use_retrieval": True},
    "uemb-control": {"aggregator": "control"},
}


class Steps:
    """Wall times of finished steps, kept in ``OUT/<task>/timings.json`` across reruns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}

    def run(self, name: str, done: Callable[[], bool], work: Callable[[], Any]) -> float:
        if name in self.times and done():
            return self.times[name]
        tick = time.perf_counter()
        work()
        self.times[name] = round(time.perf_counter() - tick, 1)
        write_json(self.path, self.times, indent=1)
        return self.times[name]


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _lora_predict(questions: list, task: Any, model_name: str, adapter_dir: Path, golds: dict[str, str],
                  settings: GenerationSettings, max_length: int, perplexity: bool) -> tuple[dict[str, str], dict]:
    """Each dev user's questions with that user's adapter, answered like every other row
    (label choice or greedy generation), plus the per-user gold NLL."""
    from peft import PeftModel

    model, tokenizer = load_model_and_tokenizer(model_name)
    preds: dict[str, str] = {}
    nll: dict[str, tuple[float, int]] = {}
    peft_model, loaded = None, None
    for n, (uid, (_, qs)) in enumerate(sorted(group_users(questions).items())):
        runner_model: Any = model
        if has_adapter(adapter_dir, uid):
            name = f"user{n}"
            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, str(adapter_path(adapter_dir, uid)), adapter_name=name)
            else:
                peft_model.load_adapter(str(adapter_path(adapter_dir, uid)), adapter_name=name)
            peft_model.set_adapter(name)
            if loaded is not None:
                peft_model.delete_adapter(loaded)
            loaded, runner_model = name, peft_model
        runner = Runner(runner_model, tokenizer, task, max_length=max_length)
        rows = [UserRow(q.id, q.input, golds.get(q.id), uid) for q in qs]
        if runner_model is model and peft_model is not None:
            with peft_model.disable_adapter():
                outs, ll = _answer(runner, rows, task, settings, perplexity)
        else:
            outs, ll = _answer(runner, rows, task, settings, perplexity)
        preds.update({q.id: o for q, o in zip(qs, outs)})
        nll.update({q.id: x for q, x in zip(qs, ll)})
    return preds, nll


def _answer(runner: Any, rows: list, task: Any, settings: GenerationSettings, perplexity: bool) -> tuple[list, list]:
    outs = runner.choose(rows, list(task.labels)) if task.labels else runner.generate(rows, settings)
    return outs, (runner.nll(rows) if perplexity else [])


def _per_user_ppl(questions: list, nll: dict[str, Any]) -> float | None:
    if not nll:
        return None
    entries = [Entry(q.id, q.input, q.input, (), None, q.user_id) for q in questions]
    ppl = user_perplexity(entries, [tuple(nll[q.id]) for q in questions])
    return sum(ppl.values()) / len(ppl)


def compare_task(args: argparse.Namespace, task_name: str, out: Path) -> dict[str, Any]:
    task = get_task(task_name)
    tdir = out / task.file_name
    tdir.mkdir(parents=True, exist_ok=True)
    steps = Steps(tdir / "timings.json")
    dev_path = find_file(args.data, "questions", args.split, task.name)
    train_path = find_file(args.data, "questions", args.train_split, task.name)
    dev, golds = read_split(dev_path.name, task, limit=args.limit).pair()
    train, train_golds = read_split(train_path.name, task, limit=args.train_limit).pair()
    gen = GenerationSettings(max_new_tokens=args.max_new_tokens, num_beams=1, max_input_length=args.max_length,
                             stop_at_newline=True)
    perplexity = task.family == "generation"
    users = group_users(dev)
    preds: dict[str, dict[str, str]] = {}
    nlls: dict[str, dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {}

    # none and RAG through lamp run
    run_dir = RunDir(tdir / "run")
    cfg = RunConfig(data=args.data, split=args.split, tasks=[task.name], retrievers=["none", "bm25"], k=args.k,
                    model=args.model, max_length=args.max_length, max_new_tokens=args.max_new_tokens, num_beams=1,
                    batch_size=16, label_choice=True, baselines=False, limit=args.limit, output_dir=str(run_dir.root))
    steps.run(f"{task.name} lamp run",
              lambda: all(run_dir.predictions(m, task.name).exists() for m in ("none", "bm25")),
              lambda: run_pipeline(cfg))
    timings = run_dir.read_manifest()["timings_s"]
    for m in ("none", "bm25"):
        preds[m] = run_dir.read_predictions(m, task.name)
        seconds = timings.get(f"generate {task.file_name} {m}", 0.0) + timings.get(f"rank {task.file_name} {m}", 0.0)
        info[m] = {"seconds": round(seconds, 1), "per_user_bytes": 0}

    if perplexity:
        model, tok = load_model_and_tokenizer(args.model)
        plain = Personalizer(model, tok, task, Encoder(args.encoder), max_length=args.max_length)
        for m, rag in (("none", False), ("bm25", True)):
            file = tdir / f"nll-{m}.json"
            if not file.exists():
                entries = entries_for(dev, task, tok, args.max_length, golds, rag, args.k)
                write_json(file, dict(zip([e.id for e in entries], plain.nll(entries))))
            nlls[m] = json.loads(file.read_text())

    # per-user LoRA
    if not args.no_lora:
        adapter_dir = tdir / "lora"
        lsettings = AdapterSettings(epochs=args.lora_epochs, learning_rate=1e-3, batch_size=8, max_length=128)
        marker = tdir / "lora.done"
        train_s = steps.run(f"{task.name} lora train", marker.exists,
                            lambda: (train_user_adapters(dev, task, args.model, adapter_dir, lsettings),
                                     marker.write_text("ok\n")))
        file = tdir / "predictions" / "lora.json"
        nll_file = tdir / "nll-lora.json"

        def lora() -> None:
            p, ll = _lora_predict(dev, task, args.model, adapter_dir, golds, gen, args.max_length, perplexity)
            write_json(nll_file, ll)
            write_outputs(file, task.name, p)
        pred_s = steps.run(f"{task.name} lora predict", file.exists, lora)
        preds["lora"] = load_outputs(file, task=task.name).by_id()
        if perplexity:
            nlls["lora"] = json.loads(nll_file.read_text())
        trained = [u for u in users if has_adapter(adapter_dir, u)]
        size = _dir_bytes(adapter_dir) / max(len(trained), 1)
        info["lora"] = {"seconds": round(train_s + pred_s, 1), "per_user_bytes": int(size), "train_seconds": train_s}

    # user embeddings
    for variant in args.variants:
        art_dir = tdir / variant
        settings = UembSettings(**VARIANTS[variant], k=args.k, epochs=args.epochs, learning_rate=args.learning_rate,
                                max_length=args.max_length)
        train_s = steps.run(f"{task.name} {variant} train", lambda: (art_dir / "uemb_config.json").exists(),
                            lambda: train_uemb(train, train_golds, task, art_dir, settings, base_model=args.model,
                                               encoder=args.encoder))
        file = tdir / "predictions" / f"{variant}.json"
        nll_file = tdir / f"nll-{variant}.json"

        def answer() -> None:
            p, art = load_personalizer(str(art_dir), encoder=args.encoder, batch_size=16)
            s = art.settings
            entries = entries_for(dev, task, p.tokenizer, args.max_length, golds, bool(s["use_retrieval"]), args.k)
            outs = p.predict(entries, gen, label_choice=True)
            if perplexity:
                write_json(nll_file, dict(zip([e.id for e in entries], p.nll(entries))))
            write_outputs(file, task.name, {e.id: o for e, o in zip(entries, outs)})
            write_json(art_dir / "dev_fallbacks.json", dict(p.fallbacks))
        pred_s = steps.run(f"{task.name} {variant} predict", file.exists, answer)
        preds[variant] = load_outputs(file, task=task.name).by_id()
        if perplexity:
            nlls[variant] = json.loads(nll_file.read_text())
        art_cfg = json.loads((art_dir / "uemb_config.json").read_text())
        enc_dim = art_cfg["spec"]["enc_dim"]
        info[variant] = {"seconds": round(train_s + pred_s, 1), "train_seconds": train_s,
                         "per_user_bytes": 2 * enc_dim * 4 if VARIANTS[variant]["aggregator"] != "control" else 8,
                         "shared_bytes": sum((art_dir / f).stat().st_size for f in (CONFIG, WEIGHTS)),
                         "train_loss": art_cfg["info"]["epoch_losses"],
                         "fallbacks": sum(json.loads((art_dir / "dev_fallbacks.json").read_text()).values())
                         if (art_dir / "dev_fallbacks.json").exists() else None}

    rows: dict[str, Any] = {}
    for method, p in preds.items():
        metrics = score_task(task.name, golds, p)
        row: dict[str, Any] = {"metrics": metrics, **info.get(method, {})}
        if method != "none":
            c = compare_predictions(golds, preds["none"], p, task.name, args.n_resamples, seed=0)
            row["vs_none"] = {k: {"diff": m.diff, "p": m.p_value, "ci": [m.ci_low, m.ci_high]}
                              for k, m in c.metrics.items()}
        if method in nlls:
            row["perplexity_per_user"] = _per_user_ppl(dev, nlls[method])
        rows[method] = row
    return {"task": task.name, "questions": len(dev), "users": len(users), "rows": rows}


def markdown(results: list[dict[str, Any]]) -> str:
    """One table per task: metrics (Δ vs none, † p < 0.05), perplexity, time, per-user bytes."""
    lines = []
    for res in results:
        task = get_task(res["task"])
        keys = task.metrics
        ppl = any("perplexity_per_user" in r for r in res["rows"].values())
        head = ["method", *[f"{k} {'↑' if HIGHER_IS_BETTER[k] else '↓'}" for k in keys]]
        head += ["p vs none"] + (["ppl/user ↓"] if ppl else []) + ["wall s", "per-user state"]
        lines += [f"**{task.name}** (dev, {res['questions']} questions, {res['users']} users)", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method, r in res["rows"].items():
            cells = [method]
            sig = r.get("vs_none", {})
            for k in keys:
                mark = " †" if k in sig and sig[k]["p"] < 0.05 else ""
                cells.append(f"{r['metrics'][k]:.4f}{mark}")
            cells.append("" if not sig else f"{sig[keys[0]]['p']:.3f}")
            if ppl:
                cells.append(f"{r['perplexity_per_user']:.2f}" if r.get("perplexity_per_user") else "")
            cells.append(f"{r.get('seconds', 0):.0f}")
            size = r.get("per_user_bytes", 0)
            shared = r.get("shared_bytes")
            cells.append(("—" if not size else _human(size)) + (f" (+{_human(shared)} shared)" if shared else ""))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
