"""Personalized prompts with the official token budget (reference §3).

The per-task templates are data (``Task.prompt``, a :class:`lamp.core.tasks.PromptSpec`); this module
implements the one budgeting algorithm they share, counted with the LLM's own tokenizer so that
prompts match the published setup, oddities included (LaMP-1's items go right after the first
"title"; LaMP-5's reserved wrapper lacks "for"; LaMP-7 reserves "by user" but writes "by a person",
after two spaces: the item's trailing space and the phrase's leading one).

Budget (reference §3.2), with ``L`` the maximum input length and ``tok`` the tokenizer's id count
(special tokens included: T5 appends ``</s>``, Llama-family tokenizers do not):

* outer loop: ``factor = 0.6``; profile budget ``P = L - min(tok(input), int(factor * L))``;
  on failure ``factor -= 0.1`` (float arithmetic, so 0.30000000000000004 … 2.8e-17) and retry;
  after the 7th failure (factor < 0) the raw input is returned;
* inner builder: ``per = (P - 1 - 2(k-1) - E) // k`` (LaMP-1 omits the ``-1``; ``E`` is the
  token count of the task's budget phrase), a carry ``saved`` of unused tokens, and each item's
  long field truncated from the right to ``per + saved - need`` tokens.

The official builder fails by raising (the tokenizer's ``OverflowError`` on a negative truncation
length, a ``ZeroDivisionError`` on an empty selection) and the outer loop catches everything. Here
the tokenizer is called exactly as the official code calls it and whatever it raises drives the
retry (reference §3.2, corrected): a length of exactly 0 does not raise with Llama-family fast
tokenizers, which return no ids, so the item is written with an empty field (``… for "" …``), as
in the official prompts; a T5-style tokenizer given 0 returns the whole text, which overdraws the
carry so that a later item fails. An empty selection returns the raw input at once (the official
code reaches the same result after seven failed tries). A profile item lacking a field the template needs raises
:class:`~lamp.core.errors.LampDataError` (the official bare ``except`` silently fell back to the
raw input).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any, Protocol

from lamp.core.errors import LampDataError
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import PromptSpec, Task, get_task

#: Items are joined with this; the budget reserves 2 tokens per joiner, as officially.
JOINER = ", and "
#: The input's maximum share of the budget, and the step of the retry loop.
START_FACTOR = 0.6
FACTOR_STEP = 0.1


class TokenCounter(Protocol):
    """What the budget needs from a tokenizer."""

    def count(self, text: str) -> int:
        """Number of ids for ``text``, special tokens included."""

    def truncate(self, text: str, max_length: int) -> tuple[int, str] | None:
        """``(number of ids, decoded text)`` after right-truncation to ``max_length`` ids (special
        tokens included, decoded without them); None when ``max_length`` cannot be honoured."""


class HFTokenCounter:
    """A Hugging Face tokenizer, used exactly as the official code calls it."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        n = self._counts.get(text)
        if n is None:
            n = len(self.tokenizer(text)["input_ids"])
            if len(text) < 200:  # template wrappers and phrases repeat; long fields do not
                self._counts[text] = n
        return n

    def truncate(self, text: str, max_length: int) -> tuple[int, str] | None:
        try:  # the official bare ``except``: what the tokenizer refuses (a negative length) is a failure
            ids = self.tokenizer(text, max_length=max_length, truncation=True)["input_ids"]
        except Exception:  # noqa: BLE001 - any tokenizer error means "does not fit", as officially
            return None
        return len(ids), self.tokenizer.decode(ids, skip_special_tokens=True)


