"""Benchmark generation on the bundled SmolLM2: batched and length-sorted vs one prompt at a time.

Prompts: from the demo dev data of LaMP-2, -3, -4 and -5 (data/demo, when present; else built-in
prompts of varied lengths), run twice: raw inputs (k=0) and personalized (k=1, L=256, budgeted
with SmolLM2's own tokenizer). Long personalized prompts make a CPU run prefill-bound, where
batching gains less than on short prompts; both are shown.
Generation is greedy with the answer-line stop (``stop_at_newline``, as every LaMP verb sets it).
Three ways are timed on the same prompts: one prompt at a time, batched through ``model.generate``,
and batched through lamp's greedy loop (:mod:`lamp.generation.backends.greedy`, what ``lamp run`` uses).
Label choice scores LaMP-2's 15 tags per prompt (the prompt read once, then every tag's tokens in
one tree-masked forward) against the naive way (one forward per prompt + label).

    python bench/bench_generation.py                  # 32 prompts, 32 new tokens, batch 32
    python bench/bench_generation.py --prompts 16 --max-new-tokens 16 --batch-size 16 --repeat 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lamp.generation.backends.base import GenerationSettings  # noqa: E402
from lamp.generation.backends.hf import CausalBackend  # noqa: E402
from lamp.core.questions import load_questions  # noqa: E402
from lamp.generation.driver import build_examples, generate_all  # noqa: E402
from lamp.core.tasks import MOVIE_TAGS  # noqa: E402

DEMO = ROOT / "data" / "demo"
TASKS = ("LaMP-2", "LaMP-3", "LaMP-4", "LaMP-5")
BUILT_IN = [
    "Generate a headline for the following article: Rain floods the old town.",
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without "
    "further explanation. review: The kettle looks lovely but it started leaking after two weeks of daily use, "
    "and the support line kept me on hold for an hour before hanging up.",
    "Generate a title for the following abstract of a paper: We study retrieval-augmented personalization of "
    "large language models and show that selecting a few relevant items from a user's history improves "
    "classification and generation on a benchmark of seven tasks, while a learned retriever helps further.",
    "Which tag does this movie relate to among the following tags? Just answer with the tag name without further "
    "explanation. tags: [" + ", ".join(MOVIE_TAGS) + "] description: A robot learns to love.",
]


def demo_prompts(backend: CausalBackend, n: int, k: int) -> list[str]:
    """``n`` prompts spread over the tasks: the raw input (k=0) or budgeted with the top k items."""
    per_task = -(-n // len(TASKS))
    prompts: list[str] = []
    for task in TASKS:
        path = DEMO / task.replace("-", "_") / "dev" / "dev_questions.json"
        if path.is_file():
            questions = load_questions(path)[:per_task]
            prompts += [e.prompt for e in build_examples(task, questions, k, 256, backend.tokenizer)]
    return prompts[:n]


def prompts_for(backend: CausalBackend, n: int, k: int) -> tuple[list[str], str]:
    prompts = demo_prompts(backend, n, k) if DEMO.is_dir() else []
    if len(prompts) >= n:
        return prompts, f"demo dev data (LaMP-2/3/4/5), k={k}" + (", L=256" if k else "")
    return [BUILT_IN[i % len(BUILT_IN)] + f" ({i})" for i in range(n)], "built-in prompts"


def timed(fn, repeat: int = 1):
    """``fn()``'s result and its best time over ``repeat`` runs (a shared machine only adds time)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def new_tokens(backend: CausalBackend, outputs: list[str]) -> int:
    return sum(len(ids) for ids in backend.tokenizer(outputs, add_special_tokens=False)["input_ids"])


