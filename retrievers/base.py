"""The retriever interface and registry.

A retriever orders one user's profile for one input. It receives :class:`Query` objects (the
retrieval query, the profile, and each item's document text as the task registry makes it) in
batches, and returns, for each, the profile indices best first: a full permutation.
Retrievers register under a name with the options they take; :func:`get_retriever` looks one up
(the registry's "Did you mean"), and every verb (``lamp rank``, ``rank_profiles.py``, ``lamp run``,
``lamp serve``) offers every registered retriever and its options from here
(:func:`add_retriever_flags`, :func:`check_retriever_options`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from lamp.core.errors import LampError
from lamp.core.records import ProfileItem
from lamp.core.registry import Registry


@dataclass(slots=True)
class Query:
    """One question as a retriever sees it."""

    id: str
    text: str                      # task.query_with_fallback(input)[0]
    profile: list[ProfileItem]
    docs: list[str]                # task.document(item, use_date) for each profile item
    input: str = ""                # the whole input (rankers that build prompts, e.g. rspg-pre, read it)
    recency: str = "date"          # task.recency: what the recency ranker orders by ("date" | "order")


class Retriever:
    """Base class: override :meth:`rank_batch` (and :meth:`rank_stream` to parallelise)."""

    name = "base"
    #: True when the retriever ignores the input (downstream may use k=0 for it).
    profile_blind = False
    #: Worker processes it ranks with on the CPU; above 1, :func:`retrievers.ranking.rank_file` gives
    #: each worker a share of the file to decode as well, and calls :meth:`rank_batch` there.
    workers = 1

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        raise NotImplementedError

    def rank_stream(self, batches: Iterable[Sequence[Query]]) -> Iterator[list[list[int]]]:
        """Rank batches in order; the default ranks them one after another."""
        for batch in batches:
            yield self.rank_batch(batch)

    def identity(self) -> dict[str, Any]:
        """Everything that changes this retriever's rankings (kept beside partial results)."""
        return {"ranker": self.name}


@dataclass(frozen=True)
class Option:
    """One option a retriever takes: the keyword its factory receives, and how verbs offer it.

    The command line spells it ``--{flag or name}`` (``lamp serve`` takes dashes for underscores too); a run
    config and the Python API use ``name``. A ``bool`` option is a flag that sets ``not default``.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    flag: str = ""
    minimum: float | None = None

    def parse(self, text: str) -> Any:
        """The value of a command-line argument (argparse reports a ValueError as a usage error)."""
        value = self.type(text)
        if self.minimum is not None and value < self.minimum:
            raise argparse.ArgumentTypeError(f"must be at least {self.minimum:g}, got {text}")
        return value


#: retriever name -> its factory. The modules that register retrievers are named with
#: ``RETRIEVERS.load_with`` by the layer that owns them (here: this package's own; ``oracle`` by ropg,
#: ``rspg-pre`` by rspg) and imported on first use; models load lazily, so importing one is cheap.
RETRIEVERS: Registry[Callable[..., Retriever]] = Registry(
    "ranker", elsewhere={"oracle": "ROPG (the ropg package)", "rspg-pre": "RSPG (the rspg package)"})
RETRIEVERS.load_with("retrievers.baselines", "retrievers.bm25_retriever", "retrievers.dense", "retrievers.fusion")
#: Every retriever option by name; a retriever that shares one (e.g. ``contriever_checkpoint``)
#: registers the same :class:`Option`.
OPTIONS: Registry[Option] = Registry("retriever option")
#: retriever name -> the names of the options it takes.
OPTIONS_OF: dict[str, tuple[str, ...]] = {}
#: retriever name -> the option a short spec ``name:ARG`` sets (RSPG pools: ``trained:DIR``, ``rrf:bm25,recency``).
ARGUMENT_OF: dict[str, str] = {}


def register(name: str, options: Sequence[Option] = (), argument: str = ""
             ) -> Callable[[Callable[..., Retriever]], Callable[..., Retriever]]:
    """Register a retriever factory under ``name``, with the options it takes; ``argument`` names the
    one of them that a short spec ``name:ARG`` sets."""
    if argument and argument not in [option.name for option in options]:
        raise ValueError(f"retriever {name!r}: argument {argument!r} is not one of its options")
    for option in options:
        known = OPTIONS.get(option.name, None) or OPTIONS.register(option.name, option)
        if known != option:
            raise ValueError(f"retriever {name!r}: option {option.name!r} differs from the one already "
                             f"registered ({known}); share one Option object")

    def deco(factory: Callable[..., Retriever]) -> Callable[..., Retriever]:
        RETRIEVERS.register(name, factory)
        OPTIONS_OF[name] = tuple(option.name for option in options)
        if argument:
            ARGUMENT_OF[name] = argument
        return factory
    return deco


def retriever_names() -> list[str]:
    return sorted(RETRIEVERS)


def get_retriever(name: str, **opts: Any) -> Retriever:
    """The retriever registered as ``name``, built with the options it accepts (others are ignored)."""
    return RETRIEVERS.get(name)(**opts)


def retriever_options() -> dict[str, list[str]]:
    """Every registered option name -> the retrievers that take it."""
    RETRIEVERS.names()                             # the registering modules imported
    return {option: sorted(r for r, names in OPTIONS_OF.items() if option in names) for option in sorted(OPTIONS)}


def add_retriever_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every registered retriever option; an option not given stays None (the retriever's
    default applies). Read them back with :func:`retriever_kwargs`."""
    for name, users in retriever_options().items():
        option = OPTIONS[name]
        flag = "--" + (option.flag or name)
        shown = f"; default {option.default}" if option.default is not None and option.type is not bool else ""
        text = f"{option.help} ({', '.join(users)}{shown})"
        if option.type is bool:
            parser.add_argument(flag, dest=f"retriever_{name}", action="store_const", const=not option.default,
                                default=None, help=text)
        else:
            parser.add_argument(flag, dest=f"retriever_{name}", type=option.parse, default=None,
                                metavar=name.upper(), help=text)


def retriever_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The retriever options given on a command line built with :func:`add_retriever_flags`."""
    return {name: value for name in OPTIONS
            if (value := getattr(args, f"retriever_{name}", None)) is not None}


def check_retriever_options(options: dict[str, Any], source: str) -> None:
    """Unknown option names (did-you-mean) and values of the wrong type or range are a :class:`LampError`."""
    RETRIEVERS.names()
    for name, value in options.items():
        if name not in OPTIONS:
            raise LampError(f"{source}: {OPTIONS.unknown(name)}")
        option = OPTIONS[name]
        want = (int, float) if option.type is float else option.type
        if not isinstance(value, want) or (isinstance(value, bool) and option.type is not bool):
            raise LampError(f"{source}: retriever option {name} must be {option.type.__name__}, got {value!r}")
        if option.minimum is not None and value < option.minimum:
            raise LampError(f"{source}: retriever option {name} must be at least {option.minimum:g}, got {value!r}")
