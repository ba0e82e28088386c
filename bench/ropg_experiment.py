"""ROPG end to end on demo data, in one command (``make ropg``): does training the retriever from
the LLM's feedback beat the retriever it started from?

For each task: a larger demo split made by the seeded generator; the initial ranking (the dense
ranker over the bundled all-MiniLM-L6-v2, the paper's Contriever recipe); the bundled
SmolLM2-135M-Instruct's feedback on each of the first ``profile_size`` items of every train and
dev question (dev feedback only feeds the oracle); ROPG-KD and ROPG-RL trained from the train
feedback; then dev predictions with k=1 for: no retrieval, the initial ranking, ROPG-KD, ROPG-RL and
the oracle (items ordered by their measured dev feedback: the upper bound), scored with the
official metrics and compared pairwise (paired bootstrap) against the initial ranking.

Every stage is a file under ``--out`` and is skipped when present; generations are cached and
training resumes from its last checkpoint, so an interrupted run picks up where it stopped.

    python bench/ropg_experiment.py [--out runs/ropg] [--tasks LaMP-2 LaMP-5] [--quick]
    python bench/ropg_experiment.py --data DIR --tasks LaMP-2 --out runs/ropg-room [--check]

``--data DIR`` reads an existing split (e.g. ``make_demo_data.py --usefulness``) instead of making one;
``--check`` stops after the dev feedback and prints whether the data leaves ROPG room (the oracle's
gap over the initial ranking and how often the initial top item is already a best one); a full run
prints and records the same check before it trains.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.compare import compare_predictions  # noqa: E402
from eval.metrics import score_task  # noqa: E402
from lamp.generation.backends.base import GenerationSettings, load_backend  # noqa: E402
from lamp.core.writing import write_json  # noqa: E402
from lamp.generation.cache import GenerationCache  # noqa: E402
from lamp.generation.driver import build_examples, generate_all, option_scores_all  # noqa: E402
from lamp.generation.models import cache_dir  # noqa: E402
from lamp.core.tasks import get_task  # noqa: E402
from lamp.core.splits import read_split  # noqa: E402
from retrievers.merge import merge_with_rank  # noqa: E402
from retrievers.ranking import rank_questions  # noqa: E402
from ropg.feedback import flatten_pairs, read_scores, score_items, write_scores  # noqa: E402
from ropg.oracle import OracleRetriever  # noqa: E402

#: Per task: questions per split, items scored per question, feedback metric, label choice, max new tokens.
PLAN: dict[str, dict[str, Any]] = {
    "LaMP-2": {"train": 120, "dev": 60, "profile_size": 5, "metric": "accuracy", "label_choice": True,
               "max_new_tokens": 8},
    "LaMP-5": {"train": 40, "dev": 30, "profile_size": 3, "metric": "rouge-1", "label_choice": False,
               "max_new_tokens": 16, "max_length": 192},
}
QUICK = {"train": 24, "dev": 12, "profile_size": 3}
#: ROPG training: the paper's recipe scaled to 2 CPU cores (effective batch 16, 5% warmup).
TRAIN = {"epochs": 6, "per_gpu_batch_size": 8, "accumulation_steps": 2, "lr": 3e-5, "warmup_ratio": 0.05,
         "max_length_query": 128, "max_length_document": 128, "scheduler": "linear"}
METHODS = ("none", "initial", "ropg-kd", "ropg-rl", "oracle")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def make_data(out: Path, tasks: list[str], sizes: dict[str, dict[str, int]]) -> Path:
    """The larger deterministic split (one generator call per task, so sizes may differ)."""
    root = out / "data"
    for task in tasks:
        folder = root / get_task(task).file_name
        if (folder / "dev" / "dev_outputs.json").exists():
            continue
        s = sizes[task]
        subprocess.run([sys.executable, str(ROOT / "data" / "make_demo_data.py"), "--out", str(root),
                        "--train", str(s["train"]), "--dev", str(s["dev"]), "--test", "10",
                        "--tasks", get_task(task).name.split("-")[1]], check=True, stdout=subprocess.DEVNULL)
    return root


def ranked(out: Path, task: str, split: str, questions: list, name: str, **opts: Any) -> dict[str, list[str]]:
    path = out / task / f"{split}_{name}_ranking.json"
    if path.exists():
        return json.loads(path.read_text())
    ranking = rank_questions(questions, task, opts.pop("ranker"), progress=False, **opts)
    write_json(path, ranking)
    return ranking


def merged(out: Path, task: str, split: str, questions: list, golds: dict[str, str],
           ranking: dict[str, list[str]]) -> Path:
    path = out / task / f"{split}_merged.json"
    if not path.exists():
        write_json(path, merge_with_rank(questions, golds, ranking))
    return path


def feedback(out: Path, task: str, split: str, merged_path: Path, backend: Any, settings: GenerationSettings,
             cache: GenerationCache, plan: dict[str, Any]) -> tuple[Path, float]:
    path = out / task / f"{split}_feedback.json"
    if path.exists():
        return path, 0.0
    start = time.time()
    questions, golds = read_split(merged_path, task).pair()
    scores = score_items(task, questions, golds, backend, settings, profile_size=plan["profile_size"],
                         label_choice=plan["label_choice"], with_loglik=True, cache=cache,
                         batch_size=32 if plan["label_choice"] else 16)
    write_scores(path, scores)
    return path, time.time() - start


def train(out: Path, task: str, method: str, merged_path: Path, scores: Path, plan: dict[str, Any],
          quick: bool) -> tuple[Path, float]:
    name = f"ropg-{method}"
    latest = out / task / "checkpoints" / name / "checkpoint" / "latest"
    done = out / task / "checkpoints" / name / "done"
    if done.exists():
        return latest, 0.0
    start = time.time()
    cmd = [sys.executable, "-m", "lamp.cli.main", "ropg", "train", "--method", method, "--train_data", str(merged_path),
           "--scores_path", str(scores), "--task", task, "--checkpoint_dir", str(out / task / "checkpoints"),
           "--name", name, "--ctx_size", str(plan["profile_size"]), "--metric", plan["metric"],
           "--save_freq", "20", "--seed", "0"]
    for key, value in TRAIN.items():
        cmd += [f"--{key}", str(1 if quick and key == "epochs" else value)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    done.touch()
    return latest, time.time() - start


def predict(task: str, questions: list, ranking: dict[str, list[str]] | None, k: int, backend: Any,
            settings: GenerationSettings, cache: GenerationCache, plan: dict[str, Any]) -> dict[str, str]:
    """Dev predictions with the same prompts and settings as the feedback (so the cache is shared)."""
    t = get_task(task)
    examples = build_examples(t, questions, k, settings.max_input_length, backend.tokenizer, ranking)
    prompts = [ex.text() for ex in examples]
    if plan["label_choice"]:
        labels = list(t.labels)
        rows = option_scores_all(backend, prompts, labels, settings, cache, progress=False, batch_size=32)
        outputs = [labels[max(range(len(labels)), key=row.__getitem__)] for row in rows]
    else:
        outputs = generate_all(backend, prompts, settings, cache, progress=False, batch_size=16)
    return {ex.id: o for ex, o in zip(examples, outputs)}


def per_question(scores: dict[str, dict[str, float]], questions: list, golds: dict[str, str], profile_size: int,
                 metric: str) -> list[list[float]]:
    """Each question's item feedback, items in the given (initial ranking's) order."""
    by_question: dict[str, list[float]] = {}
    for pair in flatten_pairs(questions, golds, profile_size):
        by_question.setdefault(pair.question.id, []).append(scores[pair.key][metric])
    return [v for v in by_question.values() if v]


def feedback_analysis(scores: dict[str, dict[str, float]], questions: list, golds: dict[str, str],
                      profile_size: int, metric: str) -> dict[str, float]:
    """How much signal the feedback holds: in how many questions the items' metric differs, and
    how often the initial top item is already (one of) the best."""
    rows = per_question(scores, questions, golds, profile_size, metric)
    varies = sum(max(v) != min(v) for v in rows)
    top_is_best = sum(v[0] == max(v) for v in rows)
    return {"questions": len(rows), "feedback_differs": varies / len(rows),
            "initial_top_is_best": top_is_best / len(rows), "any_item_good": sum(max(v) > 0 for v in rows) / len(rows),
            "mean_item_metric": sum(sum(v) / len(v) for v in rows) / len(rows)}


def room_check(scores: dict[str, dict[str, float]], questions: list, golds: dict[str, str], profile_size: int,
               metric: str) -> dict[str, float]:
    """Before training: the oracle's and the initial ranking's k=1 score on these questions (each is one
    item's measured feedback, the same prompt the predictions use), their gap, and the share of
    questions whose initial top item is already a best one. Room for ROPG = a large gap and a small share."""
    rows = per_question(scores, questions, golds, profile_size, metric)
    oracle, initial = sum(max(v) for v in rows) / len(rows), sum(v[0] for v in rows) / len(rows)
    return {"questions": len(rows), "oracle": oracle, "initial": initial, "gap": oracle - initial,
            "initial_top_is_best": sum(v[0] == max(v) for v in rows) / len(rows)}


def run_task(out: Path, data_root: Path, task: str, plan: dict[str, Any], backend: Any, cache: GenerationCache,
             quick: bool, check_only: bool = False) -> dict[str, Any]:
    t = get_task(task)
    timings: dict[str, float] = {}
    settings = GenerationSettings(max_new_tokens=plan["max_new_tokens"], num_beams=1,
                                  max_input_length=plan.get("max_length", 256), stop_at_newline=True)
    split_data = {}
    for split in ("train", "dev"):
        qpath = data_root / t.file_name / split / f"{split}_questions.json"
        split_data[split] = read_split(qpath, t).pair()
    start = time.time()
    merged_paths = {}
    for split, (questions, golds) in split_data.items():
        ranking = ranked(out, task, split, questions, "initial", ranker="contriever")
        merged_paths[split] = merged(out, task, split, questions, golds, ranking)
    timings["initial ranking"] = time.time() - start
    fb = {}
    for split in ("dev",) if check_only else ("dev", "train"):
        log(f"{task}: feedback on {split}")
        fb[split], timings[f"feedback {split}"] = feedback(out, task, split, merged_paths[split], backend, settings,
                                                           cache, plan)
    dev_ranked, _ = read_split(merged_paths["dev"], t).pair()
    check = room_check(read_scores(fb["dev"]), dev_ranked, split_data["dev"][1], plan["profile_size"], plan["metric"])
    log(f"{task}: room check on dev before training: oracle {check['oracle']:.3f}, initial {check['initial']:.3f}, "
        f"gap {check['gap']:+.3f}, initial top item a best one for {check['initial_top_is_best']:.0%} of "
        f"{check['questions']} questions")
    write_json(out / task / "room_check.json", check, indent=1)
    if check_only:
        return {"task": task, "room_check": check}
    checkpoints = {}
    for method in ("kd", "rl"):
        log(f"{task}: ROPG-{method.upper()} training")
        checkpoints[method], timings[f"train {method}"] = train(out, task, method, merged_paths["train"],
                                                                fb["train"], plan, quick)
    dev_questions, dev_golds = split_data["dev"]
    # dev_ranked: the dev questions with their profiles in the initial order (the oracle breaks ties by it)
    rankings: dict[str, dict[str, list[str]] | None] = {"none": None}
    rankings["initial"] = ranked(out, task, "dev", dev_questions, "initial", ranker="contriever")
    for method in ("kd", "rl"):
        rankings[f"ropg-{method}"] = ranked(out, task, "dev", dev_questions, f"ropg-{method}", ranker="contriever",
                                            contriever_checkpoint=str(checkpoints[method].resolve()))
    dev_scores = read_scores(fb["dev"])
    oracle = OracleRetriever(scores=dev_scores, feedback_metric=plan["metric"])
    rankings["oracle"] = ranked(out, task, "dev", dev_ranked, "oracle", ranker=oracle)
    start = time.time()
    preds = {m: predict(task, dev_questions, rankings[m], 0 if m == "none" else 1, backend, settings, cache, plan)
             for m in METHODS}
    timings["dev predictions"] = time.time() - start
    for m, p in preds.items():
        write_json(out / task / "predictions" / f"{m}.json", {"task": t.file_name,
                                                              "golds": [{"id": i, "output": o} for i, o in p.items()]})
    scores = {m: score_task(t, dev_golds, p) for m, p in preds.items()}
    comparisons = {m: compare_predictions(dev_golds, preds["initial"], preds[m], task).to_dict()
                   for m in METHODS if m != "initial"}
    _, train_g = split_data["train"]
    train_ranked, _ = read_split(merged_paths["train"], t).pair()
    analysis = {"train": feedback_analysis(read_scores(fb["train"]), train_ranked, train_g, plan["profile_size"],
                                           plan["metric"]),
                "dev": feedback_analysis(dev_scores, dev_ranked, dev_golds, plan["profile_size"], plan["metric"])}
    changed = {m: sum(rankings[m][q.id][:1] != rankings["initial"][q.id][:1] for q in dev_questions) / len(dev_questions)
               for m in ("ropg-kd", "ropg-rl", "oracle")}
    result = {"task": task, "plan": plan, "sizes": {s: len(q) for s, (q, _) in split_data.items()},
              "scores": scores, "comparisons": comparisons, "feedback": analysis, "room_check": check,
              "top1_changed_vs_initial": changed,
              "timings_s": timings}
    previous = out / task / "result.json"
    if previous.exists():                # a resumed run: keep the first run's stage timings
        for stage, seconds in json.loads(previous.read_text())["timings_s"].items():
            if timings.get(stage, 0.0) < 1.0:
                timings[stage] = seconds
    write_json(previous, result, indent=1)
    return result


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: one row per task and metric; † = differs from the initial ranking at p < 0.05."""
    head = "| task | metric | " + " | ".join(METHODS) + " |\n|---|---|" + "---:|" * len(METHODS)
    rows = [head]
    for r in results:
        for metric in next(iter(r["scores"].values())):
            cells = []
            for m in METHODS:
                value = f"{r['scores'][m][metric]:.4f}"
                comp = r["comparisons"].get(m)
                if comp is not None and comp["metrics"][metric]["p_value"] < 0.05:
                    value += " †"
                cells.append(value)
            rows.append(f"| {r['task']} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "runs" / "ropg"), help="experiment folder (resumable)")
    parser.add_argument("--tasks", nargs="+", default=list(PLAN), help="tasks (with a plan above)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every stage")
    parser.add_argument("--data", default=None, help="an existing split (DIR/LaMP_i/{train,dev}/...) to run on "
                        "instead of the generator's (its sizes are used as they are)")
    parser.add_argument("--check", action="store_true", help="stop after the dev feedback: print the room check "
                        "(oracle vs initial ranking, initial top item a best one) and train nothing")
    args = parser.parse_args(argv)
    out = Path(args.out)
    plans = {t: {**PLAN[t], **(QUICK if args.quick else {})} for t in args.tasks}
    started = time.time()
    data_root = Path(args.data) if args.data else make_data(out, args.tasks, plans)
    backend = load_backend("hf-causal", model="SmolLM2-135M-Instruct", batch_size=32)
    results = []
    with GenerationCache(cache_dir() / "generations.sqlite") as cache:
        for task in args.tasks:
            results.append(run_task(out, data_root, task, plans[task], backend, cache, args.quick, args.check))
    if args.check:
        print(json.dumps({r["task"]: r["room_check"] for r in results}, indent=1))
        return 0
    wall = sum(sum(r["timings_s"].values()) for r in results)
    write_json(out / "results.json", {"results": results, "stage_seconds": wall}, indent=1)
    report = (f"{table(results)}\n\n† = differs from the initial ranking at p < 0.05 (paired bootstrap). "
              f"k=1, SmolLM2-135M-Instruct, greedy, max length 256 (LaMP-5: 192). Stage time {wall / 60:.1f} min "
              f"(this run: {(time.time() - started) / 60:.1f} min).\n")
    for r in results:
        report += (f"\n{r['task']}: {r['sizes']}, feedback analysis {json.dumps(r['feedback'])}, "
                   f"room check (dev, before training) {json.dumps(r['room_check'])}, "
                   f"top-1 changed vs initial {json.dumps(r['top1_changed_vs_initial'])}, "
                   f"timings {json.dumps({k: round(v) for k, v in r['timings_s'].items()})}\n")
    (out / "report.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
