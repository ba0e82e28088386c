"""Log-likelihoods through an OpenAI-compatible server (label choice, calibration, ROPG's ``loglik``).

:class:`OpenAIScoring` is mixed into :class:`~lamp.generation.backends.openai_api.OpenAIBackend`
and asks for log-likelihoods as lm-evaluation-harness does: the prompt goes as token ids, built
and cut exactly as the ``hf-causal`` backend builds it from the same tokenizer (cut to
``max_input_length`` tokens, then with ``chat=True`` the tokenizer's chat template and the option
as the answer, else the plain text with the tokenizer's special tokens and ``" " + option``), to
``/v1/completions`` with ``echo: true, logprobs: 1, max_tokens: 1``; the continuation's score is
the sum of the echoed prompt tokens' log-probabilities from the context's length on. A server
that does not echo prompt log-probabilities is asked once more with vLLM's ``prompt_logprobs``;
one that answers neither (llama.cpp's server gives the generated tokens' log-probabilities only)
is refused once, with a message, before any scoring request is sent. Scoring needs the served
model's own tokenizer.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import httpx

from lamp.core.errors import LampError
from lamp.generation.backends.base import GenerationSettings
from lamp.generation.backends.openai_tokenizer import CHARS_PER_4, is_tokenizer
from lamp.generation.backends.servers import AnswerError, RequestFailures, excerpt
from lamp.generation.prompts import chat_prompt, cut_to_tokens

#: Token sequences scored in one request (one per option; lamp serve takes up to 64 prompts a request).
ROWS_PER_REQUEST = 16
#: How the prompt's log-probabilities are asked for: lm-evaluation-harness's way, then vLLM's own.
LOGPROB_MODES = ("echo", "prompt_logprobs")


class OpenAIScoring:
    """The scoring half of the ``openai`` backend: ``score_options``, ``loglikelihood`` and
    ``continuation_length`` over the servers' prompt log-probabilities.

    The class it is mixed into holds the servers and sends the requests: besides the attributes
    annotated here it provides ``_discover()`` (learn the served model), ``_send(path, requests,
    desc)`` (send over the servers with retries: the parsed answers and the failures),
    ``_check_model(answer)`` and ``_where()`` (the servers, for messages).
    """

    tokenizer: Any
    prompt_budget: str
    chat: bool
    model: str | None
    base_urls: list[str]
    _clients: list[httpx.Client]
    _detect_lock: threading.Lock
    _logprob_modes: list[str] | None      # per server, once detected
    _logprob_refusal: str | None          # why scoring was refused, once detected

    def score_options(self, prompts: list[str], options: list[str], settings: GenerationSettings
                      ) -> list[list[float]]:
        """Each option's summed token log-probability after each prompt, as hf-causal computes it."""
        if not options:
            raise LampError("score_options() needs at least one option")
        conts = [self._continuation_ids(o) for o in options]
        pairs = [(ctx, cont) for ctx in (self._context_ids(p, settings) for p in prompts) for cont in conts]
        scores = self._score_pairs(pairs, rows_per_request=ROWS_PER_REQUEST if len(conts) > 1 else 1)
        n = len(conts)
        return [scores[i * n:(i + 1) * n] for i in range(len(prompts))]

    def loglikelihood(self, prompts: list[str], continuations: list[str], settings: GenerationSettings
                      ) -> list[tuple[float, int]]:
        """``(log p(continuation | prompt), its token count)`` per pair, one request each."""
        if len(prompts) != len(continuations):
            raise LampError(f"loglikelihood(): {len(prompts)} prompts for {len(continuations)} continuations")
        pairs = [(self._context_ids(p, settings), self._continuation_ids(c)) for p, c in zip(prompts, continuations)]
        return [(score, len(cont)) for score, (_, cont) in zip(self._score_pairs(pairs, 1), pairs)]

    def continuation_length(self, text: str) -> int:
        return len(self._continuation_ids(text))

    def _scoring_tokenizer(self) -> Any:
        tok = self.tokenizer
        if not is_tokenizer(tok):
            raise LampError("scoring through the openai backend (label choice, log-likelihoods) sends the prompt as "
                            "token ids, so it needs the served model's own tokenizer: pass tokenizer=<its folder or hub "
                            "id> (--tokenizer, or backend_options {\"tokenizer\": ...}); "
                            f"{'chars/4 is only a budget' if self.prompt_budget == CHARS_PER_4 else 'none was given'}")
        if self.chat and not getattr(tok, "chat_template", None):
            raise LampError("scoring with chat=True builds the prompt with the tokenizer's chat template, and the "
                            f"tokenizer {self.prompt_budget.removeprefix('tokenizer:')} has none: drop chat, or pass "
                            "the served model's tokenizer")
        return tok

    def _context_ids(self, prompt: str, settings: GenerationSettings) -> list[int]:
        """The prompt's token ids as hf-causal reads them: the user text cut to the input budget,
        then the chat template (``chat``) or the tokenizer's own special tokens."""
        tok = self._scoring_tokenizer()
        text = cut_to_tokens(tok, prompt, settings.max_input_length)
        ids = tok(chat_prompt(tok, text), add_special_tokens=False)["input_ids"] if self.chat else tok(text)["input_ids"]
        if not ids:
            raise LampError("cannot score after an empty prompt: it has no token to condition on")
        return list(ids)

    def _continuation_ids(self, text: str) -> list[int]:
        """A chat answer starts a fresh assistant turn; plain text continues after a space (as hf-causal)."""
        ids = self._scoring_tokenizer()(text if self.chat else " " + text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise LampError(f"cannot score the continuation {text!r}: it tokenizes to nothing")
        return list(ids)

    def _score_pairs(self, pairs: list[tuple[list[int], list[int]]], rows_per_request: int) -> list[float]:
        """The summed log-probability of each continuation after its context, ``rows_per_request``
        token sequences a request."""
        if not pairs:
            return []
        if self.model is None:
            self._discover()
        modes = self._detect_logprobs()
        chunks = [pairs[i:i + rows_per_request] for i in range(0, len(pairs), rows_per_request)]
        requests = [(self._logprob_body([c + x for c, x in chunk], modes[0]),
                     self._logprob_parser(chunk, modes[0])) for chunk in chunks]
        if len(set(modes)) > 1:
            raise LampError(f"the servers {self._where()} answer log-probabilities differently ({', '.join(modes)}); "
                            "use replicas of one server software")
        results, failures = self._send("/completions", requests, f"openai {self.model} scores")
        if failures:
            raise RequestFailures(failures, len(requests), self._where(), "scoring requests")
        return [score for chunk in results for score in chunk]

    def _logprob_body(self, rows: list[list[int]], mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": rows[0] if len(rows) == 1 else rows,
                                "max_tokens": 1, "temperature": 0.0}
        body.update({"echo": True, "logprobs": 1} if mode == "echo" else {"prompt_logprobs": 0})
        return body

    def _logprob_parser(self, pairs: list[tuple[list[int], list[int]]], mode: str
                        ) -> Callable[[dict[str, Any]], list[float]]:
        def parse(data: dict[str, Any]) -> list[float]:
            self._check_model(data)
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            if len(choices) != len(pairs):
                raise AnswerError(f"{len(choices)} choices for {len(pairs)} scored sequences")
            return [sum(prompt_token_logprobs(choice, ctx + cont, mode)[len(ctx):]) for choice, (ctx, cont)
                    in zip(choices, pairs)]
        return parse

    def _detect_logprobs(self) -> list[str]:
        """Per server, how it gives the prompt's log-probabilities (asked once); a server that gives
        none is refused here, before any scoring request."""
        with self._detect_lock:
            if self._logprob_refusal is not None:
                raise LampError(self._logprob_refusal)
            if self._logprob_modes is None:
                tok = self._scoring_tokenizer()
                ids = list(tok("Log-probabilities of every prompt token, please.")["input_ids"])
                ids = (ids * 2)[:max(2, len(ids))]
                try:
                    self._logprob_modes = [self._logprob_mode(s, ids) for s in range(len(self.base_urls))]
                except LampError as exc:
                    self._logprob_refusal = str(exc)
                    raise
            return self._logprob_modes

    def _logprob_mode(self, s: int, ids: list[int]) -> str:
        tried = []
        for mode in LOGPROB_MODES:
            try:
                resp = self._clients[s].post("/completions", json=self._logprob_body([ids], mode))
                if resp.status_code != 200:
                    tried.append(f"{mode}: HTTP {resp.status_code} {excerpt(resp.text)}")
                    continue
                choice = min(resp.json()["choices"], key=lambda c: c.get("index", 0))
                values = prompt_token_logprobs(choice, ids, mode)
                if len(values) == len(ids) and all(v <= 1e-6 for v in values[1:]):
                    return mode
                tried.append(f"{mode}: no log-probability for each prompt token")
            except httpx.HTTPError as exc:
                tried.append(f"{mode}: {type(exc).__name__}: {exc}")
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                tried.append(f"{mode}: {type(exc).__name__} {exc}" if str(exc) else f"{mode}: unexpected answer")
        raise LampError(f"the server at {self.base_urls[s]} cannot score: it returns no log-probabilities of the "
                        f"prompt's tokens ({'; '.join(tried)}). Label choice, calibration and log-likelihoods need "
                        "'echo' with 'logprobs' (OpenAI's legacy completions, lm-evaluation-harness's protocol) or "
                        "vLLM's 'prompt_logprobs'; llama.cpp's server gives the generated tokens' log-probabilities "
                        "only. Serve the model with vLLM or lamp serve, or generate freely (drop --label_choice, "
                        "--calibrate_labels, --with_loglik)")


def prompt_token_logprobs(choice: dict[str, Any], ids: list[int], mode: str) -> list[float]:
    """The log-probability of each prompt token given the ones before it (0.0 for the first),
    read from an ``echo`` + ``logprobs`` answer or a vLLM ``prompt_logprobs`` one; shorter than
    ``ids`` when the server gave fewer (llama.cpp: the generated tokens only)."""
    if mode == "echo":
        values = ((choice.get("logprobs") or {}).get("token_logprobs") or [])[:len(ids)]
        if len(values) < len(ids):
            return [float(v or 0.0) for v in values]
        return [0.0] + [float(v) for v in values[1:]]
    entries = choice.get("prompt_logprobs") or []
    out = [0.0] if entries else []
    for token, entry in zip(ids[1:], entries[1:len(ids)]):
        value = entry[str(token)]
        out.append(float(value["logprob"] if isinstance(value, dict) else value))
    return out
