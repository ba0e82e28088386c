"""The one optimizer loop (lamp.training.loop) that per-user LoRA, user embeddings, ROPG and RSPG train with."""

from __future__ import annotations

import pytest
import torch

from lamp.core.errors import LampError
from lamp.training.loop import Position, batches, make_optimizer, official_schedule, train_loop

X = torch.linspace(-1, 1, 10).unsqueeze(1)
Y = 3 * X + 0.5


def _model() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(1, 1)


def _loss(model: torch.nn.Module):
    return lambda batch: ((model(X[batch]) - Y[batch]) ** 2).mean()


def _by_hand(model: torch.nn.Module, order: list[int], size: int, accumulation: int, steps: int) -> None:
    """The loop the trainers used to write out: loss / accumulation, clip, step, zero, pass after pass."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    chunks, step, at = batches(order, size), 0, 0
    while step < steps:
        for _ in range(accumulation):
            if at == len(chunks):
                break
            (_loss(model)(chunks[at]) / accumulation).backward()
            at += 1
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if at == len(chunks):
            at = 0


def test_batches_keep_the_short_tail_unless_dropped():
    assert batches([4, 3, 2, 1, 0], 2) == [[4, 3], [2, 1], [0]]
    assert batches([4, 3, 2, 1, 0], 2, drop_last=True) == [[4, 3], [2, 1]]
    assert batches([0], 2, drop_last=True) == []


def test_official_schedule_warms_up_then_holds_or_decays():
    assert [official_schedule("fixed", 2, 10)(s) for s in (0, 5)] == [1.0, 1.0]
    linear = official_schedule("linear", 2, 6)
    assert [linear(s) for s in range(7)] == [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]   # official: step 0 at lr 0
    assert official_schedule("linear", 2, 6, hold=True)(5) == 1.0
    with pytest.raises(LampError, match="--scheduler must be fixed or linear"):
        official_schedule("cosine", 1, 1)


def test_optimizer_by_name_and_an_unknown_name_is_a_user_error():
    params = list(_model().parameters())
    assert isinstance(make_optimizer(params, "adam", 1e-3), torch.optim.Adam)
    assert type(make_optimizer(params, "adamw", 1e-3, 0.01)) is torch.optim.AdamW
    with pytest.raises(LampError, match="--optim must be adam or adamw"):
        make_optimizer(params, "sgd", 1e-3)


def test_accumulated_steps_match_the_hand_written_loop():
    order = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]
    ref = _model()
    _by_hand(ref, order, size=3, accumulation=2, steps=5)          # passes of 4 batches: 2 steps each, then more
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    epochs, steps = [], []
    pos = train_loop(_loss(model), lambda e: batches(order, 3), opt, list(model.parameters()), total_steps=5,
                     accumulation_steps=2, max_grad_norm=1.0, on_step=lambda p, loss: steps.append(p.step),
                     on_epoch=lambda e, losses: epochs.append((e, len(losses))))
    assert all(torch.equal(a, b) for a, b in zip(ref.parameters(), model.parameters()))
    assert steps == [1, 2, 3, 4, 5] and pos == Position(step=5, epoch=2, batch=2)
    assert epochs == [(0, 4), (1, 4), (2, 2)]                    # the pass cut by the step budget is reported too


def test_a_resumed_run_ends_where_an_uninterrupted_one_does():
    order = list(range(10))
    whole = _model()
    train_loop(_loss(whole), lambda e: batches(order, 4), torch.optim.SGD(whole.parameters(), lr=0.1),
               list(whole.parameters()), total_steps=7)
    part = _model()
    opt = torch.optim.SGD(part.parameters(), lr=0.1)
    pos = train_loop(_loss(part), lambda e: batches(order, 4), opt, list(part.parameters()), total_steps=4)
    assert pos == Position(step=4, epoch=1, batch=1)
    train_loop(_loss(part), lambda e: batches(order, 4), opt, list(part.parameters()), total_steps=7, position=pos)
    assert all(torch.equal(a, b) for a, b in zip(whole.parameters(), part.parameters()))


def test_the_epoch_budget_stops_a_process_whose_share_is_short():
    model = _model()
    pos = train_loop(_loss(model), lambda e: batches([0, 1], 1), torch.optim.SGD(model.parameters(), lr=0.1),
                     list(model.parameters()), total_steps=100, max_epochs=3)
    assert pos == Position(step=6, epoch=3, batch=0)


def test_nothing_to_train_on_returns_instead_of_looping_forever():
    model = _model()
    seen = []
    pos = train_loop(_loss(model), lambda e: [], torch.optim.SGD(model.parameters(), lr=0.1),
                     list(model.parameters()), total_steps=3)
    assert pos == Position()
    pos = train_loop(_loss(model), lambda e: [], torch.optim.SGD(model.parameters(), lr=0.1),
                     list(model.parameters()), total_steps=3, max_epochs=2, on_epoch=lambda e, l: seen.append(e))
    assert pos == Position(epoch=2) and seen == [0, 1]
