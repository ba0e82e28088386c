"""User embeddings carry the user: on planted-rule data (``data/planted.py``), where each user's
hidden category shows only in their profile items' vectors, an aggregator and a linear probe
trained on some users recover it for unseen users far above chance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny_models import make_word_encoder


@pytest.fixture(scope="module")
def word_encoder(planted_data, tmp_path_factory) -> Path:
    texts = [text for split in ("train", "dev")
             for q in json.loads((planted_data / "uemb" / f"{split}_questions.json").read_text())
             for text in [q["input"]] + [i["description"] for i in q["profile"]]]
    return make_word_encoder(tmp_path_factory.mktemp("word-bert"), texts)


def test_the_hidden_category_is_in_the_profile_texts_only(planted_data):
    for split in ("train", "dev"):
        questions = json.loads((planted_data / "uemb" / f"{split}_questions.json").read_text())
        golds = json.loads((planted_data / "uemb" / f"{split}_outputs.json").read_text())["golds"]
        attributes = json.loads((planted_data / "uemb" / f"{split}_attributes.json").read_text())
        assert len(set(attributes.values())) == 6 and len(questions) == (30 if split == "dev" else 60)
        by_category: dict[str, set[str]] = {}
        for q, g in zip(questions, golds):
            by_category.setdefault(attributes[q["user_id"]], set()).add(g["output"])
            tags = {item["tag"] for item in q["profile"]}
            assert len(tags) > 1 or len(q["profile"]) == 1           # item tags are noise, not the category
        assert all(len(outputs) == 1 for outputs in by_category.values())   # the gold is the category's tag
    users = [set(json.loads((planted_data / "uemb" / f"{s}_attributes.json").read_text())) for s in ("train", "dev")]
    assert not users[0] & users[1]                                 # dev users are unseen


@pytest.mark.parametrize("aggregator", ["mean", "attention"])
def test_an_aggregator_and_probe_recover_the_hidden_category_of_unseen_users(bench, planted_data, word_encoder,
                                                                            aggregator):
    row = bench.uemb_row(aggregator, planted_data, str(word_encoder))
    chance = 1 / 6
    assert row.n == 30
    assert row.before <= chance + 0.15, row
    assert row.after >= 0.8, row
