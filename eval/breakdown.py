"""Scores per user and per profile-size bucket, so cold-start users show apart from rich profiles.

A sample's bucket is the size of *its own* profile (the user's history at that question). Each
group's metrics are recomputed from the per-sample statistics, so macro-F1 and RMSE of a group are
the real corpus metrics of that group, not averages of per-sample values.

Example::

    scored = score_paths("golds.json", "preds.json")[0]
    b = breakdown(scored.stats, "LaMP_3/dev/dev_questions.json")
    print(format_breakdown(b))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamp.core.errors import LampError
from lamp.core.questions import iter_questions
from lamp.core.sources import Source
from lamp.core.tasks import get_task

from eval.metrics import SampleStats, id_mismatch_message

#: (name, smallest, largest profile size; None = no upper bound).
PROFILE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("cold-start (1-3)", 1, 3),
    ("small (4-10)", 4, 10),
    ("medium (11-50)", 11, 50),
    ("rich (51+)", 51, None),
)


@dataclass
class GroupScore:
    n_samples: int
    n_users: int
    metrics: dict[str, float]


@dataclass
class Breakdown:
    task: str
    by_bucket: dict[str, GroupScore]
    by_user: dict[str, GroupScore] = field(default_factory=dict)
    users_missing: int = 0          # questions without user_id

    def to_json(self) -> dict[str, Any]:
        def group(g: GroupScore) -> dict[str, Any]:
            return {"samples": g.n_samples, "users": g.n_users, **g.metrics}
        return {"task": self.task, "by_profile_size": {k: group(v) for k, v in self.by_bucket.items()},
                "by_user": {k: group(v) for k, v in self.by_user.items()},
                "questions_without_user_id": self.users_missing}


def question_facts(questions: str | os.PathLike | Source, task: str | None = None) -> dict[str, tuple[str | None, int]]:
    """question id -> (user_id, profile size), streamed so big files need little memory."""
    return {q.id: (q.user_id, len(q.profile)) for q in iter_questions(questions, task=task)}


def bucket_of(size: int, buckets=PROFILE_BUCKETS) -> str | None:
    for name, lo, hi in buckets:
        if size >= lo and (hi is None or size <= hi):
            return name
    return None


def breakdown(stats: SampleStats, questions: str | os.PathLike | Source | dict[str, tuple[str | None, int]],
              buckets=PROFILE_BUCKETS) -> Breakdown:
    """Metrics per profile-size bucket and per user for the scored samples in ``stats``."""
    facts = questions if isinstance(questions, dict) else question_facts(questions, stats.task.name)
    missing = [i for i in stats.ids if i not in facts]
    if missing:
        raise LampError(id_mismatch_message(stats.ids, [i for i in stats.ids if i in facts], stats.task.file_name,
                                            "the golds", "the questions file") or "ids differ")
    users = np.array([facts[i][0] or "" for i in stats.ids], dtype=object)
    sizes = np.array([facts[i][1] for i in stats.ids])
    by_bucket: dict[str, GroupScore] = {}
    for name, lo, hi in buckets:
        rows = np.flatnonzero((sizes >= lo) & (sizes <= (hi if hi is not None else np.inf)))
        if len(rows):
            by_bucket[name] = GroupScore(len(rows), len({u for u in users[rows] if u}), stats.metrics(rows))
    by_user: dict[str, GroupScore] = {}
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(order)]):
        user = sorted_users[start]
        if user:
            by_user[user] = GroupScore(int(end - start), 1, stats.metrics(order[start:end]))
    return Breakdown(stats.task.name, by_bucket, by_user, int(sum(1 for u in users if not u)))


def format_breakdown(b: Breakdown) -> str:
    """The bucket table plus a one-line summary of the per-user spread."""
    keys = get_task(b.task).metrics
    name = get_task(b.task).file_name
    rows = [("profile size", "samples", "users", *keys)]
    for bucket, g in b.by_bucket.items():
        rows.append((bucket, str(g.n_samples), str(g.n_users), *(f"{g.metrics[k]:.4f}" for k in keys)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{name}: by profile size"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if b.by_user:
        k = keys[0]
        values = np.array([g.metrics[k] for g in b.by_user.values()])
        lines.append(f"{name}: {len(b.by_user)} users; per-user {k}: mean {values.mean():.4f}, "
                     f"min {values.min():.4f}, median {np.median(values):.4f}, max {values.max():.4f}")
    if b.users_missing:
        lines.append(f"{name}: {b.users_missing} questions have no user_id (no per-user scores for them)")
    return "\n".join(lines)

