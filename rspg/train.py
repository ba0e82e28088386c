"""Training and applying the selector (official ``RSPG/rspg.py``, reference §7.3).

Adam, ``--lr`` (1e-5 as the official), a fixed or linear-warmup schedule, gradient clipping at 1.0,
``--per_gpu_batch_size`` questions per step (each with all n retrievers) and ``--accumulation_steps``.
It runs on one CPU as a plain process (the official needs a distributed launcher) and under
``accelerate launch`` on several GPUs (each process takes its share of every epoch's questions).

Seeded (the shuffle of epoch e uses ``seed + e``) and resumable: the full training state is written
atomically after every epoch to ``train_state.pt``; a rerun of the same command continues from the
last finished epoch, and a finished selector is not trained again. ``--freeze_encoder`` trains only
the head over embeddings computed once (a cheap linear probe of the encoder).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from lamp.core.errors import LampDataError, LampError
from lamp.core.writing import atomic_write, write_json
from lamp.core.tasks import get_task

from lamp.training.loop import Position, batches, make_optimizer, official_schedule, progress_bar, train_loop

from lamp.training.losses import kd_form, kd_loss, rating_values
from rspg.model import CONFIG_FILE, Selector, load_encoder, save_selector, selector_text, separator
from eval.metrics import score_task
from lamp.core.writing import link_latest
from retrievers.dense import resolve_encoder
from rspg.data import pool_info_path
from rspg.model import load_selector

STATE_FILE = "train_state.pt"
LOG_FILE = "train_log.json"


@dataclass
class TrainConfig:
    """Everything that changes the trained selector."""

    task: str
    rspg_type: str = "Pre"
    model_name: str | None = None          # encoder folder or hub id; None: the bundled all-MiniLM-L6-v2
    pooling: str = "auto"
    max_length_input: int = 512
    loss: str = "paper"
    temperature: float = 1.0
    lr: float = 1e-5
    epochs: int = 20
    per_gpu_batch_size: int = 1
    accumulation_steps: int = 1
    scheduler: str = "fixed"
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    freeze_encoder: bool = False
    retriever_prior: bool = False          # a learned score per retriever (not in the official model)
    seed: int = 0
    # The official rspg.py schedule (None / 0: the epoch schedule above): optimizer steps, a selector
    # checkpoint every save_freq steps under out/checkpoint/step-N, a validation every eval_freq steps.
    total_steps: int | None = None
    save_freq: int = 0
    eval_freq: int = 0
    warmup_steps: int | None = None        # linear: warmup in steps (else warmup_ratio)
    scheduler_steps: int | None = None     # linear: where the decay reaches 0 (default: the total)
    fixed_lr: bool = False                 # linear: stay at the peak after warmup
    optim: str = "adam"
    weight_decay: float = 0.0
    init_selector: str | None = None       # a selector folder to start from (rspg.py --model_path)
    official_steps: bool = False           # total_steps + 1 steps, as the official loop (rspg.py: on)
    official_accumulation: bool = False    # micro-batch gradients summed, as officially (rspg.py: on)

    def key(self) -> dict[str, Any]:
        out = asdict(self)
        defaults = TrainConfig(task=self.task)
        for name in ("retriever_prior", "total_steps", "save_freq", "eval_freq", "warmup_steps", "scheduler_steps",
                     "fixed_lr", "optim", "weight_decay", "init_selector", "official_steps", "official_accumulation"):
            if out[name] == getattr(defaults, name):   # selectors trained before the option keep their key
                out.pop(name)
        return out


# --------------------------------------------------------------------------- data

def load_records(path: str | Path, task: str | None = None) -> list[dict[str, Any]]:
    """The records written by ``create_data``, checked: same pool on every record, n >= 2."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LampError(f"{path}: cannot read the selector data ({exc})") from None
    if not isinstance(records, list) or not records:
        raise LampDataError("expected a non-empty list of records (made by `lamp rspg data`)", file=str(path))
    n = None
    names = None
    for rec in records:
        rid = rec.get("id") if isinstance(rec, dict) else None
        for key in ("id", "labels", "outputs", "inputs", "gold"):
            if not isinstance(rec, dict) or key not in rec:
                raise LampDataError(f"the record lacks {key!r}", file=str(path), record_id=rid, field=key)
        sizes = {len(rec["labels"]), len(rec["outputs"]), len(rec["inputs"])}
        if len(sizes) != 1:
            raise LampDataError("labels, outputs and inputs have different lengths", file=str(path),
                                record_id=rid, field="labels")
        if n is None:
            n, names = sizes.pop(), rec.get("retrievers")
        elif len(rec["labels"]) != n or rec.get("retrievers") != names:
            raise LampDataError(f"this record's pool differs from the first record's ({n} retrievers "
                                f"{names or ''})", file=str(path), record_id=rid, field="retrievers")
    if n < 2:
        raise LampDataError(f"the pool has {n} retriever; a selector needs at least two", file=str(path))
    return records


