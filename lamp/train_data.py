"""Training data for the LLM: (source, target) examples, tokenised features and collators.

Two model kinds, one example list:

* **seq2seq** (T5 family) trains as the official ``train_llm.py`` (reference §4): the source and
  the target are both truncated to ``max_length`` tokens and ``DataCollatorForSeq2Seq`` pads the
  labels with -100.
* **causal** (decoder-only: Llama, SmolLM2, …) trains on the prompt followed by the answer and an
  end-of-sequence token. The loss is on the answer tokens only: labels are -100 on the prompt and
  on padding. The prompt goes through the tokenizer's chat template when it has one, exactly as
  :func:`format_causal_prompt` formats it at inference, so training and generation see the same text.

Examples are built from LaMP questions with :func:`build_examples`: the personalised prompt
(``use_profile``) or the raw input, and the gold output.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from lamp.errors import LampDataError, LampError
from lamp.files import load_outputs, load_questions
from lamp.records import ProfileItem, Question
from lamp.tasks import Task, get_task

IGNORE_INDEX = -100


@dataclass(slots=True)
class Example:
    """One training or evaluation pair; ``target`` is None for unlabelled (test) questions."""

    id: str
    source: str
    target: str | None
    user_id: str | None = None


# --------------------------------------------------------------------------- reading a split

def _sibling_outputs(path: Path) -> Path | None:
    """``dev_questions.json`` -> ``dev_outputs.json`` next to it, when it exists."""
    if path.is_file() and path.name.endswith("_questions.json"):
        candidate = path.with_name(path.name[: -len("_questions.json")] + "_outputs.json")
        if candidate.is_file():
            return candidate
    return None


def load_split(questions_path: str | os.PathLike, task: str | Task, outputs_path: str | os.PathLike | None = None,
               require_outputs: bool = True) -> tuple[list[Question], dict[str, str]]:
    """Questions and their gold outputs, from either file shape the official scripts use.

    Golds come from, in order: ``outputs_path`` when given; the ``output`` field of each record
    (the merged "sorted dataset" of ``merge_with_rank``: ``{id, input, profile, output}``); a
    ``{split}_outputs.json`` beside a ``{split}_questions.json``. With ``require_outputs`` a
    question without a gold is an error naming the file and the question id.
    """
    task = get_task(task)
    questions = load_questions(questions_path, task=task.name)
    golds: dict[str, str] = {}
    source = outputs_path or None
    if source is None and not any((q.extra or {}).get("output") is not None for q in questions[:1]):
        source = _sibling_outputs(Path(questions_path))
    if source is not None:
        golds = load_outputs(source, task=task.name).by_id()
    for q in questions:
        embedded = (q.extra or {}).get("output")
        if q.id not in golds and embedded is not None:
            golds[q.id] = str(embedded)
    if require_outputs:
        for q in questions:
            if q.id not in golds:
                where = str(source) if source else str(questions_path)
                raise LampDataError("no gold output for this question (pass the outputs file, e.g. "
                                    "--train_outputs, or use the merged file of 'lamp merge')",
                                    file=where, record_id=q.id, field="output")
    return questions, golds


# --------------------------------------------------------------------------- choosing profile items

RankFn = Callable[[list[Question], Task, str], dict[str, list[str]]]


def _fallback_rank(questions: list[Question], task: Task, ranker: str) -> dict[str, list[str]]:
    """BM25 / recency / random ranking used only while ``retrievers`` has no ``rank_questions``."""
    from lamp.files import parse_date

    out: dict[str, list[str]] = {}
    for q in questions:
        ids = [p.id for p in q.profile]
        if ranker == "bm25":
            import numpy as np
            from rank_bm25 import BM25Okapi

            bm25 = BM25Okapi([task.document(p).split() for p in q.profile])
            scores = bm25.get_scores(task.query(q.input).split())
            out[q.id] = [ids[i] for i in np.argsort(scores)[::-1]]
        elif ranker == "recency":
            out[q.id] = [p.id for p in sorted(q.profile, key=lambda p: parse_date(p.date or "0"))][::-1]
        elif ranker == "random":
            rng = random.Random(q.id)
            out[q.id] = rng.sample(ids, len(ids))
        else:
            raise LampError(f"unknown retriever {ranker!r} (this build knows bm25, recency, random)")
    return out


def rank(questions: list[Question], task: Task, ranker: str) -> dict[str, list[str]]:
    """``{question id: [profile ids, best first]}`` with the project's retrievers."""
    try:
        from retrievers import rank_questions  # type: ignore[attr-defined]
    except ImportError:
        return _fallback_rank(questions, task, ranker)
    return rank_questions(questions, task.name, ranker)


