"""The ``openai`` backend: any OpenAI-compatible server (vLLM, TGI, llama.cpp server, SGLang, ``lamp serve``).

This is how a user runs an 8B-70B model on a GPU cluster: start the server there, point
``base_url`` at it, and the harness sends one ``/v1/completions`` request per prompt (or
``/v1/chat/completions`` with ``chat=True``), at most ``max_concurrency`` at a time per server.

Several servers at once. ``base_url`` may list several servers (a list, or one string with
commas): replicas of one model, used data parallel. Each request goes to the server with the
fewest requests in flight (at most ``max_concurrency`` on each); a request that fails in a way
worth retrying moves at once to another server, and the server that failed is avoided for a
while (longer after each failure in a row), so a replica that dies mid-run costs its in-flight
requests one retry each and the run goes on with the others. Every server must serve the same
model (checked when the identity is first asked for); the identity names the first URL.

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

Log-likelihoods (label choice, calibration, ROPG's ``loglik``), as lm-evaluation-harness asks
for them: the prompt goes as token ids, built and cut exactly as the ``hf-causal`` backend builds
it from the same tokenizer (cut to ``max_input_length`` tokens, then with ``chat=True`` the
tokenizer's chat template and the option as the answer, else the plain text with the
tokenizer's special tokens and ``" " + option``), to ``/v1/completions`` with ``echo: true,
logprobs: 1, max_tokens: 1``; the continuation's score is the sum of the echoed prompt tokens'
log-probabilities from the context's length on. A server that does not echo prompt
log-probabilities is asked once more with vLLM's ``prompt_logprobs``; one that answers neither
(llama.cpp's server gives the generated tokens' log-probabilities only) is refused once, with a
message, before any scoring request is sent. Scoring needs the served model's own tokenizer.

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

import email.utils
import hashlib
import json
import os
import random
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import httpx

from lamp.generation.backends.base import Backend, GenerationSettings, finish_output
from lamp.core.errors import LampError

#: Answers worth retrying besides every 5xx: request timeout, too early, rate limited.
RETRY_STATUSES = frozenset({408, 425, 429})
#: How much of an error body goes into a failure report.
EXCERPT_CHARS = 300
#: Failures listed in full in the exception message (the rest are counted).
LISTED_FAILURES = 10
#: The ``tokenizer`` value that asks for the rough four-characters-a-token budget.
CHARS_PER_4 = "chars/4"
#: Fields of a ``/v1/models`` entry that change between calls (not part of the identity).
VOLATILE_MODEL_FIELDS = frozenset({"created", "permission", "permissions"})
#: Requests in flight at once on each server by default (a GPU server batches them).
DEFAULT_CONCURRENCY = 64
#: Token sequences scored in one request (one per option; lamp serve takes up to 64 prompts a request).
ROWS_PER_REQUEST = 16
#: How the prompt's log-probabilities are asked for: lm-evaluation-harness's way, then vLLM's own.
LOGPROB_MODES = ("echo", "prompt_logprobs")
#: The text whose tokens are compared with the server's ``/tokenize`` (plus a spread of the vocabulary).
TOKENIZER_PROBE = "Check 1: the tokenizer of LaMP's personalized prompts, e.g. 42 items; naïve café."


@dataclass(frozen=True)
class RequestFailure:
    """One prompt whose request failed for good."""

    index: int               # position of the prompt in the list given to generate()
    status: int | None       # the last HTTP status; None when no HTTP answer came (timeout, refused)
    error: str               # excerpt of the last answer's body, or the transport error
    attempts: int
    server: str | None = None  # the base URL of the last attempt

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no answer"
        where = f" from {self.server}" if self.server else ""
        return f"prompt #{self.index}: {what}{where} after {self.attempts} attempt(s): {self.error}"


class RequestFailures(LampError):
    """Some requests failed after all retries (``failures``, sorted by prompt index)."""

    def __init__(self, failures: list[RequestFailure], total: int, where: str, what: str = "requests",
                 footer: str = "rerun to retry the failed prompts") -> None:
        self.failures = failures
        lines = [f"{len(failures)} of {total} {what} to {where} failed:"]
        lines += [f"  {f.describe()}" for f in failures[:LISTED_FAILURES]]
        if len(failures) > LISTED_FAILURES:
            lines.append(f"  ... and {len(failures) - LISTED_FAILURES} more")
        lines.append(footer)
        super().__init__("\n".join(lines))


class GenerationFailures(RequestFailures):
    """Some generation requests failed after all retries; ``outputs`` holds the ones that succeeded (None elsewhere)."""

    def __init__(self, outputs: list[str | None], failures: list[RequestFailure], where: str) -> None:
        self.outputs = outputs
        super().__init__(failures, len(outputs), where, footer="the successful answers are kept in .outputs; "
                                                               "rerun to retry only the failed prompts")


def normalize_base_url(base_url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1`` all mean ``.../v1``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise LampError(f"base_url must start with http:// or https://, got {base_url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def parse_base_urls(base_url: str | Sequence[str]) -> list[str]:
    """The servers named by ``base_url``: one URL, several separated by commas, or a list of them
    (each may itself hold commas), normalized; an empty list or a URL named twice is an error."""
    parts = [base_url] if isinstance(base_url, str) else list(base_url)
    urls = [normalize_base_url(p) for part in parts for p in str(part).split(",") if p.strip()]
    if not urls:
        raise LampError(f"base_url names no server: {base_url!r}")
    twice = sorted({u for u in urls if urls.count(u) > 1})
    if twice:
        raise LampError(f"base_url names {', '.join(twice)} more than once")
    return urls


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


class _AnswerError(ValueError):
    """A 200 answer that cannot be used; ``retryable`` is False (the same request would get it again)."""


@dataclass
class _Served:
    """What one server says it serves (compared across servers)."""

    root: str | None = None          # the weights of its model entry (vLLM's ``root``), when not the name
    details: str | None = None       # a hash of the entry's other fields (e.g. llama.cpp's meta)
    reported: str | None = None      # the ``model`` a one-token probe answer names

    def describe(self) -> str:
        return f"weights {self.root or '?'}, details {self.details or '-'}, answers as {self.reported or '?'}"


class _Servers:
    """The servers' load and health: requests go to the least loaded healthy server."""

    def __init__(self, urls: list[str], capacity: int, backoff: Callable[[int], float]) -> None:
        self.urls, self.capacity, self.backoff = urls, capacity, backoff
        self.in_flight = [0] * len(urls)
        self.failures_in_a_row = [0] * len(urls)
        self.avoid_until = [0.0] * len(urls)
        #: Successful answers per server, and requests moved to another server after a failure.
        self.answered = [0] * len(urls)
        self.moved = 0
        self._turn = 0
        self._cond = threading.Condition()

    def _healthy(self, s: int, avoid: int | None, now: float) -> bool:
        return s != avoid and self.avoid_until[s] <= now

    def acquire(self, avoid: int | None, stop: threading.Event) -> int | None:
        """A server with room for one more request: a healthy one (not ``avoid``, not failing lately)
        when there is one, waiting for room on it; any with room when none is healthy. None: stopped."""
        n = len(self.urls)
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                order = sorted(range(n), key=lambda s: (self.in_flight[s], (s - self._turn) % n))
                healthy = [s for s in order if self._healthy(s, avoid, now)]
                pool = healthy or order
                free = [s for s in pool if self.in_flight[s] < self.capacity]
                if free:
                    s = free[0]
                    self.in_flight[s] += 1
                    self._turn = (s + 1) % n
                    return s
                self._cond.wait(0.05)
        return None

    def release(self, s: int, ok: bool | None, wait_s: float | None = None) -> None:
        """The request on ``s`` ended: answered (True), failed in a way that says the server is in
        trouble (False: avoided for ``wait_s`` or a growing backoff), or neither (None)."""
        with self._cond:
            self.in_flight[s] -= 1
            if ok:
                self.answered[s] += 1
                self.failures_in_a_row[s] = 0
            elif ok is False:
                self.failures_in_a_row[s] += 1
                pause = wait_s if wait_s is not None else self.backoff(self.failures_in_a_row[s])
                self.avoid_until[s] = time.monotonic() + pause
            self._cond.notify_all()

    def move_from(self, s: int) -> bool:
        """True (and counted in ``moved``) when a server other than ``s`` is healthy to retry on."""
        now = time.monotonic()
        with self._cond:
            if any(self._healthy(t, s, now) for t in range(len(self.urls))):
                self.moved += 1
                return True
            return False


