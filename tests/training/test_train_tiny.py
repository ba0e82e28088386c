"""Tiny real models for the training tests: a word-level tokenizer trained on the test texts, a
1-layer T5 and a 1-layer Llama built from configs, saved as ordinary Hugging Face folders.

Also a small LaMP-3 data set where each user's rating is visible in their profile (the score of
their profile items), written in the official layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny_models import save_small_llama, save_small_t5, word_tokenizer

ROOT_PATH = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def lamp3_data(tmp_path: Path) -> dict[str, Path]:
    train_q, train_o = lamp3_records(8)
    dev_q, dev_o = lamp3_records(4, start=8)
    test_q, _ = lamp3_records(3, start=12)
    return {"train": write_split(tmp_path / "data", "train", train_q, train_o),
            "dev": write_split(tmp_path / "data", "dev", dev_q, dev_o),
            "test": write_split(tmp_path / "data", "test", test_q, None)}


def test_tiny_tokenizer_round_trips_the_task_words_and_appends_eos_for_seq2seq():
    tok = tiny_tokenizer(seq2seq=True)
    ids = tok("great kit")["input_ids"]
    assert ids[-1] == tok.eos_token_id and tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == "great kit"


def test_tiny_chat_template_wraps_the_user_turn():
    tok = tiny_tokenizer(chat=True)
    text = tok.apply_chat_template([{"role": "user", "content": "great kit"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "<user> great kit <bot> "
