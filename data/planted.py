"""Planted-rule data: does a learning method learn? (ROPG, RSPG, user embeddings).

Usage::

    python data/planted.py --out DIR [--seed N] [--train N] [--dev N]
    python data/make_demo_data.py --planted DIR ...          # the same, from the demo generator

Each set starts from the demo generator's LaMP-2 (movie tags) text and hides one rule that only
the feedback (or the target) tells. The ``dev`` split has other users, so it measures learning on
unseen questions. Standard library only; the same seed gives byte-identical files.

* ``ropg/``: one profile item per question carries a cue sentence (about a "lighthouse keeper",
  a phrase no demo topic uses, unrelated to the input's words) and only its feedback is 1
  (``{split}_feedback.json``, the ``lamp ropg score`` format, keys ``"{qid}-{pid}"``). BM25 and an
  untrained dense ranker have no reason to put it first; a retriever trained from the feedback does.
* ``rspg/``: selector records (the ``lamp rspg data`` format) for a pool of three retrievers. Per
  question one retriever, drawn 50/30/20, wins (label 1, the gold output); only its prompt carries
  the cue. The best single retriever is right about half the time; a selector reading the prompt
  can be right every time, whatever the pool's order.
* ``uemb/``: each user has a hidden category (one of ``K`` demo movie topics): every profile item
  is about it, its tag is random, and the input is about another topic. The category is in
  ``{split}_attributes.json``; the gold output is the category's tag, so only the profile's item
  vectors tell it.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path
from typing import Any, Sequence

try:  # imported as part of a package
    from . import make_demo_data as demo
except ImportError:  # run as a script, or loaded by path: this folder is on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import make_demo_data as demo

DEFAULT_SEED = demo.DEFAULT_SEED
DEFAULT_SIZES = {split: demo.SPLITS[split] for split in ("train", "dev")}
#: The planted cue: one rare subject in several wordings, unrelated to any demo topic.
CUES = ("A lighthouse keeper appears in one brief scene.",
        "The lighthouse keeper has a single line of dialogue.",
        "Somewhere in the story there is a lighthouse keeper.")
LAMP2_TAGS = ("sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
              "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story")
POOL = ("bm25", "contriever", "recency")
POOL_SHARES = (0.5, 0.3, 0.2)
UEMB_TOPICS = ("space", "heist", "romance", "horror", "courtroom", "sports")


def _split_seed(seed: int, kind: str, split: str) -> int:
    """A seed per (set, split) that does not depend on hash order."""
    return seed * 1000 + sum(map(ord, kind)) * 10 + sum(map(ord, split))


def _demo_questions(seed: int, sizes: dict[str, int]) -> dict[str, tuple[list[dict], list[dict]]]:
    """The demo generator's LaMP-2 questions (users disjoint across splits)."""
    return demo.build_task(demo.MovieTags(), seed, sizes)


def with_cue(text: str, rng: random.Random) -> str:
    """``text`` with a cue sentence at a random sentence boundary (not always the end)."""
    sentences = text.split(". ")
    at = rng.randrange(len(sentences) + 1)
    cue = rng.choice(CUES)
    if at == len(sentences):
        return text.rstrip() + " " + cue
    return ". ".join(sentences[:at] + [cue[:-1]] + sentences[at:])


# ----------------------------------------------------------------------------- ROPG


def ropg_split(questions: Sequence[dict], golds: Sequence[dict], rng: random.Random, profile_size: int = 8,
               min_items: int = 4) -> tuple[list[dict], list[dict], dict[str, dict[str, float]]]:
    """Questions (profiles cut to ``profile_size``, file order kept as the initial ranking), golds and
    feedback: one random item per profile gets the cue and feedback 1, the others 0."""
    out_q, out_g, feedback = [], [], {}
    for q, g in zip(questions, golds):
        if len(q["profile"]) < min_items:
            continue
        q = copy.deepcopy(q)
        q["profile"] = q["profile"][:profile_size]
        useful = rng.randrange(len(q["profile"]))
        for i, item in enumerate(q["profile"]):
            if i == useful:
                item["description"] = with_cue(item["description"], rng)
            feedback[f"{q['id']}-{item['id']}"] = {"accuracy": float(i == useful), "f1": float(i == useful)}
        out_q.append(q)
        out_g.append(g)
    return out_q, out_g, feedback


def useful_items(feedback: dict[str, dict[str, float]]) -> dict[str, str]:
    """``{question id: the useful item's id}`` from a planted feedback file (keys ``"{qid}-{pid}"``)."""
    out = {}
    for key, metrics in feedback.items():
        if metrics.get("accuracy") == 1.0:
            qid, _, pid = key.partition("-")
            out[qid] = pid
    return out


# ----------------------------------------------------------------------------- RSPG


def ppep(item: dict) -> str:
    """The official LaMP-2 per-item prompt (reference §3)."""
    return f'the tag for the movie: "{item["description"]}" is "{item["tag"]}" '


