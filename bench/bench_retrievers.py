"""Benchmark the retrievers against the official way of ranking, and print one table.

Data: the bundled demo data (data/demo, when present) and a generated set shaped like LaMP:
profile sizes log-uniform from 10 to 1,000 items, documents of 100-200 words drawn from a Zipf
vocabulary of word-like strings with punctuation, queries of 30-200 words.

bm25: questions/s for ours (1 process and ``--workers`` processes) and for the official way
(``BM25Okapi`` per question + ``get_top_n``), the share of identical rankings, and the time just
to split every text on whitespace (a floor for anything that makes a Python string per token;
ours makes none). The ways run interleaved over ``--blocks`` blocks of questions, so that load
from other processes on a shared machine weighs on all of them alike.
contriever: texts/s for ours (cold cache), the official way (model loaded per question, batch 16,
no ``no_grad``), the raw encoder on the same texts (the floor), and ours again with the cache warm.

    python bench/bench_retrievers.py                 # 2,000 generated questions + dense part
    python bench/bench_retrievers.py --questions 300 --skip-dense
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lamp.core.questions import load_questions  # noqa: E402
from lamp.core.tasks import BENCHMARK_TASKS, get_task  # noqa: E402
from retrievers.bm25 import rank_stream  # noqa: E402

Profile = tuple[str, list[str]]


# --------------------------------------------------------------------------- data

def generated(n: int, seed: int = 0) -> list[Profile]:
    """LaMP-shaped questions: (query, documents)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    freq = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0, 1.9,
                     1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1])
    vocab_size = 30000
    lengths = np.clip(rng.poisson(5, vocab_size) + 1, 1, 14)
    vocab = np.array(["".join(rng.choice(letters, size=k, p=freq / freq.sum())) for k in lengths], dtype=object)
    punct = np.array(["", "", "", "", "", "", ",", ".", ";", ":"], dtype=object)
    vocab = np.array([w + punct[i % 10] if i > 100 else w for i, w in enumerate(vocab)], dtype=object)
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.05
    p /= p.sum()

    def text(k: int) -> str:
        return " ".join(vocab[rng.choice(vocab_size, size=k, p=p)])

    out = []
    for _ in range(n):
        size = int(round(np.exp(rng.uniform(np.log(10), np.log(1000)))))
        out.append((text(int(rng.integers(30, 201))), [text(int(rng.integers(100, 201))) for _ in range(size)]))
    return out


def bundled() -> list[Profile]:
    out = []
    for name in BENCHMARK_TASKS:
        task = get_task(name)
        for path in sorted((ROOT / "data" / "demo" / task.file_name).glob("*/*_questions.json")):
            for q in load_questions(path, task=name):
                out.append((task.query(q.input), [task.document(i) for i in q.profile]))
    return out


# --------------------------------------------------------------------------- bm25

def official_bm25(data: list[Profile]) -> list[list[int]]:
    from rank_bm25 import BM25Okapi

    out = []
    for query, docs in data:
        bm25 = BM25Okapi([d.split() for d in docs])
        index = list(range(len(docs)))
        out.append(bm25.get_top_n(query.split(), index, n=len(docs)))
    return out


def split_only(data: list[Profile]) -> None:
    for query, docs in data:
        query.split()
        [d.split() for d in docs]