def target_labels(records: Sequence[dict[str, Any]], task: str) -> np.ndarray:
    """(N, n) labels, higher is better: LaMP-3 errors mapped to ``(w - mae)/w`` as the official."""
    if get_task(task).family == "rating":
        return np.array([rating_values(r["labels"], r["gold"]) for r in records], dtype=np.float32)
    return np.array([r["labels"] for r in records], dtype=np.float32)


def check_learnable(labels: np.ndarray, where: str) -> None:
    """All labels equal on every record: nothing tells one retriever from another."""
    if labels.size and np.all(labels.max(axis=1) == labels.min(axis=1)):
        raise LampDataError(f"every record's labels are all equal ({labels.shape[0]} records): the feedback "
                            "cannot tell the retrievers apart, so there is nothing to learn (check the "
                            "--metric and that the retrievers' prompts differ)", file=where, field="labels")


def texts_of(records: Sequence[dict[str, Any]], rspg_type: str, sep: str) -> list[list[str]]:
    return [[selector_text(rspg_type, p, o, sep) for p, o in zip(r["inputs"], r["outputs"])] for r in records]


# --------------------------------------------------------------------------- model use

def _encode(tokenizer: Any, texts: Sequence[str], max_length: int, device: Any) -> dict[str, torch.Tensor]:
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}


#: Vectors of a frozen (untrained) encoder, per (checkpoint, pooling, max length): cross-validation
#: folds and selection reuse them within one process instead of encoding the same texts again.
_FROZEN: dict[tuple[str, str, int], dict[str, torch.Tensor]] = {}


def frozen_memo(checkpoint: str, pooling: str, max_length: int) -> dict[str, torch.Tensor]:
    return _FROZEN.setdefault((str(checkpoint), pooling, int(max_length)), {})


