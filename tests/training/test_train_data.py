"""Reading a split with its golds (lamp/core/splits.py, as training reads it), tokenised features and
collators (lamp/training/data.py), over the one Example that every verb builds
(lamp.generation.driver.build_examples)."""

from __future__ import annotations

import json

import pytest
from tiny_lamp3 import lamp3_records, tiny_tokenizer, write_split

from lamp.generation.backends.base import Example
from lamp.core.errors import LampDataError
from lamp.core.splits import read_split
from lamp.generation.driver import build_examples
from lamp.generation.prompts import chat_prompt
from lamp.core.records import ProfileItem, Question
from lamp.training.data import IGNORE_INDEX, CausalCollator, causal_features, seq2seq_features


def test_read_split_finds_the_outputs_file_next_to_the_questions(lamp3_data):
    questions, golds = read_split(lamp3_data["train"], "LaMP-3").pair()
    assert len(questions) == 8 and golds["q0"] == "1" and golds["q6"] == "2"


def test_read_split_reads_golds_embedded_in_the_merged_sorted_dataset(tmp_path):
    qs, outs = lamp3_records(2)
    merged = [{**q, "output": g["output"]} for q, g in zip(qs, outs["golds"])]
    path = tmp_path / "train_sorted.json"
    path.write_text(json.dumps(merged))
    questions, golds = read_split(path, "LaMP-3").pair()
    assert golds == {"q0": "1", "q1": "2"}
    assert [p.id for p in questions[0].profile] == ["0-0", "0-1", "0-2"]


def test_read_split_of_an_official_folder_finds_its_outputs_file(lamp3_data):
    questions, golds = read_split(lamp3_data["dev"].parent, "LaMP-3").pair()
    assert len(questions) == 4 and golds == {f"q{u}": str(1 + u % 5) for u in range(8, 12)}


def test_read_split_explicit_outputs_file_wins(tmp_path, lamp3_data):
    other = tmp_path / "other_outputs.json"
    other.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": f"q{i}", "output": "5"} for i in range(8)]}))
    _, golds = read_split(lamp3_data["train"], "LaMP-3", other).pair()
    assert set(golds.values()) == {"5"}


def test_read_split_without_a_gold_names_the_file_and_question(lamp3_data):
    with pytest.raises(LampDataError) as err:
        read_split(lamp3_data["test"], "LaMP-3")
    msg = str(err.value)
    assert "test_questions.json" in msg and "'q12'" in msg and "output" in msg
    questions, golds = read_split(lamp3_data["test"], "LaMP-3", require_outputs=False).pair()
    assert len(questions) == 3 and golds == {}


def _question() -> Question:
    items = [ProfileItem(id=str(i), text=f"item {i}", score=str(i), date=f"2020-01-0{i + 1}") for i in range(4)]
    return Question(id="q", input="What is the score ... review: item 2", profile=items)


def test_examples_carry_the_gold_as_target_and_features_read_the_built_prompt():
    q = _question()
    (raw,) = build_examples("LaMP-3", [q], 0, 256, None, golds={"q": "3"})
    assert (raw.text(), raw.target) == (q.input, "3")
    (ex,) = build_examples("LaMP-3", [q], 1, 256, None, {"q": ["2", "0"]}, golds={"q": "3"})
    assert ex.prompt == '2 is the score for "item 2" . ' + q.input
    tok = tiny_tokenizer(seq2seq=True)
    assert seq2seq_features(ex, tok, 256)["input_ids"] == tok(ex.prompt)["input_ids"]
    (unlabelled,) = build_examples("LaMP-3", [q], 1, 256, None)
    assert unlabelled.prompt.startswith('0 is the score for "item 0" ') and unlabelled.target is None


def test_seq2seq_features_truncate_source_and_target_to_max_length():
    tok = tiny_tokenizer(seq2seq=True)
    feats = seq2seq_features(Example("1", "great kit broke fast lovely book", target="okay meh cable lamp"), tok, 4)
    assert len(feats["input_ids"]) == 4 and feats["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(feats["labels"], skip_special_tokens=True) == "okay meh cable"


def test_causal_features_put_the_loss_on_the_answer_and_eos_only():
    tok = tiny_tokenizer(chat=True)
    feats = causal_features(Example("1", "great kit", target="5"), tok, 64)
    prompt_ids = tok("<user> great kit <bot> ", add_special_tokens=False)["input_ids"]
    answer = tok("5", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert feats["input_ids"] == prompt_ids + answer
    assert feats["labels"] == [IGNORE_INDEX] * len(prompt_ids) + answer
    assert chat_prompt(tok, "great kit") == "<user> great kit <bot> "


def test_causal_features_cut_the_user_text_not_the_template():
    tok = tiny_tokenizer(chat=True)
    feats = causal_features(Example("1", "great kit broke fast", target="5"), tok, 2)
    assert tok.decode(feats["input_ids"]).startswith("<user> great kit <bot>")


def test_causal_features_without_template_continue_after_a_space():
    tok = tiny_tokenizer(chat=False)
    feats = causal_features(Example("1", "great kit", target="5"), tok, 64)
    assert tok.decode([i for i, lab in zip(feats["input_ids"], feats["labels"]) if lab != IGNORE_INDEX],
                      skip_special_tokens=True) == "5"


def test_causal_collator_right_pads_with_minus_100_labels():
    tok = tiny_tokenizer(chat=True)
    batch = CausalCollator(tok)([{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
                                 {"input_ids": [5], "attention_mask": [1], "labels": [5]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [5, -100, -100]]
