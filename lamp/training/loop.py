"""One optimizer loop for the harness's trainers: per-user LoRA, user embeddings, ROPG and RSPG.

They share one shape, kept here once: passes over batches in a seeded order, micro-batches
accumulated into one optimizer step (each loss divided by the accumulation count; a pass's last
step takes what is left), gradient clipping, the optimizer and scheduler step, a budget of steps
(and of passes), a progress bar of steps, and a position that a resumed run starts from. What differs
stays with each method and is handed in: its loss, its data and batch order, and what it does after a
micro-batch, a step or a pass (log, save, validate).

    pos = train_loop(lambda batch: model(**collate(batch)).loss, lambda epoch: batches(order(epoch), 8),
                     optimizer, params, total_steps=100, max_grad_norm=1.0, scheduler=scheduler)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lamp.core.errors import LampError

#: The optimizers the trainers offer (``--optim``): name -> ``torch.optim`` class name. (torch is
#: imported where it is used: the light command lines import the trainers' modules for their flags.)
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW"}


@dataclass
class Position:
    """Where training stands: optimizer steps taken, passes finished, micro-batches done in this pass."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def batches(order: Sequence[int], size: int, drop_last: bool = False) -> list[list[int]]:
    """``order`` cut into consecutive batches of ``size`` (the last one shorter unless ``drop_last``)."""
    stop = len(order) - size + 1 if drop_last else len(order)
    return [list(order[i:i + size]) for i in range(0, max(stop, 0), size)]


def make_optimizer(params: Iterable[Any], name: str, lr: float, weight_decay: float = 0.0) -> Any:
    """Adam or AdamW over ``params``; another name is an error naming ``--optim``."""
    import torch

    if name not in OPTIMIZERS:
        raise LampError(f"--optim must be {' or '.join(OPTIMIZERS)}, got {name!r}")
    return getattr(torch.optim, OPTIMIZERS[name])(params, lr=lr, weight_decay=weight_decay)


def official_schedule(kind: str, warmup: int, end: int, hold: bool = False) -> Callable[[int], float]:
    """The learning-rate factor of the official ROPG and RSPG scripts, per optimizer step.

    ``fixed``: 1 throughout. ``linear``: ``step / warmup`` during the warmup (so the first optimizer
    step, step 0, runs at lr 0, as the official ``WarmupLinearScheduler`` with ``min_ratio`` 0 does),
    then 1 with ``hold``, else a linear decay that reaches 0 at step ``end``.
    """
    if kind == "fixed":
        return lambda step: 1.0
    if kind != "linear":
        raise LampError(f"--scheduler must be fixed or linear, got {kind!r}")

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return 1.0 if hold else max(0.0, (end - step) / max(1, end - warmup))
    return factor


def progress_bar(total: int, initial: int = 0, desc: str = "", enabled: bool = True) -> Any:
    """A bar of optimizer steps (tqdm), starting at ``initial`` for a resumed run."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=not enabled, dynamic_ncols=True)


def train_loop(loss_of: Callable[[list[int]], Any], epoch_batches: Callable[[int], list[list[int]]],
               optimizer: Any, params: Sequence[Any], *, total_steps: int, max_epochs: int | None = None,
               scheduler: Any = None, accumulation_steps: int = 1, max_grad_norm: float | None = None,
               mean_accumulated: bool = True,
               backward: Callable[[Any], None] | None = None, clip: Callable[[Sequence[Any], float], Any] | None = None,
               position: Position | None = None, bar: Any = None,
               on_batch: Callable[[list[float]], None] | None = None,
               on_step: Callable[[Position, float], None] | None = None,
               on_epoch: Callable[[int, list[float]], None] | None = None) -> Position:
    """Train until ``total_steps`` optimizer steps (or ``max_epochs`` passes) are done; returns the position.

    ``epoch_batches(e)`` gives pass ``e``'s batches (lists of indices); ``loss_of(batch)`` a micro-batch's
    loss. ``mean_accumulated`` divides each micro-batch's loss by ``accumulation_steps`` (the step's
    gradient is the mean); off, the gradients are summed, as the official ROPG and RSPG loops do
    (clipping and the learning rate then see ``accumulation_steps`` times the mean gradient). ``backward`` (default ``loss.backward()``) and ``clip`` (default ``clip_grad_norm_``) are there
    for a launcher that wraps them (accelerate). After each micro-batch ``on_batch`` sees this pass's
    losses so far; after each optimizer step ``on_step`` sees the position and the step's loss (the
    accumulated mean); after each pass, also one cut short by the step budget, ``on_epoch`` sees its
    index and its losses.
    """
    import torch

    clip = clip or torch.nn.utils.clip_grad_norm_
    backward = backward or torch.Tensor.backward
    pos = position or Position()
    while pos.step < total_steps and (max_epochs is None or pos.epoch < max_epochs):
        chunks = epoch_batches(pos.epoch)
        if not chunks and max_epochs is None:
            break                     # nothing to train on: no pass would ever take a step
        losses: list[float] = []
        while pos.batch < len(chunks) and pos.step < total_steps:
            step_loss = 0.0
            for _ in range(accumulation_steps):
                if pos.batch >= len(chunks):
                    break
                loss = loss_of(chunks[pos.batch])
                pos.batch += 1
                scaled = loss / accumulation_steps if accumulation_steps > 1 and mean_accumulated else loss
                backward(scaled)
                value = float(loss.detach())
                step_loss += value / accumulation_steps
                losses.append(value)
                if on_batch:
                    on_batch(losses)
            if max_grad_norm is not None:
                clip(params, max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            pos.step += 1
            if bar is not None:
                bar.update(1)
            if on_step:
                on_step(pos, step_loss)
        if on_epoch:
            on_epoch(pos.epoch, losses)
        if pos.batch >= len(chunks):
            pos.epoch, pos.batch = pos.epoch + 1, 0
    return pos
