"""The backend interface and registry.

A backend turns prompts into outputs. ``identity`` names the model exactly (backend, model id or
weights hash, revision) and is part of every generation cache key, so one model's answers are never
served for another's.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from lamp.errors import LampError
from lamp.records import ProfileItem


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that changes what a backend generates (part of the cache key)."""

    max_new_tokens: int = 128
    num_beams: int = 4
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    max_input_length: int = 256
    stop_at_newline: bool = False
    #: Label choice only: a content-free prompt whose label scores are subtracted from every
    #: prompt's (contextual calibration, Zhao et al. 2021), so a small model's prior for one
    #: label does not decide every answer. Empty: plain likelihood.
    calibration_prompt: str = ""

    def key(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Example:
    """One input as the generation driver sees it: what a backend that reads profile items
    (``uses_examples``, e.g. the profile baselines) needs beside the prompt string."""

    id: str
    input: str
    items: tuple[ProfileItem, ...] = ()
    prompt: str = ""

    def text(self) -> str:
        """The prompt (the raw input when none was built)."""
        return self.prompt or self.input


class Backend:
    """Base class: subclasses implement :meth:`generate` and, where they can, :meth:`choose`.

    A backend that needs the selected profile items rather than prompt strings sets
    ``uses_examples = True`` and implements :meth:`predict_examples`; the driver
    (:func:`lamp.generation.generate_all`) then passes it :class:`Example` objects.
    """

    #: Exact model identity (backend name, model id or weights hash, revision).
    identity: str = ""
    #: The tokenizer used to budget prompts (None: count characters / 4 as a rough fallback).
    tokenizer: Any = None

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        """One output per prompt, in order."""
        raise NotImplementedError

    def choose(self, prompts: list[str], options: list[str], settings: GenerationSettings) -> list[str]:
        """For each prompt, the option the model finds most likely (multiple-choice scoring)."""
        raise LampError(f"backend {type(self).__name__} cannot score options; use free generation")

    def format_prompt(self, prompt: str) -> str:
        """The text actually sent to the model (e.g. wrapped in a chat template)."""
        return prompt

    #: True: the driver calls :meth:`predict_examples` with :class:`Example` objects.
    uses_examples: bool = False

    def predict_examples(self, examples: list[Example], settings: GenerationSettings) -> list[str]:
        """One output per example, for backends that read the profile items themselves."""
        raise LampError(f"backend {type(self).__name__} works on prompt strings, not examples")


def first_line(text: str) -> str:
    """The answer line: leading blank lines skipped, everything after the next newline dropped."""
    return text.strip().split("\n", 1)[0].strip()


def finish_output(text: str, settings: GenerationSettings) -> str:
    """The clean-up every backend applies: stripped, and the first line only with ``stop_at_newline``
    (also for servers that ignore a stop sequence)."""
    return first_line(text) if settings.stop_at_newline else text.strip()


#: backend name -> "module:Class", imported only when used.
BACKENDS: dict[str, str] = {
    "hf-seq2seq": "lamp.backends.hf:Seq2SeqBackend",
    "hf-causal": "lamp.backends.hf:CausalBackend",
    "openai": "lamp.backends.openai_api:OpenAIBackend",
    "profile-baseline": "lamp.backends.baselines:ProfileBaselineBackend",
}


def register_backend(name: str, target: str) -> None:
    """Add a backend: ``target`` is ``"module:Class"``."""
    BACKENDS[name] = target


def load_backend(name: str, **kwargs: Any) -> Backend:
    """Instantiate a backend by registry name, with a did-you-mean error for unknown names."""
    if name not in BACKENDS:
        close = difflib.get_close_matches(name, list(BACKENDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise LampError(f"unknown backend {name!r}{hint} (known: {', '.join(BACKENDS)})")
    module, cls = BACKENDS[name].split(":")
    factory: Callable[..., Backend] = getattr(importlib.import_module(module), cls)
    return factory(**kwargs)