class OpenAIBackend(Backend):
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
        self.tokenizer = _load_tokenizer(tokenizer)
        #: How prompts are budgeted: "tokenizer:NAME", "chars/4" or "none" (recorded in run manifests).
        self.prompt_budget = ("none" if tokenizer is None else "chars/4" if tokenizer == CHARS_PER_4
                              else f"tokenizer:{tokenizer if isinstance(tokenizer, (str, os.PathLike)) else type(tokenizer).__name__}")
        self.served: list[_Served] = [_Served() for _ in self.base_urls]
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
        self.servers = _Servers(self.base_urls, max_concurrency,
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
                            f"{_excerpt(resp.text)}; set OPENAI_API_KEY")
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
        if not _is_tokenizer(tok):
            return "not checked: no local tokenizer"
        url = self.base_urls[s]
        probe = _probe_text(tok)
        cases = [(probe, True)]
        if self.chat and getattr(tok, "chat_template", None):
            from lamp.generation.prompts import chat_prompt

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
                    except _AnswerError as exc:
                        error = str(exc)
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                        error = f"unexpected answer: {_excerpt(resp.text)}"
                    retryable, trouble = False, None
                else:
                    error = _excerpt(resp.text) or resp.reason_phrase
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
            raise _AnswerError(f"the server answered with model {named!r}, not {expected!r} as when this "
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

    # ------------------------------------------------------------------ scoring

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
        if not _is_tokenizer(tok):
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
        from lamp.generation.prompts import chat_prompt, cut_to_tokens

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
                raise _AnswerError(f"{len(choices)} choices for {len(pairs)} scored sequences")
            return [sum(_prompt_token_logprobs(choice, ctx + cont, mode)[len(ctx):]) for choice, (ctx, cont)
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
                    tried.append(f"{mode}: HTTP {resp.status_code} {_excerpt(resp.text)}")
                    continue
                choice = min(resp.json()["choices"], key=lambda c: c.get("index", 0))
                values = _prompt_token_logprobs(choice, ids, mode)
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

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def __enter__(self) -> "OpenAIBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prompt_token_logprobs(choice: dict[str, Any], ids: list[int], mode: str) -> list[float]:
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


def _is_tokenizer(tok: Any) -> bool:
    """A real tokenizer (not the characters/4 count or the no-budget stand-in)."""
    return callable(tok) and hasattr(tok, "decode")


def _probe_text(tok: Any) -> str:
    """The tokenizer check's text: a fixed sentence and words spread over the local vocabulary, so
    a server whose tokenizer has other words or ids tokenizes it differently."""
    special = set(getattr(tok, "all_special_ids", ()) or ())
    pieces = (tok.decode([i]) for i in range(0, len(tok), max(1, len(tok) // 240)) if i not in special)
    words = [p for p in pieces if p.strip() and p.isprintable() and "\ufffd" not in p]   # no control bytes
    return TOKENIZER_PROBE + " " + "".join(words[::max(1, len(words) // 48)][:48])


class NoBudget:
    """The budget of a backend given no tokenizer: any prompt with profile items is an error."""

    def count(self, text: str) -> int:
        raise LampError("the openai backend has no tokenizer to budget personalized prompts with: pass "
                        "tokenizer=<the served model's tokenizer folder or hub id, or the bundled model's name> "
                        f"(--backend_options '{{\"tokenizer\": ...}}', --tokenizer), or tokenizer={CHARS_PER_4!r} "
                        "to count four characters a token (recorded in the run manifest)")

    def truncate(self, text: str, max_length: int) -> tuple[int, str] | None:
        self.count(text)
        return None


def _load_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer object as given, loaded from a folder / hub id / the bundled model's name, the
    characters/4 counter for ``"chars/4"``, or :class:`NoBudget` for None."""
    if tokenizer is None:
        return NoBudget()
    if tokenizer == CHARS_PER_4:
        from lamp.generation.prompts import CharCounter

        return CharCounter()
    if not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    from transformers import AutoTokenizer

    from lamp.generation.models import resolve_model

    try:
        return AutoTokenizer.from_pretrained(resolve_model(str(tokenizer)))
    except (OSError, ValueError, LampError) as exc:
        raise LampError(f"cannot load the tokenizer {str(tokenizer)!r} for prompt budgeting: {exc}") from None


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled or total < 2:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="req", leave=False)
