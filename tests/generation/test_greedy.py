"""lamp.generation.backends.greedy: the batched greedy loop gives generate()'s greedy answers, row by row.

A tiny random Llama in float64 (so padding and split prefills cannot flip a near-tie), built here
with weights large enough that a wrong position, mask or cache row changes the answer.
"""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from lamp.generation.backends.greedy import BufferLayer, greedy_generate, shared_prefix_length, supports

PREFIX = [5, 6, 7, 8, 9, 10]
ROWS = [PREFIX + [11, 12, 13], PREFIX + [40], PREFIX + [21, 22, 23, 24, 25, 26, 27], PREFIX + [30, 31],
        PREFIX + [50, 51, 52, 53, 54]]


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, eos_token_id=1, bos_token_id=1, initializer_range=0.3)
    return LlamaForCausalLM(config).double().eval()      # large weights: answers hang on every position


def reference(model, row: list[int], max_new_tokens: int, eos: int | None = None) -> list[int]:
    """model.generate on one unpadded prompt; the end-of-sequence token and anything after dropped."""
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=0,
                              eos_token_id=eos if eos is not None else 63)  # 63: a token never set as eos
    with torch.inference_mode():
        out = model.generate(input_ids=torch.tensor([row]), attention_mask=torch.ones(1, len(row), dtype=torch.long),
                             generation_config=config)[0, len(row):].tolist()
    return out[:out.index(eos)] if eos is not None and eos in out else out


def run(model, rows, **kwargs) -> list[list[int]]:
    kwargs.setdefault("eos_ids", {63})
    with torch.inference_mode():
        return greedy_generate(model, rows, pad_id=0, **kwargs)


def test_shared_prefix_leaves_every_row_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    assert shared_prefix_length([[1, 2], [1, 2, 3]]) == 1
    assert shared_prefix_length([[5], [6]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 0          # one row: read whole, as generate() does
    assert shared_prefix_length(ROWS) == len(PREFIX)


def test_the_tiny_llama_has_plain_cache_layers(model):
    assert supports(model)


@pytest.mark.parametrize("prefill_rows", [1, 2, 8])
def test_batched_greedy_equals_generate_one_prompt_at_a_time(model, prefill_rows):
    expected = [reference(model, row, 9) for row in ROWS]
    assert run(model, ROWS, max_new_tokens=9, prefill_rows=prefill_rows) == expected


def test_rows_without_a_shared_prefix_are_left_padded(model):
    rows = [[3, 4, 5, 6], [20], [30, 31, 32]]
    assert run(model, rows, max_new_tokens=6, prefill_rows=2) == [reference(model, r, 6) for r in rows]


def test_a_row_ends_at_its_end_of_sequence_token_and_the_others_go_on(model):
    free = [reference(model, row, 9) for row in ROWS]
    eos = free[0][3]                                          # row 0's fourth token ends row 0 there
    expected = [reference(model, row, 9, eos=eos) for row in ROWS]
    assert expected[0] == free[0][:free[0].index(eos)]
    assert any(len(e) == 9 for e in expected)                 # some rows still run to the limit
    assert run(model, ROWS, max_new_tokens=9, eos_ids={eos}, prefill_rows=2) == expected


def test_stop_keeps_the_token_that_completed_the_answer(model):
    free = [reference(model, row, 8) for row in ROWS]
    assert {full[0] % 2 for full in free} == {0, 1}            # both kinds of row below
    out = run(model, ROWS, max_new_tokens=8, stop=lambda ids: len(ids) >= 3 and ids[0] % 2 == 0)
    for got, full in zip(out, free):
        assert got == (full[:3] if full[0] % 2 == 0 else full)


def test_no_new_tokens_and_no_rows():
    assert greedy_generate(None, [], max_new_tokens=4, eos_ids={1}, pad_id=0) == []
    assert greedy_generate(None, [[1, 2]], max_new_tokens=0, eos_ids={1}, pad_id=0) == [[]]


def test_buffer_layer_writes_in_place_and_grows_keeping_what_it_held():
    layer = BufferLayer(room=2)
    first = torch.arange(12.0).view(1, 1, 3, 4)
    layer.update(first, -first)
    assert layer.key_buffer.shape[2] == 5 and torch.equal(layer.keys, first)
    step = torch.full((1, 1, 1, 4), 7.0)
    buffer = layer.key_buffer
    layer.update(step, step)
    assert layer.key_buffer is buffer                          # in place, no copy
    layer.update(step, step)
    layer.update(step, step)                                  # past the room: grows
    assert layer.length == 6 and torch.equal(layer.keys[:, :, :3], first)
    assert torch.equal(layer.values[:, :, 3:], step.expand(1, 1, 3, 4))
    layer.batch_select_indices(torch.tensor([0, 0]))
    assert layer.keys.shape == (2, 1, 6, 4)
