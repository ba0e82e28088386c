"""The frozen LLM with a user conditioner: training loss, generation, label choice and perplexity.

Where the user goes:

* decoder models: the formatted prompt (chat template, as the hf-causal backend sends it) is
  embedded, and ``prefix`` puts the ``n_tokens`` soft tokens right before its first token (after
  the left padding); ``add`` adds the user vector to every prompt token's embedding (not to the
  answer's, so training and generation see the same thing). Position ids count real tokens only.
* seq2seq models: the same on the encoder input (right padding); the decoder is untouched.

A row without a usable profile (``UserRow.has_user`` false, or no attribute for ``control``) gets
no conditioning: the base model's answer (the caller counts these fallbacks). The LLM's weights
never receive gradients: every parameter is frozen when the runner is built.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch


from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL, Example, GenerationSettings, finish_output
from lamp.generation.backends.greedy import accepts, cache_argument
from lamp.core.errors import LampError
from lamp.core.tasks import Task, get_task
from lamp.training.data import IGNORE_INDEX, causal_features, causal_prompt_ids, is_seq2seq, pad_token_id
from lamp.methods.uemb.features import UserRow
from lamp.methods.uemb.model import UserConditioner
from lamp.generation.backends.hf import StopAtNewline


class Runner:
    """A frozen model + tokenizer, optionally conditioned by a :class:`UserConditioner`."""

    def __init__(self, model: Any, tokenizer: Any, task: str | Task, conditioner: UserConditioner | None = None,
                 max_length: int = OFFICIAL.max_input_length, batch_size: int = 8) -> None:
        self.model, self.tokenizer, self.task = model, tokenizer, get_task(task)
        self.conditioner, self.max_length, self.batch_size = conditioner, max_length, batch_size
        self.seq2seq = is_seq2seq(model)
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        self.pad_id = pad_token_id(tokenizer)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()
        self.device = next(model.parameters()).device
        self.dtype = model.get_input_embeddings().weight.dtype
        if conditioner is not None:
            dim = model.get_input_embeddings().weight.shape[1]
            if conditioner.spec.llm_dim != dim:
                raise LampError(f"dimension mismatch: the user conditioner makes {conditioner.spec.llm_dim}-d vectors, "
                                f"the model's embeddings are {dim}-d")
            conditioner.to(self.device)

    # ------------------------------------------------------------------ user vectors

    def uses(self, row: UserRow) -> bool:
        """Whether this row is conditioned (a profile, and an attribute for ``control``)."""
        if self.conditioner is None or not row.has_user:
            return False
        return self.conditioner.spec.aggregator != "control" or row.control >= 0

    def user_tokens(self, rows: Sequence[UserRow]) -> torch.Tensor | None:
        """``(B, n_tokens, D)`` for the rows (zeros where a row is not conditioned)."""
        if self.conditioner is None or not any(self.uses(r) for r in rows):
            return None
        e = self.conditioner.spec.enc_dim
        n = max(len(r.keys) if r.has_user else 0 for r in rows) or 1
        keys = torch.zeros(len(rows), n, e)
        values = torch.zeros(len(rows), n, e)
        mask = torch.zeros(len(rows), n, dtype=torch.bool)
        query = torch.zeros(len(rows), e)
        control = torch.zeros(len(rows), dtype=torch.long)
        for i, r in enumerate(rows):
            if r.has_user:
                if r.keys.shape[1] != e:
                    raise LampError(f"dimension mismatch: item vectors are {r.keys.shape[1]}-d, the artifact "
                                    f"expects {e}-d (another encoder?)")
                keys[i, :len(r.keys)] = torch.from_numpy(r.keys)
                values[i, :len(r.values)] = torch.from_numpy(r.values)
                mask[i, :len(r.keys)] = True
            if r.query is not None:
                query[i] = torch.from_numpy(r.query)
            control[i] = max(r.control, 0)
        dev = self.device
        out = self.conditioner(keys.to(dev), values.to(dev), mask.to(dev), query.to(dev), control.to(dev))
        return out.to(self.dtype)

    # ------------------------------------------------------------------ inputs

    def _embed(self, ids: list[int]) -> torch.Tensor:
        return self.model.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=self.device))

    def _conditioned(self, emb: torch.Tensor, soft: torch.Tensor | None, use: bool, n_prompt: int) -> tuple[torch.Tensor, int]:
        """The row's embeddings with the user injected; returns (embeddings, soft tokens added)."""
        if soft is None or not use:
            return emb, 0
        if self.conditioner.spec.injection == "add":
            add = torch.zeros_like(emb)
            add[:n_prompt] = soft[0]
            return emb + add, 0
        return torch.cat([soft, emb], dim=0), soft.shape[0]

    def inputs(self, rows: Sequence[UserRow], with_target: bool) -> dict[str, torch.Tensor]:
        """Model inputs for a batch: ``inputs_embeds``, ``attention_mask`` (+ ``position_ids`` for
        decoders), and ``labels`` (-100 off the answer) when ``with_target``."""
        soft = self.user_tokens(rows)
        return (self._seq2seq_inputs if self.seq2seq else self._causal_inputs)(rows, soft, with_target)

    def _causal_inputs(self, rows: Sequence[UserRow], soft: torch.Tensor | None,
                       with_target: bool) -> dict[str, torch.Tensor]:
        embs, labels = [], []
        for i, r in enumerate(rows):
            if with_target:
                feats = causal_features(Example(r.id, r.prompt, target=r.target or ""), self.tokenizer, self.max_length)
                ids, lab = feats["input_ids"], feats["labels"]
                n_prompt = sum(1 for x in lab if x == IGNORE_INDEX)
            else:
                ids = causal_prompt_ids(self.tokenizer, r.prompt, self.max_length)
                lab, n_prompt = [IGNORE_INDEX] * len(ids), len(ids)
            emb, added = self._conditioned(self._embed(ids), None if soft is None else soft[i], self.uses(r), n_prompt)
            embs.append(emb)
            labels.append([IGNORE_INDEX] * added + lab)
        width = max(e.shape[0] for e in embs)
        dim = embs[0].shape[1]
        inputs = torch.zeros(len(rows), width, dim, dtype=self.dtype, device=self.device)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
        lab_t = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long, device=self.device)
        for i, (e, lab) in enumerate(zip(embs, labels)):           # left padding
            inputs[i, width - e.shape[0]:] = e
            mask[i, width - e.shape[0]:] = 1
            lab_t[i, width - len(lab):] = torch.tensor(lab, dtype=torch.long)
        out = {"inputs_embeds": inputs, "attention_mask": mask,
               "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}
        if with_target:
            out["labels"] = lab_t
        return out

    def _seq2seq_inputs(self, rows: Sequence[UserRow], soft: torch.Tensor | None,
                        with_target: bool) -> dict[str, torch.Tensor]:
        embs = []
        for i, r in enumerate(rows):
            ids = self.tokenizer(r.prompt, max_length=self.max_length, truncation=True)["input_ids"]
            emb, _ = self._conditioned(self._embed(ids), None if soft is None else soft[i], self.uses(r), len(ids))
            embs.append(emb)
        width = max(e.shape[0] for e in embs)
        inputs = torch.zeros(len(rows), width, embs[0].shape[1], dtype=self.dtype, device=self.device)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
        for i, e in enumerate(embs):                                 # right padding
            inputs[i, :e.shape[0]] = e
            mask[i, :e.shape[0]] = 1
        out = {"inputs_embeds": inputs, "attention_mask": mask}
        if with_target:
            targets = [self.tokenizer(text_target=r.target or "", max_length=self.max_length, truncation=True)["input_ids"]
                       for r in rows]
            t_width = max(map(len, targets))
            out["labels"] = torch.tensor([t + [IGNORE_INDEX] * (t_width - len(t)) for t in targets],
                                         dtype=torch.long, device=self.device)
        return out

    # ------------------------------------------------------------------ training and perplexity

    def token_nll(self, rows: Sequence[UserRow]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per answer token: its negative log-likelihood and a validity mask, both ``(B, T)``.

        A decoder's answers are the last tokens of each left-padded row, so only the last
        ``T + 1`` positions get logits (``logits_to_keep``): no (B, seq, vocab) tensor."""
        enc = self.inputs(rows, with_target=True)
        labels = enc.pop("labels")
        if self.seq2seq:
            logits = self.model(**enc, labels=labels, use_cache=False).logits
        else:
            keep = int((labels != IGNORE_INDEX).sum(-1).max()) + 1
            if accepts(self.model, "logits_to_keep"):
                logits = self.model(**enc, logits_to_keep=keep, use_cache=False).logits[:, :-1]
            else:
                logits = self.model(**enc, use_cache=False).logits[:, -keep:-1]
            labels = labels[:, -(keep - 1):]
        lp = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), labels.clamp(min=0), reduction="none")
        valid = labels != IGNORE_INDEX
        return lp * valid, valid

    def loss(self, rows: Sequence[UserRow]) -> torch.Tensor:
        """Mean next-token loss over the answers' tokens (gradients reach the conditioner only)."""
        lp, valid = self.token_nll(rows)
        return lp.sum() / valid.sum().clamp(min=1)

    def nll(self, rows: Sequence[UserRow]) -> list[tuple[float, int]]:
        """Per row: (summed negative log-likelihood of the gold answer, its token count)."""
        out: list[tuple[float, int]] = []
        for batch in self._batches(rows):
            with torch.inference_mode():
                lp, valid = self.token_nll(batch)
            out.extend(zip(lp.sum(-1).tolist(), valid.sum(-1).tolist()))
        return [out[i] for i in self._inverse(rows)]

    # ------------------------------------------------------------------ inference

    def _order(self, rows: Sequence[UserRow]) -> list[int]:
        return sorted(range(len(rows)), key=lambda i: -len(rows[i].prompt))

    def _batches(self, rows: Sequence[UserRow]) -> list[list[UserRow]]:
        order = self._order(rows)
        return [[rows[i] for i in order[s:s + self.batch_size]] for s in range(0, len(order), self.batch_size)]

    def _inverse(self, rows: Sequence[UserRow]) -> list[int]:
        """Positions in the batched order of each original row."""
        inverse = [0] * len(rows)
        for pos, i in enumerate(self._order(rows)):
            inverse[i] = pos
        return inverse

    def _map(self, rows: Sequence[UserRow], fn: Callable[[list[UserRow]], list[str]]) -> list[str]:
        done: list[str] = []
        for batch in self._batches(rows):
            with torch.inference_mode():
                done.extend(fn(batch))
        return [done[i] for i in self._inverse(rows)]

    def generate(self, rows: Sequence[UserRow], settings: GenerationSettings) -> list[str]:
        return self._map(rows, lambda batch: self._generate_batch(batch, settings))

    def _generate_batch(self, rows: list[UserRow], settings: GenerationSettings) -> list[str]:
        from transformers import StoppingCriteriaList

        enc = self.inputs(rows, with_target=False)
        enc.pop("position_ids", None)        # generate derives positions from the attention mask
        config = self.model.generation_config.__class__.from_dict(self.model.generation_config.to_dict())
        config.max_new_tokens, config.max_length = settings.max_new_tokens, None
        config.num_beams, config.do_sample, config.num_return_sequences = settings.num_beams, settings.do_sample, 1
        config.pad_token_id = self.pad_id
        if settings.do_sample:
            torch.manual_seed(settings.seed)
            config.temperature, config.top_p, config.top_k = settings.temperature, settings.top_p, None
        else:
            config.temperature = config.top_p = config.top_k = None
        extra = {}
        if settings.stop_at_newline:
            start = 1 if self.seq2seq else 0      # decoder-only with inputs_embeds returns new tokens only
            extra["stopping_criteria"] = StoppingCriteriaList([StopAtNewline(self.tokenizer, start)])
        out = self.model.generate(**enc, generation_config=config, **extra)
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [finish_output(t, settings) for t in texts]

    def option_ids(self, options: Sequence[str]) -> list[list[int]]:
        if self.seq2seq:
            ids = [self.tokenizer(text_target=o)["input_ids"] for o in options]
        else:   # a chat answer starts the assistant turn; plain text continues after a space
            ids = [self.tokenizer(o if self.chat else " " + o, add_special_tokens=False)["input_ids"] for o in options]
        if any(not x for x in ids):
            raise LampError("label choice: an option tokenizes to nothing")
        return ids

    def choose(self, rows: Sequence[UserRow], options: Sequence[str]) -> list[str]:
        """The option with the highest summed log-likelihood after each (conditioned) prompt."""
        if not options:
            raise LampError("label choice needs at least one option")
        option_ids = self.option_ids(options)

        def run(batch: list[UserRow]) -> list[str]:
            scores = self.option_scores(batch, option_ids)
            return [options[int(i)] for i in scores.argmax(dim=1)]
        return self._map(rows, run)

    def option_scores(self, rows: list[UserRow], option_ids: list[list[int]]) -> torch.Tensor:
        """``(B, n_options)`` summed log-probs: the prompt is read once, then every option's tokens
        in one forward over the repeated cache (decoders) or one decoder batch (seq2seq)."""
        enc = self.inputs(rows, with_target=False)
        b, n = len(rows), len(option_ids)
        width = max(map(len, option_ids))
        padded = torch.tensor([x + [self.pad_id] * (width - len(x)) for x in option_ids], device=self.device)
        valid = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in option_ids], device=self.device)
        if self.seq2seq:
            from transformers.modeling_outputs import BaseModelOutput

            hidden = self.model.get_encoder()(inputs_embeds=enc["inputs_embeds"],
                                              attention_mask=enc["attention_mask"]).last_hidden_state
            labels = padded.masked_fill(valid == 0, IGNORE_INDEX).repeat(b, 1)
            logits = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden.repeat_interleave(n, 0)),
                                attention_mask=enc["attention_mask"].repeat_interleave(n, 0), labels=labels).logits
            logp = torch.log_softmax(logits.float(), -1).gather(-1, padded.repeat(b, 1).unsqueeze(-1)).squeeze(-1)
            return (logp * valid.repeat(b, 1)).sum(-1).view(b, n)
        out = self.model(**enc, use_cache=True)
        first = torch.log_softmax(out.logits[:, -1].float(), -1)[:, padded[:, 0]]          # (b, n)
        if width == 1:
            return first
        mask = enc["attention_mask"]
        cache = out["cache"] if "cache" in out else out["past_key_values"]
        cache.batch_repeat_interleave(n)
        fed = padded[:, :-1].repeat(b, 1)                                                  # (b*n, width-1)
        fed_mask = valid[:, :-1].repeat(b, 1)
        positions = mask.sum(-1).repeat_interleave(n).unsqueeze(1) + torch.arange(width - 1, device=self.device)
        logits = self.model(input_ids=fed, attention_mask=torch.cat([mask.repeat_interleave(n, 0), fed_mask], 1),
                            position_ids=positions, use_cache=True, **{cache_argument(self.model): cache}).logits
        targets = padded[:, 1:].repeat(b, 1)
        later = torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        later = (later * valid[:, 1:].repeat(b, 1)).sum(-1).view(b, n)
        return first + later


