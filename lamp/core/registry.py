"""One registry for every named thing a user picks: tasks, metrics, retrievers, backends and verbs.

An entry is an object, or a lazy ``"module:attr"`` string imported on first use (so ``lamp --help``
loads no model code); a module that registers entries with decorators is named once with
:meth:`Registry.load_with` and imported before the first lookup. Every miss is the same
:class:`~lamp.core.errors.LampError`: ``Unknown backend 'hf-casual'. Did you mean 'hf-causal'?
Available: …``, and a name that a higher layer registers says which one when that layer is not loaded.

    >>> colours = Registry("colour")
    >>> colours.register("red", 1)
    1
    >>> colours.get("red")
    1
    >>> colours.get("rde")
    Traceback (most recent call last):
    ...
    lamp.core.errors.LampError: Unknown colour 'rde'. Did you mean 'red'? Available: red
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from lamp.core.errors import LampError

T = TypeVar("T")
_MISSING: Any = object()


def suggestion(name: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice (a case-insensitive match first), or ``""``."""
    choices = list(choices)
    same = [c for c in choices if c.lower() == str(name).lower()]
    close = same or difflib.get_close_matches(str(name), choices, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_message(kind: str, name: str, available: Iterable[str], also: Iterable[str] = (), note: str = "") -> str:
    """``Unknown <kind> 'x'. Did you mean 'y'? Available: a, b, c``: the one wording of every miss,
    for registries and for any other closed set of names (config keys, feedback metrics)."""
    available = list(available)
    return f"Unknown {kind} {name!r}.{note}{suggestion(name, [*available, *also])} Available: {', '.join(available)}"


class Registry(Mapping[str, T], Generic[T]):
    """Names -> entries, in registration order; a read-only mapping whose misses explain themselves.

    ``elsewhere`` maps a name that a higher layer registers to a phrase saying which (e.g.
    ``{"uemb": "the user-embedding method, lamp/methods/uemb"}``), so a process that did not load
    that layer is told where the name lives rather than only that it is unknown.
    """

    def __init__(self, kind: str, entries: Mapping[str, T | str] | None = None,
                 elsewhere: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.elsewhere = dict(elsewhere or {})
        self._entries: dict[str, T | str] = dict(entries or {})
        self.modules: list[str] = []
        self._loaded = 0

    def register(self, name: str, target: T | str | None = None) -> Any:
        """Add ``target`` (an object or a lazy ``"module:attr"``) as ``name``; without ``target``, a
        decorator that registers what it decorates. A second, different entry for a name is refused."""
        if target is None:
            def deco(obj: T) -> T:
                self.register(name, obj)
                return obj
            return deco
        known = self._entries.get(name, _MISSING)
        if known is not _MISSING and known is not target and known != target:
            raise ValueError(f"{self.kind} {name!r} is already registered as {known!r}")
        self._entries[name] = target
        return target

    def load_with(self, *modules: str) -> None:
        """Modules whose import registers entries (by decorator), imported before the first lookup."""
        self.modules.extend(m for m in modules if m not in self.modules)

    def _load(self) -> None:
        while self._loaded < len(self.modules):
            module = self.modules[self._loaded]
            self._loaded += 1
            importlib.import_module(module)

    def unknown(self, name: str, also: Iterable[str] = ()) -> LampError:
        """The one error for a miss: the closest name (of the entries and ``also``), and every entry."""
        self._load()
        where = f" {name!r} is registered by {self.elsewhere[name]}, which this process has not loaded " \
                "(the lamp command and the official scripts load it; in Python, import that package)." \
            if name in self.elsewhere and name not in self._entries else ""
        return LampError(unknown_message(self.kind, name, list(self._entries), also, note=where))

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The entry ``name`` (a lazy one imported now); a miss raises :meth:`unknown` unless ``default``."""
        self._load()
        entry = self._entries.get(name, _MISSING)
        if entry is _MISSING:
            if default is not _MISSING:
                return default
            raise self.unknown(name)
        if isinstance(entry, str) and ":" in entry:
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        self._load()
        return list(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
