"""The demo data of the LaMP family: one LongLaMP config and one LaMP-QA category, in their own layouts.

Usage::

    python data/make_demo_data.py --tasks longlamp,lamp-qa      # only these (data/demo/ stays as it is)
    python data/family_demo.py [--out DIR] [--seed N]            # the same, directly

Written as the Hugging Face datasets hold them (``datasets``' JSON export: a list of rows), so the
demo exercises the reader of those layouts (lamp/core/native.py):

    DIR/LongLaMP_product_review/{train,dev,test}/{split}_questions.json
        [{"input", "output", "reviewerId", "profile": [{"description", "overall", "reviewText", "summary"}]}]
    DIR/LaMP_QA_Lifestyle_and_Personal_Development/{train,dev,test}/{split}_questions.json
        [{"id", "question", "narrative", "rubric_aspects": [{"aspect", "reason", "evidence"}], "profile": [{"id", "text"}]}]

The golds of LongLaMP are each row's ``output`` (test included, as LongLaMP publishes them); LaMP-QA
has none (a judge scores answers against the rubric). One question per user, users disjoint
across splits, as in the user-based configs. Deterministic: ``random.Random`` seeded per task,
fixed tables, no clock.

The personalization signal:
* reviews: every reviewer has writing habits (an opener, a sign-off, an intensifier, two favourite
  adjectives, a pet phrase, exclamation marks or not, a rating leniency) used in all their reviews,
  the gold included, so the profile tells how this user writes;
* questions: every asker states three preferences in past posts (the profile), and the rubric of
  each question asks for exactly those, with the past post as its evidence.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

try:  # imported as part of a package
    from . import family_banks as fb
except ImportError:  # run as a script: this folder is on sys.path
    import family_banks as fb

DEFAULT_SEED = 7
DEFAULT_OUT = Path(__file__).resolve().parent / "demo"
SPLITS = {"train": 24, "dev": 10, "test": 10}
REVIEW_TASK, QA_TASK = "LongLaMP_product_review", "LaMP_QA_Lifestyle_and_Personal_Development"
REVIEW_INPUT = ('Generate the review text written by a reviewer who has given an overall rating of "{overall}" '
                'for a product with description "{description}". The summary of the review text is "{summary}".')
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ----------------------------------------------------------------------------- LongLaMP reviews


def reviewer(rng: random.Random) -> dict[str, Any]:
    """One reviewer's writing habits."""
    return {"id": "A" + "".join(rng.choice(ID_CHARS) for _ in range(13)),
            "opener": rng.choice(fb.OPENERS), "closer": rng.choice(fb.CLOSERS),
            "very": rng.choice(fb.INTENSIFIERS), "adjectives": rng.sample(fb.GOOD_ADJECTIVES, 2),
            "pet": rng.choice(fb.PET_PHRASES), "bang": rng.random() < 0.4,
            "leniency": rng.choice((-1, 0, 0, 1))}


def review(rng: random.Random, user: dict[str, Any], product: dict[str, Any]) -> dict[str, Any]:
    """One review of ``product`` in ``user``'s habits: its rating, summary and text."""
    quality = product["quality"] + user["leniency"] + rng.choice((-1, 0, 0, 1))
    overall = float(min(5, max(1, quality)))
    good = overall >= 3
    adjective = rng.choice(user["adjectives"]) if good else rng.choice(fb.BAD_ADJECTIVES)
    end = "!" if user["bang"] else "."
    feature = rng.sample(product["features"], 2)
    sentences = [f"{user['opener']} this {product['noun']} is {user['very']} {adjective}{end}",
                 rng.choice(fb.FEATURE_GOOD if good else fb.FEATURE_BAD).format(feature=feature[0], pet=user["pet"]),
                 rng.choice(fb.FEATURE_GOOD if overall >= 4 else fb.FEATURE_BAD).format(feature=feature[1],
                                                                                         pet=user["pet"]),
                 rng.choice(fb.USE_SENTENCES).format(noun=product["noun"], pet=user["pet"], very=user["very"]),
                 user["closer"] if good else rng.choice(fb.BAD_CLOSERS)]
    summary = f"{user['very'].capitalize()} {adjective} {product['noun']}{end if user['bang'] else ''}"
    return {"description": product["description"], "overall": overall, "reviewText": " ".join(sentences),
            "summary": summary}


def review_rows(seed: int, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(f"{seed}:{REVIEW_TASK}")
    out: dict[str, list[dict[str, Any]]] = {}
    for split, n in sizes.items():
        rows = []
        for _ in range(n):
            user = reviewer(rng)
            products = rng.sample(fb.PRODUCTS, rng.randint(4, 8) + 1)
            history = [review(rng, user, p) for p in products[:-1]]
            gold = review(rng, user, products[-1])
            rows.append({"input": REVIEW_INPUT.format(overall=gold["overall"], description=gold["description"],
                                                      summary=gold["summary"]),
                         "output": gold["reviewText"], "reviewerId": user["id"], "profile": history})
        out[split] = rows
    return out


# ----------------------------------------------------------------------------- LaMP-QA questions


def qa_rows(seed: int, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(f"{seed}:{QA_TASK}")
    out: dict[str, list[dict[str, Any]]] = {}
    number = 0
    for split, n in sizes.items():
        rows = []
        for _ in range(n):
            number += 1
            prefs = rng.sample(fb.PREFERENCES, 3)
            question, *past = rng.sample(fb.QUESTIONS, 1 + len(prefs) + rng.randint(1, 3))
            profile = []
            for i, past_question in enumerate(past):
                stated = prefs[i]["stated"] if i < len(prefs) else rng.choice(fb.FILLER_DETAILS)
                profile.append({"id": f"{number:04d}{i:02d}", "text": f"{past_question} {stated}"})
            rng.shuffle(profile)
            aspects = [{"aspect": p["aspect"], "reason": p["reason"], "evidence": p["stated"]} for p in prefs]
            narrative = (f"The asker wants practical advice on this question. "
                         + " ".join(p["need"] for p in prefs))
            rows.append({"id": f"lpd-{number:04d}", "question": question, "narrative": narrative,
                         "rubric_aspects": aspects, "profile": profile})
        out[split] = rows
    return out


# ----------------------------------------------------------------------------- output

BUILDERS = {"longlamp": (REVIEW_TASK, review_rows), "lamp-qa": (QA_TASK, qa_rows)}


def write_json(path: Path, obj: Any) -> int:
    """Compact JSON plus a newline (as the LaMP demo files); the number of bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path.write_bytes(data)
    return len(data)


def write_family(out: Path, seed: int = DEFAULT_SEED, which: tuple[str, ...] = tuple(BUILDERS),
                 sizes: dict[str, int] | None = None) -> list[str]:
    """Write the chosen family tasks under ``out``; one summary line each."""
    lines = []
    for name in which:
        task, build = BUILDERS[name]
        splits = build(seed, sizes or SPLITS)
        size = sum(write_json(out / task / split / f"{split}_questions.json", rows) for split, rows in splits.items())
        items = sorted(len(r["profile"]) for rows in splits.values() for r in rows)
        counts = "/".join(str(len(rows)) for rows in splits.values())
        lines.append(f"{task}: questions {counts} (train/dev/test), profile items {items[0]}-{items[-1]}, "
                     f"{size / 1e3:.0f} kB")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/demo)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    for line in write_family(args.out, args.seed):
        print(line)


if __name__ == "__main__":
    main()
