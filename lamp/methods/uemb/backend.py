"""The ``uemb`` backend: a frozen LLM conditioned on a user-embedding artifact, for ``lamp run``,
``evaluate_llm.py`` and ``lamp serve``.

``model`` (or ``artifact``) is the artifact folder of ``lamp uemb train``; the base model and the
encoder come from the artifact's reference and are checked by identity (``base_model`` /
``encoder`` point elsewhere, e.g. on another machine, and are checked the same way).

The user embedding is made from a whole profile. The backend reads examples
(``uses_examples``): by default each :class:`~lamp.generation.backends.base.Example`'s items are the profile
(``lamp serve`` passes the user's stored profile, so the embedding follows every profile change);
with ``profiles`` (a questions file or data folder of the artifact's task) the profile of each
question id comes from that file instead, so a ``lamp run`` whose prompts hold only the top-k
retrieved items (or none) still embeds the whole profile. The prompt is the example's prompt:
the raw input, or a retrieval-augmented prompt (user embedding + RAG).

The ``profiles`` file is read through ``transform`` as the run's own loaders read its questions
(:func:`lamp.core.questions.load_questions`): ``lamp run --scrub`` hands the scrubber
(:func:`lamp.privacy.scrub.scrub_transform`) to both, so no PII of that file reaches the embedding.

Classification and rating answers are the most likely label (``label_choice``, default on for
tasks with labels, as the demo runs them); other tasks generate with the given settings.

Example::

    lamp run --backend uemb --model runs/uemb/LaMP_2/attention --tasks LaMP-2 --retrievers none bm25 \\
        --no-baselines --backend_options '{"profiles": "data/demo/LaMP_2/dev/dev_questions.json"}'
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from lamp.generation.backends.base import Backend, Example, GenerationSettings
from lamp.core.errors import LampError
from lamp.core.questions import QuestionTransform
from lamp.core.records import ProfileItem
from lamp.methods.uemb.artifact import CONFIG, WEIGHTS, is_artifact
from lamp.methods.uemb.personalizer import Entry, load_personalizer
from lamp.core.questions import load_questions


def _sha(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class UembBackend(Backend):
    """Frozen LLM + user conditioner; reads the profile from each example (or ``profiles``)."""

    uses_examples = True

    def __init__(self, model: str | None = None, artifact: str | None = None, base_model: str | None = None,
                 encoder: str | None = None, profiles: str | None = None, split: str | None = None,
                 label_choice: bool | None = None, batch_size: int = 8, device: str | None = None,
                 transform: QuestionTransform | None = None, **_: Any) -> None:
        if transform is not None and not callable(transform):
            raise LampError(f"backend uemb: transform is how the run's --scrub reaches the profiles file, not an "
                            f"option to set (got {transform!r}); pass --scrub")
        folder = artifact or model
        if not folder or not is_artifact(folder):
            raise LampError(f"backend uemb: {folder!r} is not a user-embedding artifact folder "
                            "(pass --model FOLDER made by 'lamp uemb train')")
        self.personalizer, self.artifact = load_personalizer(str(folder), base_model, encoder,
                                                             batch_size=batch_size, device=device)
        self.tokenizer = self.personalizer.tokenizer
        self.batch_size = batch_size
        self._warned = False
        task = self.personalizer.task
        self.label_choice = bool(task.labels) if label_choice is None else bool(label_choice)
        self.profiles: dict[str, tuple[ProfileItem, ...]] | None = None
        source = "examples"
        if profiles:
            self.profiles = {q.id: tuple(q.profile)
                             for q in load_questions(profiles, split=split, task=task.name, transform=transform)}
            self.profiles_source = str(profiles)
            source = hashlib.sha256(repr(sorted((k, [i.to_json() for i in v]) for k, v in self.profiles.items()))
                                    .encode()).hexdigest()[:16]
        art = self.artifact
        self.identity = (f"uemb:{_sha([Path(folder) / WEIGHTS, Path(folder) / CONFIG])}:{art.base_identity}:"
                         f"encoder={hashlib.sha256(art.encoder_identity.encode()).hexdigest()[:12]}:"
                         f"label_choice={self.label_choice}:profiles={source}")

    @property
    def fallbacks(self) -> int:
        """Inputs answered by the base model because their user had no usable profile."""
        return sum(self.personalizer.fallbacks.values())

    def _profile(self, example: Example) -> tuple[ProfileItem, ...]:
        if self.profiles is None:
            return example.items
        if example.id not in self.profiles:
            raise LampError(f"{self.profiles_source}: no question id {example.id!r} (the profiles file must hold "
                            f"the questions being answered, of task {self.personalizer.task.name})")
        return self.profiles[example.id]

    def predict_examples(self, examples: list[Example], settings: GenerationSettings) -> list[str]:
        entries = [Entry(e.id, e.input, e.text(), self._profile(e)) for e in examples]
        if self.profiles is None and entries and not any(e.items for e in entries) and not self._warned:
            self._warned = True
            print("warning: uemb: these examples carry no profile items, so the base model answers them; pass "
                  "the questions file as the 'profiles' backend option to embed each user's whole profile",
                  file=sys.stderr)
        return self.personalizer.predict(entries, settings, self.label_choice)

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        raise LampError("the uemb backend conditions on a user's profile: pass Example objects with the profile "
                        "(lamp.generation.driver.build_examples) to lamp.generation.driver.generate_all")
