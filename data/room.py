"""Room for the learning methods: LaMP-2 data where relevance and usefulness part ways.

Usage::

    python data/make_demo_data.py --usefulness --out DIR [--seed N] [--train N] [--dev N] [--test N]
    python data/room.py --out DIR ...                                    # the same

The ROPG/RSPG paper's premise is that the item most *similar* to the input is not always the one
that helps the reader most. On the bundled demo the two coincide (a user's tag follows the film's
topic, so the most topic-similar item carries the right tag), which leaves ROPG little to learn.
Here a user's tag follows a **hidden attribute** of the film, its director, and not its topic:

* every user has 4 directors (of a bank of 12) and tags each director's films with one tag of
  their own (4 distinct tags of the 15);
* a question's input is a film on topic ``T`` by director ``D``; its gold is the user's tag for ``D``;
* its profile has ``PROFILE_SIZE`` items: one **useful** item by ``D`` on another topic (few shared
  words; its tag is the gold), two **look-alikes** on topic ``T`` by the user's other directors
  (what topic similarity puts first; their tags are not the gold) and fillers on other topics by
  the user's other directors (tags not the gold either);
* the director shows in one short sentence of each description ("Directed by Ilse Marrow."), at a
  random place, among 40 or so words about the topic.

So a retriever ranking by topic puts a look-alike first; a retriever that learned (from the LLM's
feedback) that the director sentence decides puts the useful item first. Directors are shared
across splits (users are not), so what a retriever learns on train applies to dev. Standard
library only; the same seed gives byte-identical files. Official LaMP-2 layout (``lamp validate``).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

try:  # imported as part of a package
    from . import make_demo_data as demo
except ImportError:  # run as a script, or loaded by path: this folder is on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import make_demo_data as demo

DEFAULT_SIZES = {"train": 80, "dev": 60, "test": 10}
PROFILE_SIZE = 5
LOOKALIKES = 2
DIRECTORS_PER_USER = 4
#: Invented names, none of them in the demo's filler names (so only the director sentence has them).
DIRECTORS = ("Ilse Marrow", "Teodor Vasko", "Bram Okonkwo", "Anouk Verhaeg", "Caspian Thorne", "Liesl Amundsen",
             "Rafferty Quell", "Odalys Ferreira", "Matthias Kroon", "Seraphine Doyle", "Hollis Avenant",
             "Zbigniew Harlan")
ATTRIBUTE_SENTENCES = ("Directed by {d}.", "A film by {d}.", "{d} directed it.")
TAGS = ("sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
        "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story")


def with_attribute(text: str, director: str, rng: random.Random) -> str:
    """``text`` with the director sentence at a random sentence boundary."""
    sentence = rng.choice(ATTRIBUTE_SENTENCES).format(d=director)
    parts = text.split(". ")
    at = rng.randrange(len(parts) + 1)
    if at == len(parts):
        return text.rstrip() + " " + sentence
    return ". ".join(parts[:at] + [sentence[:-1]] + parts[at:])


def question(rng: random.Random, maker: demo.MovieTags, qid: str, uid: str) -> tuple[dict, dict, dict[str, Any]]:
    """One question of a fresh user: (question, gold, facts) where facts names the useful item."""
    w = demo.Writer(rng, maker.generic)
    directors = rng.sample(DIRECTORS, DIRECTORS_PER_USER)
    tag_of = dict(zip(directors, rng.sample(TAGS, DIRECTORS_PER_USER)))
    director, others = directors[0], directors[1:]
    topic, useful_topic, *filler_topics = rng.sample(list(maker.names), 2 + PROFILE_SIZE - 1 - LOOKALIKES)

    def film(topic_name: str, by: str) -> str:
        return with_attribute(w.passage(demo.Draft(maker.topics[topic_name]), maker.words), by, rng)

    plan = [(useful_topic, director)] + [(topic, rng.choice(others)) for _ in range(LOOKALIKES)]
    plan += [(t, rng.choice(others)) for t in filler_topics]
    days = sorted(rng.sample(range(demo.FIRST_DAY, demo.LAST_DAY - 30), PROFILE_SIZE + 1))
    profile = [{"tag": tag_of[by], "description": film(t, by), "date": demo.iso(days[i])}
               for i, (t, by) in enumerate(plan)]
    order = list(range(PROFILE_SIZE))
    rng.shuffle(order)
    profile = [{"id": f"{qid}{n}", **profile[i]} for n, i in enumerate(order)]
    q = {"id": qid, "input": demo.TEMPLATES[2].format(text=film(topic, director)), "profile": profile,
         "user_id": uid}
    facts = {"useful": f"{qid}{order.index(0)}", "lookalikes": [f"{qid}{order.index(i)}" for i in (1, 2)],
             "director": director, "topic": topic}
    return q, {"id": qid, "output": tag_of[director]}, facts


def build(seed: int = demo.DEFAULT_SEED, sizes: dict[str, int] | None = None
          ) -> tuple[dict[str, tuple[list[dict], list[dict]]], dict[str, dict[str, Any]]]:
    """Questions and golds per split (users disjoint), and ``{question id: facts}``."""
    sizes = dict(sizes or DEFAULT_SIZES)
    rng = random.Random(seed * 1000 + 200)
    maker = demo.MovieTags()
    width = max(3, len(str(sum(sizes.values()) - 1)))
    splits, facts, counter = {}, {}, 0
    for split, n in sizes.items():
        questions, golds = [], []
        for _ in range(n):
            qid = f"2{counter:0{width}d}"
            q, g, f = question(rng, maker, qid, f"2r{counter:0{width}d}")
            questions.append(q)
            golds.append(g)
            facts[qid] = f
            counter += 1
        splits[split] = (questions, golds)
    return splits, facts


def write_room(out: Path, seed: int = demo.DEFAULT_SEED, sizes: dict[str, int] | None = None) -> str:
    """Write ``out/LaMP_2/...`` and ``out/leaderboard/``; returns the generator's summary line. The facts
    (which item is useful) stay out of the files: ``build`` returns them to checks and tests."""
    splits, _ = build(seed, sizes)
    size = demo.write_task(Path(out), "LaMP_2", splits)
    return demo.describe("LaMP_2 (usefulness)", splits, size)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="random seed (default: %(default)s)")
    for split, n in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=n, help=f"questions (one user each) in {split} "
                            "(default: %(default)s)")


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(write_room(args.out, args.seed, {s: getattr(args, s) for s in DEFAULT_SIZES}))


if __name__ == "__main__":
    main()
