"""Continuous batching for ``lamp serve``: greedy rows join a running batch at its next decoding step.

:class:`RunningBatch` holds the decoding state of every row in flight on one decoder-only model:
a key/value cache of per-layer buffers (:class:`lamp.generation.backends.greedy.BufferLayer`) in which each
row's tokens are right-aligned (left padding, masked out), the attention mask, each row's next
position and its next-token logits. Between two steps the engine may

* **admit** new jobs: their prompts are read (in chunks of ``prefill_rows``, each prompt tokenized on
  its own, so a prompt that cannot be tokenized fails alone) and their caches merged with the running
  rows' (the running rows keep their state: nothing is recomputed);
* **reuse the shared prefix**: the token prefix that prompts share (the chat template's system turn,
  ~25 tokens for SmolLM2) is read once, when two or more prompts that share it first join together,
  and its keys and values are copied into every later row that starts with it;
* **step**: every row takes its greedy token; rows that finished (end of sequence, a stop string,
  their ``max_tokens``) leave the batch at once and their requests are answered.

Positions are per row (``position_ids``), so a row's answer does not depend on the padding its
batch-mates bring: it equals the answer the row gets alone, up to float rounding in the sums, as
for the hf backends' own batched greedy loop. Needs the plain full-attention cache layers of
transformers 5 (:func:`supported`); the engine uses whole-batch ``generate`` otherwise.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch

from lamp.generation.backends import greedy
from lamp.core.errors import LampError

#: Prompts read in one forward when jobs join (bounds the pause of the rows already running).
PREFILL_ROWS = 8
#: Spare cache positions added whenever a buffer fills up.
ROOM = 32
#: The shortest shared prefix worth keeping (shorter ones are read with each prompt).
MIN_PREFIX = 8


class _Rows(NamedTuple):
    """Rows of a batch: their jobs, generated ids, cache layers, mask, next positions and logits."""

    jobs: list[Any]
    generated: list[list[int]]
    layers: list[Any]
    mask: torch.Tensor
    next_pos: torch.Tensor
    logits: torch.Tensor


def _first_used_column(mask: torch.Tensor) -> int:
    """The first column that is not padding in every row (the mask's width when all are)."""
    used = mask.any(0).nonzero()
    return int(used[0]) if len(used) else mask.shape[1]


def supported(model: Any) -> bool:
    """True for a decoder-only model whose cache layers this batch can hold and reorder."""
    return not getattr(model.config, "is_encoder_decoder", False) and greedy.supports(model)


class RunningBatch:
    """The rows decoding now on one model, with their cache (see the module docstring).

    ``advance(job, ids, last)`` is the engine's per-row rule: it records the row's text so far,
    streams it, and says whether the row is finished."""

    def __init__(self, model: Any, tokenizer: Any, advance: Callable[[Any, list[int], bool], bool],
                 prefill_rows: int = PREFILL_ROWS) -> None:
        self.model, self.tokenizer, self.advance, self.prefill_rows = model, tokenizer, advance, prefill_rows
        self.device = next(model.parameters()).device
        self.n_layers = greedy._plain_layer_count(model)
        self.cache_arg = greedy.cache_argument(model)
        self.keep_last = {"logits_to_keep": 1} if greedy.accepts(model, "logits_to_keep") else {}
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)
        #: The shared prefix's token ids and, per layer, its keys and values (batch of one).
        self.prefix_ids: list[int] = []
        self.prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._clear()

    def _clear(self) -> None:
        self.jobs: list[Any] = []
        self.generated: list[list[int]] = []
        self.layers: list[greedy.BufferLayer] = []
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)
        self.next_pos = torch.zeros((0,), dtype=torch.long, device=self.device)
        self.logits: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    # ---- joining

    def admit(self, jobs: list[Any]) -> list[Any]:
        """Read the jobs' prompts and add them to the batch; returns the jobs that failed (each with
        its ``error`` set), which did not join."""
        failed, rows = [], []
        for job in jobs:
            try:
                ids = self.tokenizer(job.text, add_special_tokens=job.special_tokens)["input_ids"]
                if not ids:
                    raise LampError("the prompt has no tokens")
            except Exception as exc:  # noqa: BLE001 - this job's own failure
                job.error = exc
                failed.append(job)
                continue
            job.prompt_tokens = len(ids)
            rows.append((job, ids))
        rows.sort(key=lambda row: len(row[1]))                     # chunks of similar length: less padding
        parts = []
        for start in range(0, len(rows), self.prefill_rows):
            chunk = rows[start:start + self.prefill_rows]
            try:
                parts.append(self._prefill(chunk))
            except Exception:  # noqa: BLE001 - find the row that fails: read each alone
                for job, ids in chunk:
                    try:
                        parts.append(self._prefill([(job, ids)]))
                    except Exception as exc:  # noqa: BLE001 - this job's own failure
                        job.error = exc
                        failed.append(job)
        if parts:
            self._merge(parts)
        return failed

    def _prefix_for(self, rows: list[list[int]]) -> int:
        """How many leading tokens of every row to take from the kept prefix (each row keeps one of
        its own); two or more rows that share a longer prefix than that replace the kept one."""
        limit = min(min(len(r) for r in rows) - 1, len(self.prefix_ids))
        p = 0
        while p < limit and all(r[p] == self.prefix_ids[p] for r in rows):
            p += 1
        shared = greedy.shared_prefix_length(rows)
        if shared >= MIN_PREFIX and shared > p:
            self._keep_prefix(rows[0][:shared])
            p = shared
        return p if p >= MIN_PREFIX else 0

    def _keep_prefix(self, ids: list[int]) -> None:
        cache = greedy._new_cache(self.model, [greedy.BufferLayer() for _ in range(self.n_layers)])
        with torch.inference_mode():
            self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True, **self.keep_last,
                       **{self.cache_arg: cache})
        self.prefix_ids, self.prefix_kv = list(ids), [(layer.keys, layer.values) for layer in cache.layers]

    def _prefill(self, chunk: list[tuple[Any, list[int]]]) -> _Rows:
        p = self._prefix_for([ids for _, ids in chunk])
        width = max(len(ids) for _, ids in chunk) - p
        ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((len(chunk), p + width), dtype=torch.long, device=self.device)
        mask[:, :p] = 1
        for j, (_, own) in enumerate(chunk):                          # left padding after the prefix
            ids[j, width - (len(own) - p):] = torch.tensor(own[p:], device=self.device)
            mask[j, p + width - (len(own) - p):] = 1
        n = len(chunk)
        layers = [greedy.BufferLayer(k[:, :, :p].expand(n, -1, -1, -1).contiguous(),
                                     v[:, :, :p].expand(n, -1, -1, -1).contiguous(), length=p)
                  for k, v in self.prefix_kv] if p else [greedy.BufferLayer() for _ in range(self.n_layers)]
        cache = greedy._new_cache(self.model, layers)
        positions = (p + mask[:, p:].cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                             **self.keep_last, **{self.cache_arg: cache})
        return _Rows([job for job, _ in chunk], [[] for _ in chunk], cache.layers, mask, mask.sum(-1),
                     out.logits[:, -1].float())

    def _merge(self, parts: list[_Rows]) -> None:
        """One batch from the running rows and the new parts, each right-aligned, the leading columns
        that are padding in every row of a part dropped."""
        if self.jobs:
            parts = [_Rows(self.jobs, self.generated, self.layers, self.mask, self.next_pos, self.logits)] + parts
        starts = [_first_used_column(part.mask) for part in parts]
        widths = [part.mask.shape[1] - start for part, start in zip(parts, starts)]
        width, rows = max(widths), sum(len(part.jobs) for part in parts)
        merged = []
        for index in range(self.n_layers):
            sample = parts[0].layers[index].keys
            shape = (rows, sample.shape[1], width + ROOM, sample.shape[3])
            keys, values = sample.new_zeros(shape), sample.new_zeros(shape)
            row = 0
            for part, start, w in zip(parts, starts, widths):
                n = len(part.jobs)
                keys[row:row + n, :, width - w:width] = part.layers[index].keys[:, :, start:]
                values[row:row + n, :, width - w:width] = part.layers[index].values[:, :, start:]
                row += n
            merged.append(greedy.BufferLayer(keys, values, length=width, room=ROOM))
        mask = torch.zeros((rows, width), dtype=torch.long, device=self.device)
        row = 0
        for part, start, w in zip(parts, starts, widths):
            mask[row:row + len(part.jobs), width - w:] = part.mask[:, start:]
            row += len(part.jobs)
        self.layers, self.mask = merged, mask
        self.next_pos = torch.cat([part.next_pos for part in parts])
        self.logits = torch.cat([part.logits for part in parts])
        self.jobs = [job for part in parts for job in part.jobs]
        self.generated = [ids for part in parts for ids in part.generated]

    # ---- decoding

    def step(self, last: bool = False) -> list[Any]:
        """Each row takes its greedy token; returns the jobs that finished (they left the batch).
        ``last``: finish every row now (the server is stopping)."""
        if not self.jobs:
            return []
        tokens = self.logits.argmax(-1)
        keep, done = [], []
        for j, token in enumerate(tokens.tolist()):
            self.generated[j].append(token)
            (done if self.advance(self.jobs[j], self.generated[j], last) else keep).append(j)
        if not keep:
            finished = self.jobs
            self._clear()
            return finished
        if done:
            index = torch.tensor(keep, device=self.device)
            for layer in self.layers:
                layer.batch_select_indices(index)
            tokens, self.mask, self.next_pos = tokens[index], self.mask[index], self.next_pos[index]
            finished = [self.jobs[j] for j in done]
            self.jobs = [self.jobs[j] for j in keep]
            self.generated = [self.generated[j] for j in keep]
        else:
            finished = []
        self.mask = torch.cat([self.mask, torch.ones((len(keep), 1), dtype=self.mask.dtype, device=self.device)], 1)
        cache = greedy._new_cache(self.model, self.layers)
        with torch.inference_mode():
            out = self.model(input_ids=tokens.unsqueeze(1), attention_mask=self.mask,
                             position_ids=self.next_pos.unsqueeze(1), use_cache=True, **{self.cache_arg: cache})
        self.next_pos = self.next_pos + 1
        self.logits = out.logits[:, -1].float()
        return finished

    def abandon(self) -> list[Any]:
        """Empty the batch (after a failed step); returns its jobs, to be run again elsewhere."""
        jobs = self.jobs
        self._clear()
        return jobs

