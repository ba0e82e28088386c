"""The generation driver: batched, length-sorted, cached and resumable.

:func:`generate_all` sends prompts to a backend in batches (longest first, so a batch pads
little), stores each finished batch in the :class:`~lamp.generation.cache.GenerationCache` in one
commit, and skips whatever the cache already holds. Batches are cut from the full, sorted list
of distinct prompts, the same way on every run, so a run killed at any point and rerun gives
byte-identical predictions and redoes nothing that finished.

Backends that read profile items (``Backend.uses_examples``, e.g. ``profile-baseline``) get
:class:`~lamp.generation.backends.base.Example` objects through ``predict_examples``; every other backend
gets the prompt strings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any

from tqdm.auto import tqdm

from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL
from lamp.generation.backends.base import Backend, Example, GenerationSettings, answer_settings
from lamp.core.errors import LampDataError, LampError
from lamp.generation.cache import GenerationCache, cache_key
from lamp.generation.prompts import as_counter, build_prompt, select_items
from lamp.core.records import Question
from lamp.core.settings import setting
from lamp.core.tasks import Task, get_task

#: generate: free text; choose: the likeliest option; scores: every option's log-probability (JSON list);
#: loglikelihood: entries are (prompt, continuation) pairs, output ``[log p, token count]`` (JSON).
MODES = ("generate", "choose", "scores", "loglikelihood")
Entry = str | Example | tuple[str, str]


@dataclass
class MethodSettings:
    """What changes a method's prompts and answers besides its ranking: the same fields, meaning and
    defaults in ``lamp run`` and in RSPG's feedback, so both share the generation cache."""

    k: int = setting(1, "profile items put in each personalized prompt")
    max_length: int = setting(OFFICIAL.max_input_length,
                              f"prompt token budget (official default {OFFICIAL.max_input_length})")
    max_new_tokens: int = setting(OFFICIAL.max_new_tokens, "most tokens generated per answer")
    num_beams: int = setting(OFFICIAL.num_beams, f"beam search width (official default {OFFICIAL.num_beams}; "
                                                 "the openai backend decodes greedily)")
    batch_size: int = setting(8, "prompts per generation batch")
    label_choice: bool = setting(False, "classification/rating tasks: the most likely label instead of free "
                                        "generation")
    use_date: bool = setting(False, "rankers see each item's date too")
    seed: int = setting(0, "random seed (random ranker, sampling)")

    def settings(self) -> GenerationSettings:
        """Beam search (no sampling), the prompt cut at ``max_length`` tokens, the answer line kept."""
        return answer_settings(self.max_new_tokens, self.num_beams, self.max_length, self.seed)


def task_settings(task: str | Task, settings: GenerationSettings,
                  default_budget: int = OFFICIAL.max_new_tokens) -> GenerationSettings:
    """``settings`` for ``task``'s answers: a long-form task (``Task.answer_line`` False) keeps every
    line, and its own budget (``Task.max_new_tokens``) replaces ``max_new_tokens`` while that is
    left at ``default_budget`` (a value the user set wins)."""
    task = get_task(task)
    changes: dict[str, Any] = {}
    if not task.answer_line:
        changes["stop_at_newline"] = False
    if task.max_new_tokens is not None and settings.max_new_tokens == default_budget:
        changes["max_new_tokens"] = task.max_new_tokens
    return dataclasses.replace(settings, **changes) if changes else settings


def build_examples(task: str | Task, questions: Sequence[Question], k: int, max_length: int, tokenizer: object,
                   ranking: Mapping[str, Sequence[str]] | None = None,
                   golds: Mapping[str, str] | None = None) -> list[Example]:
    """One :class:`Example` per question, the one way a question becomes a model input: its top-``k``
    items (by ``ranking``, a question id -> ranked profile ids map, or the stored profile order;
    see :func:`lamp.generation.prompts.select_items`), the budgeted prompt (k=0: the raw input) and, from
    ``golds``, its target (None where ``golds`` has none)."""
    task = get_task(task)
    counter = as_counter(tokenizer)
    golds = golds or {}
    examples = []
    for q in questions:
        if ranking is not None and q.id not in ranking:
            raise LampDataError("the ranking has no entry for this question", record_id=q.id, field="ranking")
        items = select_items(q, k, None if ranking is None else ranking[q.id])
        prompt = build_prompt(task, q.input, items, max_length, counter)
        examples.append(Example(id=q.id, input=q.input, items=tuple(items), prompt=prompt,
                                target=golds.get(q.id)))
    return examples


def _cache_text(entry: Entry, uses_examples: bool) -> str:
    """What identifies one input in the cache key: the prompt, or for an example-reading backend
    everything it reads (a (prompt, continuation) pair: both)."""
    if isinstance(entry, tuple):
        return json.dumps(list(entry), ensure_ascii=False)
    if isinstance(entry, str):
        if uses_examples:
            raise LampError("this backend reads profile items: pass Example objects, not prompt strings")
        return entry
    if not uses_examples:
        return entry.text()
    return json.dumps({"input": entry.input, "prompt": entry.prompt,
                       "items": [i.to_json() for i in entry.items]}, sort_keys=True, ensure_ascii=False)


