"""The server pool and failure reports of the ``openai`` backend (:mod:`lamp.generation.backends.openai_api`).

Several servers at once. ``base_url`` may list several servers (a list, or one string with
commas): replicas of one model, used data parallel. Each request goes to the server with the
fewest requests in flight (at most ``max_concurrency`` on each); a request that fails in a way
worth retrying moves at once to another server, and the server that failed is avoided for a
while (longer after each failure in a row), so a replica that dies mid-run costs its in-flight
requests one retry each and the run goes on with the others.

Failures. Timeouts, connection errors, 408, 425, 429 and 5xx answers are worth retrying
(:data:`RETRY_STATUSES`); ``Retry-After`` (:func:`parse_retry_after`) wins over the backoff when the
server sends it. A request that still fails becomes a :class:`RequestFailure`; the backend raises
them together as :class:`RequestFailures` (scoring) or :class:`GenerationFailures` (generation,
carrying the answers that did arrive).
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from lamp.core.errors import LampError

#: Answers worth retrying besides every 5xx: request timeout, too early, rate limited.
RETRY_STATUSES = frozenset({408, 425, 429})
#: How much of an error body goes into a failure report.
EXCERPT_CHARS = 300
#: Failures listed in full in the exception message (the rest are counted).
LISTED_FAILURES = 10


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


def excerpt(text: str) -> str:
    """An answer body for a failure report: whitespace folded, at most :data:`EXCERPT_CHARS` characters."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


class AnswerError(ValueError):
    """A 200 answer that cannot be used; ``retryable`` is False (the same request would get it again)."""


@dataclass
class Served:
    """What one server says it serves (compared across servers)."""

    root: str | None = None          # the weights of its model entry (vLLM's ``root``), when not the name
    details: str | None = None       # a hash of the entry's other fields (e.g. llama.cpp's meta)
    reported: str | None = None      # the ``model`` a one-token probe answer names

    def describe(self) -> str:
        return f"weights {self.root or '?'}, details {self.details or '-'}, answers as {self.reported or '?'}"


class Servers:
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
