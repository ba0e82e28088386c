"""RSPG end to end, in one command (``make rspg``): feedback per retriever, selector data, Pre and Post
selectors, and the table the paper reports plus what it does not (oracle, selector accuracy, spread of
the picks, paired significance against the best single retriever), with the wall time of each stage.

    .venv/bin/python bench/rspg_experiment.py                       # LaMP-2 and LaMP-5, the bundled models
    .venv/bin/python bench/rspg_experiment.py --ropg_kd runs/ropg/kd --ropg_rl runs/ropg/rl

Data: a larger split made on demand by the demo generator (``data/make_demo_data.py --train 600 --dev
100 --test 10 --tasks 2,5``, deterministic, under ``.cache/``); the selector trains on the first
``--train`` training questions and is evaluated on the 100 dev questions. The generator's
drifting users (recency), paraphrased items (dense) and lure items (BM25) are what a selector can use.

Everything is resumable and cached: generations go through lamp's generation cache (shared with
``lamp run``), rankings and scores are files under ``--out``; a rerun redoes nothing that finished.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lamp.core.errors import LampError  # noqa: E402

DEFAULT_POOL = ["none", "bm25", "contriever", "recency"]


def make_data(folder: Path, tasks: list[str]) -> Path:
    """The generator's 600/100/10 split of the chosen tasks (made once)."""
    digits = ",".join(t.split("-")[1] for t in tasks)
    if not all((folder / f"LaMP_{d}" / "dev" / "dev_questions.json").exists() for d in digits.split(",")):
        subprocess.run([sys.executable, str(ROOT / "data" / "make_demo_data.py"), "--out", str(folder),
                        "--train", "600", "--dev", "100", "--test", "10", "--tasks", digits], check=True)
    return folder


def split_files(data: Path, out: Path, task: str, split: str, limit: int | None) -> tuple[Path, Path]:
    """Questions and outputs of a split, cut to the first ``limit`` questions (written once)."""
    from lamp.core.writing import write_json

    name = task.replace("-", "_")
    src_q = data / name / split / f"{split}_questions.json"
    src_o = data / name / split / f"{split}_outputs.json"
    dst = out / "data" / name / split
    q_path, o_path = dst / src_q.name, dst / src_o.name
    if not (q_path.exists() and o_path.exists()):
        questions = json.loads(src_q.read_text(encoding="utf-8"))[:limit]
        ids = {q["id"] for q in questions}
        outputs = json.loads(src_o.read_text(encoding="utf-8"))
        outputs["golds"] = [g for g in outputs["golds"] if g["id"] in ids]
        write_json(o_path, outputs)
        write_json(q_path, questions)
    return q_path, o_path