def _call(backend: Backend, entries: list[Entry], settings: GenerationSettings, mode: str,
          options: Sequence[str] | None) -> list[str]:
    if mode == "loglikelihood":
        if not all(isinstance(e, tuple) and len(e) == 2 for e in entries):
            raise LampError("mode 'loglikelihood' takes (prompt, continuation) pairs")
        pairs = backend.loglikelihood([e[0] for e in entries], [e[1] for e in entries], settings)  # type: ignore[index]
        return [json.dumps([logp, n]) for logp, n in pairs]
    if backend.uses_examples:
        return backend.predict_examples(list(entries), settings)  # type: ignore[arg-type]
    prompts = [e if isinstance(e, str) else e.text() for e in entries]
    if mode == "choose":
        return backend.choose(prompts, list(options or ()), settings)
    if mode == "scores":
        return [json.dumps(row) for row in backend.score_options(prompts, list(options or ()), settings)]
    return backend.generate(prompts, settings)


def generate_all(backend: Backend, prompts: Sequence[Entry], settings: GenerationSettings,
                 cache: GenerationCache | None = None, mode: str = "generate",
                 options: Sequence[str] | None = None, progress: bool = True,
                 batch_size: int | None = None, desc: str | None = None) -> list[str]:
    """One output per prompt, in order; cached prompts are not sent again.

    ``mode="choose"`` picks one of ``options`` per prompt by the model's likelihood
    (:meth:`Backend.choose`); the other modes are in :data:`MODES`; :func:`loglikelihood_all` and
    :func:`option_scores_all` parse their outputs. ``batch_size`` defaults to the backend's own (8 otherwise).
    """
    if mode not in MODES:
        raise LampError(f"unknown generation mode {mode!r} (known: {', '.join(MODES)})")
    if mode in ("choose", "scores") and not options:
        raise LampError(f"mode {mode!r} needs the options (the task's labels)")
    if cache is not None and not backend.identity:
        raise LampError(f"backend {type(backend).__name__} has no identity, so its answers cannot be cached")
    texts = [_cache_text(p, backend.uses_examples) for p in prompts]
    settings_key = settings.key()
    opts = list(options) if mode in ("choose", "scores") else None
    keys = [cache_key(backend.identity or type(backend).__name__, t, settings_key, mode, opts) for t in texts]

    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    # Longest first; ties by position. Fixed for a given prompt list, cached or not.
    order = sorted(first, key=lambda key: (-len(texts[first[key]]), first[key]))
    size = batch_size or getattr(backend, "batch_size", None) or 8
    batches = [order[s:s + size] for s in range(0, len(order), size)]

    done: dict[str, str] = cache.get_many(order) if cache is not None else {}
    bar = tqdm(total=len(order), initial=sum(k in done for k in order), disable=not progress,
               desc=desc or f"{mode} ({type(backend).__name__})", unit="prompt", dynamic_ncols=True)
    try:
        for batch in batches:
            todo = [key for key in batch if key not in done]
            if not todo:
                continue
            entries = [prompts[first[key]] for key in todo]
            try:
                outputs = _call(backend, entries, settings, mode, opts)
            except LampError as err:  # keep whatever did arrive (e.g. the openai backend's partial outputs)
                partial = getattr(err, "outputs", None)
                if cache is not None and partial is not None and len(partial) == len(todo):
                    _store(cache, backend, mode, [(k, texts[first[k]], o) for k, o in zip(todo, partial)
                                                  if o is not None])
                raise
            if len(outputs) != len(todo):
                raise LampError(f"backend {type(backend).__name__} returned {len(outputs)} outputs "
                                f"for {len(todo)} prompts")
            done.update(zip(todo, outputs))
            if cache is not None:
                _store(cache, backend, mode, [(k, texts[first[k]], o) for k, o in zip(todo, outputs)])
            bar.update(len(todo))
    finally:
        bar.close()
    return [done[key] for key in keys]


def _store(cache: GenerationCache, backend: Backend, mode: str, rows: list[tuple[str, str, str]]) -> None:
    identity = backend.identity or type(backend).__name__
    cache.put_many((key, identity, mode, text, output) for key, text, output in rows)


def loglikelihood_all(backend: Backend, prompts: Sequence[str], continuations: Sequence[str],
                      settings: GenerationSettings, cache: GenerationCache | None = None, **kwargs: Any
                      ) -> list[tuple[float, int]]:
    """``(log p(continuation | prompt), token count)`` per pair, batched, cached and resumable."""
    out = generate_all(backend, list(zip(prompts, continuations)), settings, cache, mode="loglikelihood", **kwargs)
    return [(float(logp), int(n)) for logp, n in map(json.loads, out)]


def option_scores_all(backend: Backend, prompts: Sequence[str], options: Sequence[str],
                      settings: GenerationSettings, cache: GenerationCache | None = None, **kwargs: Any
                      ) -> list[list[float]]:
    """Every option's log-probability per prompt (label choice is its argmax), batched and cached."""
    return [json.loads(row) for row in generate_all(backend, prompts, settings, cache, mode="scores",
                                                    options=options, **kwargs)]
