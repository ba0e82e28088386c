"""Questions + ranking + outputs -> one sorted dataset (``lamp merge``, ``merge_with_rank.py``).

Each record is ``{id, input, profile (ranked), output}`` (reference §2.3); the profile keeps only
the ids the ranking lists, in its order; without a ranking it keeps file order. Fixes to the
official script: outputs are read from ``golds`` (issue #14), and a question with no output is
an error naming it (``--allow_missing_outputs`` writes ``"output": null`` instead) rather than
silently receiving the previous question's output. Without an outputs file (a test split) the
records have no ``output`` key.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from lamp.core.errors import LampDataError
from lamp.core.records import Question


def merge_with_rank(questions: Sequence[Question], outputs: Mapping[str, str] | None = None,
                    ranking: Mapping[str, Sequence[str]] | None = None, *, allow_missing_outputs: bool = False,
                    ranking_file: str | None = None, outputs_file: str | None = None) -> list[dict[str, Any]]:
    """The sorted dataset: each question with its profile in ranked order and its output."""
    merged = []
    for q in questions:
        profile = q.profile
        if ranking is not None:
            ids = ranking.get(q.id)
            if ids is None:
                raise LampDataError("the ranking has no entry for this question", file=ranking_file,
                                    record_id=q.id)
            by_id = {item.id: item for item in q.profile}
            unknown = [i for i in ids if i not in by_id]
            if unknown:
                raise LampDataError(f"the ranking names profile ids that are not in this question's profile: "
                                    f"{', '.join(map(repr, unknown[:5]))}", file=ranking_file, record_id=q.id)
            if len(set(ids)) != len(ids):
                raise LampDataError("the ranking lists a profile id twice", file=ranking_file, record_id=q.id)
            profile = [by_id[i] for i in ids]
        record = q.to_json()
        record["profile"] = [item.to_json() for item in profile]
        if outputs is not None:
            if q.id not in outputs and not allow_missing_outputs:
                raise LampDataError("no output for this question", file=outputs_file, record_id=q.id, field="output")
            record["output"] = outputs.get(q.id)
        merged.append(record)
    return merged
