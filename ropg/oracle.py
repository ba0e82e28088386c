"""The ``oracle`` ranker: profile items ordered by their measured feedback (``lamp ropg score``).

It needs the gold output (through the feedback), so it is no method: it is the upper bound of what
ROPG can learn from that feedback, and the check that the feedback carries a signal at all. Items
without feedback (beyond ``--profile_size`` when scoring) follow the scored ones in their given
order; ties keep the given (initial ranking's) order.

    lamp rank --ranker oracle --feedback_scores scores.json --feedback_metric accuracy ...
"""

from __future__ import annotations

from typing import Any, Sequence

from eval.metrics import get_metric
from lamp.core.errors import LampDataError, LampError
from lamp.core.tasks import TASKS
from retrievers.base import Option, Query, Retriever, register
from ropg.feedback import read_scores


def primary_keys() -> list[str]:
    """Every task's primary metric in the spellings feedback files use (training key first: ``mae``)."""
    metrics = [get_metric(t.primary_metric) for t in TASKS.values()]
    return list(dict.fromkeys(key for m in metrics for key in (m.training_key, m.name)))


@register("oracle", [Option("feedback_scores", help="the per-item feedback of 'lamp ropg score' (items ranked by it)"),
                     Option("feedback_metric", help="the feedback key to rank by (default accuracy, mae or rouge-1)")])
class OracleRetriever(Retriever):
    """Rank by feedback: higher metric first (lower first for errors and loss)."""

    name = "oracle"

    def __init__(self, feedback_scores: str | None = None, feedback_metric: str | None = None,
                 scores: dict[str, dict[str, float]] | None = None, **_: Any) -> None:
        if scores is None:
            if not feedback_scores:
                raise LampError("the 'oracle' ranker needs --feedback_scores FILE (from 'lamp ropg score')")
            scores = read_scores(feedback_scores)
        self.source = feedback_scores or "<in memory>"
        self.scores = scores
        self.metric = feedback_metric

    def _metric(self, record: dict[str, float], key: str) -> str:
        if self.metric is None:
            for name in primary_keys():
                if name in record:
                    self.metric = name
                    return name
            raise LampDataError(f"pass --feedback_metric (this record has {', '.join(sorted(record))})",
                                file=self.source, record_id=key)
        if self.metric not in record:
            raise LampDataError(f"no metric {self.metric!r} in this record (it has {', '.join(sorted(record))})",
                                file=self.source, record_id=key)
        return self.metric

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        from lamp.training.losses import higher_is_better   # here: lamp.training.losses imports torch, ranking needs none

        out = []
        for q in queries:
            keyed = []
            for index, item in enumerate(q.profile):
                key = f"{q.id}-{item.id}"
                record = self.scores.get(key)
                if record is None:
                    keyed.append((1, 0.0, index))
                    continue
                metric = self._metric(record, key)
                value = float(record[metric])
                keyed.append((0, -value if higher_is_better(metric) else value, index))
            if all(k[0] for k in keyed):
                raise LampDataError("the feedback has no item of this question (scored on other data?)",
                                    file=self.source, record_id=q.id)
            out.append([index for *_, index in sorted(keyed)])
        return out

    def identity(self) -> dict[str, Any]:
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(self.scores, sort_keys=True).encode()).hexdigest()[:16]
        return {"ranker": self.name, "feedback": digest, "metric": self.metric}
