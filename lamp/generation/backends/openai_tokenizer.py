"""The ``openai`` backend's local tokenizer: what budgets prompts and builds scored ones.

A server's tokenizer is not reachable through the OpenAI API, so the backend loads the served
model's own tokenizer here (:func:`load_tokenizer`), or counts four characters a token with
``"chars/4"`` (:data:`CHARS_PER_4`), or, given none, refuses to budget personalized prompts
(:class:`NoBudget`) rather than sending them uncut. :func:`probe_text` is the text the backend
compares with a server's own ``/tokenize``.
"""

from __future__ import annotations

import os
from typing import Any

from lamp.core.errors import LampError
from lamp.generation.models import resolve_model
from lamp.generation.prompts import CharCounter

#: The ``tokenizer`` value that asks for the rough four-characters-a-token budget.
CHARS_PER_4 = "chars/4"
#: The text whose tokens are compared with the server's ``/tokenize`` (plus a spread of the vocabulary).
TOKENIZER_PROBE = "Check 1: the tokenizer of LaMP's personalized prompts, e.g. 42 items; naïve café."


def is_tokenizer(tok: Any) -> bool:
    """A real tokenizer (not the characters/4 count or the no-budget stand-in)."""
    return callable(tok) and hasattr(tok, "decode")


def probe_text(tok: Any) -> str:
    """The tokenizer check's text: a fixed sentence and words spread over the local vocabulary, so
    a server whose tokenizer has other words or ids tokenizes it differently."""
    special = set(getattr(tok, "all_special_ids", ()) or ())
    pieces = (tok.decode([i]) for i in range(0, len(tok), max(1, len(tok) // 240)) if i not in special)
    words = [p for p in pieces if p.strip() and p.isprintable() and "\ufffd" not in p]   # no control bytes
    return TOKENIZER_PROBE + " " + "".join(words[::max(1, len(words) // 48)][:48])


class NoBudget:
    """The budget of a backend given no tokenizer: any prompt with profile items is an error."""

    def count(self, text: str) -> int:
        raise LampError("the openai backend has no tokenizer to budget personalized prompts with: pass "
                        "tokenizer=<the served model's tokenizer folder or hub id, or the bundled model's name> "
                        f"(--backend_options '{{\"tokenizer\": ...}}', --tokenizer), or tokenizer={CHARS_PER_4!r} "
                        "to count four characters a token (recorded in the run manifest)")

    def truncate(self, text: str, max_length: int) -> tuple[int, str] | None:
        self.count(text)
        return None


def load_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer object as given, loaded from a folder / hub id / the bundled model's name, the
    characters/4 counter for ``"chars/4"``, or :class:`NoBudget` for None."""
    if tokenizer is None:
        return NoBudget()
    if tokenizer == CHARS_PER_4:
        return CharCounter()
    if not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve_model(str(tokenizer)))
    except (OSError, ValueError, LampError) as exc:
        raise LampError(f"cannot load the tokenizer {str(tokenizer)!r} for prompt budgeting: {exc}") from None