class CharCounter:
    """A rough stand-in when no tokenizer is known (e.g. a remote API): 4 characters a token."""

    chars_per_token = 4

    def count(self, text: str) -> int:
        return -(-len(text) // self.chars_per_token)

    def truncate(self, text: str, max_length: int) -> tuple[int, str] | None:
        if max_length < 0:  # like a fast tokenizer: only a negative length fails
            return None
        cut = text[: max_length * self.chars_per_token]
        return self.count(cut), cut


def as_counter(tokenizer: Any) -> TokenCounter:
    """Wrap a HF tokenizer (or None: characters / 4) as a :class:`TokenCounter`."""
    if tokenizer is None:
        return CharCounter()
    if hasattr(tokenizer, "count") and hasattr(tokenizer, "truncate"):
        return tokenizer
    return HFTokenCounter(tokenizer)


def retry_factors() -> list[float]:
    """The input shares the official loop tries, float rounding included:
    0.6, 0.5, 0.4, 0.30000000000000004, 0.20000000000000004, 0.10000000000000003, 2.7755575615628914e-17."""
    factors, factor = [], START_FACTOR
    while factor >= 0:
        factors.append(factor)
        factor -= FACTOR_STEP
    return factors


def select_items(question: Question, k: int, ranking: Sequence[str] | None = None) -> list[ProfileItem]:
    """The top ``k`` profile items of ``question`` (k larger than the profile: all of it).

    ``ranking`` (its profile ids, best first) gives the order; None keeps the stored order (a
    profile already ranked, as in the merged file of ``lamp merge``). An id the profile does not
    hold is an error naming the question and the id: a ranking made for other data would
    otherwise silently give other prompts (the official ``merge_with_rank`` fails on it too).
    """
    if ranking is None:
        return list(question.profile[: max(k, 0)])
    by_id = {p.id: p for p in question.profile}
    unknown = [i for i in ranking if i not in by_id]
    if unknown:
        raise LampDataError(f"the ranking names profile ids that question {question.id!r} does not have: "
                            f"{', '.join(map(repr, unknown[:5]))}"
                            + (f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""),
                            record_id=question.id, field="ranking")
    return [by_id[i] for i in ranking[: max(k, 0)]]


def _field_names(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name and name != "long"]


def _value(item: ProfileItem, name: str, task: Task) -> str:
    value = item.get(name)
    if value is None:
        raise LampDataError(f"{task.name} prompts need {name!r} on every profile item",
                            record_id=item.id, field=name)
    return str(value)


def _items_part(spec: PromptSpec, task: Task, items: Sequence[ProfileItem], budget: int,
                counter: TokenCounter) -> list[str] | None:
    """The official inner builder: each item's text within the budget, or None on failure."""
    k = len(items)
    reserved = counter.count(spec.budget_phrase) if spec.budget_phrase else 0
    per = (budget - (1 if spec.minus_one else 0) - 2 * (k - 1) - reserved) // k
    saved = 0
    parts = []
    for item in items:
        short = {name: _value(item, name, task) for name in _field_names(spec.item)}
        need = spec.need_constant if spec.wrapper is None else counter.count(spec.wrapper.format(**short))
        cut = counter.truncate(_value(item, spec.long_field, task), per + saved - need)
        if cut is None:
            return None
        used, text = cut
        saved += per - used - need
        parts.append(spec.item.format(long=text, **short))
    return parts


def _whole_items(spec: PromptSpec, task: Task, items: Sequence[ProfileItem]) -> list[str]:
    """The unbudgeted builders (LongLaMP, LaMP-QA): each item written whole, its long field cut to
    its first ``spec.max_words`` words when set (``' '.join(text.split()[:750])``, as officially)."""
    parts = []
    for item in items:
        short = {name: _value(item, name, task) for name in _field_names(spec.item)}
        text = _value(item, spec.long_field, task)
        if spec.max_words:
            text = " ".join(text.split()[: spec.max_words])
        parts.append(spec.item.format(long=text, **short))
    return parts


def _assemble(spec: PromptSpec, input_text: str, parts: list[str]) -> str:
    joined = spec.joiner.join(parts)
    if spec.assemble == "frame":
        return spec.frame.format(profile=joined, question=input_text)
    if spec.assemble == "after_title":
        at = input_text.find("title")
        if at < 0:  # official: no "title" in the input, no profile
            return input_text
        at += len("title")
        return input_text[:at] + spec.glue + joined + input_text[at:]
    return joined + spec.glue + input_text


def build_prompt(task: str | Task, input_text: str, items: Sequence[ProfileItem], max_length: int,
                 tokenizer: Any) -> str:
    """The personalized prompt for ``input_text`` with the selected (top-k) ``items``.

    ``tokenizer`` is the LLM's own HF tokenizer (or a :class:`TokenCounter`, or None for a
    characters/4 estimate). No items: the raw input, as officially (or the task's ``no_profile``
    frame). An unbudgeted task (``PromptSpec.budgeted`` False) writes its items whole.
    """
    task = get_task(task)
    spec = task.prompt
    if not items:
        return spec.no_profile.format(question=input_text) if spec.no_profile else input_text
    if not spec.budgeted:
        return _assemble(spec, input_text, _whole_items(spec, task, items))
    counter = as_counter(tokenizer)
    input_len = counter.count(input_text)
    for factor in retry_factors():
        budget = max_length - min(input_len, int(factor * max_length))
        parts = _items_part(spec, task, items, budget, counter)
        if parts is not None:
            return _assemble(spec, input_text, parts)
    return input_text



def cut_to_tokens(tokenizer: Any, text: str, max_length: int) -> str:
    """``text`` cut to its first ``max_length`` tokens (no special tokens counted; 0 or less: no
    limit): the official final truncation of a source, applied to a decoder's user text so that
    a chat template around it is never cut. Training and every backend use this one rule."""
    if max_length <= 0:
        return text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_length:
        return text
    return tokenizer.decode(ids[:max_length], skip_special_tokens=True)


def chat_prompt(tokenizer: Any, prompt: str) -> str:
    """The text a decoder model reads: ``prompt`` as the user turn of the tokenizer's chat template
    with the generation prompt, or ``prompt`` itself when the tokenizer has no template."""
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
