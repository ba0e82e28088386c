"""One LoRA adapter per user (the "RAG vs PEFT" recipe, reference §8), alone or with retrieval.

Training pairs come from each user's own profile items: the task's ``adapter_template``
(lamp/core/tasks.py) filled with the item's fields, and the item's answer field as the target (LaMP-1:
the abstract). LaMP-7 items become ``Complete the following tweet: {first p% of the words}`` → the
rest, with p ~ U(0.10, 0.25) drawn per item from a generator seeded by (seed, user id), so a
user's pairs are the same on every run and every machine (the official draw is unseeded).

LoRA settings as officially: r 8, alpha 32, dropout 0.1 on the attention projections of the
model's architecture (:data:`LORA_TARGETS`); lr 5e-5, weight decay 1e-4, 30 epochs, batch 16,
linear schedule with 5% warm-up, max length 512. The base is any model folder: a plain base model
or a ``lamp train`` output.

The store: ``adapter_dir/<user id, URL-quoted>/`` holds ``adapter_config.json``,
``adapter_model.safetensors`` and, written last, the completion marker
``lamp_adapter_complete.json``. A user with the marker is skipped, so an interrupted run resumes
where it stopped; ``--num_shards N --shard_id I`` trains the I-th of N slices of the sorted user
ids, so N machines (or N processes, one GPU each) share the users with no overlap.

Isolation: the official script reuses one model object across users and never reassigns
``model.unload()`` [QUIRK], so later users' adapters start from earlier users' state. Here every
user gets a fresh LoRA initialised from the same seed, and the LoRA layers are removed (and the
unloaded base reassigned) after each user: training A then B gives B exactly the adapter that B
alone gets.

Inference (:func:`predict_with_adapters`) loads the base model once and swaps adapters
(``load_adapter`` / ``set_adapter`` / ``delete_adapter``); users without an adapter get the base
model. Three modes: adapter only (the raw input, as the official PEFT evaluation), retrieval only
(no ``adapter_dir``) and adapter plus retrieval (the paper's RAG+PEFT, not in the official code).

The command line is ``lamp adapters train|predict`` (:mod:`lamp.cli.adapters`).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from lamp.core.errors import LampError
from lamp.core.records import ProfileItem, Question
from lamp.core.settings import setting
from lamp.core.tasks import Task, get_task
from lamp.core.writing import write_json
from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL, Example, answer_settings
from lamp.training.data import causal_features, is_seq2seq, make_collator, seq2seq_features
from lamp.training.lora import lora_config_for
from lamp.training.loop import batches, make_optimizer, train_loop
from lamp.generation.driver import build_examples, generate_all
from lamp.generation.models import load_model_and_tokenizer
from retrievers.ranking import rank_questions

COMPLETE_MARKER = "lamp_adapter_complete.json"
TWEET_SHARE = (0.10, 0.25)


@dataclass
class AdapterSettings:
    """Per-user LoRA training settings; the defaults are the official ones (reference §8)."""

    epochs: float = setting(30, "training epochs over each user's pairs")
    learning_rate: float = setting(5e-5, "peak learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    batch_size: int = setting(16, "training pairs per step")
    warmup_ratio: float = setting(0.05, "fraction of steps for linear warm-up")
    max_length: int = setting(512, "max tokens of a training pair")
    lora_r: int = setting(8, "LoRA rank")
    lora_alpha: int = setting(32, "LoRA alpha")
    lora_dropout: float = setting(0.1, "LoRA dropout")
    seed: int = setting(42, "seed of each user's LoRA initialisation, batch order and LaMP-7 split points")
    max_grad_norm: float = setting(1.0, "gradient clipping norm")


# --------------------------------------------------------------------------- users and pairs

def user_of(question: Question) -> str:
    """The user a question belongs to: ``user_id`` (time-based release), else the question id
    (user-based release: one question per user)."""
    return question.user_id if question.user_id is not None else question.id


def group_users(questions: Iterable[Question]) -> dict[str, tuple[list[ProfileItem], list[Question]]]:
    """user id -> (the union of the user's profile items, by item id in first-seen order; questions)."""
    users: dict[str, tuple[list[ProfileItem], list[Question]]] = {}
    seen: dict[str, set[str]] = {}
    for q in questions:
        uid = user_of(q)
        items, qs = users.setdefault(uid, ([], []))
        ids = seen.setdefault(uid, set())
        qs.append(q)
        for item in q.profile:
            if item.id not in ids:
                ids.add(item.id)
                items.append(item)
    return users


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _tweet_pair(task: Task, item: ProfileItem, rng: random.Random) -> tuple[str, str] | None:
    words = str(item.get(task.adapter_target) or "").split()
    if len(words) < 2:
        return None
    cut = max(1, int(len(words) * rng.uniform(*TWEET_SHARE)))
    return task.adapter_template.format(text=" ".join(words[:cut])), " ".join(words[cut:])


def user_training_pairs(task: str | Task, items: list[ProfileItem], user_id: str, seed: int = 42,
                        ) -> list[tuple[str, str]]:
    """(input, target) pairs from one user's profile items (reference §8); items without a target
    are skipped. LaMP-7's split point is drawn from a generator seeded by (seed, user id)."""
    task = get_task(task)
    rng = random.Random(f"{seed}:{user_id}")
    pairs: list[tuple[str, str]] = []
    for item in items:
        if task.adapter_split_words:
            pair = _tweet_pair(task, item, rng)
        else:
            target = item.get(task.adapter_target)
            fields = _Fields({k: str(v) for k, v in item.to_json().items()})
            pair = (task.adapter_template.format_map(fields), str(target)) if target not in (None, "") else None
        if pair is not None:
            pairs.append(pair)
    return pairs


def shard_users(user_ids: Iterable[str], num_shards: int = 1, shard_id: int = 0) -> list[str]:
    """The ``shard_id``-th of ``num_shards`` slices of the sorted user ids (round robin)."""
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise LampError(f"--shard_id {shard_id} must be in 0..{num_shards - 1} (--num_shards {num_shards})")
    return sorted(set(user_ids))[shard_id::num_shards]


def adapter_path(adapter_dir: str | Path, user_id: str) -> Path:
    """The user's folder in the store (the id URL-quoted, so any id is a safe folder name)."""
    name = quote(user_id, safe="")
    return Path(adapter_dir) / (name if not name.startswith(".") else "%2E" + name[1:])


def has_adapter(adapter_dir: str | Path | None, user_id: str) -> bool:
    return adapter_dir is not None and (adapter_path(adapter_dir, user_id) / COMPLETE_MARKER).is_file()


# --------------------------------------------------------------------------- training

def _train_loop(model: Any, tokenizer: Any, base: Any, pairs: list[tuple[str, str]], s: AdapterSettings) -> float:
    """AdamW + linear warm-up schedule over the user's pairs; returns the last epoch's mean loss."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    featurize = seq2seq_features if is_seq2seq(base) else causal_features
    feats = [featurize(Example(str(i), src, target=tgt), tokenizer, s.max_length)
             for i, (src, tgt) in enumerate(pairs)]
    collate = make_collator(tokenizer, base)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, "adamw", s.learning_rate, s.weight_decay)
    per_epoch = math.ceil(len(feats) / s.batch_size)
    total = max(1, math.ceil(per_epoch * s.epochs))
    sched = get_linear_schedule_with_warmup(opt, math.ceil(total * s.warmup_ratio), total)
    gen = torch.Generator().manual_seed(s.seed)
    device = next(model.parameters()).device
    last = float("nan")

    def loss_of(batch: list[int]) -> Any:
        inputs = collate([feats[i] for i in batch])
        return model(**{k: v.to(device) for k, v in inputs.items()}).loss

    def epoch_mean(epoch: int, losses: list[float]) -> None:
        nonlocal last
        last = sum(losses) / max(1, len(losses))

    model.train()
    train_loop(loss_of, lambda epoch: batches(torch.randperm(len(feats), generator=gen).tolist(), s.batch_size),
               opt, params, total_steps=total, scheduler=sched, max_grad_norm=s.max_grad_norm, on_epoch=epoch_mean)
    model.eval()
    return last


def train_one_user(model: Any, tokenizer: Any, pairs: list[tuple[str, str]], folder: Path,
                   settings: AdapterSettings, info: dict[str, Any] | None = None) -> Any:
    """Train a fresh LoRA on ``pairs``, save it to ``folder`` (marker last), and return the base
    model with the LoRA layers removed (callers must use the returned object)."""
    from peft import get_peft_model
    from transformers import set_seed

    set_seed(settings.seed)
    peft_model = get_peft_model(model, lora_config_for(model, settings.lora_r, settings.lora_alpha,
                                                       settings.lora_dropout))
    try:
        loss = _train_loop(peft_model, tokenizer, model, pairs, settings)
        folder.mkdir(parents=True, exist_ok=True)
        peft_model.save_pretrained(str(folder))
        write_json(folder / COMPLETE_MARKER, {**(info or {}), "pairs": len(pairs), "final_loss": loss,
                                              "settings": asdict(settings), "finished": time.time()}, indent=1)
    finally:
        model = peft_model.unload()
    return model


def train_user_adapters(questions: list[Question], task: str | Task, base_model: str | tuple[Any, Any],
                        adapter_dir: str | Path, settings: AdapterSettings | None = None, *,
                        num_shards: int = 1, shard_id: int = 0, user_ids: Iterable[str] | None = None,
                        progress: bool = True) -> dict[str, int]:
    """Train the adapters of this shard's users that have none yet; returns counts.

    ``base_model`` is a model name/folder or an already loaded ``(model, tokenizer)``.
    """
    task, settings = get_task(task), settings or AdapterSettings()
    users = group_users(questions)
    wanted = set(user_ids) if user_ids is not None else set(users)
    unknown = sorted(wanted - set(users))
    if unknown:
        raise LampError(f"user id(s) not in the questions: {', '.join(unknown[:5])}")
    mine = shard_users(wanted, num_shards, shard_id)
    todo = [u for u in mine if not has_adapter(adapter_dir, u)]
    counts = {"users": len(mine), "skipped": len(mine) - len(todo), "trained": 0, "no_pairs": 0}
    if not todo:
        return counts
    model, tokenizer = load_model_and_tokenizer(base_model) if isinstance(base_model, str) else base_model
    name = base_model if isinstance(base_model, str) else getattr(model.config, "_name_or_path", "")
    bar = todo
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(todo, desc="user adapters", unit="user")
    for uid in bar:
        pairs = user_training_pairs(task, users[uid][0], uid, settings.seed)
        if not pairs:
            counts["no_pairs"] += 1
            continue
        model = train_one_user(model, tokenizer, pairs, adapter_path(adapter_dir, uid), settings,
                               {"user_id": uid, "task": task.name, "base_model": name})
        counts["trained"] += 1
    return counts


# --------------------------------------------------------------------------- inference

def predict_with_adapters(questions: list[Question], task: str | Task, base_model: str | tuple[Any, Any],
                          adapter_dir: str | Path | None, use_retrieval: bool,
                          ranking: dict[str, list[str]] | None = None, k: int = 1, *, retriever: str = "bm25",
                          max_length: int = 512, max_new_tokens: int = OFFICIAL.max_new_tokens,
                          num_beams: int = OFFICIAL.num_beams,
                          batch_size: int = 16, progress: bool = True) -> dict[str, str]:
    """``{question id: output}``: each user's questions generated with that user's adapter (the
    base model for users without one), on the raw input or the retrieval-augmented prompt.

    The base model is wrapped once as a backend (:func:`lamp.generation.backends.hf.wrap_model`); a user's
    LoRA layers are injected into it, so every user generates through the same driver, settings
    and clean-up as ``lamp run`` and ``evaluate_llm.py``."""
    import contextlib

    from lamp.generation.backends.hf import wrap_model
    task = get_task(task)
    model, tokenizer = load_model_and_tokenizer(base_model) if isinstance(base_model, str) else base_model
    if use_retrieval and ranking is None:
        ranking = rank_questions(questions, task, retriever)
    examples = build_examples(task, questions, k if use_retrieval else 0, max_length, tokenizer,
                              ranking if use_retrieval else None)
    by_id = {e.id: e for e in examples}
    name = base_model if isinstance(base_model, str) else getattr(model.config, "_name_or_path", "")
    backend = wrap_model(model, tokenizer, identity=f"base:{name}", batch_size=batch_size)
    settings = answer_settings(max_new_tokens, num_beams, max_length)
    users = group_users(questions)
    preds: dict[str, str] = {}
    peft_model, loaded = None, None
    bar: Iterable[str] = sorted(users)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(list(bar), desc="users", unit="user")
    for n, uid in enumerate(bar):
        qs = users[uid][1]
        switch: Any = contextlib.nullcontext()
        if has_adapter(adapter_dir, uid):
            path, adapter = str(adapter_path(adapter_dir, uid)), f"user{n}"
            if peft_model is None:
                from peft import PeftModel

                peft_model = PeftModel.from_pretrained(model, path, adapter_name=adapter)
            else:
                peft_model.load_adapter(path, adapter_name=adapter)
            peft_model.set_adapter(adapter)
            if loaded is not None:
                peft_model.delete_adapter(loaded)
            loaded = adapter
        elif peft_model is not None:   # the LoRA layers stay injected: switch them off for this user
            switch = peft_model.disable_adapter()
        with switch:
            outs = generate_all(backend, [by_id[q.id] for q in qs], settings, progress=False)
        preds.update({q.id: o for q, o in zip(qs, outs)})
    return preds