def rspg_split(questions: Sequence[dict], golds: Sequence[dict], rng: random.Random, pool: Sequence[str] = POOL,
               shares: Sequence[float] = POOL_SHARES, k: int = 2) -> list[dict]:
    """Selector records: each retriever's prompt holds ``k`` distinct profile items; the winner's
    (drawn by ``shares``) first item carries the cue, its output is the gold (label 1); the others
    answer a wrong tag (label 0)."""
    records = []
    for q, g in zip(questions, golds):
        if len(q["profile"]) < k * len(pool):
            continue
        items = copy.deepcopy(rng.sample(q["profile"], k * len(pool)))
        winner = rng.choices(range(len(pool)), weights=shares)[0]
        inputs, outputs, labels = [], [], []
        for r in range(len(pool)):
            mine = items[r * k:(r + 1) * k]
            if r == winner:
                mine[0]["description"] = with_cue(mine[0]["description"], rng)
            inputs.append(", and ".join(ppep(item) for item in mine) + ". " + q["input"])
            wrong = rng.choice([t for t in LAMP2_TAGS if t != g["output"]])
            outputs.append(g["output"] if r == winner else wrong)
            labels.append(float(r == winner))
        records.append({"id": q["id"], "input": q["input"], "user_id": q["user_id"], "gold": g["output"],
                        "labels": labels, "outputs": outputs, "inputs": inputs, "retrievers": list(pool)})
    return records


# ----------------------------------------------------------------------------- user embeddings


def category_tags(topics: Sequence[str]) -> dict[str, str]:
    """A distinct LaMP-2 tag per hidden category (the first of its topic's tags not yet taken)."""
    bank, out = demo.MovieTags().topics, {}
    for name in topics:
        out[name] = next(t for t in bank[name].extra["tags"] if t not in out.values())
    return out


def uemb_split(n_users: int, rng: random.Random, split: str, topics: Sequence[str] = UEMB_TOPICS,
               items: tuple[int, int] = (6, 10)) -> tuple[list[dict], list[dict], dict[str, str]]:
    """One question per user: profile items all about the user's hidden category (random tags), the
    input about another topic, the gold the category's tag; and ``{user id: category}``."""
    maker = demo.MovieTags()
    writer = demo.Writer(rng, maker.generic)
    tags = category_tags(topics)
    others = [t for t in maker.names if t not in topics] or list(maker.names)
    questions, golds, attributes = [], [], {}
    for u in range(n_users):
        qid, uid = f"2{list(DEFAULT_SIZES).index(split)}{u:04d}", f"2{split}u{u:04d}"
        category = topics[u % len(topics)] if u < len(topics) else rng.choice(topics)
        profile = [{"id": f"{qid}{i}", "tag": rng.choice(LAMP2_TAGS),
                    "description": writer.passage(demo.Draft(maker.topics[category]), maker.words),
                    "date": demo.iso(demo.FIRST_DAY + rng.randrange(3000))} for i in range(rng.randint(*items))]
        text = writer.passage(demo.Draft(maker.topics[rng.choice(others)]), maker.words)
        questions.append({"id": qid, "input": demo.TEMPLATES[2].format(text=text), "profile": profile,
                          "user_id": uid})
        golds.append({"id": qid, "output": tags[category]})
        attributes[uid] = category
    return questions, golds, attributes


# ----------------------------------------------------------------------------- files


def build(seed: int = DEFAULT_SEED, sizes: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Every set: ``{path relative to the output folder: JSON content}``."""
    sizes = dict(sizes or DEFAULT_SIZES)
    files: dict[str, Any] = {}
    base = _demo_questions(seed, sizes)
    for split, (questions, golds) in base.items():
        q, g, fb = ropg_split(questions, golds, random.Random(_split_seed(seed, "ropg", split)))
        files[f"ropg/{split}_questions.json"] = q
        files[f"ropg/{split}_outputs.json"] = {"task": "LaMP_2", "golds": g}
        files[f"ropg/{split}_feedback.json"] = fb
        files[f"rspg/{split}.json"] = rspg_split(questions, golds, random.Random(_split_seed(seed, "rspg", split)))
        q, g, attrs = uemb_split(sizes[split], random.Random(_split_seed(seed, "uemb", split)), split)
        files[f"uemb/{split}_questions.json"] = q
        files[f"uemb/{split}_outputs.json"] = {"task": "LaMP_2", "golds": g}
        files[f"uemb/{split}_attributes.json"] = attrs
    return files


def write_planted(out: Path, seed: int = DEFAULT_SEED, sizes: dict[str, int] | None = None) -> dict[str, int]:
    """Write every set under ``out``; returns ``{relative path: records}``."""
    counts = {}
    for rel, content in build(seed, sizes).items():
        demo.write_json(Path(out) / rel, content)
        counts[rel] = len(content["golds"]) if isinstance(content, dict) and "golds" in content else len(content)
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    for split, n in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=n, help=f"demo questions (and users) in {split} "
                            "(default: %(default)s; profiles too short for a set are left out of it)")


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_arguments(parser)
    args = parser.parse_args(argv)
    counts = write_planted(args.out, args.seed, {s: getattr(args, s) for s in DEFAULT_SIZES})
    for rel, n in counts.items():
        print(f"{rel}: {n}")


if __name__ == "__main__":
    main()
