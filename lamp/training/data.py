"""Training data for the LLM: (source, target) examples, tokenised features and collators.

Two model kinds, one example list:

* **seq2seq** (T5 family) trains as the official ``train_llm.py`` (reference §4): the source and
  the target are both truncated to ``max_length`` tokens and ``DataCollatorForSeq2Seq`` pads the
  labels with -100.
* **causal** (decoder-only: Llama, SmolLM2, …) trains on the prompt followed by the answer and an
  end-of-sequence token. The loss is on the answer tokens only: labels are -100 on the prompt and
  on padding. The prompt goes through the tokenizer's chat template when it has one, exactly as
  :func:`lamp.generation.prompts.chat_prompt` formats it at inference, so training and generation see the same text.

The examples are the ones every other verb uses (:func:`lamp.generation.driver.build_examples`: the
personalised prompt or the raw input, with the gold output as ``target``, over the questions and
golds of :func:`lamp.core.splits.read_split`); this module turns examples into features.
"""

from __future__ import annotations

from typing import Any, Callable

from lamp.generation.backends.base import Example
from lamp.core.errors import LampError
from lamp.generation.prompts import chat_prompt, cut_to_tokens

IGNORE_INDEX = -100


# --------------------------------------------------------------------------- tokenising

def is_seq2seq(model_or_config: Any) -> bool:
    config = getattr(model_or_config, "config", model_or_config)
    return bool(getattr(config, "is_encoder_decoder", False))


def causal_prompt_ids(tokenizer: Any, prompt: str, max_length: int) -> list[int]:
    """Token ids of the prompt as a decoder reads it at inference (the hf-causal backend): the user
    text cut to ``max_length`` tokens, then the chat template."""
    text = chat_prompt(tokenizer, cut_to_tokens(tokenizer, prompt, max_length))
    templated = bool(getattr(tokenizer, "chat_template", None))
    # A chat template writes its own special tokens; a bare prompt gets the tokenizer's (e.g. BOS).
    return tokenizer(text, add_special_tokens=not templated)["input_ids"]


def seq2seq_features(example: Example, tokenizer: Any, max_length: int) -> dict[str, list[int]]:
    """Official tokenisation: source and target both truncated to ``max_length``."""
    feats = tokenizer(example.text(), max_length=max_length, truncation=True)
    out = {"input_ids": feats["input_ids"], "attention_mask": feats["attention_mask"]}
    if example.target is not None:
        out["labels"] = tokenizer(text_target=example.target, max_length=max_length, truncation=True)["input_ids"]
    return out


def causal_features(example: Example, tokenizer: Any, max_length: int) -> dict[str, list[int]]:
    """Prompt ids + answer ids + EOS; labels copy the answer and EOS, -100 on the prompt.

    With a chat template the answer is the assistant turn; plain text continues after a space
    (as the hf-causal backend scores options, lm-evaluation-harness's target delimiter).
    """
    prompt = causal_prompt_ids(tokenizer, example.text(), max_length)
    answer_text = example.target or ""
    if not getattr(tokenizer, "chat_template", None):
        answer_text = " " + answer_text
    answer = tokenizer(answer_text, add_special_tokens=False)["input_ids"][:max_length]
    if tokenizer.eos_token_id is not None:
        answer = answer + [tokenizer.eos_token_id]
    ids = prompt + answer
    return {"input_ids": ids, "attention_mask": [1] * len(ids),
            "labels": [IGNORE_INDEX] * len(prompt) + answer}


class FeatureDataset:
    """A list of examples tokenised lazily (so building a big dataset costs nothing up front)."""

    def __init__(self, examples: list[Example], tokenizer: Any, max_length: int, seq2seq: bool) -> None:
        self.examples, self.tokenizer, self.max_length = examples, tokenizer, max_length
        self.featurize = seq2seq_features if seq2seq else causal_features

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.featurize(self.examples[i], self.tokenizer, self.max_length)


def pad_token_id(tokenizer: Any) -> int:
    """The pad id, falling back to EOS for tokenizers that have none (Llama family)."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    raise LampError("the tokenizer has neither a pad token nor an EOS token")


class CausalCollator:
    """Right-pads a causal batch: pad id on inputs, 0 on the mask, -100 on the labels."""

    def __init__(self, tokenizer: Any) -> None:
        self.pad_id = pad_token_id(tokenizer)

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)

        def padded(key: str, value: int) -> "torch.Tensor":
            return torch.tensor([f[key] + [value] * (width - len(f[key])) for f in features], dtype=torch.long)

        return {"input_ids": padded("input_ids", self.pad_id), "attention_mask": padded("attention_mask", 0),
                "labels": padded("labels", IGNORE_INDEX)}


def make_collator(tokenizer: Any, model: Any) -> Callable[[list[dict[str, list[int]]]], dict[str, Any]]:
    if is_seq2seq(model):
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE_INDEX)
    return CausalCollator(tokenizer)
