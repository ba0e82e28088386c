"""Train the dense retriever from the LLM's feedback (official ``ROPG/train_kd.py`` and ``train_rl.py``).

The retriever is any HF encoder folder (``facebook/contriever`` where it is available; offline
default the bundled all-MiniLM-L6-v2) scored as the dense ranker scores: mean pooling and a dot
product (:func:`retrievers.dense.embed_texts`). For each training question, its query and its first
``ctx_size`` items (in the initial ranking's order) are encoded; padding for shorter profiles is
masked (no target mass, no sample, no reward). Losses: :mod:`lamp.training.losses`.

Official settings are the defaults (Adam, lr 1e-5, clip 1.0, ``fixed`` schedule, 1,000 steps of
batch 1); the paper's (effective batch 64, 5% warmup, 10 epochs) are one flag each. Deviations of
the ``lamp ropg train`` defaults, each with its flag (``train_kd.py`` / ``train_rl.py`` default to
the official side; docs/deviations.md lists them all): the loss is divided by ``accumulation_steps``
(``--official_accumulation`` sums the micro-batch gradients as officially); ``--total_steps`` steps
are run (``--official_steps``: one more, ending with ``step-(N+1)``, as the official loop does);
padding documents are masked, not encoded (``--official_padding``); the ``date: …`` suffix on
documents (hard-coded in the official ROPG prompts) is ``--use_date``, off by default so that a
checkpoint ranks as ``lamp rank --ranker contriever`` does; rank with ``--use_date`` when training
with it.

Checkpoints (``save_pretrained`` + tokenizer + the training state) go to
``checkpoint_dir/name/checkpoint/step-N`` with a ``latest`` link, as officially; a rerun of the
same command resumes from ``latest`` (same data order, same RL samples). Under ``torchrun`` or
``accelerate launch`` (``WORLD_SIZE`` > 1) each process takes its share of every batch and the
gradients are averaged (DistributedDataParallel); rank 0 saves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from lamp.core.writing import link_latest
from lamp.core.errors import LampDataError, LampError
from lamp.core.records import Question
from lamp.core.registry import unknown_message
from lamp.core.tasks import Task, get_task
from lamp.training.loop import Position, batches, make_optimizer, official_schedule, progress_bar, train_loop
from eval.metrics import default_feedback_metric
from lamp.core.splits import read_split
from retrievers.dense import default_checkpoint, embed_texts, load_tokenizer, resolve_encoder
from retrievers.official import BUNDLED_ENCODER, CONTRIEVER
from ropg.feedback import read_scores

METHODS = ("kd", "rl")
STATE_FILE = "training_state.pt"
SETTINGS_FILE = "ropg_settings.json"


@dataclass
class TrainingQuery:
    """One training question: its query, its first ``ctx_size`` documents and their gold values."""

    id: str
    query: str
    docs: list[str]
    gold: list[float]
    pad_gold: float = 0.0      # the official code's gold of a padded slot (LaMP-3: w; --official_padding)


def resolve_metric(name: str | None, task: Task, available: Sequence[str], where: str) -> str:
    """The feedback key to learn from (case-insensitive), with a suggestion when it is absent."""
    wanted = name or default_feedback_metric(task)
    if wanted in available:
        return wanted
    for key in available:
        if key.lower() == wanted.lower():
            return key
    raise LampDataError(f"the feedback has no such metric: {unknown_message('metric', wanted, sorted(available))}",
                        file=where, field="--metric")


def training_queries(task: str | Task, questions: Sequence[Question], golds: dict[str, str],
                     scores: dict[str, dict[str, float]], *, ctx_size: int, metric: str | None = None,
                     use_date: bool = False, scores_file: str | None = None) -> tuple[list[TrainingQuery], str, int]:
    """The training set: ``(queries, metric used, questions skipped for an empty profile)``.

    Every item among a question's first ``ctx_size`` must have feedback under ``"{qid}-{pid}"``
    (the keys of ``lamp ropg score``); a missing key is an error naming the scores file and key."""
    from lamp.training.losses import LIKELIHOOD_KEYS, gold_values, rating_range

    task = get_task(task)
    if not scores:
        raise LampDataError("the feedback file is empty", file=scores_file)
    first = next(iter(scores.values()))
    used = resolve_metric(metric, task, list(first), scores_file or "the feedback")
    out, skipped = [], 0
    for q in questions:
        items = q.profile[:ctx_size]
        if not items:
            skipped += 1
            continue
        dicts = []
        for item in items:
            key = f"{q.id}-{item.id}"
            found = scores.get(key)
            if found is None:
                raise LampDataError("no feedback for this (question, item) pair: were the scores made from this "
                                    "training data, with --profile_size >= --ctx_size?", file=scores_file,
                                    record_id=key)
            if used not in found:
                raise LampDataError(f"no metric {used!r} in this record", file=scores_file, record_id=key)
            dicts.append(found)
        docs = [task.document(item, use_date) for item in items]
        pad = rating_range(golds[q.id]) if task.family == "rating" and used not in LIKELIHOOD_KEYS else 0.0
        out.append(TrainingQuery(q.id, task.query(q.input), docs, gold_values(dicts, used, golds[q.id], task.family),
                                 pad))
    return out, used, skipped


# ----------------------------------------------------------------------------- training


def _settings_fingerprint(args: argparse.Namespace, scores_file: str) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint."""
    digest = hashlib.sha256(Path(scores_file).read_bytes()).hexdigest()[:16]
    extra = {k: True for k in ("official_padding", "official_steps", "official_accumulation") if getattr(args, k, False)}
    keys = ("method", "task", "ctx_size", "metric", "use_date", "per_gpu_batch_size", "accumulation_steps",
            "lr", "kd_loss", "temperature", "seed", "max_length_query", "max_length_document", "optim", "scheduler")
    return {**{k: getattr(args, k) for k in keys}, **extra, "scores_sha256": digest,
            "train_data": str(args.train_data)}


