"""What the conditioner reads about a user: item vectors from the dense encoder, and the discrete
attribute of the control-token variant.

Item texts (never logged): the *key* is the task's document text (what a retriever matches the
query against), the *value* the item's answer field (tag, score, title, subject, tweet; the
document for tasks without one). The input's *query* is the task's retrieval query. All three go
through :class:`retrievers.dense.Encoder` and its on-disk cache, then are L2-normalised.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from lamp.core.errors import LampError
from lamp.core.records import ProfileItem
from lamp.core.tasks import Task


@dataclass
class UserRow:
    """One input with everything a conditioned forward needs; ``items`` empty = fallback row."""

    id: str
    prompt: str
    target: str | None = None
    user_id: str | None = None
    keys: np.ndarray | None = None          # (N, E)
    values: np.ndarray | None = None        # (N, E)
    query: np.ndarray | None = None         # (E,)
    control: int = -1                       # attribute id; -1: unknown (fallback for 'control')
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_user(self) -> bool:
        return self.keys is not None and len(self.keys) > 0


def key_text(task: Task, item: ProfileItem) -> str:
    return task.document(item)


def value_text(task: Task, item: ProfileItem) -> str:
    value = item.get(task.target_field) if task.target_field else None
    return str(value) if value not in (None, "") else task.document(item)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


class ItemVectors:
    """Key/value/query vectors through the encoder's cache (each distinct text encoded once)."""

    def __init__(self, encoder: Any, task: Task) -> None:
        self.encoder, self.task = encoder, task
        self._owner, self._local = threading.get_ident(), threading.local()

    def _encoder(self) -> Any:
        """The encoder, or in another thread (a server's worker) a twin with its own cache
        connection (an SQLite connection belongs to the thread that opened it)."""
        if threading.get_ident() == self._owner or getattr(self.encoder, "cache", None) is None:
            return self.encoder
        twin = getattr(self._local, "encoder", None)
        if twin is None:
            e = self.encoder
            twin = self._local.encoder = type(e)(e.checkpoint, e.batch_size, e.device, e.cache.folder,
                                                 revision=e.revision)
            if twin.identity != e.identity:
                raise LampError(f"encoder {e.checkpoint!r} changed on disk while in use")
        return twin

    def embed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self._encoder().embed(list(texts)) if texts else {}

    def rows(self, entries: Sequence[tuple[str, str, Sequence[ProfileItem]]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """For each ``(input, prompt, items)``: (keys, values, query), one encoder pass for all."""
        texts: list[str] = []
        for text, _, items in entries:
            texts.append(self.task.query(text))
            for item in items:
                texts += [key_text(self.task, item), value_text(self.task, item)]
        vec = self.embed(texts)
        out = []
        for text, _, items in entries:
            query = _normalise(np.asarray(vec[self.task.query(text)])[None])[0]
            if items:
                keys = _normalise(np.stack([vec[key_text(self.task, i)] for i in items]))
                values = _normalise(np.stack([vec[value_text(self.task, i)] for i in items]))
            else:
                keys = values = np.zeros((0, query.shape[0]), np.float32)
            out.append((keys, values, query))
        return out


# --------------------------------------------------------------------------- control attributes

def label_attribute(task: Task, items: Sequence[ProfileItem]) -> str | None:
    """The user's most frequent label among their items (rating: the rounded mean score)."""
    if not task.labels or not task.target_field:
        return None
    raw = [str(i.get(task.target_field)).strip() for i in items if i.get(task.target_field) not in (None, "")]
    if task.family == "rating":
        scores = []
        for v in raw:
            try:
                scores.append(float(v))
            except ValueError:
                pass
        if not scores:
            return None
        mean = int(np.floor(np.mean(scores) + 0.5))
        return str(min(max(mean, int(task.labels[0])), int(task.labels[-1])))
    counts = Counter(v for v in raw if v in task.labels)
    if not counts:
        return None
    return max(task.labels, key=lambda label: (counts[label], -task.labels.index(label)))


def kmeans(points: np.ndarray, k: int, seed: int = 0, rounds: int = 50) -> np.ndarray:
    """Centroids of k-means (k-means++ start, seeded) over L2-normalised points."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(points)))
    centroids = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        dist = np.min([((points - c) ** 2).sum(-1) for c in centroids], axis=0)
        total = dist.sum()
        centroids.append(points[rng.choice(len(points), p=dist / total)] if total > 0 else points[rng.integers(len(points))])
    c = np.stack(centroids)
    for _ in range(rounds):
        assign = np.argmax(points @ c.T, axis=1)
        new = np.stack([points[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(k)])
        new = _normalise(new)
        if np.allclose(new, c):
            break
        c = new
    return c.astype(np.float32)


def style_vector(values: np.ndarray) -> np.ndarray:
    """A user's style point: the normalised mean of their items' value vectors."""
    return _normalise(values.mean(0, keepdims=True))[0]
