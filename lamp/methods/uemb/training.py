"""Training the user conditioner on a frozen LLM (next-token loss on the gold answer).

Training inputs are the split's questions: the prompt (raw input, or the top-k retrieved items
with ``use_retrieval``) and the gold output; the user vector comes from the question's whole
profile. Questions whose user has an empty profile (or, for ``control``, no attribute) cannot
teach the conditioner and are skipped (counted in the artifact's ``info``).

Resumable: after every epoch the conditioner and optimizer state go to
``OUT/uemb_checkpoint.pt`` (atomically); a rerun continues from the last finished epoch, and an
artifact already finished (``uemb_config.json`` present) is not retrained.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from lamp.core.errors import LampError
from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL
from lamp.core.writing import atomic_write
from lamp.core.records import Question
from lamp.core.settings import setting
from lamp.core.tasks import Task, get_task
from lamp.methods.uemb.artifact import Artifact, is_artifact, read_artifact, save_artifact
from lamp.methods.uemb.features import kmeans, style_vector
from lamp.methods.uemb.model import Aggregator, Injection, UembSpec, UserConditioner, embed_rms
from lamp.methods.uemb.personalizer import Personalizer, entries_for
from lamp.training.loop import Position, batches, make_optimizer, progress_bar, train_loop
from retrievers.dense import Encoder
from lamp.generation.models import load_model_and_tokenizer
from lamp.methods.uemb.personalizer import resolve_base

CHECKPOINT = "uemb_checkpoint.pt"


@dataclass
class UembSettings:
    """What to train (the architecture and the data view) and how."""

    aggregator: Aggregator = setting("mean", "profile -> user vector: mean of the item vectors, attention "
                                     "to the input, or control (a learned attribute value)")
    injection: Injection = setting("prefix", "user vector -> soft prefix tokens, or a vector added to the "
                                   "input embeddings")
    n_tokens: int = setting(1, "soft tokens per user (prefix injection)")
    hidden: int = setting(512, "projector hidden size")
    use_retrieval: bool = setting(False, "also put the top-k retrieved items in the prompt")
    k: int = setting(2, "retrieved items with --use_retrieval")
    retriever: str = setting("bm25", "ranker for --use_retrieval")
    control_clusters: int = setting(8, "style clusters of the control variant for tasks without labels")
    epochs: int = setting(3, "training epochs")
    learning_rate: float = setting(1e-3, "AdamW learning rate")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    batch_size: int = setting(8, "questions per step")
    max_length: int = setting(OFFICIAL.max_input_length, "prompt token budget (official 256)")
    seed: int = setting(0, "seed of the initialisation, batch order and clusters")
    max_grad_norm: float = setting(1.0, "gradient clipping norm")


def _control_values(p: Personalizer, rows: list, entries: list, settings: UembSettings) -> tuple[list[str], np.ndarray | None]:
    """Attribute values: the task's labels (most frequent label / rounded mean rating), or style
    clusters of the training users' profiles for tasks without labels."""
    if p.task.labels and p.task.target_field:
        return list(p.task.labels), None
    users: dict[str, np.ndarray] = {}
    for e, r in zip(entries, rows):
        if r.has_user:
            users.setdefault(e.user_id or e.id, style_vector(r.values))
    if not users:
        raise LampError("the control variant needs training users with non-empty profiles")
    centroids = kmeans(np.stack(list(users.values())), settings.control_clusters, settings.seed)
    return [f"style-{i}" for i in range(len(centroids))], centroids


