"""Per-user LoRA adapters (lamp/methods/adapters.py) on a tiny real Llama and T5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_lamp3 import PREFIX, lamp3_records, tiny_llama, tiny_t5

from lamp.methods.adapters import (COMPLETE_MARKER, TWEET_SHARE, AdapterSettings, adapter_path, group_users,
                           predict_with_adapters, shard_users, train_user_adapters, user_training_pairs)
from lamp.cli.main import main as lamp_main
from lamp.training.lora import lora_targets
from lamp.core.errors import LampError
from lamp.core.questions import load_questions
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import get_task

FAST = AdapterSettings(epochs=2, learning_rate=5e-2, batch_size=2, max_length=64)


@pytest.fixture
def users(tmp_path: Path) -> Path:
    questions, _ = lamp3_records(3)
    path = tmp_path / "dev_questions.json"
    path.write_text(json.dumps(questions))
    return path


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("llama") / "m")


def test_pairs_follow_the_task_templates_and_target_fields():
    item = ProfileItem(id="1", title="Deep nets", abstract="We study nets.", text="body", score="4",
                       description="A ship in space", tag="sci-fi")
    assert user_training_pairs("LaMP-1", [item], "u") == [("Write an abstract for this title: Deep nets",
                                                            "We study nets.")]
    assert user_training_pairs("LaMP-3", [item], "u") == [(get_task("LaMP-3").adapter_template.format(text="body"),
                                                            "4")]
    (src, tgt), = user_training_pairs("LaMP-2", [item], "u")
    assert src.endswith("description: A ship in space") and tgt == "sci-fi"
    assert user_training_pairs("LaMP-5", [item], "u") == [
        ("Generate a title for the following abstract of a paper: We study nets.", "Deep nets")]
    assert user_training_pairs("LaMP-3", [ProfileItem(id="2", text="no score")], "u") == []


def test_tweet_pairs_split_at_a_seeded_share_of_the_words():
    words = [f"w{i}" for i in range(40)]
    items = [ProfileItem(id=str(i), text=" ".join(words)) for i in range(20)]
    pairs = user_training_pairs("LaMP-7", items, "alice", seed=1)
    assert pairs == user_training_pairs("LaMP-7", items, "alice", seed=1)      # same user, same split
    assert pairs != user_training_pairs("LaMP-7", items, "bob", seed=1)        # seeded per user
    for src, tgt in pairs:
        head = src.removeprefix("Complete the following tweet: ").split()
        assert head + tgt.split() == words
        assert int(40 * TWEET_SHARE[0]) <= len(head) <= int(40 * TWEET_SHARE[1])
    assert user_training_pairs("LaMP-7", [ProfileItem(id="x", text="single")], "u") == []


def test_shards_are_disjoint_deterministic_and_cover_every_user():
    ids = [f"u{i}" for i in range(10)]
    shards = [shard_users(reversed(ids), 3, s) for s in range(3)]
    assert sorted(sum(shards, [])) == sorted(ids) and shards[0] == ["u0", "u3", "u6", "u9"]
    with pytest.raises(LampError, match="shard_id"):
        shard_users(ids, 2, 2)


def test_lora_targets_by_architecture():
    from transformers import LlamaConfig, T5Config

    assert lora_targets(T5Config()) == ["q", "k", "v"]
    assert lora_targets(LlamaConfig()) == ["q_proj", "k_proj", "v_proj"]
    with pytest.raises(LampError, match="LORA_TARGETS"):
        lora_targets(type("C", (), {"model_type": "mystery"})())


def test_users_group_by_user_id_else_question_id():
    a = Question("1", "x", [ProfileItem(id="i1")], user_id="u")
    b = Question("2", "y", [ProfileItem(id="i1"), ProfileItem(id="i2")], user_id="u")
    c = Question("3", "z", [ProfileItem(id="i3")])
    groups = group_users([a, b, c])
    assert [p.id for p in groups["u"][0]] == ["i1", "i2"] and groups["3"][1] == [c]


def test_each_user_trains_only_on_their_own_items(tmp_path, users, llama):
    """Official PEFT reuses the model across users (leak); B after A must equal B alone."""
    questions = load_questions(users, task="LaMP-3")
    train_user_adapters(questions, "LaMP-3", str(llama), tmp_path / "ab", FAST, user_ids=["u0", "u1"],
                        progress=False)
    train_user_adapters(questions, "LaMP-3", str(llama), tmp_path / "b", FAST, user_ids=["u1"], progress=False)
    after_a = load_file(adapter_path(tmp_path / "ab", "u1") / "adapter_model.safetensors")
    alone = load_file(adapter_path(tmp_path / "b", "u1") / "adapter_model.safetensors")
    assert after_a.keys() == alone.keys() and all(torch.equal(after_a[k], alone[k]) for k in alone)
    other = load_file(adapter_path(tmp_path / "ab", "u0") / "adapter_model.safetensors")
    assert any(not torch.equal(other[k], alone[k]) for k in alone)
    assert any(k.endswith("lora_B.weight") and after_a[k].abs().sum() > 0 for k in after_a)  # it trained


def test_finished_users_are_skipped_and_unfinished_ones_retrained(tmp_path, users, llama):
    questions = load_questions(users, task="LaMP-3")
    store = tmp_path / "store"
    first = train_user_adapters(questions, "LaMP-3", str(llama), store, FAST, num_shards=2, shard_id=0,
                                progress=False)
    assert first == {"users": 2, "skipped": 0, "trained": 2, "no_pairs": 0}           # u0, u2
    assert (adapter_path(store, "u0") / COMPLETE_MARKER).is_file() and not adapter_path(store, "u1").exists()
    (adapter_path(store, "u2") / COMPLETE_MARKER).unlink()                               # interrupted user
    again = train_user_adapters(questions, "LaMP-3", str(llama), store, FAST, progress=False)
    assert again == {"users": 3, "skipped": 1, "trained": 2, "no_pairs": 0}
    marker = json.loads((adapter_path(store, "u1") / COMPLETE_MARKER).read_text())
    assert marker["user_id"] == "u1" and marker["pairs"] == 3


def _generate(model, tok, prompt: str, **gen) -> str:
    """One prompt through the backend driver, as ``lamp run`` generates it."""
    from lamp.generation.backends.base import GenerationSettings
    from lamp.generation.backends.hf import wrap_model
    from lamp.generation.driver import generate_all

    settings = GenerationSettings(max_new_tokens=gen["max_new_tokens"], num_beams=gen["num_beams"],
                                  max_input_length=512, stop_at_newline=True)
    return generate_all(wrap_model(model, tok, "reference"), [prompt], settings, progress=False)[0]


def test_inference_swaps_adapters_over_one_base_and_falls_back_to_the_base(tmp_path, users, llama, monkeypatch):
    from peft import PeftModel

    import lamp.methods.adapters as adapters_mod
    from lamp.generation.models import load_model_and_tokenizer

    questions = load_questions(users, task="LaMP-3")
    store = tmp_path / "store"
    train_user_adapters(questions, "LaMP-3", str(llama), store, FAST, user_ids=["u0", "u2"], progress=False)
    loads = []
    real = adapters_mod.load_model_and_tokenizer
    monkeypatch.setattr(adapters_mod, "load_model_and_tokenizer", lambda name: loads.append(name) or real(name))
    gen = dict(max_new_tokens=3, num_beams=1)
    preds = predict_with_adapters(questions, "LaMP-3", str(llama), store, use_retrieval=False, progress=False, **gen)
    assert loads == [str(llama)] and set(preds) == {"q0", "q1", "q2"}
    by_id = {q.id: q for q in questions}
    for qid, uid in (("q0", "u0"), ("q2", "u2")):
        base, tok = load_model_and_tokenizer(str(llama))
        alone = PeftModel.from_pretrained(base, str(adapter_path(store, uid)))
        assert preds[qid] == _generate(alone, tok, by_id[qid].input, **gen)
    base, tok = load_model_and_tokenizer(str(llama))
    assert preds["q1"] == _generate(base, tok, by_id["q1"].input, **gen)


def test_retrieval_modes_change_the_prompt_not_the_ids(tmp_path, users, llama, monkeypatch):
    import lamp.methods.adapters as adapters_mod

    questions = load_questions(users, task="LaMP-3")
    seen: list[str] = []
    real = adapters_mod.generate_all
    monkeypatch.setattr(adapters_mod, "generate_all",
                        lambda backend, entries, *a, **kw: seen.extend(e.prompt for e in entries)
                        or real(backend, entries, *a, **kw))
    preds = predict_with_adapters(questions, "LaMP-3", str(llama), None, use_retrieval=True, k=1,
                                  max_new_tokens=2, num_beams=1, progress=False)
    assert set(preds) == {"q0", "q1", "q2"} and len(seen) == 3
    assert all(p.startswith(tuple(f"{s} is the score for" for s in "12345")) and PREFIX in p for p in seen)


def test_seq2seq_base_trains_and_predicts_through_the_cli(tmp_path, users):
    model = tiny_t5(tmp_path / "t5")
    store, out = tmp_path / "store", tmp_path / "preds.json"
    assert lamp_main(["adapters", "train", "--questions", str(users), "--task", "LaMP-3", "--model", str(model),
                      "--adapter_dir", str(store), "--epochs", "1", "--batch_size", "2"]) == 0
    assert all((adapter_path(store, u) / "adapter_config.json").is_file() for u in ("u0", "u1", "u2"))
    assert json.loads((adapter_path(store, "u0") / "adapter_config.json").read_text())["target_modules"] in (
        ["q", "k", "v"], ["k", "q", "v"], ["v", "q", "k"], ["q", "v", "k"], ["k", "v", "q"], ["v", "k", "q"])
    assert lamp_main(["adapters", "predict", "--questions", str(users), "--task", "LaMP-3", "--model", str(model),
                      "--adapter_dir", str(store), "--use_retrieval", "--num_beams", "1", "--max_new_tokens", "2",
                      "--output", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["task"] == "LaMP_3" and [g["id"] for g in written["golds"]] == ["q0", "q1", "q2"]


def test_adapter_train_flags_come_typed_from_the_settings():
    import argparse

    from lamp.cli.adapters import configure_train
    from lamp.core.settings import from_args

    parser = argparse.ArgumentParser()
    configure_train(parser)
    args = parser.parse_args(["--questions", "q.json", "--task", "LaMP-3", "--epochs", "0.5", "--lora_dropout", "0"])
    assert from_args(AdapterSettings, args) == AdapterSettings(epochs=0.5, lora_dropout=0.0)   # --epochs was int-only
