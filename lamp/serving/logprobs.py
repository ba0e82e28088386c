"""``lamp serve``'s log-probabilities: ``echo``, ``logprobs`` and ``prompt_logprobs`` on
``/v1/completions``, prompts as token ids, and vLLM's ``/tokenize``, as vLLM answers them.

This is what lets the ``openai`` backend (and lm-evaluation-harness's ``local-completions``)
score through ``lamp serve``: it sends the prompt as token ids with ``echo: true, logprobs: 1,
max_tokens: 1`` and sums the echoed prompt tokens' log-probabilities. The served hf decoder reads
the rows as the ``hf-causal`` backend scores them (left padding, positions counted from each row's
first token, a float32 log-softmax), so the sums match that backend's ``loglikelihood``.

Answers, per prompt: ``logprobs`` in the legacy completions shape (``tokens``, ``token_logprobs``,
``top_logprobs`` with the ``logprobs`` likeliest tokens plus the actual one, ``text_offset``),
over the prompt and the completion with ``echo``, over the completion alone without; the
completion is decoded greedily at ``temperature: 0``, else sampled (seeded by ``seed``).
``prompt_logprobs: k`` (vLLM) adds per prompt token ``{token id: {logprob, rank, decoded_token}}``
for the actual token and the k likeliest (None for the first token). ``echo`` alone prepends the
prompt to the text.

Refused with 422, each naming the field: ``n`` other than 1, ``stream``, ``stop``, a personalized
``user``, more than 20 log-probabilities, token ids outside the vocabulary, and rows longer than
the model's context; a seq2seq model or a backend without a local model (``--backend openai``)
cannot answer these requests at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from lamp.core.extras import require
from lamp.serving.completions import common, sampling
from lamp.serving.guards import ApiError
from lamp.generation.backends import greedy

try:                                     # pydantic comes with fastapi (the 'serve' extra)
    from pydantic import BaseModel, ConfigDict
except ModuleNotFoundError:
    require("fastapi", "serve", "lamp serve")
    raise

#: Most alternatives per position (vLLM's default ``max_logprobs``).
MAX_LOGPROBS = 20


class TokenizeBody(BaseModel):
    """vLLM's ``POST /tokenize``: a prompt, or chat messages (through the chat template)."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    add_special_tokens: bool | None = None        # default: True for a prompt, False for messages
    add_generation_prompt: bool = True


def wanted(body: Any) -> bool:
    """True for a completions request this module answers (log-probabilities, echo, token ids)."""
    return bool(body.echo) or body.logprobs is not None or getattr(body, "prompt_logprobs", None) is not None \
        or _is_ids(body.prompt)


def _is_ids(prompt: Any) -> bool:
    return isinstance(prompt, list) and bool(prompt) and all(
        isinstance(p, int) or (isinstance(p, list) and all(isinstance(t, int) for t in p)) for p in prompt)


@dataclass
class Scored:
    """One row read by the model: the prompt, what followed it, and every token's log-probability."""

    ids: list[int]                                  # the prompt's tokens, then the completion's
    n_prompt: int
    logprobs: list[float | None] = field(default_factory=list)       # None for the first token
    ranks: list[int | None] = field(default_factory=list)
    top: list[list[tuple[int, float]]] = field(default_factory=list)  # the likeliest tokens per position
    finish_reason: str = "length"


def _decoder(backend: Any) -> tuple[Any, Any]:
    model, tok = getattr(backend, "model", None), getattr(backend, "tokenizer", None)
    if model is None or not callable(tok) or not hasattr(tok, "decode"):
        raise ApiError(422, "echo, logprobs, prompt_logprobs and token-id prompts need a model loaded in this "
                                "server (not --backend openai)", "prompt")
    if getattr(model.config, "is_encoder_decoder", False):
        raise ApiError(422, "echo, logprobs, prompt_logprobs and token-id prompts need a decoder model; this "
                                "server serves an encoder-decoder", "prompt")
    return model, tok


