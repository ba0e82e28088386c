"""Greedy decoding for decoder-only models, cheaper than ``model.generate`` on batches of prompts.

``generate`` reads a batch's prompts padded to the longest, keeps every row until the last one
finishes, and copies its whole key/value cache at every step. This loop does the same greedy
arithmetic with less work:

- the token prefix every prompt shares (the chat template's system turn, ~25 tokens for SmolLM2)
  is read once and its keys/values copied to every row;
- prompts are read in length-sorted chunks of ``prefill_rows`` (little padding), then all rows
  decode together in one batch (on a CPU, a step costs about the same for 8 rows as for 32);
- the cache has room for every token to come, so a step writes one position in place;
- a row that has finished (an end-of-sequence token, a ``stop`` condition, its token limit) leaves
  the batch, so later steps compute only the rows still generating.

A lone prompt is read whole, as ``generate`` reads it. Outputs equal ``generate``'s greedy outputs
up to float rounding (padding and split reads change the order of fp32 sums). Needs the per-layer
cache of transformers 5 (:data:`AVAILABLE`); callers fall back to ``generate`` without it.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

try:
    from transformers.cache_utils import DynamicCache, DynamicLayer
    AVAILABLE = True
except ImportError:  # transformers 4.x
    DynamicCache = DynamicLayer = object
    AVAILABLE = False


class BufferLayer(DynamicLayer):
    """A cache layer over preallocated ``(batch, heads, capacity, dim)`` buffers: an update writes
    in place at ``length`` (growing by ``room`` spare positions when full) and ``keys``/``values``
    are views of the filled part, which is what attention reads."""

    def __init__(self, keys: torch.Tensor | None = None, values: torch.Tensor | None = None, length: int = 0,
                 room: int = 0) -> None:
        super().__init__()
        self.key_buffer, self.value_buffer, self.length, self.room = keys, values, length, room
        if keys is not None:
            self.is_initialized, self.device = True, keys.device
            self._views()

    def _views(self) -> None:
        self.keys = self.key_buffer[:, :, :self.length]
        self.values = self.value_buffer[:, :, :self.length]

    @staticmethod
    def _grown(buffer: torch.Tensor | None, like: torch.Tensor, length: int, size: int) -> torch.Tensor:
        new = like.new_zeros((*like.shape[:2], size, like.shape[3]))
        if buffer is not None:
            new[:, :, :length] = buffer[:, :, :length]
        return new

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        if self.key_buffer is None or self.length + n > self.key_buffer.shape[2]:
            size = self.length + n + self.room
            self.key_buffer = self._grown(self.key_buffer, key_states, self.length, size)
            self.value_buffer = self._grown(self.value_buffer, value_states, self.length, size)
        self.key_buffer[:, :, self.length:self.length + n] = key_states
        self.value_buffer[:, :, self.length:self.length + n] = value_states
        self.length += n
        self._views()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.key_buffer is not None:
            self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
            self._views()


def shared_prefix_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own (whose
    logits start its answer); 0 for a single row, which gains nothing from a split."""
    if len(rows) < 2:
        return 0
    limit = min(len(r) for r in rows) - 1
    first = rows[0]
    n = 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def accepts(model: Any, name: str) -> bool:
    """Whether the model's forward takes the keyword ``name``."""
    return name in inspect.signature(model.forward).parameters