def _lr_factor(args: argparse.Namespace, total: int) -> Callable[[int], float]:
    warmup = int(args.warmup_ratio * total) if args.warmup_ratio is not None else args.warmup_steps
    end = args.scheduler_steps or (total if args.epochs else args.total_steps)   # officially --total_steps
    return official_schedule(args.scheduler, warmup, end, args.fixed_lr)


def batch_scores(model: Any, tokenizer: Any, batch: Sequence[TrainingQuery], ctx_size: int, max_q: int, max_d: int,
                 device: Any, official_padding: bool = False) -> tuple[Any, Any, Any]:
    """``(scores, gold, mask)``, each ``(B, ctx_size)``: dot products of the query and document
    embeddings. Padding positions are masked and never encoded; with ``official_padding`` they are
    the empty document ``""``, encoded and scored, with the official gold (:func:`lamp.training.losses.official_padding`)."""
    import torch

    from lamp.training.losses import official_padding as pad_like_official

    q = embed_texts(model, tokenizer, [x.query for x in batch], max_q, device)
    padded = [list(x.docs) + [""] * (ctx_size - len(x.docs)) if official_padding else x.docs for x in batch]
    flat = [d for docs in padded for d in docs]
    d = embed_texts(model, tokenizer, flat, max_d, device)
    b = len(batch)
    mask = torch.zeros((b, ctx_size), dtype=torch.bool, device=device)
    gold = torch.zeros((b, ctx_size), dtype=torch.float32, device=device)
    docs = torch.zeros((b, ctx_size, d.shape[-1]), dtype=d.dtype, device=device)
    at = 0
    for i, (x, row) in enumerate(zip(batch, padded)):
        n = len(x.docs)
        mask[i, :n] = True
        gold[i, :n] = torch.tensor(x.gold, dtype=torch.float32)
        docs[i, :len(row)] = d[at:at + len(row)]
        at += len(row)
    scores = torch.einsum("bd,bcd->bc", q, docs)
    if official_padding:
        gold, mask = pad_like_official(gold, mask, torch.tensor([x.pad_gold for x in batch], device=device))
    return scores, gold, mask