def naive_choose(backend: CausalBackend, prompts: list[str], options: list[str]) -> list[str]:
    """One unbatched forward per (prompt, label): the cost the batched path avoids."""
    chosen = []
    for prompt in prompts:
        context = backend.tokenizer(backend.format_prompt(prompt), add_special_tokens=False)["input_ids"]
        scores = []
        for option in options:
            cont = backend.tokenizer(option, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logits = backend.model(torch.tensor([context + cont], device=backend.device)).logits[0]
            logp = torch.log_softmax(logits.float(), -1)
            scores.append(sum(logp[len(context) - 1 + j, t].item() for j, t in enumerate(cont)))
        chosen.append(options[max(range(len(options)), key=scores.__getitem__)])
    return chosen


def batched_with_generate(backend: CausalBackend, prompts: list[str], settings: GenerationSettings,
                          batch_size: int) -> list[str]:
    """The same length-sorted batches, decoded by ``model.generate`` instead of lamp's loop."""
    backend._plain_greedy = lambda settings: False
    try:
        return generate_all(backend, prompts, settings, None, progress=False, batch_size=batch_size)
    finally:
        del backend._plain_greedy


def bench_generation(backend: CausalBackend, prompts: list[str], source: str, settings: GenerationSettings,
                     batch_size: int, repeat: int) -> None:
    lengths = [len(ids) for ids in backend.tokenizer([backend.format_prompt(p) for p in prompts])["input_ids"]]
    print(f"{len(prompts)} prompts from {source}: prompt tokens {min(lengths)}-{max(lengths)}")
    single, single_s = timed(lambda: [backend.generate([p], settings)[0] for p in prompts], repeat)
    via_generate, generate_s = timed(lambda: batched_with_generate(backend, prompts, settings, batch_size), repeat)
    batched, batched_s = timed(lambda: generate_all(backend, prompts, settings, None, progress=False,
                                                    batch_size=batch_size), repeat)
    rows = [("one at a time", single_s, new_tokens(backend, single)),
            (f"batched {batch_size}, model.generate", generate_s, new_tokens(backend, via_generate)),
            (f"batched {batch_size}, lamp greedy loop", batched_s, new_tokens(backend, batched))]
    print(f"  {'generation (length-sorted)':34} {'seconds':>8} {'prompts/s':>10} {'new tok/s':>10} {'speed-up':>9}")
    for name, secs, toks in rows:
        print(f"  {name:34} {secs:8.1f} {len(prompts) / secs:10.2f} {toks / secs:10.1f} {single_s / secs:8.1f}x")
    same = sum(a == b for a, b in zip(single, batched))
    same_generate = sum(a == b for a, b in zip(via_generate, batched))
    print(f"  identical outputs: loop vs one at a time {same}/{len(prompts)}, loop vs model.generate "
          f"{same_generate}/{len(prompts)} (padding changes fp32 sums slightly; greedy can flip)\n")


def bench_choose(backend: CausalBackend, prompts: list[str], settings: GenerationSettings) -> None:
    options = list(MOVIE_TAGS)
    chosen, choose_s = timed(lambda: backend.choose(prompts, options, settings))
    naive, naive_s = timed(lambda: naive_choose(backend, prompts, options))
    prefill_s = timed(lambda: backend.choose(prompts, options[:1], settings))[1]
    print(f"{len(prompts)} LaMP-2 prompts, label choice over the {len(options)} tags")
    print(f"  {'label choice':32} {'seconds':>8} {'prompts/s':>10}")
    print(f"  {'batched, options tree-masked':32} {choose_s:8.2f} {len(prompts) / choose_s:10.2f}")
    print(f"  {'naive, one forward per label':32} {naive_s:8.2f} {len(prompts) / naive_s:10.2f}")
    print(f"  {'one label only (~one forward)':32} {prefill_s:8.2f} {len(prompts) / prefill_s:10.2f}")
    print(f"  same choices: {sum(a == b for a, b in zip(chosen, naive))}/{len(chosen)}; batched is "
          f"{naive_s / choose_s:.1f}x faster than naive and costs {choose_s / prefill_s:.2f}x one forward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="time each way this many times, keep the best")
    parser.add_argument("--choose-prompts", type=int, default=8)
    parser.add_argument("--k", type=int, nargs="+", default=[0, 1], help="profile items per prompt, one run each")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    (backend, load_s) = timed(lambda: CausalBackend(model="SmolLM2-135M-Instruct", batch_size=args.batch_size))
    settings = GenerationSettings(num_beams=1, max_new_tokens=args.max_new_tokens, stop_at_newline=True)
    print(f"model {backend.identity} on {backend.device}, {torch.get_num_threads()} threads, load {load_s:.1f} s; "
          f"greedy, <= {args.max_new_tokens} new tokens, stop at the answer line\n")
    backend.generate(BUILT_IN[:2], settings)                          # warm-up
    for k in args.k:
        bench_generation(backend, *prompts_for(backend, args.prompts, k), settings, args.batch_size, args.repeat)
    movie = demo_prompts(backend, 4 * args.choose_prompts, 0) if DEMO.is_dir() else []
    movie = [p for p in movie if "tags: [" in p][: args.choose_prompts] or [BUILT_IN[3]] * args.choose_prompts
    bench_choose(backend, movie, settings)


if __name__ == "__main__":
    main()
