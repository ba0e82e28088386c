"""The LaMP-QA judge (:mod:`eval.judge`) run on a backend: batched, cached and resumable like
generation, because every attempt goes through :func:`lamp.generation.driver.generate_all` and the
one :class:`~lamp.generation.cache.GenerationCache`.

The cache key holds the judge's identity, :class:`JudgeBackend`'s: the backend's own identity (its
model, weights, revision) plus ``judge:<prompt version>:<prompt hash>``; so is the decoding
(greedy: temperature 0, one beam) and the prompt text, re-asks included. The same identity names
the judge in the score file and the manifest (:attr:`eval.judge.JudgeResult.judge`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from lamp.core.errors import LampError
from lamp.core.records import Question
from lamp.generation.backends.base import Backend, GenerationSettings
from lamp.generation.cache import GenerationCache
from lamp.generation.driver import generate_all

from eval.judge import PROMPT_HASH, PROMPT_VERSION, JudgeResult, JudgeSettings, judge, judge_identity


class JudgeBackend(Backend):
    """A backend as the judge: the same model, its identity extended by the judge's prompt version
    and hash, so the cache keeps judge answers apart from the model's other generations."""

    def __init__(self, inner: Backend) -> None:
        if not inner.identity:
            raise LampError(f"backend {type(inner).__name__} has no identity, so it cannot judge "
                            "(its answers could be neither cached nor named)")
        self.inner = inner
        self.identity = f"{inner.identity}|judge:{PROMPT_VERSION}:{PROMPT_HASH}"
        self.tokenizer = inner.tokenizer
        self.batch_size = getattr(inner, "batch_size", None)

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        return self.inner.generate(prompts, settings)

    def format_prompt(self, prompt: str) -> str:
        return self.inner.format_prompt(prompt)


def generation_settings(settings: JudgeSettings) -> GenerationSettings:
    """Greedy decoding (temperature 0, one beam), the whole answer kept (its JSON may span lines)."""
    return GenerationSettings(max_new_tokens=settings.max_new_tokens, num_beams=1, do_sample=False,
                              temperature=0.0, max_input_length=settings.max_input_length, stop_at_newline=False)


def judge_with(backend: Backend, questions: Sequence[Question], responses: Mapping[str, str],
               settings: JudgeSettings = JudgeSettings(), cache: GenerationCache | None = None,
               progress: bool = False) -> JudgeResult:
    """:func:`eval.judge.judge` with ``backend`` as the judge model, every attempt batched and cached."""
    judged = JudgeBackend(backend)
    gen = generation_settings(settings)

    def ask(prompts: list[str], attempt: int) -> list[str]:
        return generate_all(judged, prompts, gen, cache, progress=progress, batch_size=settings.batch_size,
                            desc=f"judge (attempt {attempt + 1})")

    return judge(questions, responses, ask, settings, judge_identity(judged.identity, settings, generation=gen.key()))
