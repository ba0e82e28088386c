"""Dynamic batching in ``lamp serve``: 30 concurrent clients against one client at a time.

Starts ``lamp serve`` in-process on 127.0.0.1 with the bundled SmolLM2-135M-Instruct (hf-causal),
stores one LaMP-3 profile per user from the demo data, and sends personalized chat completions
with the official ``openai`` client (``user=``, ``extra_body={"k": 1}``, greedy, ``max_tokens``
fixed, no stop, so every request generates the same number of tokens whatever the batch):

* sequential: one client, one request at a time (``--requests`` requests);
* concurrent: ``--clients`` clients, each sending ``--per-client`` requests back to back;
* with ``--unbatched``, the same concurrent load with batching off (``--max-batch 1``).

Prints requests/s, p50/p95 latency and mean batch size, and the throughput ratio.

    python bench/bench_serve.py                     # 30 clients x 3 requests, a few minutes on 2 cores
    python bench/bench_serve.py --unbatched         # plus the same load with batching off
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_users(n: int) -> list[tuple[str, str, list]]:
    """(user id, input, profile items) for ``n`` demo LaMP-3 questions, one user each."""
    from lamp.core.questions import load_questions

    questions = load_questions(Path(__file__).resolve().parents[1] / "data" / "demo", split="dev", task="LaMP-3")
    return [(f"user{i}", q.input, list(q.profile)) for i, q in enumerate(questions[:n])]


def one_client(url: str, jobs: list[tuple[str, str]], max_tokens: int) -> list[float]:
    """Send ``jobs`` ((user, text) pairs) one after another; their latencies."""
    import httpx
    import openai

    out = []
    with openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0, timeout=600,
                       http_client=httpx.Client(trust_env=False, timeout=600)) as client:
        for user, text in jobs:
            start = time.perf_counter()
            r = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": text}],
                                               user=user, max_tokens=max_tokens, temperature=0,
                                               extra_body={"k": 1})
            assert r.model_extra["lamp"]["retrieved"], "the request was not personalized"
            out.append(time.perf_counter() - start)
    return out


def run_load(url: str, per_client_jobs: list[list[tuple[str, str]]], max_tokens: int) -> dict:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(per_client_jobs)) as pool:
        lat = sorted(x for xs in pool.map(lambda jobs: one_client(url, jobs, max_tokens), per_client_jobs)
                     for x in xs)
    wall = time.perf_counter() - start
    return {"requests": len(lat), "wall_s": wall, "rps": len(lat) / wall, "p50_s": statistics.median(lat),
            "p95_s": lat[int(0.95 * (len(lat) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=30, help="concurrent clients")
    parser.add_argument("--per-client", type=int, default=3, help="requests each concurrent client sends")
    parser.add_argument("--requests", type=int, default=30, help="requests of the sequential run")
    parser.add_argument("--max-tokens", type=int, default=16, help="tokens generated per request")
    parser.add_argument("--unbatched", action="store_true",
                        help="also run the concurrent load with batching off (--max-batch 1); slow")
    args = parser.parse_args()

    import torch

    from lamp.generation.backends.base import GenerationSettings, load_backend
    from lamp.generation.models import DEFAULT_MODEL, resolve_model
    from lamp.serving.store import ProfileStore
    from lamp.serving.app import create_app, running_server

    backend = load_backend("hf-causal", model=resolve_model(DEFAULT_MODEL))
    users = load_users(args.clients)
    store = ProfileStore()
    for user, _, items in users:
        store.put_profile(user, "LaMP-3", items)
    settings = GenerationSettings(num_beams=1, max_new_tokens=args.max_tokens, max_input_length=256)
    print(f"model {DEFAULT_MODEL} on {torch.get_num_threads()} CPU threads; {len(users)} users with LaMP-3 "
          f"profiles; personalized chat completions (k=1), greedy, {args.max_tokens} tokens each\n")
    sequential = [[(users[i % len(users)][0], users[i % len(users)][1]) for i in range(args.requests)]]
    concurrent_jobs = [[(u, text)] * args.per_client for u, text, _ in users]
    plans = [("sequential (1 client)", sequential, 32),
             (f"concurrent ({args.clients} clients x {args.per_client}), batching", concurrent_jobs, 32)]
    if args.unbatched:
        plans.append((f"concurrent ({args.clients} clients x {args.per_client}), --max-batch 1", concurrent_jobs, 1))
    rows = []
    for name, jobs, max_batch in plans:
        app = create_app(backend, store, model_name="smollm2", settings=settings, max_batch=max_batch)
        engine = app.state.service.engine
        with running_server(app) as url:
            one_client(url, jobs[0][:1], 2)                                # warm-up, not counted
            engine.batch_sizes.clear()
            result = run_load(url, jobs, args.max_tokens)
        engine.close()
        result["mean_batch"] = statistics.mean(engine.batch_sizes) if engine.batch_sizes else 0.0
        rows.append((name, result))
        print(f"  {name}: {result['rps']:.2f} req/s", flush=True)
    print("\n| run | requests | wall s | requests/s | p50 s | p95 s | mean batch |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['requests']} | {r['wall_s']:.1f} | {r['rps']:.2f} | {r['p50_s']:.2f} | "
              f"{r['p95_s']:.2f} | {r['mean_batch']:.1f} |")
    print(f"\nthroughput, batched concurrent / sequential: {rows[1][1]['rps'] / rows[0][1]['rps']:.2f}x")
    if len(rows) > 2:
        print(f"throughput, unbatched concurrent / sequential: {rows[2][1]['rps'] / rows[0][1]['rps']:.2f}x")


if __name__ == "__main__":
    main()
