"""One dense index over every user's profile items, for cold-start users (an option).

Per-user ranking scores a few hundred items exactly (:mod:`retrievers.dense`). A user with one
to three items has little to rank; this index finds the nearest items of *other* users instead,
with faiss (an exact inner-product index, ``IndexFlatIP``, so scores are the same raw dot products
as the per-user ranking). Embeddings come through the same on-disk cache.

The result is not a ranking file (those must be permutations of the user's own profile): it is
``{question id: [(question id of the owner, item id, score), ...]}``, best first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lamp.records import Question
from lamp.tasks import Task, get_task
from retrievers.dense import Encoder


def neighbours_from_other_users(questions: Sequence[Question], task: str | Task, encoder: Encoder, k: int = 4, *,
                                only_profiles_below: int | None = None, use_date: bool = False,
                                ) -> dict[str, list[tuple[str, str, float]]]:
    """The ``k`` nearest items of other users' profiles for each question (all, or small profiles only).

    Items are "other users'" when they belong to another question whose ``user_id`` differs (or,
    without user ids, another question).
    """
    import faiss

    task = get_task(task)
    owners: list[tuple[str, str | None, str]] = []     # (question id, user id, item id)
    docs: list[str] = []
    seen: set[tuple[str | None, str]] = set()
    for q in questions:
        for item in q.profile:
            key = (q.user_id or q.id, item.id)
            if key in seen:                # the same user's item listed by several questions
                continue
            seen.add(key)
            owners.append((q.id, q.user_id or q.id, item.id))
            docs.append(task.document(item, use_date))
    targets = [q for q in questions if only_profiles_below is None or len(q.profile) < only_profiles_below]
    if not docs or not targets:
        return {q.id: [] for q in targets}
    queries = [task.query(q.input) for q in targets]
    vectors = encoder.embed(docs + queries)
    matrix = np.stack([vectors[d] for d in docs]).astype(np.float32)
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix)
    qmat = np.stack([vectors[t] for t in queries]).astype(np.float32)
    # Ask for enough hits to drop the user's own items and still keep k.
    own = {}
    for qid, user, _ in owners:
        own[user] = own.get(user, 0) + 1
    depth = min(len(docs), k + max(own.values()))
    scores, hits = index.search(qmat, depth)
    out: dict[str, list[tuple[str, str, float]]] = {}
    for q, row_s, row_i in zip(targets, scores, hits):
        user = q.user_id or q.id
        found = [(owners[i][0], owners[i][2], float(s)) for s, i in zip(row_s, row_i)
                 if i >= 0 and owners[i][1] != user]
        out[q.id] = found[:k]
    return out
