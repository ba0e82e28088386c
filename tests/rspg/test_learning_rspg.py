"""RSPG learns: on planted-rule data (``data/planted.py``), where only the winning retriever's prompt
carries a cue, Pre and Post selectors pick the winner far more often than the best single
retriever, and the pick follows the retriever's text, not its place in the pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny_models import make_word_encoder

SELECTOR = {"epochs": 15, "lr": 1e-2, "per_gpu_batch_size": 8, "max_length_input": 256}


@pytest.fixture(scope="module")
def word_encoder(planted_data, tmp_path_factory) -> Path:
    texts = [t for split in ("train", "dev") for r in json.loads((planted_data / "rspg" / f"{split}.json").read_text())
             for t in r["inputs"] + r["outputs"]]
    return make_word_encoder(tmp_path_factory.mktemp("word-bert"), texts)


@pytest.fixture(scope="module")
def trained(bench, planted_data, word_encoder, tmp_path_factory) -> tuple[Path, dict]:
    """Pre and Post selectors trained on the planted train split: (their folder, their rows)."""
    work = tmp_path_factory.mktemp("selectors")
    rows = {kind: bench.rspg_row(kind, planted_data, work, str(word_encoder), **SELECTOR) for kind in ("Pre", "Post")}
    return work, rows


def test_planted_pool_has_one_winner_per_question_whose_prompt_alone_carries_the_cue(bench, planted_data):
    for split in ("train", "dev"):
        records = json.loads((planted_data / "rspg" / f"{split}.json").read_text())
        assert len(records) >= 25
        for r in records:
            assert sorted(r["labels"]) == [0.0, 0.0, 1.0]
            cued = [i for i, prompt in enumerate(r["inputs"]) if "lighthouse keeper" in prompt]
            assert cued == [r["labels"].index(1.0)] and r["outputs"][cued[0]] == r["gold"]
        assert len(set(bench.winners(records))) == 3               # every retriever wins somewhere


@pytest.mark.parametrize("kind", ["Pre", "Post"])
def test_selector_picks_the_winning_retriever_far_more_often_than_the_best_single_one(trained, kind):
    row = trained[1][kind]
    assert row.n >= 25 and row.before <= 0.6, row
    assert row.after >= 0.8 and row.after >= row.before + 0.3, row


def test_the_pick_follows_the_retriever_not_its_place_in_the_pool(bench, planted_data, trained):
    dev = json.loads((planted_data / "rspg" / "dev.json").read_text())
    model = trained[0] / "Pre"
    picks = bench.picked_names(model, dev)
    assert len(set(picks)) >= 2                                  # not one fixed retriever (or position)
    for order in ([2, 1, 0], [1, 2, 0]):
        assert bench.picked_names(model, bench.permuted(dev, order)) == picks


@pytest.mark.slow
def test_a_frozen_bundled_minilm_with_a_trained_head_picks_the_winner_on_unseen_questions(bench, planted_data,
                                                                                          tmp_path):
    row = bench.rspg_row("Pre", planted_data, tmp_path, None, epochs=10, lr=1e-2, freeze_encoder=True,
                         per_gpu_batch_size=8, max_length_input=512)
    assert row.after >= 0.8 and row.after >= row.before + 0.3, row
