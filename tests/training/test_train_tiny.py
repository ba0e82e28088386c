"""Tiny real models for the training tests: a word-level tokenizer trained on the test texts, a
1-layer T5 and a 1-layer Llama built from configs, saved as ordinary Hugging Face folders.

Also a small LaMP-3 data set where each user's rating is visible in their profile (the score of
their profile items), written in the official layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny_lamp3 import tiny_tokenizer

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
