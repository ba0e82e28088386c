"""ROPG learns: on planted-rule data (``data/planted.py``), where only the feedback says which
profile item helps, KD and RL training move that item to the top on unseen questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny_models import make_word_encoder


@pytest.fixture(scope="module")
def word_encoder(planted_data, tmp_path_factory) -> Path:
    texts = []
    for split in ("train", "dev"):
        for q in json.loads((planted_data / "ropg" / f"{split}_questions.json").read_text()):
            texts += [q["input"]] + [item["description"] for item in q["profile"]]
    return make_word_encoder(tmp_path_factory.mktemp("word-bert"), texts)


def test_planted_feedback_marks_one_cued_item_per_question_and_the_file_order_hides_it(bench, planted_data):
    planted = bench.planted()
    questions = json.loads((planted_data / "ropg" / "dev_questions.json").read_text())
    useful = planted.useful_items(json.loads((planted_data / "ropg" / "dev_feedback.json").read_text()))
    assert set(useful) == {q["id"] for q in questions}
    for q in questions:
        cued = [item["id"] for item in q["profile"] if "lighthouse keeper" in item["description"]]
        assert cued == [useful[q["id"]]] and "lighthouse" not in q["input"]
    assert sum(q["profile"][0]["id"] == useful[q["id"]] for q in questions) / len(questions) <= 0.3
    again = planted.build(7, {"train": 60, "dev": 30})
    assert again["ropg/dev_questions.json"] == questions               # seeded: the same data again


@pytest.mark.parametrize("method, steps, lr", [("kd", 40, "3e-3"), ("rl", 60, "1e-2")])  # RL: one sampled item a question
def test_ropg_training_ranks_the_useful_item_first_on_unseen_questions(bench, planted_data, word_encoder,
                                                                      tmp_path, method, steps, lr):
    row = bench.ropg_row(method, planted_data, tmp_path, str(word_encoder), total_steps=steps,
                         per_gpu_batch_size=8, lr=lr, max_length_query=160, max_length_document=128)
    assert row.n >= 25
    assert row.before <= 0.3, row
    assert row.after >= 0.8, row