def select_items(question: Question, k: int, ranking: Sequence[str] | None) -> list[ProfileItem]:
    """The top ``k`` profile items: in ``ranking`` order, or the stored order (``--is_ranked``)."""
    if ranking is None:
        return list(question.profile[:k])
    by_id = {p.id: p for p in question.profile}
    return [by_id[i] for i in ranking if i in by_id][:k]


def _build_prompt(task: Task, text: str, items: list[ProfileItem], max_length: int, tokenizer: Any) -> str:
    from lamp.prompts import build_prompt

    return build_prompt(task, text, items, max_length, tokenizer)


def build_examples(questions: list[Question], golds: dict[str, str], task: str | Task, *, use_profile: bool,
                   num_retrieved: int | None, tokenizer: Any, max_length: int, retriever: str = "bm25",
                   is_ranked: bool = False, ranking: dict[str, list[str]] | None = None) -> list[Example]:
    """The personalised prompt (or the raw input) and the gold output of each question.

    With ``use_profile``: the top ``num_retrieved`` items, from ``ranking`` when given, the stored
    profile order when ``is_ranked`` (the merged file), else ranked on the fly with ``retriever``;
    then the official token-budgeted prompt (reference §3) with the LLM's own tokenizer.
    """
    task = get_task(task)
    if not use_profile:
        return [Example(q.id, q.input, golds.get(q.id), q.user_id) for q in questions]
    if num_retrieved is None or num_retrieved < 0:
        raise LampError("--num_retrieved is required with --use_profile (the number of profile items k)")
    if ranking is None and not is_ranked:
        ranking = rank(questions, task, retriever)
    examples = []
    for q in questions:
        items = select_items(q, num_retrieved, None if ranking is None else ranking.get(q.id, []))
        source = _build_prompt(task, q.input, items, max_length, tokenizer)
        examples.append(Example(q.id, source, golds.get(q.id), q.user_id))
    return examples


# --------------------------------------------------------------------------- tokenising

def is_seq2seq(model_or_config: Any) -> bool:
    config = getattr(model_or_config, "config", model_or_config)
    return bool(getattr(config, "is_encoder_decoder", False))


def format_causal_prompt(tokenizer: Any, prompt: str) -> str:
    """The text a decoder model sees: the chat template with a generation prompt when the
    tokenizer has one (as the hf-causal backend does), the prompt itself otherwise."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt


def causal_prompt_ids(tokenizer: Any, prompt: str, max_length: int) -> list[int]:
    """Token ids of the formatted prompt; the prompt text is first cut to ``max_length`` tokens
    from the right, as the official code truncates sources."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) > max_length:
        prompt = tokenizer.decode(ids[:max_length], skip_special_tokens=True)
    text = format_causal_prompt(tokenizer, prompt)
    templated = bool(getattr(tokenizer, "chat_template", None))
    # A chat template writes its own special tokens; a bare prompt gets the tokenizer's (e.g. BOS).
    return tokenizer(text, add_special_tokens=not templated)["input_ids"]


def seq2seq_features(example: Example, tokenizer: Any, max_length: int) -> dict[str, list[int]]:
    """Official tokenisation: source and target both truncated to ``max_length``."""
    feats = tokenizer(example.source, max_length=max_length, truncation=True)
    out = {"input_ids": feats["input_ids"], "attention_mask": feats["attention_mask"]}
    if example.target is not None:
        out["labels"] = tokenizer(text_target=example.target, max_length=max_length, truncation=True)["input_ids"]
    return out


def causal_features(example: Example, tokenizer: Any, max_length: int) -> dict[str, list[int]]:
    """Prompt ids + answer ids + EOS; labels copy the answer and EOS, -100 on the prompt.

    With a chat template the answer is the assistant turn; plain text continues after a space
    (as the hf-causal backend scores options, lm-evaluation-harness's target delimiter).
    """
    prompt = causal_prompt_ids(tokenizer, example.source, max_length)
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