def _log_softmax_rows(model: Any, rows: list[list[int]], pad_id: int, keep_all: bool) -> tuple[Any, int]:
    """Log-probabilities after every position of each left-padded row (only the last with
    ``keep_all=False``) as a float32 ``(b, positions, vocab)`` tensor, and the padded width."""
    import torch

    device = next(model.parameters()).device
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    keep = {} if keep_all or not greedy.accepts(model, "logits_to_keep") else {"logits_to_keep": 1}
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, **keep).logits
    return torch.log_softmax((logits if keep_all else logits[:, -1:]).float(), dim=-1), width


def _pick(logp: Any, k: int, token: int) -> tuple[float, int, list[tuple[int, float]]]:
    """The token's log-probability and rank (1 = likeliest) in one position's distribution, and the k likeliest."""
    value = float(logp[token])
    rank = int((logp > logp[token]).sum()) + 1
    top = logp.topk(k) if k else None
    return value, rank, ([(int(i), float(v)) for v, i in zip(top.values, top.indices)] if top is not None else [])


def score_rows(model: Any, tokenizer: Any, rows: list[list[int]], *, max_tokens: int, k: int,
               sampling: tuple[float, float, int | None] | None, batch_size: int = 8) -> list[Scored]:
    """Each row's tokens scored (with the ``k`` likeliest alternatives per position) and continued
    by ``max_tokens`` tokens, greedily or sampled with ``(temperature, top_p, seed)``."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eos = model.generation_config.eos_token_id
    eos = tokenizer.eos_token_id if eos is None else eos
    eos_ids = set(eos) if isinstance(eos, (list, tuple)) else ({eos} if eos is not None else set())
    out = [Scored(ids=list(r), n_prompt=len(r)) for r in rows]
    generator = None
    if sampling is not None:
        generator = torch.Generator().manual_seed(sampling[2] if sampling[2] is not None else random.randrange(2 ** 31))
    with torch.inference_mode():
        for start in range(0, len(out), batch_size):
            batch = out[start:start + batch_size]
            logp, width = _log_softmax_rows(model, [s.ids for s in batch], pad, keep_all=True)
            for row, s in enumerate(batch):        # position p predicts token p + 1
                steps = logp[row, width - len(s.ids): width - 1]
                targets = torch.tensor(s.ids[1:], device=steps.device).unsqueeze(-1)
                values = steps.gather(-1, targets)
                s.logprobs = [None] + values.squeeze(-1).tolist()
                s.ranks = [None] + ((steps > values).sum(-1) + 1).tolist()
                best = steps.topk(k) if k else None
                s.top = [[]] + ([list(zip(i, v)) for i, v in zip(best.indices.tolist(), best.values.tolist())]
                                if best is not None else [[] for _ in s.ids[1:]])
            last = logp[:, -1]
            for _ in range(max_tokens):
                open_rows = [row for row, s in enumerate(batch) if s.finish_reason == "length"
                             and len(s.ids) - s.n_prompt < max_tokens]
                if not open_rows:
                    break
                for row in open_rows:
                    s, dist = batch[row], last[row]
                    token = _next_token(dist, sampling, generator)
                    if token in eos_ids:
                        s.finish_reason = "stop"
                        continue
                    value, rank, top = _pick(dist, k, token)
                    s.ids.append(token)
                    s.logprobs.append(value)
                    s.ranks.append(rank)
                    s.top.append(top)
                growing = [row for row in open_rows if batch[row].finish_reason == "length"
                           and len(batch[row].ids) - batch[row].n_prompt < max_tokens]
                if growing:
                    fresh, _ = _log_softmax_rows(model, [batch[row].ids for row in growing], pad, keep_all=False)
                    for i, row in enumerate(growing):
                        last[row] = fresh[i, -1]
    return out


def _next_token(dist: Any, sampling: tuple[float, float, int | None] | None, generator: Any) -> int:
    """The argmax, or a draw at ``temperature`` from the smallest set holding ``top_p`` of the probability."""
    import torch

    if sampling is None:
        return int(dist.argmax())
    temperature, top_p, _ = sampling
    probs = torch.softmax(dist / temperature, dim=-1).cpu()
    order = probs.argsort(descending=True)
    kept = probs[order].cumsum(0) - probs[order] < top_p            # always keeps the likeliest
    weights = torch.zeros_like(probs)
    weights[order[kept]] = probs[order[kept]]
    return int(torch.multinomial(weights, 1, generator=generator))


def _rows(svc: Any, body: Any, tokenizer: Any, vocab: int) -> tuple[list[list[int]], list[str | None]]:
    """The prompts as token ids, and each one's text when it came as text (None for ids)."""
    prompt = body.prompt
    if _is_ids(prompt):
        rows = [list(prompt)] if isinstance(prompt[0], int) else [list(p) for p in prompt]
        texts: list[str | None] = [None] * len(rows)
    else:
        texts = [prompt] if isinstance(prompt, str) else list(prompt)
        for n, text in enumerate(texts):
            svc.check_text(text, "prompt" if isinstance(prompt, str) else f"prompt[{n}]")
        special = True if body.add_special_tokens is None else body.add_special_tokens
        rows = [list(tokenizer(t, add_special_tokens=special)["input_ids"]) for t in texts]
    if not rows:
        raise ApiError(422, "prompt is an empty list", "prompt")
    if len(rows) > svc.limits.max_prompts:
        raise ApiError(413, f"prompt holds {len(rows)} prompts; the limit is {svc.limits.max_prompts}", "prompt")
    for n, row in enumerate(rows):
        where = "prompt" if len(rows) == 1 else f"prompt[{n}]"
        if not row:
            raise ApiError(422, f"{where} has no tokens", where)
        if len(row) > svc.limits.max_input_chars:
            raise ApiError(413, f"{where} has {len(row)} tokens; the limit is {svc.limits.max_input_chars}", where)
        bad = next((t for t in row if not 0 <= t < vocab), None)
        if bad is not None:
            raise ApiError(422, f"{where} holds the token id {bad}, outside the vocabulary (0 to {vocab - 1})", where)
    return rows, texts


