"""Whole-process speed of ``rank_profiles.py --ranker bm25`` against the official ranking loop.

Generates LaMP-4-shaped questions in a temp folder (seeded): profile sizes log-normal around a
median of 150 items, clipped to 10..1,000; items ``{id, title, text, date}`` with titles of 6-14 and
texts of 50-165 words from a Zipf vocabulary; inputs "Generate a headline for the following
article: ...". 2,000 questions make a file of about 400 MB, the size of the official LaMP-4 train
questions. Then it runs, one after the other as separate processes:

* ours: ``python retrievers/rank_profiles.py --task LaMP-4 --ranker bm25`` with default settings
  (BM25 workers: one per core);
* the official loop (reference §2), re-implemented here: ``json.load`` the file, for each
  question split the query and every ``"{title} {text}"`` on whitespace, build
  ``rank_bm25.BM25Okapi`` over the profile, ``get_top_n(query, profile, n=len(profile))``, and
  ``json.dump`` ``{question id: [profile ids]}``; once bare (a lower bound), and once with the
  imports the official script makes before it reads a byte (torch, transformers' ``AutoModel`` and
  ``AutoTokenizer`` for its contriever ranker, tqdm), which is the official script as a whole process.

It checks that both ranking files are identical and prints one table: a row per data shape
(``--shape``, see :data:`SHAPES`) with the load average after it. Each time includes the
interpreter start, imports, reading, ranking and writing.

    python bench/bench_rank_profiles.py                    # every shape, 2,000 questions each (300-400 MB)
    python bench/bench_rank_profiles.py --shape small-vocab --questions 500    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: The official loop (reference §2.1-2.2, LaMP-4: query after "article:", document "{title} {text}").
OFFICIAL = r'''
import json, sys
from rank_bm25 import BM25Okapi

def after(marker, text):
    return text[text.find(marker) + len(marker):].strip() if marker in text else None

with open(sys.argv[1]) as f:
    data = json.load(f)
rank_dict = {}
for sample in data:
    profile = sample["profile"]
    query = after("article:", sample["input"])
    corpus = [f'{x["title"]} {x["text"]}' for x in profile]
    bm25 = BM25Okapi([x.split() for x in corpus])
    selected = bm25.get_top_n(query.split(), profile, n=len(profile))
    rank_dict[sample["id"]] = [x["id"] for x in selected]
with open(sys.argv[2], "w") as f:
    json.dump(rank_dict, f)
'''


#: The official ``rank_profiles.py`` imports these at the top, whichever ranker it runs.
OFFICIAL_IMPORTS = "import torch\nfrom transformers import AutoModel, AutoTokenizer\nimport tqdm\n"


class Shape(NamedTuple):
    """A kind of data: how words are drawn and how long documents and profiles are."""

    about: str
    vocabulary: Callable[[np.random.Generator], tuple[list[str], np.ndarray]]   # words, probabilities
    doc_words: tuple[int, int] = (50, 166)          # document text length in words, [low, high)
    title_words: tuple[int, int] = (6, 15)
    profile_median: float = 150                     # log-normal profile sizes, clipped to 10..1,000


def _word_like(rng: np.random.Generator, size: int) -> list[str]:
    """``size`` distinct-ish word-like strings of 1-14 letters with English letter frequencies."""
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    freq = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0, 1.9,
                     1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1])
    lengths = np.clip(rng.poisson(5, size) + 1, 1, 14)
    chars = rng.choice(letters, size=int(lengths.sum()), p=freq / freq.sum())
    ends = np.cumsum(lengths)
    return ["".join(chars[e - k:e]) for e, k in zip(ends.tolist(), lengths.tolist())]


def _zipf(size: int, exponent: float) -> np.ndarray:
    p = 1.0 / np.arange(1, size + 1) ** exponent
    return p / p.sum()


_PUNCT = ["", "", "", "", "", "", ",", ".", ";", ":", "'s", "!"]


def _lamp_vocabulary(size: int, exponent: float) -> Callable[[np.random.Generator], tuple[list[str], np.ndarray]]:
    """Word-like strings, past the first hundred with punctuation attached, some capitalised."""
    def make(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        words = _word_like(rng, size)
        words = [w + _PUNCT[i % len(_PUNCT)] if i > 100 else w.capitalize() if i % 7 == 0 else w
                 for i, w in enumerate(words)]
        return words, _zipf(size, exponent)
    return make


#: English function words, most frequent first: the head of a real text's word distribution.
STOP_WORDS = ("the of and to a in is that for it was on with as he be by at his are this from I or have an "
              "not but they which had one you were her all she there would their we him been has when who "
              "will more no if out so said what up its about into than them can only other new some could "
              "time these two may then do first any my now such like our over man me even most made after "
              "also did many before must through back years where much your way well down should because "
              "each just those people how too little state good very make world still own see men work long "
              "get here between both life being under never day same another know while last might us great "
              "old year off come since against go came right used take three The It In A He This But And").split()

#: Non-ASCII pieces: accented Latin, Cyrillic, Greek, CJK, emoji, a combining accent, typographic quotes.
_FOREIGN = ["é", "ü", "ß", "ø", "ñ", "ç", "ł", "ő", "а", "б", "в", "г", "д", "ж", "λ", "π", "σ", "ω",
            "日", "本", "語", "中", "文", "字", "\U0001f600", "\U0001f44d", "e\u0301", "“", "”", "–"]


def _text_vocabulary(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Real-text-like: a stop-word head holding about 40% of the tokens, then a Zipf tail of 60,000
    words of which one in eight holds non-ASCII characters and one in 40 is a long compound."""
    tail = _word_like(rng, 60_000)
    for i in range(0, len(tail), 8):                           # non-ASCII words
        w = tail[i]
        at = int(rng.integers(0, len(w) + 1))
        tail[i] = w[:at] + "".join(rng.choice(_FOREIGN, size=int(rng.integers(1, 4)))) + w[at:]
    for i in range(3, len(tail), 40):                          # over 15 bytes: the tokenizer's long path
        tail[i] = tail[i] + tail[i - 1] + tail[i - 2]
    tail = [w + _PUNCT[i % len(_PUNCT)] if i % 3 == 0 else w.capitalize() if i % 11 == 0 else w
            for i, w in enumerate(tail)]
    head = _zipf(len(STOP_WORDS), 1.0) * 0.4
    return STOP_WORDS + tail, np.concatenate([head, _zipf(len(tail), 1.05) * 0.6])


