"""A loaded user-embedding model: the frozen LLM, the encoder and the conditioner, from entries
(input, prompt, the user's profile) to conditioned rows, predictions and perplexities.

:func:`load_personalizer` reads an artifact and refuses a base model or encoder whose identity
differs from the one it was trained with. :func:`entries_for` turns LaMP questions into entries
with the official prompt builder (the raw input, or the top-k retrieved items with
``use_retrieval``), the whole profile going to the user embedding.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL, GenerationSettings
from lamp.core.errors import LampError
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import Task, get_task
from lamp.methods.uemb.artifact import Artifact, read_artifact
from lamp.methods.uemb.features import ItemVectors, UserRow, label_attribute, style_vector
from lamp.methods.uemb.model import UserConditioner
from lamp.methods.uemb.runner import Runner
from lamp.generation.driver import build_examples
from lamp.generation.models import model_identity, resolve_model
from retrievers.dense import Encoder
from lamp.generation.models import load_model_and_tokenizer
from retrievers.ranking import rank_questions


@dataclass(frozen=True)
class Entry:
    """One input: its id, the raw input, the prompt the LLM reads, the user's whole profile."""

    id: str
    input: str
    prompt: str
    items: tuple[ProfileItem, ...]
    target: str | None = None
    user_id: str | None = None


class Personalizer:
    """Frozen LLM + encoder + (optional) conditioner for one task."""

    def __init__(self, model: Any, tokenizer: Any, task: str | Task, encoder: Any,
                 conditioner: UserConditioner | None = None, control_values: Sequence[str] = (),
                 centroids: np.ndarray | None = None, max_length: int = OFFICIAL.max_input_length,
                 batch_size: int = 8) -> None:
        self.task = get_task(task)
        self.encoder = encoder
        self.runner = Runner(model, tokenizer, self.task, conditioner, max_length, batch_size)
        self.vectors = ItemVectors(encoder, self.task)
        self.control_values, self.centroids = list(control_values), centroids
        self.fallbacks = Counter()          # why rows went to the base model: "empty profile", "no attribute"

    @property
    def tokenizer(self) -> Any:
        return self.runner.tokenizer

    def attribute(self, items: Sequence[ProfileItem], values: np.ndarray) -> int:
        """The control-token id of a profile (-1 when it has none)."""
        if self.centroids is not None:
            if not len(values):
                return -1
            return int(np.argmax(self.centroids @ style_vector(values)))
        label = label_attribute(self.task, items)
        return self.control_values.index(label) if label in self.control_values else -1

    def rows(self, entries: Sequence[Entry]) -> list[UserRow]:
        """Conditioned rows (item vectors through the encoder cache); counts the fallbacks."""
        vecs = self.vectors.rows([(e.input, e.prompt, e.items) for e in entries])
        out = []
        for e, (keys, values, query) in zip(entries, vecs):
            row = UserRow(e.id, e.prompt, e.target, e.user_id, keys, values, query)
            if self.control_values or self.centroids is not None:
                row.control = self.attribute(e.items, values)
            out.append(row)
        return out

    def count_fallbacks(self, rows: Sequence[UserRow]) -> int:
        n = 0
        for r in rows:
            if self.runner.conditioner is not None and not self.runner.uses(r):
                self.fallbacks["empty profile" if not r.has_user else "no attribute"] += 1
                n += 1
        return n

    def predict(self, entries: Sequence[Entry], settings: GenerationSettings, label_choice: bool) -> list[str]:
        """One answer per entry: label choice for tasks with labels (when asked), else generation."""
        rows = self.rows(entries)
        self.count_fallbacks(rows)
        if label_choice and self.task.labels:
            return self.runner.choose(rows, list(self.task.labels))
        return self.runner.generate(rows, settings)

    def nll(self, entries: Sequence[Entry]) -> list[tuple[float, int]]:
        """(summed NLL, tokens) of each entry's gold ``target``."""
        if any(e.target is None for e in entries):
            raise LampError("perplexity needs the gold output of every input")
        return self.runner.nll(self.rows(entries))


def user_perplexity(entries: Sequence[Entry], nll: Sequence[tuple[float, int]]) -> dict[str, float]:
    """Per user: exp(summed NLL / tokens) over the user's inputs (the question id when no user id)."""
    sums: dict[str, list[float]] = {}
    for e, (total, count) in zip(entries, nll):
        acc = sums.setdefault(e.user_id or e.id, [0.0, 0])
        acc[0] += total
        acc[1] += count
    return {u: math.exp(s / max(n, 1)) for u, (s, n) in sums.items()}


def entries_for(questions: Sequence[Question], task: str | Task, tokenizer: Any, max_length: int,
                golds: Mapping[str, str] | None = None, use_retrieval: bool = False, k: int = 2,
                retriever: str = "bm25", ranking: Mapping[str, Sequence[str]] | None = None) -> list[Entry]:
    """Entries with the official prompts (the raw input, or the top-``k`` retrieved items)."""
    task = get_task(task)
    if use_retrieval and ranking is None:
        with_profile = [q for q in questions if q.profile]
        ranking = {q.id: [] for q in questions if not q.profile}
        if with_profile:
            ranking.update(rank_questions(with_profile, task.name, retriever, progress=False))
    examples = build_examples(task, questions, k if use_retrieval else 0, max_length, tokenizer,
                              ranking if use_retrieval else None)
    return [Entry(q.id, q.input, ex.prompt, tuple(q.profile), (golds or {}).get(q.id), q.user_id)
            for q, ex in zip(questions, examples)]


def resolve_base(name: str) -> tuple[str, str]:
    """(folder or hub id to load, exact identity) of a base model name."""
    path = resolve_model(name)
    return path, model_identity(path)


def load_personalizer(folder: str, base_model: str | None = None, encoder: str | None = None,
                      model_and_tokenizer: tuple[Any, Any, str] | None = None, batch_size: int = 8,
                      device: str | None = None) -> tuple[Personalizer, Artifact]:
    """Load an artifact with its base model and encoder, refusing any identity mismatch.

    ``model_and_tokenizer``: an already loaded ``(model, tokenizer, identity)`` (tests, or a
    caller that holds the model); otherwise ``base_model`` (default: the artifact's reference).
    """
    art = read_artifact(folder)
    enc = Encoder(encoder or art.encoder, device=device)
    if model_and_tokenizer is not None:
        model, tokenizer, identity = model_and_tokenizer
    else:
        path, identity = resolve_base(base_model or art.base_model)
        art.check(identity, enc.identity)
        model, tokenizer = load_model_and_tokenizer(path)
        if device:
            model.to(device)
    art.check(identity, enc.identity)
    personalizer = Personalizer(model, tokenizer, art.task, enc, art.conditioner(), art.control_values,
                                art.centroids, int(art.settings.get("max_length", OFFICIAL.max_input_length)),
                                batch_size)
    return personalizer, art
