"""A small LaMP-3 data set where each user's rating is visible in their profile (the score of their
profile items), written in the official layout, and a word-level tokenizer (with tiny T5 and Llama
models) over exactly its vocabulary. Shared by the training, adapter, pipeline and CLI tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models import save_small_llama, save_small_t5, word_tokenizer

PREFIX = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
          "or 5 without further explanation. review: ")
WORDS = ["great", "kit", "broke", "fast", "lovely", "book", "okay", "meh", "cable", "lamp", "shoe", "pen"]


def lamp3_records(n_users: int = 6, items: int = 3, start: int = 0) -> tuple[list[dict], dict]:
    """Questions (one per user, ``user_id`` set) and outputs: user u always gives score 1 + u % 5."""
    questions, golds = [], []
    for u in range(start, start + n_users):
        score = str(1 + u % 5)
        profile = [{"id": f"{u}-{j}", "text": f"{WORDS[(u + j) % len(WORDS)]} {WORDS[(u * 3 + j) % len(WORDS)]}",
                    "score": score, "date": f"2020-01-{j + 1:02d}"} for j in range(items)]
        questions.append({"id": f"q{u}", "input": PREFIX + f"{WORDS[u % len(WORDS)]} {WORDS[(u + 5) % len(WORDS)]}",
                          "user_id": f"u{u}", "profile": profile})
        golds.append({"id": f"q{u}", "output": score})
    return questions, {"task": "LaMP_3", "golds": golds}


def write_split(root: Path, split: str, questions: list[dict], outputs: dict | None) -> Path:
    folder = root / "LaMP_3" / split
    folder.mkdir(parents=True, exist_ok=True)
    q = folder / f"{split}_questions.json"
    q.write_text(json.dumps(questions))
    if outputs is not None:
        (folder / f"{split}_outputs.json").write_text(json.dumps(outputs))
    return q


def corpus() -> list[str]:
    from lamp.core.tasks import get_task

    texts = [PREFIX, get_task("LaMP-3").prompt.item, "1 2 3 4 5 , and . \" is the score for"]
    texts += [" ".join(WORDS), get_task("LaMP-3").adapter_template]
    return texts


def tiny_tokenizer(chat: bool = False, seq2seq: bool = False):
    """A word-level fast tokenizer over the test vocabulary (``</s>`` appended for seq2seq)."""
    return word_tokenizer(corpus() + ['"great', 'kit"', '"broke', "\n"], chat=chat, eos_after=seq2seq)


def tiny_t5(folder: Path) -> Path:
    return save_small_t5(folder, tiny_tokenizer(seq2seq=True))


def tiny_llama(folder: Path, chat: bool = True) -> Path:
    return save_small_llama(folder, tiny_tokenizer(chat=chat))


def write(path: Path, obj) -> Path:
    """``obj`` as UTF-8 JSON at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path
