"""``dummy``: a model-free backend for tests and dry runs of the whole path (prompts, caching,
feedback, training) in milliseconds.

It is deterministic and reads its prompt, so retrieval changes its answers, which a constant
backend could not show:

* the "model" is a unigram language model of the prompt itself: each whitespace word of a
  continuation has probability ``(count in prompt + 1) / (prompt words + VOCABULARY)``;
* ``score_options`` sums those log-probabilities, so label choice picks the option whose words the
  prompt mentions most (ties: the first option);
* ``generate`` answers with the first double-quoted segment of the prompt (the first retrieved
  item's text in most LaMP templates), or the prompt's first eight words when there is none.

Its tokenizer counts whitespace words, so prompt budgets are in words.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from lamp.generation.backends.base import Backend, GenerationSettings, finish_output

#: The smoothing vocabulary size of the unigram model.
VOCABULARY = 1000
_QUOTED = re.compile(r'"([^"]+)"')


class WordCounter:
    """A :class:`lamp.generation.prompts.TokenCounter` that counts whitespace-separated words."""

    def count(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_length: int) -> tuple[int, str] | None:
        if max_length < 0:
            return None
        words = text.split()[:max_length]
        return len(words), " ".join(words)


class DummyBackend(Backend):
    """See the module docstring."""

    identity = "dummy:unigram-v1"

    def __init__(self, batch_size: int = 8, **_: object) -> None:
        self.batch_size = batch_size
        self.tokenizer = WordCounter()
        self.calls = 0          # backend calls, so tests can see what the cache saved

    def cut_prompt(self, prompt: str, max_length: int) -> str:
        """A prompt budget counted in words, as the dummy's tokenizer counts."""
        return " ".join(prompt.split()[:max_length]) if max_length > 0 else prompt

    def _cut(self, prompt: str, settings: GenerationSettings) -> str:
        return self.cut_prompt(prompt, settings.max_input_length)

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        self.calls += 1
        out = []
        for prompt in prompts:
            text = self._cut(prompt, settings)
            found = _QUOTED.search(text)
            answer = found.group(1) if found else " ".join(text.split()[:8])
            out.append(finish_output(" ".join(answer.split()[: settings.max_new_tokens]), settings))
        return out

    def score_options(self, prompts: list[str], options: list[str], settings: GenerationSettings
                      ) -> list[list[float]]:
        self.calls += 1
        rows = []
        for prompt in prompts:
            words = self._cut(prompt, settings).split()
            counts, total = Counter(words), len(words) + VOCABULARY
            rows.append([sum(math.log((counts[w] + 1) / total) for w in option.split()) for option in options])
        return rows

    def continuation_length(self, text: str) -> int:
        return len(text.split())