def _count(value: int | None, param: str) -> int:
    if value is None:
        return 0
    if not 0 <= value <= MAX_LOGPROBS:
        raise ApiError(422, f"{param} must be 0 to {MAX_LOGPROBS}, got {value}", param)
    return value


def complete(svc: Any, body: Any) -> dict[str, Any]:
    """The answer to a completions request with echo, log-probabilities or token-id prompts."""
    svc.check_model(body.model)
    refused = {"n": body.n != 1, "stream": body.stream, "stop": bool(body.stop)}
    for param, bad in refused.items():
        if bad:
            raise ApiError(422, f"{param}={getattr(body, param)!r} is not supported with echo, logprobs, "
                                    "prompt_logprobs or token-id prompts", param)
    if svc.personalization(body) is not None:
        raise ApiError(422, "echo, logprobs, prompt_logprobs and token-id prompts are not personalized; "
                                "drop user (or give k: 0)", "user")
    max_tokens = svc.max_tokens(body.max_tokens)
    top, prompt_top = _count(body.logprobs, "logprobs"), _count(body.prompt_logprobs, "prompt_logprobs")
    model, tok = _decoder(svc.backend)
    vocab = int(getattr(model.config, "vocab_size", 0) or len(tok))
    rows, texts = _rows(svc, body, tok, vocab)
    context = getattr(model.config, "max_position_embeddings", None)
    longest = max(map(len, rows))
    if context and longest + max_tokens > context:
        raise ApiError(422, f"a prompt of {longest} tokens and max_tokens {max_tokens} exceed the model's "
                                f"context of {context} tokens", "prompt")
    how = sampling(body.temperature, body.top_p, body.seed)
    with svc.generate_lock:
        scored = score_rows(model, tok, rows, max_tokens=max_tokens, k=max(top, prompt_top), sampling=how,
                            batch_size=getattr(svc.backend, "batch_size", 8))
    choices = [_choice(i, s, text, tok, body, top, prompt_top) for i, (s, text) in enumerate(zip(scored, texts))]
    prompt_tokens = sum(s.n_prompt for s in scored)
    completion_tokens = sum(len(s.ids) - s.n_prompt for s in scored)
    return {**common(svc, "cmpl", None, None), "object": "text_completion", "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _choice(index: int, s: Scored, text: str | None, tok: Any, body: Any, top: int, prompt_top: int
            ) -> dict[str, Any]:
    pieces = [tok.decode([t]) for t in s.ids]
    completion = tok.decode(s.ids[s.n_prompt:], skip_special_tokens=True)
    prompt_text = text if text is not None else tok.decode(s.ids[:s.n_prompt])
    choice: dict[str, Any] = {"index": index, "text": (prompt_text if body.echo else "") + completion,
                              "logprobs": None, "finish_reason": s.finish_reason}
    if body.logprobs is not None:
        first = 0 if body.echo else s.n_prompt
        offsets, at = [], 0
        for piece in pieces[first:]:
            offsets.append(at)
            at += len(piece)
        choice["logprobs"] = {
            "tokens": pieces[first:], "token_logprobs": s.logprobs[first:],
            "top_logprobs": [None if value is None else
                             {**{tok.decode([t]): v for t, v in alts[:top]}, pieces[j]: value}
                             for j, (value, alts) in enumerate(zip(s.logprobs, s.top)) if j >= first],
            "text_offset": offsets}
    if body.prompt_logprobs is not None:
        entries: list[Any] = [None]
        for j in range(1, s.n_prompt):
            entry = {str(t): {"logprob": v, "rank": r + 1, "decoded_token": tok.decode([t])}
                     for r, (t, v) in enumerate(s.top[j][:prompt_top])}
            entry[str(s.ids[j])] = {"logprob": s.logprobs[j], "rank": s.ranks[j], "decoded_token": pieces[j]}
            entries.append(entry)
        choice["prompt_logprobs"] = entries
    return choice


