"""Typed records of the LaMP format (reference §1): questions with profiles, and gold/predicted outputs.

Questions and profile items are ``msgspec`` structs, so that :func:`lamp.core.questions.load_questions` decodes
a file straight into them at parser speed, and a 400 MB questions file loads into far less memory than
the equivalent tree of dicts. They are created without garbage-collector tracking (``gc=False``):
they hold strings, lists and JSON values, which never form reference cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

#: Profile item fields known to some task (reference §1.2); anything else lands in ``extra``.
ITEM_FIELDS = ("title", "abstract", "description", "tag", "text", "score", "category", "date")

class ProfileItem(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One item of a user's history. Which fields are set depends on the task.

    The fields are annotated ``str`` (``dict`` for ``extra``) with a default of None (absent), not
    ``... | None``: decoding then refuses an explicit ``null`` as the detailed loader does, and
    ``extra`` can only be set by a key of that name, which the fast loader then leaves to the
    detailed one (it keeps such a key inside ``extra``).
    """

    id: str
    title: str = None           # type: ignore[assignment]
    abstract: str = None        # type: ignore[assignment]
    description: str = None     # type: ignore[assignment]
    tag: str = None             # type: ignore[assignment]
    text: str = None            # type: ignore[assignment]
    score: str = None           # type: ignore[assignment]
    category: str = None        # type: ignore[assignment]
    date: str = None            # type: ignore[assignment]
    extra: dict[str, Any] = None  # type: ignore[assignment]  # fields of no task; None: none

    def get(self, name: str) -> Any:
        """Field value by name, including unknown fields kept in ``extra``; None when absent."""
        if name in ITEM_FIELDS:
            return getattr(self, name)
        return (self.extra or {}).get(name)

    def to_json(self) -> dict[str, Any]:
        """The item as it appears in a LaMP file (only the fields that are set)."""
        out: dict[str, Any] = {"id": self.id}
        for name in ITEM_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.extra:
            out.update(self.extra)
        return out


class Question(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One LaMP sample: the templated ``input`` and the user's ``profile``."""

    id: str
    input: str
    profile: list[ProfileItem] = msgspec.field(default_factory=list)
    user_id: str | None = None
    extra: dict[str, Any] = None  # type: ignore[assignment]  # fields of no task; None: none

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "input": self.input,
                               "profile": [p.to_json() for p in self.profile]}
        if self.user_id is not None:
            out["user_id"] = self.user_id
        if self.extra:
            out.update(self.extra)
        return out


@dataclass(slots=True)
class Gold:
    """One expected (or predicted) output, keyed by question id."""

    id: str
    output: str


@dataclass(slots=True)
class Outputs:
    """An outputs or predictions file: ``{"task": "LaMP_1", "golds": [...]}``.

    ``task`` is None for a bare list (third-party copies, the LaMP-6 test file).
    """

    task: str | None
    golds: list[Gold]

    def by_id(self) -> dict[str, str]:
        return {g.id: g.output for g in self.golds}

    def to_json(self, task: str | None = None) -> dict[str, Any]:
        return {"task": task or self.task, "golds": [{"id": g.id, "output": g.output} for g in self.golds]}
