"""The retriever interface and registry.

A retriever orders one user's profile for one input. It receives :class:`Query` objects (the
retrieval query, the profile, and each item's document text as the task registry makes it) in
batches, and returns, for each, the profile indices best first: a full permutation.
Retrievers register under a name; :func:`get_retriever` looks one up with a "did you mean".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from lamp.errors import LampError
from lamp.records import ProfileItem


@dataclass(slots=True)
class Query:
    """One question as a retriever sees it."""

    id: str
    text: str                      # task.query_with_fallback(input)[0]
    profile: list[ProfileItem]
    docs: list[str]                # task.document(item, use_date) for each profile item
    input: str = ""                # the whole input (rankers that build prompts, e.g. rspg-pre, read it)


class Retriever:
    """Base class: override :meth:`rank_batch` (and :meth:`rank_stream` to parallelise)."""

    name = "base"
    #: True when the retriever ignores the input (downstream may use k=0 for it).
    profile_blind = False

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        raise NotImplementedError

    def rank_stream(self, batches: Iterable[Sequence[Query]]) -> Iterator[list[list[int]]]:
        """Rank batches in order; the default ranks them one after another."""
        for batch in batches:
            yield self.rank_batch(batch)

    def identity(self) -> dict[str, Any]:
        """Everything that changes this retriever's rankings (kept beside partial results)."""
        return {"ranker": self.name}


RETRIEVERS: dict[str, Callable[..., Retriever]] = {}


def register(name: str) -> Callable[[Callable[..., Retriever]], Callable[..., Retriever]]:
    def deco(factory: Callable[..., Retriever]) -> Callable[..., Retriever]:
        RETRIEVERS[name] = factory
        return factory
    return deco


#: Modules whose import registers retrievers. A new retriever is one module with its ``@register``
#: line, named here; packages above ``retrievers`` (ropg, rspg) add theirs, since this layer may not
#: import them. Models load lazily on first use, so importing a module is cheap.
RETRIEVER_MODULES: list[str] = ["retrievers.baselines", "retrievers.bm25_retriever", "retrievers.dense",
                                "retrievers.fusion", "ropg.oracle", "rspg.retriever"]


def _load_all() -> None:
    import importlib

    for module in RETRIEVER_MODULES:
        importlib.import_module(module)


def retriever_names() -> list[str]:
    _load_all()
    return sorted(RETRIEVERS)


def get_retriever(name: str, **opts: Any) -> Retriever:
    """The retriever registered as ``name``, built with the options it accepts (others are ignored)."""
    _load_all()
    factory = RETRIEVERS.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, list(RETRIEVERS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise LampError(f"unknown ranker {name!r}{hint} (known: {', '.join(sorted(RETRIEVERS))})")
    return factory(**opts)

