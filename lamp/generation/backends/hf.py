"""Local Hugging Face backends: ``hf-seq2seq`` (FLAN-T5 and the like) and ``hf-causal`` (decoders).

Both load any local folder or hub id (``model=``; None or "SmolLM2-135M-Instruct" is the bundled
offline default, see :mod:`lamp.generation.models`), run on CUDA when available, and generate in batches
sorted by length (less padding), deterministically unless ``do_sample`` (then seeded). Plain
greedy decoding on a decoder model runs :func:`lamp.generation.backends.greedy.greedy_generate` (shared
prefix read once, length-sorted prefill chunks, one decoding batch, finished rows leave it);
beams and sampling run ``model.generate``.

Inputs are cut to ``settings.max_input_length`` tokens as the official evaluation does
(``tokenizer(..., max_length=L, truncation=True)``); for a causal model the user text is cut
before the chat template is applied, so the template itself is never cut.

:meth:`choose` scores each option by its log-likelihood given the prompt, as lm-evaluation-harness
does for multiple choice: the plain sum of the option's token log-probs (no length
normalisation; the official labels are short). A causal model reads each prompt once, then one
more forward reads every option's tokens side by side under a tree mask (each sees the prompt and
its own earlier tokens), about one forward in all; a seq2seq model encodes each prompt once and the
decoder scores all options in one batch (with the EOS the tokenizer appends, i.e. the whole target).
Ties go to the earlier option.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from lamp.generation.backends import greedy
from lamp.generation.backends.base import Backend, GenerationSettings, finish_output
from lamp.core.errors import LampError
from lamp.generation.models import model_identity, resolve_model
from lamp.generation.prompts import chat_prompt, cut_to_tokens


#: Generation-config fields that change which token greedy decoding picks.
_LOGIT_SHAPERS = ("repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size", "min_length",
                  "min_new_tokens", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens",
                  "forced_bos_token_id", "forced_eos_token_id", "sequence_bias", "guidance_scale",
                  "exponential_decay_length_penalty")


def _device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype:
        return getattr(torch, dtype)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _length_order(lengths: list[int]) -> list[int]:
    """Indices longest first (stable), so each batch pads little."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


class StopAtNewline:
    """A stopping criterion: a row is done once its generated text has a newline after the answer."""

    def __init__(self, tokenizer: Any, start: int) -> None:
        self.tokenizer, self.start = tokenizer, start

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.start:], skip_special_tokens=True)
        return torch.tensor(["\n" in t.lstrip() for t in texts], dtype=torch.bool, device=input_ids.device)