#: Every shape :func:`make_questions` can generate; 2,000 questions of each make a file of 300-400 MB.
SHAPES: dict[str, Shape] = {
    "lamp4": Shape("LaMP-4-like: a Zipf vocabulary of 50,000 word-like strings", _lamp_vocabulary(50_000, 1.05)),
    "small-vocab": Shape("300 words, so every query word is in most documents", _lamp_vocabulary(300, 0.8)),
    "long-docs": Shape("300 words, documents of 400-1,500 words, profiles of median 25 items",
                       _lamp_vocabulary(300, 0.8), doc_words=(400, 1500), profile_median=25),
    "text": Shape("real-text-like: a stop-word head, a Zipf tail, non-ASCII words", _text_vocabulary),
}


def make_questions(path: Path, n: int, seed: int = 0, corpus_words: int = 4_000_000, shape: str = "lamp4") -> None:
    """Write ``n`` LaMP-4-shaped questions of ``shape`` to ``path`` (a JSON list, as the official files are)."""
    spec = SHAPES[shape]
    rng = np.random.default_rng(seed)
    vocab, p = spec.vocabulary(rng)
    # One long Zipf text; every document is a run of consecutive words from a random offset in it.
    words = [vocab[i] for i in rng.choice(len(vocab), size=corpus_words, p=p).tolist()]
    corpus = " ".join(words)
    starts = np.zeros(corpus_words + 1, dtype=np.int64)
    np.cumsum([len(w) + 1 for w in words], out=starts[1:])
    starts = starts.tolist()

    def text(low_high: tuple[int, int]) -> str:
        k = min(int(rng.integers(*low_high)), corpus_words - 1)
        at = int(rng.integers(0, corpus_words - k))
        return corpus[starts[at]:starts[at + k] - 1]

    sizes = np.clip(np.round(np.exp(rng.normal(np.log(spec.profile_median), 0.9, n))), 10, 1000).astype(int).tolist()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[")
        for q, size in enumerate(sizes):
            profile = [{"text": text(spec.doc_words), "title": text(spec.title_words), "id": f"{q}{j:04d}",
                        "date": f"{rng.integers(2008, 2023)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"}
                       for j in range(size)]
            record = {"id": f"{q:07d}", "input": "Generate a headline for the following article: "
                      + text((30, 201)), "profile": profile}
            fh.write(("," if q else "") + json.dumps(record))
        fh.write("]")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return seconds


def run_shape(shape: str, folder: Path, questions: int, seed: int) -> tuple[float, float, float, int, int, float]:
    """(ours, official loop, official script) seconds, identical and all questions, MB, for one shape."""
    data = folder / f"train_questions_{shape}_{questions}_{seed}.json"
    if not data.exists():
        make_questions(data, questions, seed, shape=shape)
    ours, official = folder / "ours.json", folder / "official.json"
    t_ours = sorted(timed([sys.executable, "retrievers/rank_profiles.py", "--input_data_addr", str(data),
                           "--output_ranking_addr", str(ours), "--task", "LaMP-4", "--ranker", "bm25",
                           "--no_progress"]) for _ in range(3))[1]
    t_official = timed([sys.executable, "-c", OFFICIAL, str(data), str(official)])
    t_script = timed([sys.executable, "-c", OFFICIAL_IMPORTS + OFFICIAL, str(data), str(official)])
    a, b = json.loads(ours.read_text()), json.loads(official.read_text())
    same = sum(a.get(k) == v for k, v in b.items()) if len(a) == len(b) else -1
    return t_ours, t_official, t_script, same, len(b), data.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all",
                        help="which generated data (default: every shape, one after the other)")
    parser.add_argument("--keep", default=None, help="generate into (and reuse) this folder instead of a temp one")
    args = parser.parse_args()
    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    failed = False
    print(f"{args.questions} LaMP-4-shaped questions per shape; {os.cpu_count()} cores; whole processes, seconds; "
          "ours: rank_profiles.py --ranker bm25 (median of 3); loop: json + BM25Okapi; script: loop + its imports")
    print(f"{'shape':12} {'MB':>5} {'ours':>6} {'loop':>6} {'script':>7} {'vs loop':>8} {'vs script':>9} "
          f"{'identical':>11} {'load avg':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for shape in shapes:
            t_ours, t_loop, t_script, same, total, mb = run_shape(shape, folder, args.questions, args.seed)
            load = os.getloadavg()[0]
            print(f"{shape:12} {mb:5.0f} {t_ours:6.2f} {t_loop:6.1f} {t_script:7.1f} {t_loop / t_ours:7.1f}x "
                  f"{t_script / t_ours:8.1f}x {same:>5}/{total:<5} {load:8.1f}", flush=True)
            failed |= same != total
    for shape in shapes:
        print(f"  {shape}: {SHAPES[shape].about}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
