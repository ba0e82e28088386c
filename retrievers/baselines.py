"""The rankers that ignore the text: recency, seeded random, and the profile-blind ``none``."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from lamp.core.errors import LampDataError
from lamp.core.questions import parse_date
from retrievers.base import Option, Query, Retriever, register


@register("recency")
class RecencyRetriever(Retriever):
    """Newest first, as the official code orders: a stable ascending sort on the parsed date tuple,
    then reversed, so among equal dates the item later in the file comes first. A task whose items
    have no date (``Task.recency == "order"``: LongLaMP reviews and posts, LaMP-QA) is ordered as
    the official LongLaMP ``rec`` ranker orders it: the profile's last item first."""

    name = "recency"

    def __init__(self, **_: Any) -> None:
        pass

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        out = []
        for q in queries:
            if q.recency == "order":
                out.append(list(range(len(q.profile)))[::-1])
                continue
            keys = []
            for item in q.profile:
                if item.date is None or str(item.date).strip() == "":
                    raise LampDataError(f"the recency ranker needs a date on every profile item "
                                        f"(question {q.id!r})", record_id=item.id, field="date")
                try:
                    keys.append(parse_date(item.date))
                except ValueError as exc:
                    raise LampDataError(f"{exc} (question {q.id!r})", record_id=item.id, field="date") from None
            ascending = sorted(range(len(keys)), key=keys.__getitem__)
            out.append(ascending[::-1])
        return out


def question_seed(question_id: str, seed: int) -> int:
    """A seed from (seed, question id) that does not depend on the process (unlike ``hash``)."""
    digest = hashlib.sha256(f"{seed}\0{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@register("random", [Option("seed", int, 0, "seed of the random ranker")], argument="seed")
class RandomRetriever(Retriever):
    """A full random permutation, the same for the same question id and seed on any machine.

    (The official on-the-fly ``random`` samples k items with replacement; a ranking file needs a
    permutation, so this draws one without replacement.)
    """

    name = "random"

    def __init__(self, seed: int = 0, **_: Any) -> None:
        self.seed = int(seed)

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        return [np.random.default_rng(question_seed(q.id, self.seed)).permutation(len(q.profile)).tolist()
                for q in queries]

    def identity(self) -> dict[str, Any]:
        return {"ranker": self.name, "seed": self.seed}


@register("none")
class NoRetriever(Retriever):
    """The profile-blind baseline: the profile in file order, flagged ``profile_blind``.

    The ranking file stays a full permutation (so merging works), and the pipeline uses k=0 for
    this ranker, which gives the raw input as the prompt.
    """

    name = "none"
    profile_blind = True

    def __init__(self, **_: Any) -> None:
        pass

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        return [list(range(len(q.profile))) for q in queries]