class HFBackend(Backend):
    """Shared loading, batching and decoding; subclasses say how to encode and score."""

    loads_local_model = True
    registry_name = ""
    auto_class = ""

    def __init__(self, model: Any = None, tokenizer: Any = None, device: str | None = None,
                 dtype: str | torch.dtype | None = None, batch_size: int = 8, revision: str | None = None,
                 identity: str | None = None, trust_remote_code: bool = False) -> None:
        """``model``: a local folder, a hub id, the default's name or None (SmolLM2), or an
        in-memory model (then ``tokenizer`` and ``identity`` are required). ``tokenizer``: None
        (the model's own), a folder / hub id, or a tokenizer object. ``identity`` overrides the
        computed model identity (a weights hash for folders, id@revision for hub ids)."""
        import transformers

        self.batch_size = batch_size
        if isinstance(model, torch.nn.Module):  # an in-memory model (e.g. being fine-tuned): used where it is
            if tokenizer is None or identity is None:
                raise LampError(f"{self.registry_name}: an in-memory model needs tokenizer= and identity=")
            # A peft model's LoRA layers live inside its base model, so the base runs with them
            # (and honours ``disable_adapter()``) while exposing the plain transformers interface.
            self.model = model.get_base_model() if hasattr(model, "get_base_model") else model
            self.tokenizer = tokenizer
            self.device = torch.device(device) if device else next(self.model.parameters()).device
            model_id = identity
        else:
            self.device = _device(device)
            path = resolve_model(model)
            tokenizer_name = str(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else None
            try:
                if tokenizer is None or tokenizer_name is not None:
                    tokenizer = transformers.AutoTokenizer.from_pretrained(
                        tokenizer or path, revision=revision, trust_remote_code=trust_remote_code)
                self.tokenizer = tokenizer
                auto = getattr(transformers, self.auto_class)
                self.model = auto.from_pretrained(path, revision=revision, dtype=_dtype(dtype, self.device),
                                                  trust_remote_code=trust_remote_code)
            except OSError as err:
                raise LampError(f"cannot load model {model!r} ({path}): {err}") from err
            model_id = identity or model_identity(path, revision, getattr(self.model.config, "_commit_hash", None))
            if identity is None and tokenizer_name is not None and tokenizer_name != path:
                model_id += f"+tokenizer:{model_identity(tokenizer_name, revision)}"
        self.model.to(self.device).eval()
        self.identity = f"{self.registry_name}:{model_id}:{str(self.model.dtype).removeprefix('torch.')}"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # ------------------------------------------------------------------ shared helpers

    def _generation_kwargs(self, settings: GenerationSettings, start: int) -> dict[str, Any]:
        config = self.model.generation_config.__class__.from_dict(self.model.generation_config.to_dict())
        config.max_new_tokens = settings.max_new_tokens
        config.max_length = None
        config.num_beams = settings.num_beams
        config.do_sample = settings.do_sample
        config.num_return_sequences = 1
        config.pad_token_id = self.tokenizer.pad_token_id
        if settings.do_sample:
            config.temperature, config.top_p, config.top_k = settings.temperature, settings.top_p, None
        else:  # keep greedy/beam free of sampling leftovers in a model's generation_config
            config.temperature = config.top_p = config.top_k = None
        kwargs: dict[str, Any] = {"generation_config": config}
        if settings.stop_at_newline:
            from transformers import StoppingCriteriaList
            kwargs["stopping_criteria"] = StoppingCriteriaList([StopAtNewline(self.tokenizer, start)])
        return kwargs

    def _finish(self, texts: list[str], settings: GenerationSettings) -> list[str]:
        return [finish_output(t, settings) for t in texts]

    def _lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _in_batches(self, texts: list[str], run: Any) -> list[Any]:
        """Run ``run(batch_texts)`` over length-sorted batches; results back in input order."""
        order = _length_order(self._lengths(texts))
        out: list[Any] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            for i, result in zip(idx, run([texts[i] for i in idx])):
                out[i] = result
        return out

    def _model_texts(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        """The texts the model reads: each prompt cut to the input budget, then formatted (chat template)."""
        return [self.format_prompt(self._cut(p, settings.max_input_length)) for p in prompts]

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        texts = self._model_texts(prompts, settings)

        def run(batch: list[str]) -> list[str]:
            if settings.do_sample:
                torch.manual_seed(settings.seed)
            with torch.inference_mode():
                return self._finish(self._generate_batch(batch, settings), settings)
        return self._in_batches(texts, run)

    def score_options(self, prompts: list[str], options: list[str], settings: GenerationSettings
                      ) -> list[list[float]]:
        if not options:
            raise LampError("score_options() needs at least one option")
        texts = self._model_texts(prompts, settings)

        def run(batch: list[str]) -> list[list[float]]:
            with torch.inference_mode():
                return self.option_scores(batch, options, settings).tolist()
        return self._in_batches(texts, run)

    def loglikelihood(self, prompts: list[str], continuations: list[str], settings: GenerationSettings
                      ) -> list[tuple[float, int]]:
        """One forward per batch of (prompt, continuation) pairs, whatever the continuations (the
        base class groups pairs by continuation, which leaves batches of one when each prompt has
        its own gold, as in generation tasks)."""
        if len(prompts) != len(continuations):
            raise LampError(f"loglikelihood(): {len(prompts)} prompts for {len(continuations)} continuations")
        texts = self._model_texts(prompts, settings)
        order = _length_order(self._lengths(texts))
        out: list[tuple[float, int]] = [(0.0, 0)] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                scores = self._pair_scores([texts[i] for i in idx], [continuations[i] for i in idx], settings)
                for i, score in zip(idx, scores):
                    out[i] = score
        return out

    def _pair_scores(self, texts: list[str], continuations: list[str], settings: GenerationSettings
                     ) -> list[tuple[float, int]]:
        raise NotImplementedError

    def _cut(self, prompt: str, max_length: int) -> str:
        return prompt

    def cut_prompt(self, prompt: str, max_length: int) -> str:
        return self._cut(prompt, max_length)

    def _generate_batch(self, texts: list[str], settings: GenerationSettings) -> list[str]:
        raise NotImplementedError

    def option_scores(self, texts: list[str], options: list[str], settings: GenerationSettings) -> torch.Tensor:
        """``(len(texts), len(options))`` summed log-probs of each option after each (formatted) text."""
        raise NotImplementedError


class Seq2SeqBackend(HFBackend):
    """Encoder-decoder models (FLAN-T5): the prompt is the encoder input, as officially."""

    registry_name = "hf-seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"

    def _encode(self, texts: list[str], settings: GenerationSettings) -> dict[str, torch.Tensor]:
        limit = settings.max_input_length
        enc = self.tokenizer(texts, padding=True, return_tensors="pt",
                             **({"max_length": limit, "truncation": True} if limit > 0 else {}))
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def _generate_batch(self, texts: list[str], settings: GenerationSettings) -> list[str]:
        enc = self._encode(texts, settings)
        out = self.model.generate(**enc, **self._generation_kwargs(settings, start=1))
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)

    def continuation_length(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])          # the labels, </s> included

    def _pair_scores(self, texts: list[str], continuations: list[str], settings: GenerationSettings
                     ) -> list[tuple[float, int]]:
        enc = self._encode(texts, settings)
        targets = self.tokenizer(continuations, padding=True, padding_side="right", return_tensors="pt")
        labels = targets["input_ids"].masked_fill(targets["attention_mask"] == 0, -100).to(self.device)
        logits = self.model(**enc, labels=labels).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        mask = labels != -100
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
        return [(float(v), int(n)) for v, n in zip(picked.sum(-1), mask.sum(-1))]

    def option_scores(self, texts: list[str], options: list[str], settings: GenerationSettings) -> torch.Tensor:
        enc = self._encode(texts, settings)
        n, b = len(options), len(texts)
        hidden = self.model.get_encoder()(**enc).last_hidden_state
        targets = self.tokenizer(options, padding=True, padding_side="right", return_tensors="pt")
        labels = targets["input_ids"].masked_fill(targets["attention_mask"] == 0, -100).to(self.device)
        labels = labels.repeat(b, 1)
        from transformers.modeling_outputs import BaseModelOutput
        out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden.repeat_interleave(n, 0)),
                         attention_mask=enc["attention_mask"].repeat_interleave(n, 0), labels=labels)
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        mask = labels != -100
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
        return picked.sum(-1).view(b, n)


