"""Reciprocal rank fusion (Cormack et al., 2009) of any registered retrievers.

score(item) = sum over retrievers of 1 / (k + rank), rank counted from 1; k = 60 by default.
Equal fused scores keep profile order (a stable sort), so the result is deterministic.
"""

from __future__ import annotations

from typing import Any, Sequence

from lamp.core.errors import LampError
from retrievers.base import Option, Query, Retriever, get_retriever, register


def rrf_order(rankings: Sequence[Sequence[int]], n: int, k: float = 60.0) -> list[int]:
    """Fuse several full rankings of ``n`` items (indices best first) into one."""
    scores = [0.0] * n
    for ranking in rankings:
        for rank, index in enumerate(ranking, start=1):
            scores[index] += 1.0 / (k + rank)
    return sorted(range(n), key=lambda i: -scores[i])


@register("rrf", [Option("members", str, "bm25,recency", "comma-separated rankers to fuse", flag="fuse"),
                  Option("rrf_k", float, 60.0, "the k in 1/(k + rank)", minimum=0)], argument="members")
class RRFRetriever(Retriever):
    """Fuse ``members`` (names or Retriever objects; default bm25 + recency)."""

    name = "rrf"

    def __init__(self, members: Sequence[str | Retriever] | str = ("bm25", "recency"), rrf_k: float = 60.0,
                 **opts: Any) -> None:
        if isinstance(members, str):
            members = [m.strip() for m in members.split(",") if m.strip()]
        if not members:
            raise LampError("rrf needs at least one retriever to fuse (e.g. --fuse bm25,recency)")
        if any(m == "rrf" for m in members):
            raise LampError("rrf cannot fuse itself")
        self.members = [m if isinstance(m, Retriever) else get_retriever(m, **opts) for m in members]
        self.k = float(rrf_k)

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        per_member = [m.rank_batch(queries) for m in self.members]
        return [rrf_order([ranks[i] for ranks in per_member], len(q.profile), self.k)
                for i, q in enumerate(queries)]

    def identity(self) -> dict[str, Any]:
        return {"ranker": self.name, "k": self.k, "members": [m.identity() for m in self.members]}
