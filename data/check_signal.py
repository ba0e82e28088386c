"""Check that the demo data carries a personalization signal, with non-LLM baselines.

Usage::

    python data/check_signal.py [--data data/demo] [--split dev] [--k 4] [--strict]

For each task it prints one row: a profile-blind baseline, a non-personal retrieval
baseline (BM25 over *other users'* training items), and the same profile-aware rule
fed with the user's own items chosen by BM25, at random, or by recency. Queries and
documents follow the official ``rank_profiles.py`` (lamp-reference.md §2.1); BM25 is
``rank_bm25.BM25Okapi`` over whitespace tokens of the question's own profile.

Metrics: accuracy (LaMP-1, LaMP-2), MAE (LaMP-3, lower is better), mean ROUGE-1 F
(``rouge_score``, no stemmer) for LaMP-4 … LaMP-7. ``--strict`` exits non-zero unless
the profile-aware margins hold (see ``MARGINS``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rank_bm25 import BM25Okapi
from rouge_score import rouge_scorer

Item = dict[str, str]
Question = dict
DEFAULT_DATA = Path(__file__).resolve().parent / "demo"
WORD = re.compile(r"[a-z0-9]+")
LEAD_WORDS = 10  # generic output of LaMP-4/5/6: the first words of the input text


# ----------------------------------------------------------------------------- query and document text


def after(marker: str, text: str) -> str:
    """Text after the first occurrence of ``marker``, stripped (official ``extract``)."""
    return text[text.index(marker) + len(marker):].strip()


def quoted(text: str) -> list[str]:
    """Substrings between successive pairs of double quotes."""
    return text.split('"')[1::2]


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words (for overlap counts)."""
    return WORD.findall(text.lower())


# ----------------------------------------------------------------------------- predictors


def majority(labels: list[str], fallback: str) -> str:
    """Most common label; ties go to the label seen first."""
    return Counter(labels).most_common(1)[0][0] if labels else fallback


def pick_reference(question: Question, items: list[Item]) -> str:
    """LaMP-1: the reference whose title shares more words with the chosen items' abstracts.

    Words found in over half of the user's abstracts (boilerplate) are ignored.
    """
    profile = question["profile"]
    df = Counter(w for it in profile for w in set(words(it["abstract"])))
    pool = {w for it in items for w in words(it["abstract"]) if df[w] <= len(profile) / 2}
    refs = [set(words(r)) for r in quoted(question["input"])[1:3]]
    scores = [len((refs[i] - refs[1 - i]) & pool) for i in (0, 1)]
    return "[2]" if scores[1] > scores[0] else "[1]"


def title_overlap(question: Question) -> str:
    """LaMP-1 without profile: the reference closer to the author's own paper title."""
    title, ref1, ref2 = quoted(question["input"])[:3]
    own = set(words(title))
    return "[2]" if len(own & set(words(ref2))) > len(own & set(words(ref1))) else "[1]"


def mean_score(items: list[Item], fallback: str) -> str:
    """LaMP-3: rounded mean rating of the chosen items."""
    if not items:
        return fallback
    return str(int(sum(int(it["score"]) for it in items) / len(items) + 0.5))


def lead(question: Question, marker: str) -> str:
    """The first words of the input text (a generic, profile-blind output)."""
    return " ".join(after(marker, question["input"]).split()[:LEAD_WORDS])


def with_habits(question: Question, items: list[Item]) -> str:
    """LaMP-7: the input tweet plus the words that recur in the chosen items (hashtags, catchphrases)."""
    tweet = after(":", question["input"])
    have = set(words(tweet))
    counts = Counter(w for it in items for w in dict.fromkeys(it["text"].split()))
    extra = [w for w, c in counts.items() if c >= 2 and not set(words(w)) <= have]
    return " ".join([tweet, *extra])


# ----------------------------------------------------------------------------- task table


@dataclass(frozen=True)
class Spec:
    """How one task is queried, scored and predicted."""

    metric: str  # "accuracy", "MAE" or "ROUGE-1"
    k: int  # items given to the profile-aware rule
    query: Callable[[Question], str]
    doc: Callable[[Item], str]
    blind: Callable[[Question, list[str]], str]  # (question, train golds) -> prediction
    aware: Callable[[Question, list[Item], list[str]], str]  # (question, items, train golds)
    blind_name: str
    aware_name: str