def user_folds(records: list[dict], k: int) -> list[tuple[list[int], list[int]]]:
    """K folds of record indices grouped by user (a user's questions share one fold): (test, train)."""
    import random

    users = sorted({str(r.get("user_id", r["id"])) for r in records})
    random.Random(0).shuffle(users)
    fold_of = {u: i % k for i, u in enumerate(users)}
    out = []
    for f in range(k):
        test = [i for i, r in enumerate(records) if fold_of[str(r.get("user_id", r["id"]))] == f]
        out.append((test, [i for i in range(len(records)) if i not in set(test)]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/rspg", help="experiment folder (resumable)")
    parser.add_argument("--data", default=".cache/rspg_data", help="where the generator's split is made")
    parser.add_argument("--tasks", nargs="+", default=["LaMP-2", "LaMP-5"])
    parser.add_argument("--cv", type=int, default=5,
                        help="K-fold cross-validation over the dev questions, folds by user (0: train on the "
                             "training split instead)")
    parser.add_argument("--dev", type=int, default=None, help="only the first N dev questions (default: all 100)")
    parser.add_argument("--train", type=int, default=100, help="with --cv 0: training questions per task (first N)")
    parser.add_argument("--pool", nargs="+", default=DEFAULT_POOL, help="pool members (rspg.pool specs)")
    parser.add_argument("--ropg_kd", default="runs/ropg/{task}/checkpoints/ropg-kd/checkpoint/latest",
                        help="ROPG-KD checkpoint folder, {task} filled per task (added as ropg-kd when present)")
    parser.add_argument("--ropg_rl", default="runs/ropg/{task}/checkpoints/ropg-rl/checkpoint/latest",
                        help="ROPG-RL checkpoint folder, {task} filled per task (added as ropg-rl when present)")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--max_new_tokens", type=int, default=24)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--fine_tune", action="store_true",
                        help="fine-tune the whole encoder (default: a frozen encoder and a trained head, for the CPU budget)")
    parser.add_argument("--max_length_input", type=int, default=256)
    parser.add_argument("--n_resamples", type=int, default=10_000)
    parser.add_argument("--report_only", action="store_true",
                        help="rebuild the tables from the selections already made (no generation, no training)")
    parser.add_argument("--no_prior", action="store_true",
                        help="skip the selectors with a learned score per retriever (--retriever_prior)")
    args = parser.parse_args(argv)

    from lamp.generation.backends.base import load_backend
    from lamp.core.outputs import load_outputs
    from lamp.core.questions import load_questions
    from lamp.core.writing import write_json
    from lamp.generation.cache import GenerationCache
    from lamp.generation.models import cache_dir
    from lamp.core.tasks import get_task

    from eval.scoring import score_paths
    import numpy as np

    from rspg.data import create_data_files, pool_info_path
    from rspg.feedback import FeedbackConfig, score_member
    from rspg.pool import load_pool
    from rspg.selection import format_pool_table, pool_table, select_records, write_selection
    from rspg.train import TrainConfig, load_records, train_selector

    started = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(args.out)

    def pool_for(task: str) -> list:
        """The pool of one task: ``--pool`` plus the ROPG checkpoints that exist ({task} in a path is filled)."""
        specs = list(args.pool)
        for name, pattern in (("ropg-kd", args.ropg_kd), ("ropg-rl", args.ropg_rl)):
            folder = pattern.format(task=task, file_name=task.replace("-", "_")) if pattern else None
            if folder and Path(folder).is_dir():
                specs.append(f"{name}=trained:{Path(folder).resolve()}")
            elif folder:
                print(f"note: {folder} not found; {task} runs without {name}", file=sys.stderr)
        return load_pool(specs)

    tick = time.perf_counter()
    data = make_data(Path(args.data), args.tasks)
    timings["data"] = time.perf_counter() - tick

    cfg = FeedbackConfig(k=args.k, max_length=args.max_length, max_new_tokens=args.max_new_tokens, num_beams=1,
                         batch_size=args.batch_size, label_choice=True)
    backend = None

    def get_backend():
        nonlocal backend
        if backend is None:
            backend = load_backend("hf-causal", model="SmolLM2-135M-Instruct", batch_size=args.batch_size)
        return backend

    previous = out / "results.json"      # one file for every task run so far (tasks may be run one by one)
    results = json.loads(previous.read_text(encoding="utf-8")) if previous.exists() else {}
    results = {"pools": results.get("pools", {}), "settings": results.get("settings", {}),
               "tasks": results.get("tasks", {}), "timings_s": results.get("timings_s", {})}
    with GenerationCache(cache_dir() / "generations.sqlite") as cache:
        for task in args.tasks:
            t = get_task(task)
            pool = pool_for(task)
            names = [m.name for m in pool]
            results["pools"][t.file_name] = [m.to_json() for m in pool]
            results["settings"][t.file_name] = vars(args)
            splits = (("dev", args.dev),) if args.cv else (("train", args.train), ("dev", args.dev))
            for split, limit in ([] if args.report_only else splits):
                q_path, o_path = split_files(data, out, task, split, limit)
                questions = load_questions(q_path, task=task)
                golds = load_outputs(o_path, task=task).by_id()
                for member in pool:
                    tick = time.perf_counter()
                    folder = out / t.file_name / split / member.name
                    if not (folder / "scores.json").exists():
                        score_member(task, questions, golds, member, cfg, get_backend, cache, folder)
                    timings[f"feedback {t.file_name} {split} {member.name}"] = time.perf_counter() - tick
                create_data_files([out / t.file_name / split / n for n in names], str(q_path), str(o_path),
                                  str(out / t.file_name / f"{split}.json"), None, task, names)
            selectors = {}
            dev = load_records(out / t.file_name / "dev.json")
            if args.report_only:
                found = (out / t.file_name).glob("rspg-*/selection.json")
                for folder in sorted(found, key=lambda f: ("+prior" in f.parent.name, "post" in f.parent.name)):
                    picks = json.loads(folder.read_text(encoding="utf-8"))["picks"]
                    selectors[folder.parent.name] = [p["index"] for p in picks]
                table = pool_table(task, dev, selectors, n_resamples=args.n_resamples)
                results["tasks"][t.file_name] = table
                print(f"\n## {t.file_name} (dev, {len(dev)} questions)\n\n{format_pool_table(table)}\n")
                continue
            folds = user_folds(dev, args.cv) if args.cv else [(list(range(len(dev))), None)]
            variants = [(kind, False) for kind in ("Pre", "Post")]
            if not args.no_prior:
                variants += [(kind, True) for kind in ("Pre", "Post")]
            for rspg_type, prior in variants:
                tick = time.perf_counter()
                name = f"rspg-{rspg_type.lower()}" + ("+prior" if prior else "")
                folder = out / t.file_name / name
                cfg_train = TrainConfig(task=task, rspg_type=rspg_type, pooling="mean", lr=args.lr, epochs=args.epochs,
                                        per_gpu_batch_size=8, max_length_input=args.max_length_input,
                                        freeze_encoder=not args.fine_tune, scheduler="fixed", retriever_prior=prior)
                picks = [0] * len(dev)
                scores = np.zeros((len(dev), len(names)))
                for f, (test_rows, train_rows) in enumerate(folds):
                    train_path = out / t.file_name / "train.json"
                    sel_dir = folder
                    if train_rows is not None:       # cross-validation: train on the other users' questions
                        train_path = out / t.file_name / "cv" / f"fold{f}.json"
                        write_json(train_path, [dev[i] for i in train_rows])
                        pool_info_path(train_path).write_text(pool_info_path(out / t.file_name / "dev.json")
                                                              .read_text(encoding="utf-8"), encoding="utf-8")
                        sel_dir = folder / f"fold{f}"
                    train_selector(cfg_train, train_path, sel_dir, None, progress=True)
                    part = [dev[i] for i in test_rows]
                    fold_picks, fold_scores, _ = select_records(sel_dir, part, progress=False)
                    for i, p, sc in zip(test_rows, fold_picks, fold_scores):
                        picks[i], scores[i] = p, sc
                path = write_selection(folder, task, dev, picks, scores)
                official = score_paths(out / "data" / t.file_name / "dev" / "dev_outputs.json", path)[0].metrics
                write_json(folder / "final_scores.json", official, indent=1)
                selectors[name] = picks
                timings[f"selector {t.file_name} {name}"] = time.perf_counter() - tick
            table = pool_table(task, dev, selectors, n_resamples=args.n_resamples)
            results["tasks"][t.file_name] = table
            print(f"\n## {t.file_name} (dev, {len(dev)} questions)\n\n{format_pool_table(table)}\n")
    timings["total"] = time.perf_counter() - started
    run_key = "+".join(get_task(t).file_name for t in args.tasks)
    if not args.report_only:
        results["timings_s"][run_key] = {k: round(v, 1) for k, v in timings.items()}
    results["cpu_count"] = os.cpu_count()
    write_json(out / "results.json", results, indent=1)
    with open(out / "results.md", "w", encoding="utf-8") as fh:
        for key, table in sorted(results["tasks"].items()):
            fh.write(f"## {key} (dev, {table['questions']} questions)\n\n{format_pool_table(table)}\n\n")
        for key, stages in results["timings_s"].items():
            fh.write(f"Wall time of the {key} run: {stages['total']:.0f} s on {os.cpu_count()} CPU cores.\n")
    print(f"wall time {timings['total']:.0f} s; results in {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LampError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
