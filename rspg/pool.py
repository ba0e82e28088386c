"""The retriever pool: any number of registered rankers, each with its options and a name.

The official RSPG hard-codes six retrievers; here a pool member is a spec string or a JSON entry:

* ``bm25``, ``contriever``, ``recency``, ``rrf``, ``none`` … — a registered ranker, named after itself;
* ``trained:runs/ropg/kd`` — the ranker with its one argument, the option its registration names
  (an encoder folder for ``trained`` and ``contriever``, the fused members for ``rrf``
  (``rrf:bm25,contriever``), the seed for ``random``);
* ``ropg-kd=trained:runs/ropg/kd`` — the same with an explicit name (the name is what tables,
  folders and the selector's outputs use);
* a JSON file: ``[{"name": "ropg-kd", "ranker": "trained", "options": {"contriever_checkpoint": "…"}}]``.

``none`` means no profile (the raw input, the official "without ``--use_profile``").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from lamp.core.errors import LampError
from retrievers.base import RETRIEVERS, retriever_names
from retrievers.base import ARGUMENT_OF, OPTIONS, check_retriever_options

#: The ranker name that means "no retrieval": k = 0, the prompt is the input.
NO_RETRIEVAL = "none"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class PoolMember:
    """One retriever of the pool: a display name, a registered ranker and its options."""

    name: str
    ranker: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    @property
    def uses_profile(self) -> bool:
        return self.ranker != NO_RETRIEVAL

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ranker": self.ranker, "options": dict(self.options)}


def parse_member(spec: str) -> PoolMember:
    """``[NAME=]RANKER[:ARG]`` -> :class:`PoolMember` (the ranker is checked against the registry)."""
    text = spec.strip()
    name = None
    if "=" in text:
        name, text = (s.strip() for s in text.split("=", 1))
    ranker, _, arg = text.partition(":")
    ranker = ranker.strip()
    if ranker not in RETRIEVERS:
        raise LampError(f"pool member {spec!r}: {RETRIEVERS.unknown(ranker)}")
    options: dict[str, Any] = {}
    if arg:
        key = ARGUMENT_OF.get(ranker)
        if key is None:
            raise LampError(f"pool member {spec!r}: the ranker {ranker!r} takes no ':ARG' "
                            f"(rankers with one: {', '.join(sorted(ARGUMENT_OF))})")
        try:
            options[key] = OPTIONS[key].type(arg)
        except ValueError:
            raise LampError(f"pool member {spec!r}: {key} must be {OPTIONS[key].type.__name__}, got {arg!r}") from None
    if name is None:
        name = ranker if not arg else f"{ranker}-{Path(arg.rstrip('/')).name if key == 'contriever_checkpoint' else arg.replace(',', '+')}"
    return _checked(PoolMember(name, ranker, options), spec)


def _checked(member: PoolMember, where: str) -> PoolMember:
    if not _NAME.match(member.name):
        raise LampError(f"{where}: pool member name {member.name!r} must be letters, digits, '_', '.', '+', '-' "
                        "(it names a folder)")
    if member.ranker == "trained" and not member.options.get("contriever_checkpoint"):
        raise LampError(f"{where}: the 'trained' ranker needs its checkpoint folder (trained:DIR)")
    ckpt = member.options.get("contriever_checkpoint")
    if member.ranker == "trained" and ckpt and not Path(ckpt).is_dir():
        raise LampError(f"{where}: {ckpt}: no such checkpoint folder (a ROPG save_pretrained folder)")
    return member


def load_pool(specs: Sequence[str]) -> list[PoolMember]:
    """The pool from spec strings and/or JSON files (in order); names must be unique."""
    members: list[PoolMember] = []
    for spec in specs:
        if spec.endswith(".json") and Path(spec).is_file():
            try:
                raw = json.loads(Path(spec).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise LampError(f"{spec}: cannot read the pool spec ({exc})") from None
            if not isinstance(raw, list):
                raise LampError(f"{spec}: a pool spec is a JSON list of {{name, ranker, options}}")
            for i, entry in enumerate(raw):
                if not isinstance(entry, dict) or "ranker" not in entry:
                    raise LampError(f"{spec}: entry {i} needs at least a 'ranker'")
                if entry["ranker"] not in retriever_names():
                    raise LampError(f"{spec}: entry {i}: unknown ranker {entry['ranker']!r} "
                                    f"(known: {', '.join(retriever_names())})")
                check_retriever_options(dict(entry.get("options") or {}), f"{spec}: entry {i}: options")
                members.append(_checked(PoolMember(str(entry.get("name") or entry["ranker"]), entry["ranker"],
                                                   dict(entry.get("options") or {})), f"{spec} entry {i}"))
        else:
            members.append(parse_member(spec))
    names = [m.name for m in members]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LampError(f"pool: names must be unique, repeated: {', '.join(dupes)} (use NAME=RANKER:ARG)")
    if not members:
        raise LampError("pool: no retrievers given")
    return members