SPECS: dict[str, Spec] = {
    "LaMP_1": Spec(
        "accuracy", 4, lambda q: " ".join(quoted(q["input"])[1:3]), lambda it: f"{it['title']} {it['abstract']}",
        lambda q, g: "[1]", lambda q, its, g: pick_reference(q, its),
        'always "[1]"', "reference sharing more words with the items"),
    "LaMP_2": Spec(
        "accuracy", 4, lambda q: after("description:", q["input"]), lambda it: it["description"],
        lambda q, g: majority(g, ""), lambda q, its, g: majority([it["tag"] for it in its], majority(g, "")),
        "majority tag of train", "majority tag of the items"),
    "LaMP_3": Spec(
        "MAE", 4, lambda q: after("review:", q["input"]), lambda it: it["text"],
        lambda q, g: str(round(sum(map(int, g)) / len(g))), lambda q, its, g: mean_score(its, "3"),
        "rounded mean rating of train", "rounded mean score of the items"),
    "LaMP_4": Spec(
        "ROUGE-1", 1, lambda q: after("article:", q["input"]), lambda it: f"{it['title']} {it['text']}",
        lambda q, g: lead(q, "article:"), lambda q, its, g: its[0]["title"] if its else lead(q, "article:"),
        f"first {LEAD_WORDS} words of the article", "title of the item"),
    "LaMP_5": Spec(
        "ROUGE-1", 1, lambda q: after(":", q["input"]), lambda it: f"{it['title']} {it['abstract']}",
        lambda q, g: lead(q, ":"), lambda q, its, g: its[0]["title"] if its else lead(q, ":"),
        f"first {LEAD_WORDS} words of the abstract", "title of the item"),
    "LaMP_6": Spec(
        "ROUGE-1", 1, lambda q: after(":", q["input"]), lambda it: it["text"],
        lambda q, g: lead(q, ":"), lambda q, its, g: its[0]["title"] if its else lead(q, ":"),
        f"first {LEAD_WORDS} words of the email", "subject of the item"),
    "LaMP_7": Spec(
        "ROUGE-1", 4, lambda q: after(":", q["input"]), lambda it: it["text"],
        lambda q, g: after(":", q["input"]), lambda q, its, g: with_habits(q, its),
        "the input tweet itself", "input + words recurring in the items"),
}
MARGINS: dict[str, float] = {  # required gain of bm25-k over blind (MAE: required drop)
    "accuracy": 0.15, "MAE": 0.3, "ROUGE-1": 0.05,
}


# ----------------------------------------------------------------------------- selection of items


def bm25_top(query: str, docs: list[str], k: int) -> list[int]:
    """Indices of the ``k`` best documents (ties: earlier first)."""
    if not docs:
        return []
    scores = BM25Okapi([d.split() for d in docs]).get_scores(query.split())
    return sorted(range(len(docs)), key=lambda i: (-scores[i], i))[:k]


def date_key(item: Item) -> tuple[int, ...]:
    """The official recency key: the date split on ``-`` as a tuple of ints."""
    return tuple(int(p) for p in str(item["date"]).split("-"))


def select(how: str, spec: Spec, question: Question) -> list[Item]:
    """The items the profile-aware rule sees, chosen by ``how``."""
    profile = question["profile"]
    if how == "bm25":
        return [profile[i] for i in bm25_top(spec.query(question), [spec.doc(it) for it in profile], spec.k)]
    if how == "random":
        return random.Random(int(question["id"])).sample(profile, min(spec.k, len(profile)))
    if how == "recency":
        return list(reversed(sorted(profile, key=date_key)))[:spec.k]
    raise ValueError(how)


class GlobalPool:
    """Non-personal retrieval: BM25 over the distinct training items of all users."""

    def __init__(self, spec: Spec, train: list[Question]) -> None:
        seen: dict[tuple[str, str], Item] = {}
        for q in train:
            for it in q["profile"]:
                seen.setdefault((q["user_id"], it["id"]), it)
        self.items = list(seen.values())
        self.spec = spec
        self.index = BM25Okapi([spec.doc(it).split() for it in self.items])

    def top(self, question: Question) -> list[Item]:
        """The ``k`` pool items closest to the question."""
        scores = self.index.get_scores(self.spec.query(question).split())
        order = sorted(range(len(self.items)), key=lambda i: (-scores[i], i))[:self.spec.k]
        return [self.items[i] for i in order]


# ----------------------------------------------------------------------------- scoring


def score(metric: str, preds: list[str], golds: list[str], rouge: rouge_scorer.RougeScorer) -> float:
    """Accuracy, MAE or mean ROUGE-1 F of predictions against golds."""
    if metric == "accuracy":
        return sum(p == g for p, g in zip(preds, golds)) / len(golds)
    if metric == "MAE":
        return sum(abs(int(p) - int(g)) for p, g in zip(preds, golds)) / len(golds)
    return sum(rouge.score(g, p)["rouge1"].fmeasure for p, g in zip(preds, golds)) / len(golds)


