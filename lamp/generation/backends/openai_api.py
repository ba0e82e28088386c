"""The ``openai`` backend: any OpenAI-compatible server (vLLM, TGI, llama.cpp server, SGLang, ``lamp serve``).

This is how a user runs an 8B-70B model on a GPU cluster: start the server there, point
``base_url`` at it, and the harness sends one ``/v1/completions`` request per prompt (or
``/v1/chat/completions`` with ``chat=True``), at most ``max_concurrency`` at a time per server.

Several servers at once. ``base_url`` may list several servers (a list, or one string with
commas): replicas of one model, used data parallel, each request on the least loaded healthy one
(:mod:`lamp.generation.backends.servers` keeps the pool, its failure reports and the URL parsing).
Every server must serve the same model (checked when the identity is first asked for); the
identity names the first URL.

Failures. Timeouts, connection errors, 408, 429 and 5xx answers are retried up to ``max_retries``
times, on another server when there is one, else after exponential backoff with seeded jitter
(``Retry-After`` wins when the server sends it). Other 4xx answers (a prompt longer than the
context, a wrong model name) are not retried.
:meth:`OpenAIBackend.generate` keeps the :class:`Backend` contract (one string per prompt) and, when
some requests still fail, raises :class:`GenerationFailures`, a :class:`LampError` that lists each
failed prompt index with its HTTP status, server and a body excerpt, and carries ``outputs`` (the
answers that did arrive, None for the failed ones) so a caller can cache the successes and rerun
only the rest. :meth:`OpenAIBackend.generate_partial` never raises for failed requests and reports
each answer through ``on_result`` as it arrives, so an interrupted run loses nothing finished.

Settings map to the API as: greedy -> ``temperature: 0``; sampling -> ``temperature``/``top_p``;
``max_new_tokens`` -> ``max_tokens``; ``stop_at_newline`` -> ``stop: ["\\n"]``; ``seed`` -> ``seed``.
Answers are cleaned up as the hf backends do (stripped; the first line with ``stop_at_newline``).
One difference remains: a server stops at a newline even before any answer text, where the hf
backends skip leading blank lines (``lamp serve`` behaves like the hf backends).
The API has no beam search, so ``num_beams > 1`` is ignored with a warning (decoding is greedy).
``max_input_length`` is not sent: budget prompts with ``tokenizer`` (the model's own tokenizer,
loaded locally) before calling.

Log-likelihoods (label choice, calibration, ROPG's ``loglik``) are asked for as lm-evaluation-harness
does, prompt tokens echoed with their log-probabilities (or vLLM's ``prompt_logprobs``):
:class:`~lamp.generation.backends.openai_loglik.OpenAIScoring`, mixed in here. Scoring needs the
served model's own tokenizer (:mod:`lamp.generation.backends.openai_tokenizer`).

Nothing changes silently. Without a ``tokenizer`` there is no prompt budget: building a prompt
with profile items is an error that says what to pass (a tokenizer folder or hub id, the bundled
model's name, or ``"chars/4"`` to count four characters a token, which :attr:`prompt_budget`
records). A real tokenizer is compared with the server's own where it has vLLM's ``/tokenize``
endpoint, and a mismatch is an error. The identity (part of every cache key) holds what the server
says it serves: the ``GET /v1/models`` entry's weights (``root``) and details, and the ``model`` a
one-token probe answers with, so a different model behind the same URL and name never gets cached
answers; an answer naming another model than the probe's fails instead of being cached. A server
that cannot be reached, does not list the model asked for, or serves another model than the first
server stops the run when the identity is first asked for, before any output is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence

import httpx

from lamp.core.errors import LampError
from lamp.generation.backends.base import Backend, GenerationSettings, finish_output
from lamp.generation.backends.openai_loglik import OpenAIScoring
from lamp.generation.backends.openai_tokenizer import CHARS_PER_4, is_tokenizer, load_tokenizer, probe_text
from lamp.generation.backends.servers import (RETRY_STATUSES, AnswerError, GenerationFailures, RequestFailure,
                                              Served, Servers, excerpt, parse_base_urls, parse_retry_after)
from lamp.generation.prompts import chat_prompt

#: Fields of a ``/v1/models`` entry that change between calls (not part of the identity).
VOLATILE_MODEL_FIELDS = frozenset({"created", "permission", "permissions"})
#: Requests in flight at once on each server by default (a GPU server batches them).
DEFAULT_CONCURRENCY = 64


class OpenAIBackend(OpenAIScoring, Backend):
    """Generation and scoring through OpenAI-compatible HTTP servers.

    >>> backend = OpenAIBackend("http://gpu-node:8000/v1", model="meta-llama/Llama-3.1-8B-Instruct")  # doctest: +SKIP
    >>> backend.generate(["Say hi."], GenerationSettings(num_beams=1, max_new_tokens=8))  # doctest: +SKIP
    ['Hi!']

    ``base_url``: the server, with or without ``/v1`` (None: ``$OPENAI_BASE_URL``); several
    servers of one model as a list or separated by commas. ``model``: the served model name (None:
    the only one ``GET /v1/models`` lists). ``api_key``: default ``$OPENAI_API_KEY`` (never part of
    the identity). ``chat``: use ``/v1/chat/completions`` (the server applies its chat template;
    scoring applies the local tokenizer's). ``max_concurrency``: requests in flight at once on each
    server. ``timeout``: seconds per connect/read/write. ``max_retries``, ``backoff_base``,
    ``backoff_max``, ``retry_seed``: the retry schedule. ``tokenizer``: for prompt budgeting and
    scoring, a tokenizer object, folder, hub id or the bundled model's name, or ``"chars/4"`` (a
    rough count, recorded in :attr:`prompt_budget`, not enough to score); None: no budget.
    ``extra_body``: extra generation request fields for server-specific options (e.g. vLLM's ``top_k``).
    """

    def __init__(self, base_url: str | Sequence[str] | None = None, model: str | None = None,
                 api_key: str | None = None, *, chat: bool = False, max_concurrency: int = DEFAULT_CONCURRENCY,
                 timeout: float = 60.0, max_retries: int = 5, backoff_base: float = 0.5, backoff_max: float = 60.0,
                 retry_seed: int = 0, tokenizer: Any = None, extra_body: dict[str, Any] | None = None,
                 progress: bool = True, trust_env: bool = True, batch_size: int | None = None) -> None:
        if max_concurrency < 1:
            raise LampError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise LampError(f"max_retries must be 0 or more, got {max_retries}")
        if timeout <= 0:
            raise LampError(f"timeout must be positive, got {timeout}")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise LampError("the openai backend needs a server: pass base_url (e.g. --base_url "
                            "http://127.0.0.1:8000/v1) or set OPENAI_BASE_URL")
        #: Every server, normalized; the first one names the identity.
        self.base_urls = parse_base_urls(base_url)
        self.base_url = self.base_urls[0]
        self.model = model
        self.chat = chat
        self.max_concurrency, self.timeout, self.max_retries = max_concurrency, float(timeout), max_retries
        self.backoff_base, self.backoff_max, self.retry_seed = backoff_base, backoff_max, retry_seed
        self.extra_body = dict(extra_body or {})
        #: Prompts per generate() call that a driver should send (requests within one call overlap).
        self.batch_size = batch_size or 8 * max_concurrency * len(self.base_urls)
        self.progress = progress
        self.tokenizer = load_tokenizer(tokenizer)
        #: How prompts are budgeted: "tokenizer:NAME", "chars/4" or "none" (recorded in run manifests).
        self.prompt_budget = ("none" if tokenizer is None else "chars/4" if tokenizer == CHARS_PER_4
                              else f"tokenizer:{tokenizer if isinstance(tokenizer, (str, os.PathLike)) else type(tokenizer).__name__}")
        self.served: list[Served] = [Served() for _ in self.base_urls]
        #: Per server: how its tokenizer was checked ("matched /tokenize", "not checked: ...").
        self.tokenizer_checks: list[str] = []
        self._identity: str | None = None
        self._logprob_modes: list[str] | None = None      # per server, once detected
        self._logprob_refusal: str | None = None          # why scoring was refused, once detected
        self._detect_lock = threading.Lock()
        self._warned_beams = False
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._clients = [httpx.Client(
            base_url=url, headers=headers, timeout=httpx.Timeout(self.timeout), trust_env=trust_env,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency))
            for url in self.base_urls]
        self._client = self._clients[0]
        self.servers = Servers(self.base_urls, max_concurrency,
                                lambda n: self.backoff_delay(n, random.Random(f"{self.retry_seed}:server:{n}")))

    # ------------------------------------------------------------------ identity

    @property
    def served_model(self) -> str | None:
        """What ``GET /v1/models`` reports for our model (the weights), on the first server."""
        return self.served[0].root

    @property
    def model_details(self) -> str | None:
        return self.served[0].details

    @property
    def reported_model(self) -> str | None:
        """The ``model`` a generation answer names (the same on every server)."""
        return self.served[0].reported

    @property
    def identity(self) -> str:  # type: ignore[override]
        """``openai:{base_url}:{model}``, plus what the server says it serves: the weights of its
        model entry (vLLM's ``root``), a hash of the entry's other details, and the model a probe
        answer names (llama.cpp servers name the weights file there); ``:chat`` for the chat endpoint.
        Asking for it checks every server (reachable, the model listed, the same model everywhere,
        the tokenizer where the server can tokenize)."""
        if self._identity is None:
            for s in range(len(self.base_urls)):
                self._discover(s)
                self._probe(s)
                if s and self.served[s] != self.served[0]:
                    raise LampError(f"the servers do not serve the same model {self.model!r}: {self.base_urls[0]} "
                                    f"has {self.served[0].describe()}; {self.base_urls[s]} has "
                                    f"{self.served[s].describe()}")
            self.tokenizer_checks = [self._check_tokenizer(s) for s in range(len(self.base_urls))]
            ident = f"openai:{self.base_url}:{self.model}"
            first = self.served[0]
            for extra in (first.root, first.details and f"details={first.details}",
                          first.reported and first.reported != self.model and f"reports={first.reported}",
                          self.chat and "chat"):
                if extra:
                    ident += f":{extra}"
            self._identity = ident
        return self._identity

    def _probe(self, s: int) -> None:
        """One greedy one-token completion, to learn which model the server says answered."""
        body: dict[str, Any] = {"model": self.model, "max_tokens": 1, "temperature": 0.0}
        path = "/chat/completions" if self.chat else "/completions"
        body.update({"messages": [{"role": "user", "content": "Hi"}]} if self.chat else {"prompt": "Hi"})
        try:
            resp = self._clients[s].post(path, json=body)
            reported = resp.json().get("model") if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            reported = None
        self.served[s].reported = str(reported) if reported else None

    def _discover(self, s: int = 0) -> None:
        """Ask server ``s``'s ``GET /models`` which model is served; pick it when ``model`` was not
        given; a server that cannot be reached, refuses the key or lists other models is an error."""
        url = self.base_urls[s]
        try:
            resp = self._clients[s].get("/models")
        except httpx.HTTPError as exc:
            raise LampError(f"cannot reach the OpenAI-compatible server at {url}: {exc}") from None
        if resp.status_code in (401, 403):
            raise LampError(f"the server at {url} refused the API key (HTTP {resp.status_code}): "
                            f"{excerpt(resp.text)}; set OPENAI_API_KEY")
        entries = []
        if resp.status_code == 200:
            try:
                entries = [e for e in resp.json().get("data", []) if isinstance(e, dict) and "id" in e]
            except (ValueError, AttributeError):
                entries = []
        names = ", ".join(repr(str(e["id"])) for e in entries)
        if self.model is None:
            if len(entries) != 1:
                raise LampError(f"{url} serves {len(entries)} models ({names or f'none, HTTP {resp.status_code}'}); "
                                "pass model=... to pick one")
            self.model = str(entries[0]["id"])
        if entries and all(e["id"] != self.model for e in entries):
            raise LampError(f"the server at {url} does not serve the model {self.model!r} asked for; it serves {names}")
        for entry in entries:
            if entry["id"] == self.model:
                root = entry.get("root")
                self.served[s].root = str(root) if root and root != self.model else None
                details = {k: v for k, v in entry.items() if k not in VOLATILE_MODEL_FIELDS}
                if set(details) - {"id", "root", "object", "owned_by"}:
                    blob = json.dumps(details, sort_keys=True, default=str).encode()
                    self.served[s].details = hashlib.sha256(blob).hexdigest()[:12]

    def _check_tokenizer(self, s: int) -> str:
        """Compare the local tokenizer with server ``s``'s ``POST /tokenize`` (vLLM's, at the root),
        on the probe text as a budget counts it and as a scored prompt is built; a mismatch is an error."""
        tok = self.tokenizer
        if not is_tokenizer(tok):
            return "not checked: no local tokenizer"
        url = self.base_urls[s]
        probe = probe_text(tok)
        cases = [(probe, True)]
        if self.chat and getattr(tok, "chat_template", None):
            cases.append((chat_prompt(tok, probe), False))
        for text, special in cases:
            try:
                resp = self._clients[s].post(url.removesuffix("/v1") + "/tokenize",
                                             json={"model": self.model, "prompt": text, "add_special_tokens": special})
                theirs = resp.json().get("tokens") if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError, AttributeError):
                theirs, resp = None, None
            if not isinstance(theirs, list):
                why = f"HTTP {resp.status_code}" if resp is not None else "no answer"
                warnings.warn(f"the server at {url} has no usable /tokenize endpoint ({why}); the tokenizer "
                              f"{self.prompt_budget.removeprefix('tokenizer:')} was not checked against it", stacklevel=4)
                return f"not checked: /tokenize {why}"
            ours = tok(text, add_special_tokens=special)["input_ids"]
            if theirs != ours:
                at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                raise LampError(
                    f"the tokenizer {self.prompt_budget.removeprefix('tokenizer:')} is not the one of the model "
                    f"{self.model!r} at {url}: a probe text is {len(ours)} tokens here and {len(theirs)} there, the "
                    f"first difference at token {at} (here {ours[at:at + 3]}, there {theirs[at:at + 3]}); pass the "
                    "served model's own tokenizer")
        return "matched /tokenize"

    # ------------------------------------------------------------------ generation

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        """One output per prompt, in order; :class:`GenerationFailures` if any request failed for good."""
        outputs, failures = self.generate_partial(prompts, settings)
        if failures:
            raise GenerationFailures(outputs, failures, self._where())
        return [o for o in outputs if o is not None]

    def generate_partial(self, prompts: list[str], settings: GenerationSettings,
                         on_result: Callable[[int, str], None] | None = None
                         ) -> tuple[list[str | None], list[RequestFailure]]:
        """Outputs (None where a request failed) and the failures, sorted by prompt index.

        ``on_result(index, text)`` is called in the calling thread as each answer arrives.
        """
        if not prompts:
            return [], []
        if self.model is None:
            self._discover()
        self._warn_beams(settings)
        path, bodies = self._request_bodies(prompts, settings)

        def done(index: int, text: str) -> str:
            text = finish_output(text, settings)
            if on_result is not None:
                on_result(index, text)
            return text
        return self._send(path, [(body, self._parse) for body in bodies], f"openai {self.model}", done)

    def _send(self, path: str, requests: list[tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]], desc: str,
              done: Callable[[int, Any], Any] | None = None) -> tuple[list[Any], list[RequestFailure]]:
        """Every request (a body and the parser of its answer) sent over the servers; the parsed
        answers in order (None where one failed, ``done(index, parsed)`` in the calling thread as
        each arrives) and the failures sorted by index."""
        results: list[Any] = [None] * len(requests)
        failures: list[RequestFailure] = []
        stop = threading.Event()
        bar = _progress(len(requests), desc, self.progress)
        workers = min(self.max_concurrency * len(self.base_urls), len(requests))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lamp-openai")
        try:
            pending = {pool.submit(self._request_one, i, path, body, stop, parse): i
                       for i, (body, parse) in enumerate(requests)}
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    index = pending.pop(fut)
                    result = fut.result()
                    if isinstance(result, RequestFailure):
                        failures.append(result)
                    else:
                        results[index] = done(index, result) if done is not None else result
                    bar.update(1)
        finally:
            stop.set()                                   # wakes retry sleeps on interrupt
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        failures.sort(key=lambda f: f.index)
        return results, failures

    def _request_bodies(self, prompts: list[str], s: GenerationSettings) -> tuple[str, list[dict[str, Any]]]:
        common: dict[str, Any] = {"model": self.model, "max_tokens": s.max_new_tokens, "n": 1, "seed": s.seed,
                                  "temperature": s.temperature if s.do_sample else 0.0}
        if s.do_sample:
            common["top_p"] = s.top_p
        if s.stop_at_newline:
            common["stop"] = ["\n"]
        common.update(self.extra_body)
        if self.chat:
            return "/chat/completions", [{**common, "messages": [{"role": "user", "content": p}]} for p in prompts]
        return "/completions", [{**common, "prompt": p} for p in prompts]

    def _request_one(self, index: int, path: str, body: dict[str, Any], stop: threading.Event,
                     parse: Callable[[dict[str, Any]], Any]) -> Any:
        """Send one request, retrying what is worth retrying (on another server when one is
        healthy); the parsed answer or the final failure."""
        rng = random.Random(f"{self.retry_seed}:{index}")   # same schedule whatever the thread order
        attempt, last = 0, None
        while True:
            server = self.servers.acquire(last, stop)
            if server is None:
                return RequestFailure(index, None, "interrupted", attempt, self._named(last or 0))
            attempt += 1
            # trouble: False = the server seems in trouble (avoid it a while), None = it answered
            status, retry_after, trouble = None, None, False
            try:
                resp = self._clients[server].post(path, json=body)
            except httpx.TimeoutException as exc:
                error, retryable = f"timed out after {self.timeout:g} s ({type(exc).__name__})", True
            except httpx.TransportError as exc:
                error, retryable = f"{type(exc).__name__}: {exc}", True
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        parsed = parse(resp.json())
                        self.servers.release(server, True)
                        return parsed
                    except AnswerError as exc:
                        error = str(exc)
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                        error = f"unexpected answer: {excerpt(resp.text)}"
                    retryable, trouble = False, None
                else:
                    error = excerpt(resp.text) or resp.reason_phrase
                    retryable = status in RETRY_STATUSES or status >= 500
                    retry_after = parse_retry_after(resp.headers.get("retry-after"))
                    trouble = False if retryable else None
            self.servers.release(server, trouble, retry_after)
            if not retryable or attempt > self.max_retries or stop.is_set():
                return RequestFailure(index, status, error, attempt, self._named(server))
            last = server
            if self.servers.move_from(server):
                continue                                  # another server takes it now
            delay = retry_after if retry_after is not None else self.backoff_delay(attempt, rng)
            if stop.wait(min(delay, self.backoff_max)):
                return RequestFailure(index, status, error + " (interrupted)", attempt, self._named(server))

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter: half the step fixed, half drawn from the seeded ``rng``."""
        step = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return step / 2 + rng.uniform(0, step / 2)

    def _check_model(self, data: dict[str, Any]) -> None:
        named, expected = data.get("model"), self.reported_model
        if expected and named and named != expected:
            raise AnswerError(f"the server answered with model {named!r}, not {expected!r} as when this "
                              "run started (the model behind the URL changed); restart to re-identify it")

    def _parse(self, data: dict[str, Any]) -> str:
        self._check_model(data)
        choice = min(data["choices"], key=lambda c: c.get("index", 0))
        text = choice["message"]["content"] if self.chat else choice["text"]
        if not isinstance(text, str):
            raise TypeError("text is not a string")
        return text

    def _warn_beams(self, settings: GenerationSettings) -> None:
        if settings.num_beams > 1 and not settings.do_sample and not self._warned_beams:
            self._warned_beams = True
            warnings.warn(f"the OpenAI API has no beam search: num_beams={settings.num_beams} is ignored and "
                          "decoding is greedy (temperature 0)", stacklevel=3)

    def _named(self, s: int) -> str | None:
        """Server ``s``'s URL for a failure report (None with one server: the report names it once)."""
        return self.base_urls[s] if len(self.base_urls) > 1 else None

    def _where(self) -> str:
        return ", ".join(self.base_urls)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def __enter__(self) -> "OpenAIBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoBar:
    """The progress bar of a call too small for one (or with ``progress=False``)."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool) -> Any:
    """A bar over a call's requests, shown from two requests on."""
    if not enabled or total < 2:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="req", leave=False)