@torch.inference_mode()
def embed_all(model: Selector, tokenizer: Any, texts: Sequence[Sequence[str]], max_length: int,
              batch_size: int = 16, progress: bool = False, desc: str = "embed",
              memo: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Pooled encoder vectors (N, n, H) for every (record, retriever) text, length-sorted batches
    (``memo``: vectors already known for a frozen encoder, filled with the new ones)."""
    from tqdm.auto import tqdm

    flat = [t for row in texts for t in row]
    n = len(texts[0]) if texts else 0
    device = next(model.parameters()).device
    known = memo if memo is not None else {}
    todo = sorted({t for t in flat if t not in known}, key=lambda t: -len(t))
    for start in tqdm(range(0, len(todo), batch_size), disable=not progress, desc=desc, unit="batch"):
        part = todo[start:start + batch_size]
        vecs = model.embed(**_encode(tokenizer, part, max_length, device)).float().cpu()
        known.update(zip(part, vecs))
    return torch.stack([known[t] for t in flat]).view(len(texts), n, -1) if flat else torch.zeros(0)


@torch.inference_mode()
def score_texts(model: Selector, tokenizer: Any, texts: Sequence[Sequence[str]], max_length: int,
                batch_size: int = 16, progress: bool = False, memo: dict[str, torch.Tensor] | None = None) -> np.ndarray:
    """The selector's (N, n) scores."""
    model.eval()
    vectors = embed_all(model, tokenizer, texts, max_length, batch_size, progress, desc="select", memo=memo)
    return model.score_vectors(vectors.to(next(model.parameters()).device)).float().cpu().numpy()


def picks_quality(task: str, records: Sequence[dict[str, Any]], picks: Sequence[int]) -> dict[str, float]:
    """The official metrics of the outputs the picks choose, against the records' golds."""
    golds = {r["id"]: r["gold"] for r in records}
    preds = {r["id"]: r["outputs"][k] for r, k in zip(records, picks)}
    return score_task(task, golds, preds)


# --------------------------------------------------------------------------- training

def _fingerprint(path: str | Path) -> str:
    """sha256 of the training data: a selector trained on other data is not reused."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _schedule(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    warm = max(1, cfg.warmup_steps if cfg.warmup_steps is not None else int(round(cfg.warmup_ratio * total)))
    return official_schedule(cfg.scheduler, warm, cfg.scheduler_steps or cfg.total_steps or total, cfg.fixed_lr)


def train_selector(cfg: TrainConfig, train_path: str | Path, out_dir: str | Path, val_path: str | Path | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Train (or resume, or skip when finished) and save the selector in ``out_dir``; returns the log."""
    from accelerate import Accelerator

    out = Path(out_dir)
    if cfg.rspg_type not in ("Pre", "Post"):
        raise LampError(f"--rspg_type must be Pre or Post, got {cfg.rspg_type!r}")
    try:
        form = kd_form(cfg.loss)          # paper, or the RSPG code's own form ("official")
    except ValueError as exc:
        raise LampError(f"--loss: {exc}") from None
    task = get_task(cfg.task).name
    train = load_records(train_path, task)
    labels = target_labels(train, task)
    check_learnable(labels, str(train_path))
    val = load_records(val_path, task) if val_path else None
    names = train[0].get("retrievers") or [f"r{k}" for k in range(labels.shape[1])]
    if val is not None and len(val[0]["labels"]) != labels.shape[1]:
        raise LampError(f"{val_path}: {len(val[0]['labels'])} retrievers, the training data has {labels.shape[1]}")
    log_path = out / LOG_FILE
    data_hash = _fingerprint(train_path)
    if (out / CONFIG_FILE).exists() and log_path.exists():
        log = json.loads(log_path.read_text(encoding="utf-8"))
        if log.get("config") == cfg.key() and log.get("finished") and log.get("train_data_sha256", data_hash) == data_hash:
            print(f"{out}: already trained with these settings and data; nothing to do")
            return log

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    accelerator = Accelerator()
    checkpoint = resolve_encoder(cfg.model_name)
    if cfg.init_selector:
        model, tokenizer, _ = load_selector(cfg.init_selector)
        pooling, checkpoint = model.pooling, str(Path(cfg.init_selector) / "encoder")
    else:
        encoder, tokenizer, pooling = load_encoder(checkpoint, cfg.pooling)
        model = Selector(encoder, pooling, labels.shape[1] if cfg.retriever_prior else 0)
    sep = separator(tokenizer)
    train_texts = texts_of(train, cfg.rspg_type, sep)
    params = [p for name, p in model.named_parameters() if not (cfg.freeze_encoder and name.startswith("encoder."))]
    optimizer = make_optimizer(params, cfg.optim, cfg.lr, cfg.weight_decay)
    per_epoch = math.ceil(len(train) / (cfg.per_gpu_batch_size * accelerator.num_processes * cfg.accumulation_steps))
    total = cfg.total_steps or per_epoch * cfg.epochs
    if cfg.total_steps and cfg.official_steps:
        total += 1            # the official loop breaks only once the step exceeds --total_steps
    epochs = math.ceil(total / per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg, total))
    if accelerator.is_main_process:
        print(f"RSPG-{cfg.rspg_type} selector: encoder {checkpoint}, pooling {pooling}; loss {cfg.loss} KD, "
              f"T={cfg.temperature:g}; fp32; " + (f"{total} steps" if cfg.total_steps else f"{cfg.epochs} epochs")
              + f" at batch {cfg.per_gpu_batch_size}" + (" (gradients summed)" if cfg.official_accumulation else ""))
    log: dict[str, Any] = {"config": cfg.key(), "encoder": checkpoint, "pooling": pooling, "retrievers": names,
                           "train_data_sha256": data_hash, "epochs": [], "finished": False, "step": 0}
    start_epoch = 0
    state_path = out / STATE_FILE
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state.get("config") == cfg.key() and state["log"].get("train_data_sha256", data_hash) == data_hash:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, log = state["epoch"], state["log"]
            torch.set_rng_state(state["torch_rng"])
            print(f"{out}: resuming after epoch {start_epoch}")
        else:
            print(f"{out}: {STATE_FILE} was made with other settings; starting over")
    model, optimizer = accelerator.prepare(model, optimizer)
    core: Selector = accelerator.unwrap_model(model)
    device = accelerator.device

    frozen = val_frozen = None
    val_texts = texts_of(val, cfg.rspg_type, sep) if val is not None else None
    if cfg.freeze_encoder:
        core.encoder.eval()
        memo = frozen_memo(checkpoint, pooling, cfg.max_length_input)
        frozen = embed_all(core, tokenizer, train_texts, cfg.max_length_input, progress=progress,
                           desc="embed (frozen encoder)", memo=memo)
        if val_texts is not None and accelerator.is_main_process:
            val_frozen = embed_all(core, tokenizer, val_texts, cfg.max_length_input, memo=memo)
    target = torch.tensor(labels)
    step = log.get("step", start_epoch * per_epoch)
    config = {"task": task, "rspg_type": cfg.rspg_type, "retrievers": names, "max_length_input": cfg.max_length_input,
              "encoder": checkpoint, "train_config": cfg.key(), "pool": _pool_info(train_path)}

    def validate() -> dict[str, Any]:
        if val_frozen is not None:
            with torch.inference_mode():
                picks = core.score_vectors(val_frozen.to(device)).float().cpu().numpy().argmax(1)
        else:
            picks = score_texts(core, tokenizer, val_texts, cfg.max_length_input).argmax(1)
        model.train()
        if cfg.freeze_encoder:
            core.encoder.eval()
        return {"val": picks_quality(task, val, picks.tolist()),
                "val_picks": {names[k]: int((picks == k).sum()) for k in range(len(names))}}

    def epoch_batches(epoch: int) -> list[list[int]]:
        """Epoch e's order (seeded by seed + e), this process's share of it, in batches."""
        model.train()
        if cfg.freeze_encoder:
            core.encoder.eval()
        order = list(range(len(train)))
        random.Random(cfg.seed + epoch).shuffle(order)
        return batches(order[accelerator.process_index::accelerator.num_processes], cfg.per_gpu_batch_size)

    def loss_of(batch: list[int]) -> torch.Tensor:
        y = target[batch].to(device)
        if frozen is not None:
            scores = core.score_vectors(frozen[batch].to(device))
        else:
            enc = _encode(tokenizer, [t for j in batch for t in train_texts[j]], cfg.max_length_input, device)
            scores = model(enc["input_ids"], enc["attention_mask"], y.shape[1])
        return kd_loss(scores, y, None, cfg.temperature, form)

    def after_step(pos: Position, loss: float) -> None:
        if accelerator.is_main_process:
            if val is not None and cfg.eval_freq and pos.step % cfg.eval_freq == 0:
                print(json.dumps({"step": pos.step, **validate()}))
            if (cfg.save_freq and pos.step % cfg.save_freq == 0) or (cfg.total_steps and pos.step == total):
                save_step(core, tokenizer, out, pos.step, config)

    def after_epoch(epoch: int, losses: list[float]) -> None:
        """The epoch's log entry (and validation), then the whole training state, atomically (a rerun resumes)."""
        entry: dict[str, Any] = {"epoch": epoch + 1, "step": position.step,
                                 "train_loss": float(np.mean(losses)) if losses else None}
        if val is not None and accelerator.is_main_process:
            entry.update(validate())
        log["epochs"].append(entry)
        log["step"] = position.step
        print(json.dumps(entry))
        if accelerator.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            with atomic_write(state_path, "wb") as fh:
                torch.save({"config": cfg.key(), "model": core.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "log": log,
                            "torch_rng": torch.get_rng_state()}, fh)
        accelerator.wait_for_everyone()

    position = Position(step, start_epoch)
    bar = progress_bar(total, step, f"train {cfg.rspg_type}", progress and accelerator.is_main_process)
    try:
        train_loop(loss_of, epoch_batches, optimizer, list(model.parameters()), total_steps=total, max_epochs=epochs,
                   scheduler=scheduler, accumulation_steps=cfg.accumulation_steps, max_grad_norm=cfg.max_grad_norm,
                   mean_accumulated=not cfg.official_accumulation,
                   backward=accelerator.backward, clip=accelerator.clip_grad_norm_, position=position, bar=bar,
                   on_batch=lambda losses: bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}"),
                   on_step=after_step, on_epoch=after_epoch)
    finally:
        bar.close()
    log["finished"] = True
    if accelerator.is_main_process:
        save_selector(core, tokenizer, out, config)
        write_json(log_path, log, indent=1)
    return log


def _pool_info(train_path: str | Path) -> dict[str, Any] | None:
    sidecar = pool_info_path(train_path)
    return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else None


def save_step(model: Selector, tokenizer: Any, out: Path, step: int, config: dict[str, Any]) -> Path:
    """A selector checkpoint ``out/checkpoint/step-N`` and the ``latest`` link to it, as the official
    layout (each a whole selector folder: ``rspg.py --do_validation --model_path`` reads it)."""
    folder = out / "checkpoint"
    final = folder / f"step-{step}"
    save_selector(model, tokenizer, final, config)
    link_latest(folder, final)
    return final