def _save(model: Any, tokenizer: Any, optimizer: Any, scheduler: Any, state: dict[str, Any], run_dir: Path,
          settings: dict[str, Any]) -> Path:
    """``step-N`` written whole under a temporary name, then renamed; ``latest`` re-pointed atomically."""
    import torch

    folder = run_dir / "checkpoint"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{state['step']}"
    tmp = folder / f".step-{state['step']}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save({**state, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / STATE_FILE)
    (tmp / SETTINGS_FILE).write_text(json.dumps(settings, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    link_latest(folder, final)
    return final


def describe(args: argparse.Namespace, source: str, resume: bool) -> str:
    """The one line that says which encoder, loss, padding and documents a run uses."""
    name = BUNDLED_ENCODER + " (bundled)" if source == default_checkpoint() else source
    if not resume and source != CONTRIEVER:
        name += f", not the official {CONTRIEVER}"
    loss = f"{args.kd_loss} KD, T={args.temperature:g}" if args.method == "kd" else "REINFORCE, reward g_j - g_0"
    return (f"ROPG-{args.method.upper()}: encoder {'resumed from ' if resume else ''}{name}; loss {loss}; padding "
            f"{'as officially' if args.official_padding else 'masked'}; documents "
            f"{'with' if args.use_date else 'without'} dates; fp32; {_budget(args)} at batch "
            f"{args.per_gpu_batch_size}x{args.accumulation_steps}"
            f"{' (gradients summed)' if getattr(args, 'official_accumulation', False) else ''}")


def _budget(args: argparse.Namespace) -> str:
    if args.epochs:
        return f"{args.epochs:g} epochs"
    if getattr(args, "official_steps", False):
        return f"{args.total_steps + 1} steps (--total_steps {args.total_steps} + 1, as officially)"
    return f"{args.total_steps} steps"


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return world, rank


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) training; returns the final checkpoint folder."""
    import torch
    from transformers import AutoModel

    from lamp.training.losses import kd_loss, rl_loss

    from lamp.training.losses import kd_form

    task = get_task(args.task)
    args.kd_loss = kd_form(args.kd_loss)
    if args.per_gpu_batch_size < 1 or args.accumulation_steps < 1 or args.ctx_size < 1:
        raise LampError("--per_gpu_batch_size, --accumulation_steps and --ctx_size must be at least 1")
    questions, golds = read_split(args.train_data, task, args.train_outputs).pair()
    scores = read_scores(args.scores_path)
    data, metric, skipped = training_queries(task, questions, golds, scores, ctx_size=args.ctx_size,
                                             metric=args.metric, use_date=args.use_date, scores_file=args.scores_path)
    if not data:
        raise LampDataError("no training question has a profile item", file=str(args.train_data))
    args.metric = metric
    world, rank = _distributed()
    per_step = args.per_gpu_batch_size * args.accumulation_steps * world
    total = math.ceil(args.epochs * len(data) / per_step) if args.epochs else args.total_steps
    if getattr(args, "official_steps", False) and not args.epochs:
        total += 1            # the official loop breaks only once the step exceeds --total_steps
    run_dir = Path(args.checkpoint_dir) / args.name
    latest = run_dir / "checkpoint" / "latest"
    settings = _settings_fingerprint(args, args.scores_path)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    resume = latest.exists()
    source = str(latest.resolve()) if resume else resolve_encoder(args.model_path)
    if resume:
        saved = json.loads((latest / SETTINGS_FILE).read_text())
        changed = sorted(k for k in settings if saved.get(k) != settings[k])
        if changed:
            raise LampError(f"{run_dir} holds a run with other settings ({', '.join(changed)}); "
                            f"use another --name or --checkpoint_dir")
    if rank == 0:
        print(describe(args, source, resume), file=sys.stderr)
    torch.manual_seed(args.seed)        # weights the folder lacks (e.g. an unused pooler) start alike
    tokenizer = load_tokenizer(source, None if resume else args.tokenizer, "--tokenizer",
                               **({"cache_dir": args.cache_dir} if args.cache_dir else {}))
    try:
        model = AutoModel.from_pretrained(source, cache_dir=args.cache_dir)
    except (OSError, ValueError) as exc:
        raise LampError(f"--model_path {source!r} is not an encoder model folder or hub id: {exc}") from None
    model.to(device).train()
    limit = getattr(model.config, "max_position_embeddings", None) or 10**6   # longer inputs would crash the model
    args.max_length_query, args.max_length_document = (min(args.max_length_query, limit),
                                                       min(args.max_length_document, limit))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, args.optim, args.lr, args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(args, total))
    state: dict[str, Any] = {"step": 0, "epoch": 0, "position": 0, "rl_generator": None, "log": []}
    if resume:
        saved_state = torch.load(latest / STATE_FILE, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(saved_state.pop("optimizer"))
        scheduler.load_state_dict(saved_state.pop("scheduler"))
        state.update(saved_state)
    generator = torch.Generator().manual_seed(args.seed * 1000 + rank)
    if state["rl_generator"] is not None:
        generator.set_state(state["rl_generator"])
    if state.get("torch_rng") is not None:           # dropout continues where it stopped
        torch.set_rng_state(state["torch_rng"])
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    main = rank == 0
    bar = progress_bar(total, state["step"], f"ROPG-{args.method.upper()} {task.name}", not args.no_progress and main)
    batch_size = args.per_gpu_batch_size * world
    final = latest.resolve() if resume else None

    def epoch_batches(epoch: int) -> list[list[int]]:
        """Epoch e's order (seeded by seed + e, the same on every process), in whole global batches."""
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(args.seed + epoch)).tolist()
        return batches(order, batch_size, drop_last=True) or [order]   # fewer questions than a batch: all

    def loss_of(batch: list[int]) -> Any:
        mine = batch[rank::world] or batch[:1]
        s, g, m = batch_scores(trained, tokenizer, [data[i] for i in mine], args.ctx_size, args.max_length_query,
                               args.max_length_document, device, args.official_padding)
        if args.method == "kd":
            return kd_loss(s, g, m, args.temperature, args.kd_loss)
        return rl_loss(s, g, m, generator)[0]

    def after_step(pos: Position, loss: float) -> None:
        nonlocal final
        state.update(step=pos.step, epoch=pos.epoch, position=pos.batch)
        state["log"].append([pos.step, loss])
        bar.set_postfix(loss=f"{loss:.4f}", epoch=pos.epoch)
        if main and (pos.step % args.save_freq == 0 or pos.step == total):
            state["rl_generator"] = generator.get_state()
            state["torch_rng"] = torch.get_rng_state()
            final = _save(model, tokenizer, optimizer, scheduler, state, run_dir, settings)

    try:
        train_loop(loss_of, epoch_batches, optimizer, params, total_steps=total, scheduler=scheduler,
                   accumulation_steps=args.accumulation_steps, max_grad_norm=args.clip,
                   mean_accumulated=not getattr(args, "official_accumulation", False),
                   position=Position(state["step"], state["epoch"], state["position"]), bar=bar, on_step=after_step)
    finally:
        bar.close()
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
    if skipped and main:
        print(f"{skipped} questions without profile items were skipped", file=sys.stderr)
    return Path(final) if final is not None else latest.resolve()