class CausalBackend(HFBackend):
    """Decoder-only models: left padding, the chat template when the tokenizer has one."""

    registry_name = "hf-causal"
    auto_class = "AutoModelForCausalLM"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))
        self.greedy_loop_fits = greedy.supports(self.model)     # once: it depends on the model only

    def format_prompt(self, prompt: str) -> str:
        """The prompt as the user turn of the chat template (plain text when there is none)."""
        return chat_prompt(self.tokenizer, prompt)

    def _cut(self, prompt: str, max_length: int) -> str:
        """The official final truncation, applied to the user text (never to the template)."""
        return cut_to_tokens(self.tokenizer, prompt, max_length)

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        # The chat template already holds every special token the model expects.
        # Left padding per call, so a tokenizer shared with training (right padding) is left as it is.
        enc = self.tokenizer(texts, padding=True, padding_side="left", return_tensors="pt",
                             add_special_tokens=not self.chat)
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def _generate_batch(self, texts: list[str], settings: GenerationSettings) -> list[str]:
        if self._plain_greedy(settings):
            return self._greedy_batch(texts, settings)
        enc = self._encode(texts)
        start = enc["input_ids"].shape[1]
        out = self.model.generate(**enc, **self._generation_kwargs(settings, start=start))
        return self.tokenizer.batch_decode(out[:, start:], skip_special_tokens=True)

    def _plain_greedy(self, settings: GenerationSettings) -> bool:
        """Greedy with nothing in the model's generation config that reshapes the logits
        (repetition penalty, forced or banned tokens...): then :func:`greedy_generate` applies."""
        if settings.num_beams != 1 or settings.do_sample or not self.greedy_loop_fits:
            return False
        config = self.model.generation_config
        neutral = {"repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0}
        return all(getattr(config, name, None) in (None, neutral.get(name, 0)) for name in _LOGIT_SHAPERS)

    def _greedy_batch(self, texts: list[str], settings: GenerationSettings) -> list[str]:
        rows = self.tokenizer(texts, add_special_tokens=not self.chat)["input_ids"]
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        eos_ids = set(eos) if isinstance(eos, (list, tuple)) else {eos}

        def answer_line_done(ids: list[int]) -> bool:
            return "\n" in self.tokenizer.decode(ids, skip_special_tokens=True).lstrip()
        out = greedy.greedy_generate(self.model, rows, max_new_tokens=settings.max_new_tokens, eos_ids=eos_ids,
                                     pad_id=self.tokenizer.pad_token_id,
                                     stop=answer_line_done if settings.stop_at_newline else None)
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)

    def _continuation(self, option: str) -> str:
        # A chat answer starts a fresh assistant turn; plain text continues after a space
        # (lm-evaluation-harness's default target delimiter).
        return option if self.chat else " " + option

    def _later_option_tokens(self, out: Any, mask: torch.Tensor, option_ids: list[list[int]]) -> torch.Tensor:
        """``(b, n)`` log-probs of every option token after the first, all options in one forward.

        Each prompt's row is followed by one block holding every option's tokens but the last; a
        tree mask lets a block token see the prompt and the earlier tokens of its own option only,
        with positions counted from the prompt's end, so each option is scored as if alone."""
        b, device = mask.shape[0], self.device
        attention = self.model.config._attn_implementation
        fed = [x[:-1] for x in option_ids]                                   # each predicts the next
        block = torch.tensor([t for x in fed for t in x], device=device)      # (m,)
        owner = torch.tensor([o for o, x in enumerate(fed) for _ in x], device=device)
        step = torch.tensor([j for x in fed for j in range(len(x))], device=device)
        m = len(block)
        same_option = owner.unsqueeze(1) == owner.unsqueeze(0)
        earlier = step.unsqueeze(1) >= step.unsqueeze(0)
        tree = (same_option & earlier).unsqueeze(0).expand(b, m, m)
        allowed = torch.cat([mask.bool().unsqueeze(1).expand(b, m, mask.shape[1]), tree], dim=2).unsqueeze(1)
        if attention == "eager":                                             # eager adds the mask to scores
            allowed = torch.zeros(allowed.shape, dtype=self.model.dtype, device=device).masked_fill(
                ~allowed, torch.finfo(self.model.dtype).min)
        positions = mask.sum(-1, keepdim=True) + step.unsqueeze(0)           # (b, m)
        cache = out["cache"] if "cache" in out else out["past_key_values"]
        logits = self.model(input_ids=block.unsqueeze(0).expand(b, m), attention_mask=allowed,
                            position_ids=positions, use_cache=True, **{greedy.cache_argument(self.model): cache}).logits
        targets = torch.tensor([t for x in option_ids for t in x[1:]], device=device)
        picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.view(1, m, 1).expand(b, m, 1))
        return torch.zeros((b, len(option_ids)), device=device).index_add_(1, owner, picked.squeeze(-1))

    def continuation_length(self, text: str) -> int:
        return len(self.tokenizer(self._continuation(text), add_special_tokens=False)["input_ids"])

    def _pair_scores(self, texts: list[str], continuations: list[str], settings: GenerationSettings
                     ) -> list[tuple[float, int]]:
        """Prompt and continuation ids side by side, left-padded: the continuation is each row's end,
        so only the last ``max continuation + 1`` positions need logits."""
        ctx = self.tokenizer(texts, add_special_tokens=not self.chat)["input_ids"]
        cont = [self.tokenizer(self._continuation(c), add_special_tokens=False)["input_ids"] for c in continuations]
        if any(not c for c in cont):
            raise LampError("loglikelihood(): a continuation tokenizes to nothing")
        rows = [a + b for a, b in zip(ctx, cont)]
        width = max(map(len, rows))
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        tail = max(map(len, cont)) + 1
        keep = {"logits_to_keep": tail} if greedy.accepts(self.model, "logits_to_keep") else {}
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, **keep).logits[:, -tail:]
        logp = torch.log_softmax(logits.float(), dim=-1)
        out = []
        for row, tokens in enumerate(cont):
            n = len(tokens)
            steps = logp[row, tail - 1 - n: tail - 1]                 # the positions that predict them
            out.append((float(steps.gather(-1, torch.tensor(tokens, device=self.device).unsqueeze(-1)).sum()), n))
        return out

    def option_scores(self, texts: list[str], options: list[str], settings: GenerationSettings) -> torch.Tensor:
        option_ids = [self.tokenizer(self._continuation(o), add_special_tokens=False)["input_ids"] for o in options]
        if any(not ids for ids in option_ids):
            raise LampError("choose(): an option tokenizes to nothing")
        attention = self.model.config._attn_implementation
        if any(len(x) > 1 for x in option_ids) and attention not in ("sdpa", "eager"):
            raise LampError(f"label choice needs sdpa or eager attention (it reads the options under a tree mask); "
                            f"the model uses {attention!r}: load it with attn_implementation='sdpa'")
        enc = self._encode(texts)
        b, n = len(texts), len(options)
        mask = enc["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = {"logits_to_keep": 1} if greedy.accepts(self.model, "logits_to_keep") else {}   # not (b, seq, vocab)
        out = self.model(**enc, position_ids=positions, use_cache=True, **keep)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)           # (b, vocab)
        first_tokens = torch.tensor([x[0] for x in option_ids], device=self.device)
        scores = first.gather(1, first_tokens.unsqueeze(0).expand(b, n))     # first option token
        if any(len(x) > 1 for x in option_ids):
            scores = scores + self._later_option_tokens(out, mask, option_ids)
        return scores


def wrap_model(model: Any, tokenizer: Any, identity: str, batch_size: int = 8) -> HFBackend:
    """An in-memory model (e.g. the one being fine-tuned, or a base carrying per-user LoRA
    adapters) as a backend of its kind, so it generates exactly as ``lamp run`` and
    ``evaluate_llm.py`` do with the saved model; it stays on its device."""
    config = getattr(model, "config", None)
    kind = Seq2SeqBackend if getattr(config, "is_encoder_decoder", False) else CausalBackend
    return kind(model=model, tokenizer=tokenizer, identity=identity, batch_size=batch_size)
