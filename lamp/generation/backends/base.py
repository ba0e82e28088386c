"""The backend interface and registry.

A backend turns prompts into outputs. ``identity`` names the model exactly (backend, model id or
weights hash, revision) and is part of every generation cache key, so one model's answers are never
served for another's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from lamp.core.errors import LampError
from lamp.core.registry import Registry
from lamp.core.records import ProfileItem


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


#: The official generation settings (lamp-reference §4/§5: beam search with 4 beams, no sampling, up to
#: 128 new tokens, a 256-token prompt budget), the defaults of :class:`GenerationSettings`. Every verb's
#: defaults for these flags read them from here.
OFFICIAL_GENERATION = GenerationSettings()


def answer_settings(max_new_tokens: int = OFFICIAL_GENERATION.max_new_tokens,
                    num_beams: int = OFFICIAL_GENERATION.num_beams,
                    max_length: int = OFFICIAL_GENERATION.max_input_length, seed: int = 0) -> GenerationSettings:
    """The official decoding with these lengths and beams, the answer line kept (``stop_at_newline``):
    what ``evaluate_llm.py``, ``lamp run``, train_llm's dev evaluation, ROPG/RSPG feedback and the
    adapters generate with, so their scores agree and they share the generation cache."""
    return dataclasses.replace(OFFICIAL_GENERATION, max_new_tokens=max_new_tokens, num_beams=num_beams,
                               max_input_length=max_length, seed=seed, stop_at_newline=True)


@dataclass(frozen=True)
class Example:
    """One question made ready for a model, built once (:func:`lamp.generation.driver.build_examples`) and
    used everywhere: generated through a backend (the prompt, or the items for a backend that reads
    them, ``uses_examples``) and, with its gold ``target``, tokenised for training (lamp.training.data)."""

    id: str
    input: str
    items: tuple[ProfileItem, ...] = ()
    prompt: str = ""
    #: The gold output (None: unlabelled, e.g. a test question); never part of a cache key.
    target: str | None = None

    def text(self) -> str:
        """The prompt (the raw input when none was built)."""
        return self.prompt or self.input


class Backend:
    """Base class: subclasses implement :meth:`generate` and, where they can, :meth:`choose`.

    A backend that needs the selected profile items rather than prompt strings sets
    ``uses_examples = True`` and implements :meth:`predict_examples`; the driver
    (:func:`lamp.generation.driver.generate_all`) then passes it :class:`Example` objects.
    """

    #: Exact model identity (backend name, model id or weights hash, revision).
    identity: str = ""
    #: The tokenizer used to budget prompts (None: count characters / 4 as a rough fallback).
    tokenizer: Any = None

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        """One output per prompt, in order."""
        raise NotImplementedError

    def choose(self, prompts: list[str], options: list[str], settings: GenerationSettings) -> list[str]:
        """For each prompt, the option the model finds most likely: the argmax of :meth:`score_options`
        (less the content-free prompt's scores when ``settings.calibration_prompt`` is set)."""
        if not options:
            raise LampError("choose() needs at least one option")
        rows = self.score_options(prompts, options, settings)
        prior = self.score_options([settings.calibration_prompt], options, settings)[0] \
            if settings.calibration_prompt else [0.0] * len(options)
        return [options[max(range(len(options)), key=lambda j: row[j] - prior[j])] for row in rows]

    def score_options(self, prompts: list[str], options: list[str], settings: GenerationSettings
                      ) -> list[list[float]]:
        """For each prompt, the summed log-probability of each option as the answer."""
        raise LampError(f"backend {type(self).__name__} cannot score options (log-likelihoods); "
                        f"use free generation")

    def loglikelihood(self, prompts: list[str], continuations: list[str], settings: GenerationSettings
                      ) -> list[tuple[float, int]]:
        """For each (prompt, continuation) pair, ``(log p(continuation | prompt), its token count)``:
        what ROPG's denser feedback and perplexities need. Pairs that share a continuation are
        scored together, so the default costs one :meth:`score_options` call per distinct continuation."""
        if len(prompts) != len(continuations):
            raise LampError(f"loglikelihood(): {len(prompts)} prompts for {len(continuations)} continuations")
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(continuations):
            groups.setdefault(text, []).append(i)
        out: list[tuple[float, int]] = [(0.0, 0)] * len(prompts)
        for text, rows in groups.items():
            scores = self.score_options([prompts[i] for i in rows], [text], settings)
            n = self.continuation_length(text)
            for i, row in zip(rows, scores):
                out[i] = (float(row[0]), n)
        return out

    def continuation_length(self, text: str) -> int:
        """How many tokens :meth:`score_options` sums over for ``text`` (perplexity's denominator)."""
        raise LampError(f"backend {type(self).__name__} cannot count continuation tokens")

    def format_prompt(self, prompt: str) -> str:
        """The text actually sent to the model (e.g. wrapped in a chat template)."""
        return prompt

    def cut_prompt(self, prompt: str, max_length: int) -> str:
        """The backend's final truncation of the user text to ``max_length`` (default: none)."""
        return prompt

    #: True: the driver calls :meth:`predict_examples` with :class:`Example` objects.
    uses_examples: bool = False
    #: True: ``model`` names weights (a folder, hub id or bundled name) loaded into this process,
    #: and ``batch_size`` says how many prompts run at once (the hf backends).
    loads_local_model: bool = False
    #: False: not a language model (the profile baselines), so not a backend to run or serve prompts on.
    is_llm: bool = True

    def predict_examples(self, examples: list[Example], settings: GenerationSettings) -> list[str]:
        """One output per example, for backends that read the profile items themselves."""
        raise LampError(f"backend {type(self).__name__} works on prompt strings, not examples")


def can_score_labels(backend: Backend) -> bool:
    """True when the backend implements label scoring (choose or score_options), not the base refusal:
    the one rule by which every verb decides whether ``label_choice`` can run."""
    kind = type(backend)
    return kind.choose is not Backend.choose or kind.score_options is not Backend.score_options


def first_line(text: str) -> str:
    """The answer line: leading blank lines skipped, everything after the next newline dropped."""
    return text.strip().split("\n", 1)[0].strip()


def finish_output(text: str, settings: GenerationSettings) -> str:
    """The clean-up every backend applies: stripped, and the first line only with ``stop_at_newline``
    (also for servers that ignore a stop sequence)."""
    return first_line(text) if settings.stop_at_newline else text.strip()


#: backend name -> its class, or a lazy "module:Class" imported only when used. The layers above
#: register their own (``uemb``: :mod:`lamp.methods.uemb`), loaded by :mod:`lamp.cli.registrations`.
BACKENDS: Registry[Callable[..., Backend]] = Registry("backend", {
    "hf-seq2seq": "lamp.generation.backends.hf:Seq2SeqBackend",
    "hf-causal": "lamp.generation.backends.hf:CausalBackend",
    "openai": "lamp.generation.backends.openai_api:OpenAIBackend",
    "profile-baseline": "lamp.generation.backends.baselines:ProfileBaselineBackend",
    "dummy": "lamp.generation.backends.dummy:DummyBackend",
}, elsewhere={"uemb": "the user-embedding method (lamp/methods/uemb)"})


def backend_class(name: str) -> Callable[..., Backend]:
    """The factory registered as ``name`` (its module imported now); its class attributes
    (``loads_local_model``, ``is_llm``…) describe it."""
    return BACKENDS.get(name)


def load_backend(name: str, **kwargs: Any) -> Backend:
    """Instantiate a backend by registry name."""
    return backend_class(name)(**kwargs)
