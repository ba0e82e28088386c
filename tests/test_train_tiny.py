"""Tiny real models for the training tests: a word-level tokenizer trained on the test texts, a
1-layer T5 and a 1-layer Llama built from configs, saved as ordinary Hugging Face folders.

Also a small LaMP-3 data set where each user's rating is visible in their profile (the score of
their profile items), written in the official layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT_PATH = Path(__file__).resolve().parents[1]
SPECIALS = ["<pad>", "</s>", "<unk>", "<user>", "<bot>"]
CHAT_TEMPLATE = ("{% for m in messages %}<user> {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}<bot> {% endif %}")
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
    from lamp.tasks import get_task

    texts = [PREFIX, get_task("LaMP-3").prompt.item, "1 2 3 4 5 , and . \" is the score for"]
    texts += [" ".join(WORDS), get_task("LaMP-3").adapter_template]
    return texts


def tiny_tokenizer(chat: bool = False, seq2seq: bool = False):
    """A word-level fast tokenizer over the test vocabulary (``</s>`` appended for seq2seq)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(corpus() + ['"great', 'kit"', '"broke', "\n"],
                            trainers.WordLevelTrainer(special_tokens=SPECIALS))
    if seq2seq:
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_t5(folder: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = tiny_tokenizer(seq2seq=True)
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
                      num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_llama(folder: Path, chat: bool = True) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer(chat=chat)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=0, eos_token_id=1, bos_token_id=1)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


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