def train_uemb(questions: Sequence[Question], golds: Mapping[str, str], task: str | Task, out_dir: str | Path,
               settings: UembSettings | None = None, *, base_model: str = "SmolLM2-135M-Instruct",
               encoder: str | None = None, model_and_tokenizer: tuple[Any, Any, str] | None = None,
               progress: bool = True) -> Artifact:
    """Train a conditioner and save the artifact in ``out_dir`` (returns the finished one as is)."""
    task, settings = get_task(task), settings or UembSettings()
    out = Path(out_dir)
    if is_artifact(out):
        return read_artifact(out)
    missing = [q.id for q in questions if q.id not in golds]
    if missing:
        raise LampError(f"no gold output for {len(missing)} training questions (e.g. question id {missing[0]!r})")
    started = time.perf_counter()
    enc = Encoder(encoder)
    if model_and_tokenizer is not None:
        model, tokenizer, identity = model_and_tokenizer
    else:
        path, identity = resolve_base(base_model)
        model, tokenizer = load_model_and_tokenizer(path)
    p = Personalizer(model, tokenizer, task, enc, max_length=settings.max_length, batch_size=settings.batch_size)
    entries = entries_for(questions, task, tokenizer, settings.max_length, golds, settings.use_retrieval,
                          settings.k, settings.retriever)
    rows = p.rows(entries)
    control_values, centroids = [], None
    if settings.aggregator == "control":
        control_values, centroids = _control_values(p, rows, entries, settings)
        p.control_values, p.centroids = control_values, centroids
        rows = p.rows(entries)
    dim = rows[0].query.shape[0] if rows else 0
    spec = UembSpec(settings.aggregator, settings.injection, settings.n_tokens, settings.hidden, dim,
                    model.get_input_embeddings().weight.shape[1], len(control_values), embed_rms(model))
    torch.manual_seed(settings.seed)
    conditioner = UserConditioner(spec)
    p.runner.conditioner = conditioner.to(p.runner.device)
    usable = [r for r in rows if p.runner.uses(r)]
    skipped = len(rows) - len(usable)
    if not usable:
        raise LampError("no training question has a user profile to learn from")
    losses = _fit(p, conditioner, usable, settings, out, spec, progress)
    info = {"train_questions": len(rows), "skipped_no_profile": skipped, "epoch_losses": losses,
            "train_seconds": round(time.perf_counter() - started, 1),
            "trainable_parameters": sum(x.numel() for x in conditioner.parameters())}
    art = Artifact(task.name, spec, base_model, identity, enc.checkpoint, enc.identity, asdict(settings),
                   control_values, info, centroids=centroids)
    save_artifact(out, art, conditioner)
    (out / CHECKPOINT).unlink(missing_ok=True)
    return read_artifact(out)


def _fit(p: Personalizer, conditioner: UserConditioner, rows: list, settings: UembSettings, out: Path,
         spec: UembSpec, progress: bool) -> list[float]:
    params = [x for x in conditioner.parameters() if x.requires_grad]
    opt = make_optimizer(params, "adamw", settings.learning_rate, settings.weight_decay)
    start_epoch, losses = 0, []
    ckpt = out / CHECKPOINT
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("spec") == spec.to_json() and state.get("settings") == asdict(settings):
            conditioner.load_state_dict(state["conditioner"])
            opt.load_state_dict(state["optimizer"])
            start_epoch, losses = state["epoch"], state["losses"]
    gen = torch.Generator().manual_seed(settings.seed)
    orders = [torch.randperm(len(rows), generator=gen).tolist() for _ in range(settings.epochs)]
    steps = math.ceil(len(rows) / settings.batch_size)
    bar = progress_bar(steps * settings.epochs, steps * start_epoch, f"uemb {spec.aggregator}", progress)

    def save(epoch: int, epoch_losses: list[float]) -> None:
        """The epoch's mean loss, then the conditioner and optimizer state, atomically (a rerun resumes)."""
        losses.append(round(sum(epoch_losses) / max(len(epoch_losses), 1), 4))
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(ckpt, "wb") as fh:
            torch.save({"epoch": epoch + 1, "losses": losses, "spec": spec.to_json(), "settings": asdict(settings),
                        "conditioner": conditioner.state_dict(), "optimizer": opt.state_dict()}, fh)

    conditioner.train()
    try:
        train_loop(lambda batch: p.runner.loss([rows[i] for i in batch]),
                   lambda epoch: batches(orders[epoch], settings.batch_size), opt, params,
                   total_steps=steps * settings.epochs, max_epochs=settings.epochs,
                   max_grad_norm=settings.max_grad_norm, position=Position(steps * start_epoch, start_epoch),
                   bar=bar, on_batch=lambda so_far: bar.set_postfix(loss=f"{sum(so_far) / len(so_far):.3f}"),
                   on_epoch=save)
    finally:
        bar.close()
        conditioner.eval()
    return losses