def cache_argument(model: Any) -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``; support both."""
    return "cache" if accepts(model, "cache") else "past_key_values"


def _new_cache(model: Any, layers: list[BufferLayer]) -> Any:
    cache = DynamicCache(config=model.config)
    cache.layers = layers
    return cache


def _plain_layer_count(model: Any) -> int | None:
    """How many cache layers the model has, when all are plain full-attention layers (else None)."""
    if not AVAILABLE:
        return None
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # noqa: BLE001 - an unusual config: let generate() handle the model
        return None
    return len(layers) if all(type(x) is DynamicLayer for x in layers) else None


def supports(model: Any) -> bool:
    """Whether :func:`greedy_generate` can run this model (plain full-attention cache layers)."""
    return _plain_layer_count(model) is not None


def _merged_layers(chunks: list[tuple[list[BufferLayer], int]], n_rows: int, p: int, width: int,
                   room: int) -> list[BufferLayer]:
    """One decoding batch from the prefill chunks (in order): per layer, every chunk's prefix and
    its own ``w`` positions right-aligned in ``p + width`` positions, plus ``room`` for the answers."""
    merged = []
    for layer_index in range(len(chunks[0][0])):
        first = chunks[0][0][layer_index]
        shape = (n_rows, first.keys.shape[1], p + width + room, first.keys.shape[3])
        keys, values = first.keys.new_zeros(shape), first.values.new_zeros(shape)
        row = 0
        for layers, w in chunks:
            layer = layers[layer_index]
            n = layer.keys.shape[0]
            keys[row:row + n, :, :p], values[row:row + n, :, :p] = layer.keys[:, :, :p], layer.values[:, :, :p]
            keys[row:row + n, :, p + width - w:p + width] = layer.keys[:, :, p:]
            values[row:row + n, :, p + width - w:p + width] = layer.values[:, :, p:]
            row += n
        merged.append(BufferLayer(keys, values, length=p + width))
    return merged


def greedy_generate(model: Any, rows: list[list[int]], *, max_new_tokens: int, eos_ids: set[int], pad_id: int,
                    stop: Callable[[list[int]], bool] | None = None, prefill_rows: int = 8) -> list[list[int]]:
    """The greedy continuation of each prompt (token ids, end-of-sequence token excluded).

    ``rows``: the prompts' token ids (unpadded). ``stop(ids)``: True once a row's generated ids
    are complete (e.g. hold a finished answer line); that row's last token is kept."""
    if not rows or max_new_tokens <= 0:
        return [[] for _ in rows]
    device = next(model.parameters()).device
    cache_arg = cache_argument(model)
    keep_last = {"logits_to_keep": 1} if accepts(model, "logits_to_keep") else {}
    n_layers = _plain_layer_count(model)
    if n_layers is None:
        raise ValueError("greedy_generate needs a model with plain (full-attention) cache layers")
    p = shared_prefix_length(rows)
    prefix: list[tuple[torch.Tensor, torch.Tensor]] = []
    if p:
        cache = _new_cache(model, [BufferLayer() for _ in range(n_layers)])
        model(input_ids=torch.tensor([rows[0][:p]], device=device), use_cache=True, **keep_last, **{cache_arg: cache})
        prefix = [(layer.keys, layer.values) for layer in cache.layers]

    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))            # chunks of similar length
    width = max(len(r) for r in rows) - p
    mask = torch.zeros((len(rows), p + width), dtype=torch.long, device=device)
    mask[:, :p] = 1
    chunks, logits = [], []
    for start in range(0, len(order), prefill_rows):
        idx = order[start:start + prefill_rows]
        w = max(len(rows[i]) for i in idx) - p
        ids = torch.full((len(idx), w), pad_id, dtype=torch.long, device=device)
        for j, i in enumerate(idx):                                         # left padding after the prefix
            own = rows[i][p:]
            ids[j, w - len(own):] = torch.tensor(own, device=device)
            mask[start + j, p + width - len(own):] = 1
        part = mask[start:start + len(idx), p + width - w:]
        layers = [BufferLayer(k.expand(len(idx), -1, -1, -1).contiguous(), v.expand(len(idx), -1, -1, -1).contiguous(),
                              length=p) for k, v in prefix] or [BufferLayer() for _ in range(n_layers)]
        cache = _new_cache(model, layers)
        positions = (p + part.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=torch.cat([mask[start:start + len(idx), :p], part], dim=1),
                    position_ids=positions, use_cache=True, **keep_last, **{cache_arg: cache})
        chunks.append((cache.layers, w))
        logits.append(out.logits[:, -1])

    cache = _new_cache(model, _merged_layers(chunks, len(rows), p, width, room=max_new_tokens))
    logits = torch.cat(logits)
    next_pos = p + mask[:, p:].sum(-1) - 1
    active = order                                                        # batch row -> input row
    generated: list[list[int]] = [[] for _ in rows]
    for _ in range(max_new_tokens):
        tokens = logits.argmax(-1)
        still = []
        for j, (row, token) in enumerate(zip(active, tokens.tolist())):   # one device sync a step
            if token in eos_ids:
                continue
            generated[row].append(token)
            if len(generated[row]) < max_new_tokens and not (stop and stop(generated[row])):
                still.append(j)
        if not still:
            break
        if len(still) < len(active):                                      # finished rows leave the batch
            index = torch.tensor(still, device=device)
            cache.batch_select_indices(index)
            tokens, mask, next_pos = tokens[index], mask[index], next_pos[index]
            active = [active[j] for j in still]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=1)
        next_pos = next_pos + 1
        out = model(input_ids=tokens.unsqueeze(1), attention_mask=mask, position_ids=next_pos.unsqueeze(1),
                    use_cache=True, **{cache_arg: cache})
        logits = out.logits[:, -1]
    return generated
