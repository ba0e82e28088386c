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
from lamp.core.files import atomic_write
from lamp.core.records import Question
from lamp.core.tasks import Task, get_task
from lamp.methods.uemb.artifact import Artifact, is_artifact, read_artifact, save_artifact
from lamp.methods.uemb.features import kmeans, style_vector
from lamp.methods.uemb.model import UembSpec, UserConditioner, embed_rms
from lamp.methods.uemb.personalizer import Personalizer, entries_for

CHECKPOINT = "uemb_checkpoint.pt"


@dataclass
class UembSettings:
    """What to train (the architecture and the data view) and how."""

    aggregator: str = "mean"
    injection: str = "prefix"
    n_tokens: int = 1
    hidden: int = 512
    use_retrieval: bool = False
    k: int = 2
    retriever: str = "bm25"
    control_clusters: int = 8
    epochs: int = 3
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0
    max_grad_norm: float = 1.0


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
    from retrievers.dense import Encoder

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
        from lamp.generation.models import load_model_and_tokenizer
        from lamp.methods.uemb.personalizer import resolve_base

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
    from tqdm.auto import tqdm

    params = [x for x in conditioner.parameters() if x.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
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
    bar = tqdm(total=steps * settings.epochs, initial=steps * start_epoch, desc=f"uemb {spec.aggregator}",
               unit="step", disable=not progress, dynamic_ncols=True)
    conditioner.train()
    try:
        for epoch in range(start_epoch, settings.epochs):
            total, n = 0.0, 0
            for s in range(0, len(rows), settings.batch_size):
                batch = [rows[i] for i in orders[epoch][s:s + settings.batch_size]]
                loss = p.runner.loss(batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
                opt.step()
                opt.zero_grad(set_to_none=True)
                total, n = total + loss.item(), n + 1
                bar.update(1)
                bar.set_postfix(loss=f"{total / n:.3f}")
            losses.append(round(total / max(n, 1), 4))
            out.mkdir(parents=True, exist_ok=True)
            with atomic_write(ckpt, "wb") as fh:
                torch.save({"epoch": epoch + 1, "losses": losses, "spec": spec.to_json(), "settings": asdict(settings),
                            "conditioner": conditioner.state_dict(), "optimizer": opt.state_dict()}, fh)
    finally:
        bar.close()
        conditioner.eval()
    return losses

