"""ROPG feedback: batched (``lamp ropg score``) against one (question, item) pair at a time, the way
the official ``profile_item_utilization_scorer.py`` runs, on the same model, prompts and settings.

Both sides run :func:`ropg.feedback.score_items` with no generation cache; the one-at-a-time side
calls the backend with batch size 1. Prints a table of wall times and ratios, and checks that the
metric dicts are identical.

    python bench/bench_ropg_feedback.py [--pairs 32] [--tasks LaMP-5 LaMP-2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lamp.generation.backends.base import GenerationSettings, load_backend  # noqa: E402
from lamp.core.splits import read_split  # noqa: E402
from ropg.feedback import score_items  # noqa: E402

#: task -> (label choice, max new tokens)
TASKS = {"LaMP-5": (False, 24), "LaMP-2": (True, 8), "LaMP-4": (False, 24)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=64, help="(question, item) pairs per task")
    parser.add_argument("--profile_size", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--with_loglik", action="store_true",
                        help="also the gold's log-likelihood (not in the official metric dict)")
    parser.add_argument("--tasks", nargs="+", default=["LaMP-5", "LaMP-2"], choices=list(TASKS))
    args = parser.parse_args(argv)
    backend = load_backend("hf-causal", model="SmolLM2-135M-Instruct", batch_size=args.batch_size)
    rows = []
    for task in args.tasks:
        label_choice, new_tokens = TASKS[task]
        folder = ROOT / "data" / "demo" / task.replace("-", "_") / "train"
        questions, golds = read_split(folder / "train_questions.json", task).pair()
        settings = GenerationSettings(num_beams=1, max_new_tokens=new_tokens, max_input_length=256,
                                      stop_at_newline=True)
        common = dict(profile_size=args.profile_size, end=args.pairs, label_choice=label_choice,
                      with_loglik=args.with_loglik, progress=False)
        start = time.perf_counter()
        single = {}
        for i in range(args.pairs):       # the official way: one pair per model call
            single.update(score_items(task, questions, golds, backend, settings, start=i, end=i + 1,
                                      batch_size=1, **{k: v for k, v in common.items() if k != "end"}))
        single_s = time.perf_counter() - start
        start = time.perf_counter()
        batched = score_items(task, questions, golds, backend, settings, batch_size=args.batch_size, **common)
        batched_s = time.perf_counter() - start
        same_metrics = all({k: v for k, v in single[key].items() if k not in ("loglik", "loss")} ==
                           {k: v for k, v in batched[key].items() if k not in ("loglik", "loss")} for key in single)
        loglik_gap = max((abs(single[key]["loglik"] - batched[key]["loglik"]) for key in single
                          if "loglik" in single[key]), default=0.0)
        rows.append((task, "label choice" if label_choice else "generation", len(single), single_s, batched_s,
                     same_metrics, loglik_gap))
    print(f"SmolLM2-135M-Instruct, greedy, max length 256, batch {args.batch_size}, "
          f"{'with' if args.with_loglik else 'without'} the gold's log-likelihood\n")
    print("| task | answer | pairs | one at a time | batched | speed-up | identical metrics | max loglik gap |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for task, mode, n, single_s, batched_s, same, gap in rows:
        print(f"| {task} | {mode} | {n} | {single_s:.1f} s | {batched_s:.1f} s | {single_s / batched_s:.2f}x | "
              f"{'yes' if same else 'NO'} | {gap:.1e} |")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