def load(data: Path, task: str, split: str) -> tuple[list[Question], list[str]]:
    """Questions of a split and their golds in question order (test golds from leaderboard/)."""
    questions = json.loads((data / task / split / f"{split}_questions.json").read_text(encoding="utf-8"))
    gold_path = (data / "leaderboard" / f"{task}_test_outputs.json" if split == "test"
                 else data / task / split / f"{split}_outputs.json")
    golds = {g["id"]: g["output"] for g in json.loads(gold_path.read_text(encoding="utf-8"))["golds"]}
    return questions, [golds[q["id"]] for q in questions]


def evaluate(data: Path, task: str, split: str, k: int | None) -> dict[str, float | int | str]:
    """All baselines of one task on one split."""
    spec = SPECS[task]
    if k is not None and spec.k > 1:
        spec = Spec(**{**spec.__dict__, "k": k})
    train, train_golds = load(data, task, "train")
    questions, golds = load(data, task, split)
    rouge = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)
    pool = GlobalPool(spec, train)
    row: dict[str, float | int | str] = {"task": task, "n": len(questions), "metric": spec.metric, "k": spec.k}
    row["blind"] = score(spec.metric, [spec.blind(q, train_golds) for q in questions], golds, rouge)
    row["others"] = score(spec.metric, [spec.aware(q, pool.top(q), train_golds) for q in questions], golds, rouge)
    for how in ("bm25", "random", "recency"):
        preds = [spec.aware(q, select(how, spec, q), train_golds) for q in questions]
        row[how] = score(spec.metric, preds, golds, rouge)
    if task == "LaMP_1":
        blind_title = score(spec.metric, [title_overlap(q) for q in questions], golds, rouge)
        row["note"] = f"no profile, reference closer to the paper title: {blind_title:.3f}"
    return row


def gain(row: dict) -> float:
    """Improvement of bm25-k over blind (positive is better for every metric)."""
    sign = -1 if row["metric"] == "MAE" else 1
    return sign * (row["bm25"] - row["blind"])


COLUMNS = ("blind", "others", "bm25", "random", "recency")


def print_table(rows: list[dict], split: str) -> None:
    """A plain-text table of all rows, then what each baseline is."""
    print(f"split: {split}   (MAE: lower is better; others = BM25 over other users' train items; "
          "gain = bm25-k vs blind)")
    heads = [c if c == "blind" else f"{c}-k" for c in COLUMNS]
    print(f"{'task':<7} {'metric':<9} {'n':>3} {'k':>2} " + " ".join(f"{h:>10}" for h in heads) + f" {'gain':>7}")
    for r in rows:
        values = " ".join(f"{r[c]:>10.3f}" for c in COLUMNS)
        print(f"{r['task']:<7} {r['metric']:<9} {r['n']:>3} {r['k']:>2} {values} {gain(r):>+7.3f}")
    print()
    for task, spec in SPECS.items():
        print(f"{task}: blind = {spec.blind_name}; aware = {spec.aware_name}")
    for r in rows:
        if "note" in r:
            print(f"{r['task']}: {r['note']}")


def failures(rows: list[dict]) -> list[str]:
    """Acceptance checks that do not hold."""
    bad = []
    for r in rows:
        sign = -1 if r["metric"] == "MAE" else 1
        if gain(r) < MARGINS[r["metric"]]:
            bad.append(f"{r['task']}: gain {gain(r):+.3f} below {MARGINS[r['metric']]}")
        beaten = all(sign * (r["bm25"] - r[other]) > 0 for other in ("random", "recency"))
        if r["task"] in ("LaMP_2", "LaMP_3") and not beaten:
            bad.append(f"{r['task']}: bm25-k does not beat random-k and recency-k")
        if r["metric"] == "accuracy" and r["bm25"] > 0.95:
            bad.append(f"{r['task']}: accuracy {r['bm25']:.3f} is too close to perfect")
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="demo data folder (default: data/demo)")
    parser.add_argument("--split", default="dev", choices=("train", "dev", "test"))
    parser.add_argument("--k", type=int, default=None, help="items for LaMP-1/2/3/7 (default 4)")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless the signal checks hold")
    args = parser.parse_args(argv)
    rows = [evaluate(args.data, task, args.split, args.k) for task in SPECS]
    print_table(rows, args.split)
    bad = failures(rows)
    for line in bad:
        print(f"FAIL {line}")
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
