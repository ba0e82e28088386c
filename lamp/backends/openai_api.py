"""The ``openai`` backend: any OpenAI-compatible server (vLLM, TGI, llama.cpp server, SGLang, ``lamp serve``).

This is how a user runs an 8B-70B model on a GPU cluster: start the server there, point
``base_url`` at it, and the harness sends one ``/v1/completions`` request per prompt (or
``/v1/chat/completions`` with ``chat=True``), at most ``max_concurrency`` at a time.

Failures. Timeouts, connection errors, 408, 429 and 5xx answers are retried up to ``max_retries``
times with exponential backoff and seeded jitter (``Retry-After`` wins when the server sends it).
Other 4xx answers (a prompt longer than the context, a wrong model name) are not retried.
:meth:`OpenAIBackend.generate` keeps the :class:`Backend` contract (one string per prompt) and, when
some requests still fail, raises :class:`GenerationFailures`, a :class:`LampError` that lists each
failed prompt index with its HTTP status and a body excerpt, and carries ``outputs`` (the answers
that did arrive, None for the failed ones) so a caller can cache the successes and rerun only the
rest. :meth:`OpenAIBackend.generate_partial` never raises for failed requests and reports each
answer through ``on_result`` as it arrives, so an interrupted run loses nothing finished.

Settings map to the API as: greedy -> ``temperature: 0``; sampling -> ``temperature``/``top_p``;
``max_new_tokens`` -> ``max_tokens``; ``stop_at_newline`` -> ``stop: ["\\n"]``; ``seed`` -> ``seed``.
Answers are cleaned up as the hf backends do (stripped; the first line with ``stop_at_newline``).
One difference remains: a server stops at a newline even before any answer text, where the hf
backends skip leading blank lines (``lamp serve`` behaves like the hf backends).
The API has no beam search, so ``num_beams > 1`` is ignored with a warning (decoding is greedy).
``max_input_length`` is not sent: budget prompts with ``tokenizer`` (the model's own tokenizer,
loaded locally) before calling.

Nothing changes silently. Without a ``tokenizer`` there is no prompt budget: building a prompt
with profile items is an error that says what to pass (a tokenizer folder or hub id, the bundled
model's name, or ``"chars/4"`` to count four characters a token, which :attr:`prompt_budget`
records). The backend cannot score labels, so label choice is an error, not free generation.
The identity (part of every cache key) holds what the server says it serves: the
``GET /v1/models`` entry's weights (``root``) and details, and the ``model`` a one-token probe
answers with, so a different model behind the same URL and name never gets cached answers; an
answer naming another model than the probe's fails instead of being cached.
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
from typing import Any, Callable

import httpx

from lamp.backends.base import Backend, GenerationSettings, finish_output
from lamp.errors import LampError

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


@dataclass(frozen=True)
class RequestFailure:
    """One prompt whose request failed for good."""

    index: int               # position of the prompt in the list given to generate()
    status: int | None       # the last HTTP status; None when no HTTP answer came (timeout, refused)
    error: str               # excerpt of the last answer's body, or the transport error
    attempts: int

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"prompt #{self.index}: {what} after {self.attempts} attempt(s): {self.error}"


class GenerationFailures(LampError):
    """Some requests failed after all retries; ``outputs`` holds the ones that succeeded (None elsewhere)."""

    def __init__(self, outputs: list[str | None], failures: list[RequestFailure], where: str) -> None:
        self.outputs, self.failures = outputs, failures
        lines = [f"{len(failures)} of {len(outputs)} requests to {where} failed:"]
        lines += [f"  {f.describe()}" for f in failures[:LISTED_FAILURES]]
        if len(failures) > LISTED_FAILURES:
            lines.append(f"  ... and {len(failures) - LISTED_FAILURES} more")
        lines.append("the successful answers are kept in .outputs; rerun to retry only the failed prompts")
        super().__init__("\n".join(lines))


def normalize_base_url(base_url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1`` all mean ``.../v1``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise LampError(f"base_url must start with http:// or https://, got {base_url!r}")
    return url if url.endswith("/v1") else url + "/v1"


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


class OpenAIBackend(Backend):
    """Generation through an OpenAI-compatible HTTP server.

    >>> backend = OpenAIBackend("http://gpu-node:8000/v1", model="meta-llama/Llama-3.1-8B-Instruct")  # doctest: +SKIP
    >>> backend.generate(["Say hi."], GenerationSettings(num_beams=1, max_new_tokens=8))  # doctest: +SKIP
    ['Hi!']

    ``base_url``: the server, with or without ``/v1`` (None: ``$OPENAI_BASE_URL``). ``model``: the served model name (None: the
    only one ``GET /v1/models`` lists). ``api_key``: default ``$OPENAI_API_KEY`` (never part of the
    identity). ``chat``: use ``/v1/chat/completions`` (the server applies its chat template).
    ``max_concurrency``: requests in flight at once. ``timeout``: seconds per connect/read/write.
    ``max_retries``, ``backoff_base``, ``backoff_max``, ``retry_seed``: the retry schedule.
    ``tokenizer``: for prompt budgeting, a tokenizer object, folder, hub id or the bundled model's
    name, or ``"chars/4"`` (a rough count, recorded in :attr:`prompt_budget`); None: no budget.
    ``extra_body``: extra request fields for server-specific options (e.g. vLLM's ``top_k``).
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 chat: bool = False, max_concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 backoff_base: float = 0.5, backoff_max: float = 60.0, retry_seed: int = 0,
                 tokenizer: Any = None, extra_body: dict[str, Any] | None = None, progress: bool = True,
                 trust_env: bool = True, batch_size: int | None = None) -> None:
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
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.chat = chat
        self.max_concurrency, self.timeout, self.max_retries = max_concurrency, float(timeout), max_retries
        self.backoff_base, self.backoff_max, self.retry_seed = backoff_base, backoff_max, retry_seed
        self.extra_body = dict(extra_body or {})
        #: Prompts per generate() call that a driver should send (requests within one call overlap).
        self.batch_size = batch_size or 8 * max_concurrency
        self.progress = progress
        self.tokenizer = _load_tokenizer(tokenizer)
        #: How prompts are budgeted: "tokenizer:NAME", "chars/4" or "none" (recorded in run manifests).
        self.prompt_budget = ("none" if tokenizer is None else "chars/4" if tokenizer == CHARS_PER_4
                              else f"tokenizer:{tokenizer if isinstance(tokenizer, (str, os.PathLike)) else type(tokenizer).__name__}")
        self.served_model: str | None = None     # what GET /v1/models reports for our model (weights)
        self.model_details: str | None = None    # a hash of the rest of that entry (e.g. llama.cpp's meta)
        self.reported_model: str | None = None   # the "model" a generation answer names
        self._identity: str | None = None
        self._warned_beams = False
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(self.timeout), trust_env=trust_env,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency))

    # ------------------------------------------------------------------ identity

    @property
    def identity(self) -> str:  # type: ignore[override]
        """``openai:{base_url}:{model}``, plus what the server says it serves: the weights of its
        model entry (vLLM's ``root``), a hash of the entry's other details, and the model a probe
        answer names (llama.cpp servers name the weights file there)."""
        if self._identity is None:
            self._discover()
            self._probe()
            ident = f"openai:{self.base_url}:{self.model}"
            for extra in (self.served_model, self.model_details and f"details={self.model_details}",
                          self.reported_model and self.reported_model != self.model and f"reports={self.reported_model}"):
                if extra:
                    ident += f":{extra}"
            self._identity = ident
        return self._identity

    def _probe(self) -> None:
        """One greedy one-token completion, to learn which model the server says answered."""
        body: dict[str, Any] = {"model": self.model, "max_tokens": 1, "temperature": 0.0}
        path = "/chat/completions" if self.chat else "/completions"
        body.update({"messages": [{"role": "user", "content": "Hi"}]} if self.chat else {"prompt": "Hi"})
        try:
            resp = self._client.post(path, json=body)
            reported = resp.json().get("model") if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            reported = None
        self.reported_model = str(reported) if reported else None

    def _discover(self) -> None:
        """Ask ``GET /models`` which model is served; pick it when ``model`` was not given."""
        try:
            resp = self._client.get("/models")
        except httpx.HTTPError as exc:
            if self.model is None:
                raise LampError(f"cannot reach the OpenAI-compatible server at {self.base_url}: {exc}") from None
            return
        entries = []
        if resp.status_code == 200:
            try:
                entries = [e for e in resp.json().get("data", []) if isinstance(e, dict) and "id" in e]
            except (ValueError, AttributeError):
                entries = []
        if self.model is None:
            if len(entries) != 1:
                names = ", ".join(str(e["id"]) for e in entries) or f"none (HTTP {resp.status_code})"
                raise LampError(f"{self.base_url} serves {len(entries)} models ({names}); pass model=... to pick one")
            self.model = str(entries[0]["id"])
        for entry in entries:
            if entry["id"] == self.model:
                root = entry.get("root")
                self.served_model = str(root) if root and root != self.model else None
                details = {k: v for k, v in entry.items() if k not in VOLATILE_MODEL_FIELDS}
                if set(details) - {"id", "root", "object", "owned_by"}:
                    blob = json.dumps(details, sort_keys=True, default=str).encode()
                    self.model_details = hashlib.sha256(blob).hexdigest()[:12]

    # ------------------------------------------------------------------ generation

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        """One output per prompt, in order; :class:`GenerationFailures` if any request failed for good."""
        outputs, failures = self.generate_partial(prompts, settings)
        if failures:
            raise GenerationFailures(outputs, failures, self.base_url)
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
        outputs: list[str | None] = [None] * len(prompts)
        failures: list[RequestFailure] = []
        stop = threading.Event()
        bar = _progress(len(prompts), f"openai {self.model}", self.progress)
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts)), thread_name_prefix="lamp-openai")
        try:
            pending = {pool.submit(self._request_one, i, path, body, stop): i for i, body in enumerate(bodies)}
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    index = pending.pop(fut)
                    result = fut.result()
                    if isinstance(result, RequestFailure):
                        failures.append(result)
                    else:
                        outputs[index] = result = finish_output(result, settings)
                        if on_result is not None:
                            on_result(index, result)
                    bar.update(1)
        finally:
            stop.set()                                   # wakes retry sleeps on interrupt
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        failures.sort(key=lambda f: f.index)
        return outputs, failures

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

    def _request_one(self, index: int, path: str, body: dict[str, Any], stop: threading.Event) -> str | RequestFailure:
        """Send one request, retrying what is worth retrying; the text or the final failure."""
        rng = random.Random(f"{self.retry_seed}:{index}")   # same schedule whatever the thread order
        attempt = 0
        while True:
            attempt += 1
            status, retry_after = None, None
            try:
                resp = self._client.post(path, json=body)
            except httpx.TimeoutException as exc:
                error, retryable = f"timed out after {self.timeout:g} s ({type(exc).__name__})", True
            except httpx.TransportError as exc:
                error, retryable = f"{type(exc).__name__}: {exc}", True
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        return self._parse(resp.json())
                    except ValueError as exc:
                        error, retryable = (str(exc) if "model behind the URL" in str(exc)
                                            else f"unexpected answer: {_excerpt(resp.text)}"), False
                    except (KeyError, IndexError, TypeError, AttributeError):
                        error, retryable = f"unexpected answer: {_excerpt(resp.text)}", False
                else:
                    error = _excerpt(resp.text) or resp.reason_phrase
                    retryable = status in RETRY_STATUSES or status >= 500
                    retry_after = parse_retry_after(resp.headers.get("retry-after"))
            if not retryable or attempt > self.max_retries or stop.is_set():
                return RequestFailure(index, status, error, attempt)
            delay = retry_after if retry_after is not None else self.backoff_delay(attempt, rng)
            if stop.wait(min(delay, self.backoff_max)):
                return RequestFailure(index, status, error + " (interrupted)", attempt)

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter: half the step fixed, half drawn from the seeded ``rng``."""
        step = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return step / 2 + rng.uniform(0, step / 2)

    def _parse(self, data: dict[str, Any]) -> str:
        named = data.get("model")
        if self.reported_model and named and named != self.reported_model:
            raise ValueError(f"the server answered with model {named!r}, not {self.reported_model!r} as when this "
                             "run started (the model behind the URL changed); restart to re-identify it")
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

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        from lamp.prompts import CharCounter

        return CharCounter()
    if not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    from transformers import AutoTokenizer

    from lamp.models import resolve_model

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