def tokenize(svc: Any, body: TokenizeBody) -> dict[str, Any]:
    """vLLM's ``/tokenize`` answer: ``{"count", "max_model_len", "tokens"}``."""
    svc.check_model(body.model)
    tok = svc.backend.tokenizer
    if not callable(tok) or not hasattr(tok, "decode"):
        raise ApiError(422, "this server has no tokenizer to tokenize with", "prompt")
    if (body.prompt is None) == (body.messages is None):
        raise ApiError(422, "give prompt or messages (one of them)", "prompt")
    if body.prompt is not None:
        svc.check_text(body.prompt, "prompt")
        text, special = body.prompt, True if body.add_special_tokens is None else body.add_special_tokens
    else:
        if not getattr(tok, "chat_template", None):
            raise ApiError(422, "this model's tokenizer has no chat template; give prompt", "messages")
        for n, msg in enumerate(body.messages or []):
            if not isinstance(msg.get("content"), str):
                raise ApiError(422, f"messages[{n}].content must be a string", f"messages[{n}].content")
            svc.check_text(msg["content"], f"messages[{n}].content")
        text = tok.apply_chat_template(body.messages, tokenize=False, add_generation_prompt=body.add_generation_prompt)
        special = bool(body.add_special_tokens)
    ids = list(tok(text, add_special_tokens=special)["input_ids"])
    model = getattr(svc.backend, "model", None)
    context = getattr(getattr(model, "config", None), "max_position_embeddings", None) or \
        getattr(tok, "model_max_length", None)
    return {"count": len(ids), "max_model_len": context, "tokens": ids}
