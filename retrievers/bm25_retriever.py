"""The ``bm25`` registry entry: the official ranking (see :mod:`retrievers.bm25`), over processes."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from retrievers.base import Option, Query, Retriever, register
from retrievers.bm25 import bm25_rank, default_workers, rank_stream


@register("bm25", [Option("workers", int, 0, "worker processes (0: one per core)", minimum=0)])
class BM25Retriever(Retriever):
    """rank_bm25 0.2.2 ``BM25Okapi`` order, item for item; ``workers`` processes (default: the cores)."""

    name = "bm25"

    def __init__(self, workers: int | None = None, **_: Any) -> None:
        self.workers = default_workers() if not workers else int(workers)

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        return [order.tolist() for order in bm25_rank([(q.text, q.docs) for q in queries])]

    def rank_stream(self, batches: Iterable[Sequence[Query]]) -> Iterator[list[list[int]]]:
        # Workers get plain strings only (cheap to pickle), never records; one batch needs no pool.
        plain = [[(q.text, q.docs) for q in batch] for batch in batches]
        yield from rank_stream(plain, self.workers if len(plain) > 1 else 1)