def chunks(data: list[Profile], items: int = 1000, most: int = 64):
    chunk, size = [], 0
    for q in data:
        chunk.append(q)
        size += len(q[1])
        if size >= items or len(chunk) >= most:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def ours_bm25(data: list[Profile], workers: int) -> list[list[int]]:
    # A list of batches, as the bm25 retriever passes them (forked workers then inherit the texts).
    return [order for batch in rank_stream(list(chunks(data)), workers) for order in batch]


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bm25_rows(label: str, data: list[Profile], workers: int, blocks: int = 4) -> list[tuple[str, str]]:
    """Time each way block by block, the ways interleaved, so that a change in the load from other
    processes during the run weighs on all of them alike; each way's time is its sum over blocks."""
    ours_bm25([("warm up", ["pyarrow and numpy", "initialise-once-for-long-tokens"])], 1)
    n = len(data)
    items = sum(len(d) for _, d in data)
    words = sum(len(q.split()) + sum(len(x.split()) for x in d) for q, d in data[:200]) * n / max(min(n, 200), 1)
    t_split = t_off = t_one = t_many = 0.0
    ref, one, many = [], [], []
    size = -(-n // max(1, min(blocks, n)))
    for lo in range(0, n, size):
        block = data[lo:lo + size]
        t, _ = timed(split_only, block)
        t_split += t
        t, r = timed(official_bm25, block)
        t_off, ref = t_off + t, ref + r
        t, r = timed(ours_bm25, block, 1)
        t_one, one = t_one + t, one + r
        t, r = timed(ours_bm25, block, workers)
        t_many, many = t_many + t, many + r
    same = sum(a == b == c for a, b, c in zip(ref, one, many)) / n
    return [
        (f"bm25 [{label}] questions / profile items / ~words", f"{n} / {items} / {words:,.0f}"),
        ("  official BM25Okapi + get_top_n (1 process)", f"{n / t_off:10.1f} q/s  ({t_off:.2f} s)"),
        ("  whitespace split only, the floor (1 process)", f"{n / t_split:10.1f} q/s  ({t_split:.2f} s)  "
                                                           f"= {t_off / t_split:.1f}x official"),
        ("  ours, 1 process", f"{n / t_one:10.1f} q/s  ({t_one:.2f} s)  = {t_off / t_one:.1f}x official"),
        (f"  ours, {workers} processes", f"{n / t_many:10.1f} q/s  ({t_many:.2f} s)  = {t_off / t_many:.1f}x official"),
        ("  identical rankings (official vs ours)", f"{100 * same:.2f} %"),
    ]


def bm25_memory(data: list[Profile]) -> list[tuple[str, str]]:
    """Peak Python allocations (tracemalloc) ranking the same few questions each way."""
    from retrievers.bm25 import bm25_rank

    rows = []
    for name, fn in (("official", official_bm25), ("ours", lambda d: [bm25_rank(c) for c in chunks(d)])):
        tracemalloc.start()
        fn(data)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((f"  tracemalloc peak, {name} ({len(data)} questions)", f"{peak / 2**20:8.1f} MiB"))
    return rows


# --------------------------------------------------------------------------- dense

def dense_rows(n_texts: int) -> list[tuple[str, str]]:
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    from lamp.core.records import ProfileItem
    from retrievers.base import Query
    from retrievers.dense import DenseRetriever, default_checkpoint

    # Questions from the demo data (or generated) until about n_texts texts.
    pool = bundled() if (ROOT / "data" / "demo").exists() else generated(50, seed=1)
    pool = [(q, d[:40]) for q, d in pool]
    rng = np.random.default_rng(0)
    data, total = [], 0
    for i in rng.permutation(len(pool)):
        if total >= n_texts:
            break
        data.append(pool[i])
        total += 1 + len(pool[i][1])
    texts = [t for q, d in data for t in (q, *d)]
    checkpoint = default_checkpoint()

    def official() -> None:
        for query, docs in data:
            tok = AutoTokenizer.from_pretrained(checkpoint)
            model = AutoModel.from_pretrained(checkpoint)

            def embed(batch):
                enc = tok(batch, padding=True, truncation=True, return_tensors="pt")
                out = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1)
                return (out * mask).sum(1) / mask.sum(1)
            q = embed([query])
            d = torch.cat([embed(docs[i:i + 16]) for i in range(0, len(docs), 16)])
            torch.topk((q @ d.T)[0], len(docs))

    def raw() -> None:
        tok = AutoTokenizer.from_pretrained(checkpoint)
        model = AutoModel.from_pretrained(checkpoint).eval()
        with torch.inference_mode():
            for i in range(0, len(texts), 16):
                enc = tok(texts[i:i + 16], padding=True, truncation=True, return_tensors="pt")
                model(**enc)

    queries = [Query(str(i), q, [ProfileItem(id=f"{i}-{j}") for j in range(len(d))], d)
               for i, (q, d) in enumerate(data)]
    cache = tempfile.mkdtemp(prefix="lamp-bench-emb-")

    def ours() -> None:
        DenseRetriever(embedding_cache=cache, batch_size=16).rank_batch(queries)

    t_off, _ = timed(official)
    t_raw, _ = timed(raw)
    t_cold, _ = timed(ours)
    t_warm, _ = timed(ours)
    n = len(texts)
    return [
        (f"contriever recipe, bundled MiniLM [{len(data)} questions, {n} texts]", ""),
        ("  official (model loaded per question, batch 16)", f"{n / t_off:10.1f} texts/s  ({t_off:.2f} s)"),
        ("  raw encoder, same texts, batch 16 (the floor)", f"{n / t_raw:10.1f} texts/s  ({t_raw:.2f} s)"),
        ("  ours, cold cache", f"{n / t_cold:10.1f} texts/s  ({t_cold:.2f} s)  = {t_off / t_cold:.1f}x official"),
        ("  ours, warm cache (second run)", f"{n / t_warm:10.1f} texts/s  ({t_warm:.3f} s)  "
                                            f"= {t_cold / t_warm:.0f}x faster than cold"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=2000, help="generated questions (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="processes for ours (default 2)")
    parser.add_argument("--dense-texts", type=int, default=300, help="texts for the dense part (default 300)")
    parser.add_argument("--skip-dense", action="store_true", help="skip the contriever part")
    parser.add_argument("--skip-bundled", action="store_true", help="skip the bundled demo data")
    parser.add_argument("--blocks", type=int, default=4,
                        help="bm25: time the ways interleaved over this many blocks of questions (default 4)")
    args = parser.parse_args(argv)

    rows: list[tuple[str, str]] = [("cores available", str(len(os.sched_getaffinity(0))))]
    if not args.skip_bundled and (ROOT / "data" / "demo").exists():
        rows += bm25_rows("bundled demo, 7 tasks", bundled(), args.workers, args.blocks)
    gen = generated(args.questions)
    rows += bm25_rows(f"generated, {args.questions} questions", gen, args.workers, args.blocks)
    rows += bm25_memory(gen[:20])
    if not args.skip_dense:
        rows += dense_rows(args.dense_texts)
    rows.append(("peak RSS, this process / worker processes",
                 f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB / "
                 f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB"))
    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
