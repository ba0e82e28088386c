"""The ``profile-baseline`` backend: non-LLM predictors that show what the profile alone is worth.

``variant="profile"`` reads the retrieved top-k items (so the retriever matters):

| rule (``Task.baseline``) | prediction | tasks |
|---|---|---|
| ``citation`` | the reference whose words overlap most with the top-k items' title + abstract | LaMP-1 |
| ``majority`` | the majority label (``task.target_field``) of the top-k items; ties: the better-ranked | LaMP-2 |
| ``mean`` | the rounded (half up) mean score of the top-k items | LaMP-3 |
| ``copy_top`` | the top item's target field (its headline / title / subject) | LaMP-4/5/6 |
| ``habits`` | the input tweet plus the words that recur in the top-k items (hashtags, catchphrases) | LaMP-7 |

``variant="blind"`` never looks at the profile: the global majority label or the rounded global
mean learnt by :meth:`ProfileBaselineBackend.fit` (before fitting: the first label, or the middle
of the rating scale), and for generation the first sentence of the input text. The profile
variant falls back to the blind answer when the selection is empty or says nothing usable.

The backend needs the selected items, not prompt strings: it sets ``uses_examples`` and the
driver (:func:`lamp.generation.driver.generate_all`) passes :class:`~lamp.generation.backends.base.Example` objects
to :meth:`predict_examples`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable

from lamp.generation.backends.base import Backend, Example, GenerationSettings
from lamp.core.errors import LampError
from lamp.core.tasks import Task, get_task, quoted

VARIANTS = ("profile", "blind")
#: ``Task.baseline`` -> the method of :class:`ProfileBaselineBackend` that predicts from the selected items.
RULES: dict[str, str] = {"majority": "_majority", "mean": "_mean", "copy_top": "_copy_top",
                         "citation": "_citation", "habits": "_with_habits"}
_WORD = re.compile(r"\w+")
#: Words too common to say anything about topical overlap.
_STOPWORDS = frozenset("a an and are as at be by for from in into is it its of on or that the this to with "
                       "we our via using based towards toward".split())


def words(text: str) -> set[str]:
    """Lower-cased content words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


class ProfileBaselineBackend(Backend):
    """Majority / mean / copy predictors over the retrieved profile items (or profile-blind)."""

    uses_examples = True
    is_llm = False
    batch_size = 4096

    def __init__(self, task: str | Task, variant: str = "profile", prior: str | None = None,
                 model: str | None = None) -> None:
        """``model`` is accepted and ignored, so callers can pass the same kwargs to every backend."""
        if variant not in VARIANTS:
            raise LampError(f"unknown profile-baseline variant {variant!r} (known: {', '.join(VARIANTS)})")
        self.task, self.variant, self.prior = get_task(task), variant, prior

    @property
    def identity(self) -> str:  # type: ignore[override]
        return f"profile-baseline:{self.task.name}:{self.variant}:prior={self.prior}"

    # ------------------------------------------------------------------ profile-blind

    def fit(self, outputs: Iterable[str]) -> "ProfileBaselineBackend":
        """Learn the global answer from known outputs (e.g. the training golds, or every profile
        item's target field): the most frequent label, or the rounded mean score."""
        values = [str(o).strip() for o in outputs]
        labels = self.task.labels or ()
        if self.task.family == "rating":
            scores = [float(v) for v in values if _is_number(v)]
            self.prior = str(round_half_up(sum(scores) / len(scores))) if scores else None
        elif self.task.family == "classification":
            counts = Counter(v for v in values if v in labels)
            self.prior = max(labels, key=lambda label: (counts[label], -labels.index(label))) if counts else None
        return self

    def blind(self, example: Example) -> str:
        if self.task.labels is None:                 # free text (LaMP-4…7, LongLaMP, LaMP-QA)
            return first_sentence(self.task.query(example.input))
        if self.prior is not None:
            return self.prior
        labels = self.task.labels or ("",)
        return labels[len(labels) // 2] if self.task.family == "rating" else labels[0]

    # ------------------------------------------------------------------ profile-aware

    def _majority(self, example: Example) -> str | None:
        labels = self.task.labels or ()
        ranked = [str(i.get(self.task.target_field)).strip() for i in example.items
                  if i.get(self.task.target_field) is not None]
        ranked = [v for v in ranked if v in labels]
        if not ranked:
            return None
        counts = Counter(ranked)
        return max(ranked, key=lambda v: (counts[v], -ranked.index(v)))

    def _mean(self, example: Example) -> str | None:
        scores = [float(v) for v in (str(i.get(self.task.target_field)) for i in example.items) if _is_number(v)]
        if not scores:
            return None
        labels = self.task.labels or ("1", "5")
        low, high = int(labels[0]), int(labels[-1])
        return str(min(max(round_half_up(sum(scores) / len(scores)), low), high))

    def _copy_top(self, example: Example) -> str | None:
        for item in example.items:
            value = item.get(self.task.target_field)
            if value:
                return str(value)
        return None

    def _citation(self, example: Example) -> str | None:
        parts = quoted(example.input)
        if len(parts) < 3 or not example.items:
            return None
        seen = set().union(*(words(self.task.document(i)) for i in example.items))
        overlap = []
        for ref in parts[1:3]:
            ref_words = words(ref)
            overlap.append(len(ref_words & seen) / len(ref_words) if ref_words else 0.0)
        return "[2]" if overlap[1] > overlap[0] else "[1]"

    def _with_habits(self, example: Example) -> str | None:
        """A paraphrase keeps the input's words; the user's habits are the words their items repeat."""
        tweet = self.task.query(example.input)
        have = words(tweet)
        counts = Counter(w for item in example.items for w in dict.fromkeys(str(item.get("text") or "").split()))
        extra = [w for w, c in counts.items() if c >= 2 and not words(w) <= have]
        return " ".join([tweet, *extra])

    def _rule(self) -> Callable[[Example], str | None]:
        """The profile-aware rule the task table names (``Task.baseline``)."""
        return getattr(self, RULES[self.task.baseline])

    # ------------------------------------------------------------------ Backend

    def predict_examples(self, examples: list[Example], settings: GenerationSettings) -> list[str]:
        if self.variant == "blind":
            return [self.blind(e) for e in examples]
        rule = self._rule()
        return [rule(e) or self.blind(e) for e in examples]

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        if self.variant != "blind":
            raise LampError("the profile baseline reads the selected items: pass Example objects "
                            "(lamp.generation.driver.build_examples) to lamp.generation.driver.generate_all")
        return self.predict_examples([Example(id=str(i), input=p) for i, p in enumerate(prompts)], settings)

    def choose(self, prompts: list[str], options: list[str], settings: GenerationSettings) -> list[str]:
        return self.generate(prompts, settings)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
