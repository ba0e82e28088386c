"""Dynamic batching for ``lamp serve``: concurrent requests share one ``model.generate`` call.

A request becomes one :class:`Job` per prompt: the model's input text (chat template already
applied), its token limit, its stop strings, its sampling options and, for streaming, a callback
that receives the new text as it is generated. One worker thread takes the first waiting job,
waits ``window_s`` for more to arrive, and runs every compatible waiting job (up to
``max_batch``) as one batch: greedy jobs with greedy jobs, unseeded sampled jobs with the same
temperature and top-p together, and a seeded sampled job alone (so its output does not depend on
what other clients send).

A stopping criterion, called by ``generate`` after every decoding step, finishes each row on its
own terms (end of sequence, its own ``max_tokens``, the first of its stop strings: the row stops
at once and the stop string is not returned), streams each row's new text (held back while it
could still be the start of a stop string), and records how many tokens each row really
generated, so ``usage`` is true. Stop strings are looked for after the text's leading whitespace,
as the hf backends' ``stop_at_newline`` does, so ``stop: ["\\n"]`` gives the same answers through
the API as ``lamp run`` with the hf backend.

Only the hf backends (``hf-causal``, ``hf-seq2seq``) run here; :func:`supports` says whether a
backend can.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lamp.generation.backends.base import Backend, GenerationSettings
from lamp.serving.continuous import RunningBatch, supported

#: Seconds the worker waits for more requests after the first one of a batch arrives.
DEFAULT_WINDOW_S = 0.01
#: Most prompts decoded together.
DEFAULT_MAX_BATCH = 32


@dataclass
class Job:
    """One prompt to complete, and (once ``done`` is set) its result."""

    text: str                                  # the model input, template applied
    max_tokens: int
    stops: tuple[str, ...] = ()
    sampling: tuple[float, float, int | None] | None = None   # (temperature, top_p, seed); None: greedy
    on_text: Callable[[str], None] | None = None               # streaming: each new piece of text
    special_tokens: bool = True        # let the tokenizer add its special tokens (not after a chat template)
    # results
    output: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "length"
    error: BaseException | None = None
    streamed: int = 0                  # characters already handed to on_text (kept if the job is rerun)
    done: threading.Event = field(default_factory=threading.Event)

    def batch_key(self) -> Any:
        """Jobs with equal keys may share a batch (a seeded sampled job has a key of its own)."""
        if self.sampling is None:
            return ("greedy", self.special_tokens)
        temperature, top_p, seed = self.sampling
        return ("sample", temperature, top_p, self.special_tokens) if seed is None else ("seeded", id(self))


def supports(backend: Backend) -> bool:
    """True for backends with a local transformers model and tokenizer that generate from prompt
    strings alone (the hf backends; not one that reads profile items, ``uses_examples``)."""
    return hasattr(backend, "model") and hasattr(backend, "_generation_kwargs") and \
        getattr(backend, "tokenizer", None) is not None and not getattr(backend, "uses_examples", False)


def find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Index of the earliest stop string in ``text`` after its leading whitespace (None: none)."""
    start = len(text) - len(text.lstrip())
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters must wait: a partial character, or a possible stop's start."""
    keep = 0
    while keep < len(text) and text[len(text) - 1 - keep] == "\ufffd":
        keep += 1
    body = text[: len(text) - keep]
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(body)), 0, -1):
            if body.endswith(stop[:n]):
                longest = max(longest, n)
                break
    return keep + longest


def advance(job: Job, ids: list[int], tokenizer: Any, eos_ids: set[int], last: bool) -> bool:
    """Record a row's generated ``ids`` so far in its job: stream the new text (held back while it
    could start a stop string), and finish the job at end of sequence, a stop string, its
    ``max_tokens`` or ``last``. Returns True once the job is finished."""
    reason = None
    for i, token in enumerate(ids):
        if token in eos_ids:
            ids, reason = ids[: i + 1], "stop"
            break
    text = tokenizer.decode(ids, skip_special_tokens=True)
    cut = find_stop(text, job.stops)
    if cut is not None:
        text, reason = text[:cut], "stop"
    elif reason is None and (len(ids) >= job.max_tokens or last):
        reason = "length"
    ready = len(text) if reason is not None else len(text) - _held_back(text, job.stops)
    if ready > job.streamed and job.on_text is not None:
        job.on_text(text[job.streamed:ready])
    job.streamed = max(job.streamed, ready)
    if reason is not None:
        job.output, job.completion_tokens, job.finish_reason = text, len(ids), reason
    return reason is not None


class _RowWatch:
    """The per-step stopping criterion: finishes rows, streams text, counts tokens."""

    def __init__(self, jobs: list[Job], tokenizer: Any, start: int, eos_ids: set[int],
                 abort: threading.Event | None = None) -> None:
        self.jobs, self.tokenizer, self.start, self.eos_ids = jobs, tokenizer, start, eos_ids
        self.abort = abort or threading.Event()
        self.finished = [False] * len(jobs)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        new = input_ids[:, self.start:].tolist()
        stopping = self.abort.is_set()            # the server is shutting down: end every row now
        for row, job in enumerate(self.jobs):
            if not self.finished[row]:
                self._update(row, job, new[row], last=stopping)
        return torch.tensor(self.finished, dtype=torch.bool, device=input_ids.device)

    def _update(self, row: int, job: Job, ids: list[int], last: bool) -> None:
        if advance(job, ids, self.tokenizer, self.eos_ids, last):
            self.finished[row] = True

    def finish_all(self, output_ids: Any) -> None:
        """Rows still open when ``generate`` returned (its own length limit): finish them."""
        rows = output_ids[:, self.start:].tolist()
        for row, job in enumerate(self.jobs):
            if not self.finished[row]:
                self._update(row, job, rows[row], last=True)


class BatchEngine:
    """The worker that batches concurrent jobs for one hf backend (see the module docstring)."""

    def __init__(self, backend: Backend, lock: threading.Lock | None = None, *, max_batch: int = DEFAULT_MAX_BATCH,
                 window_s: float = DEFAULT_WINDOW_S, continuous: bool = True) -> None:
        self.backend, self.max_batch, self.window_s = backend, max(1, max_batch), max(0.0, window_s)
        self.lock = lock or threading.Lock()          # shared with any other user of the model
        self.model, self.tokenizer = backend.model, backend.tokenizer  # type: ignore[attr-defined]
        self.seq2seq = bool(getattr(self.model.config, "is_encoder_decoder", False))
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        self.eos_ids = set(eos) if isinstance(eos, (list, tuple)) else ({eos} if eos is not None else set())
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._abort = threading.Event()
        #: Sizes of the batches run so far (for tests and the benchmark): with continuous batching,
        #: the rows in flight at each decoding step.
        self.batch_sizes: list[int] = []
        #: Greedy jobs on a decoder-only model decode in one running batch that new jobs join at its
        #: next step (:mod:`lamp.serving.continuous`); others run as whole batches through ``generate``.
        self.running = RunningBatch(self.model, self.tokenizer, self._advance) \
            if continuous and supported(self.model) else None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lamp-batch")
        self._thread.start()

    # ---- the caller's side

    def submit(self, jobs: list[Job]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the batch engine is closed")
            self._queue.extend(jobs)
            self._cond.notify_all()

    def run(self, jobs: list[Job], timeout: float | None = None) -> list[Job]:
        """Submit and wait; re-raises the first job's error."""
        self.submit(jobs)
        for job in jobs:
            if not job.done.wait(timeout):
                raise TimeoutError("generation did not finish in time")
            if job.error is not None:
                raise job.error
        return jobs

    def close(self, timeout: float = 5.0) -> None:
        """:meth:`stop`, then wait for the worker thread to end."""
        self.stop()
        self._thread.join(timeout=timeout)

    def stop(self) -> None:
        """Stop without waiting (safe in a signal handler's thread): the running batch ends at its next
        decoding step (its rows answer with what they have, finish reason ``length``), queued jobs fail."""
        with self._cond:
            self._closed = True
            self._abort.set()
            for job in self._queue:
                job.error = RuntimeError("the server is shutting down")
                job.done.set()
            self._queue.clear()
            self._cond.notify_all()

    # ---- the worker

    def _advance(self, job: Job, ids: list[int], last: bool) -> bool:
        return advance(job, ids, self.tokenizer, self.eos_ids, last)

    def _joins(self, job: Job) -> bool:
        return self.running is not None and job.sampling is None

    def _take(self) -> list[Job] | None:
        """The next jobs to run: greedy ones to join the running batch (up to ``max_batch`` rows in
        flight), else one whole batch of compatible jobs; None once closed and drained."""
        with self._cond:
            busy = self.running is not None and len(self.running) > 0
            while not self._queue and not self._closed and not busy:
                self._cond.wait()
            if self._closed and not self._queue:
                return None if not busy else []
            if busy:                      # between two steps: whoever is waiting joins now
                room = self.max_batch - len(self.running)
                joining = [job for job in self._queue if self._joins(job)][:max(0, room)]
                if not joining and any(not self._joins(job) for job in self._queue):
                    joining = self._whole_batch()
                for job in joining:
                    self._queue.remove(job)
                return joining
            deadline = time.monotonic() + self.window_s
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._joins(self._queue[0]):
                batch = [job for job in self._queue if self._joins(job)][: self.max_batch]
            else:
                batch = self._whole_batch()
            for job in batch:
                self._queue.remove(job)
            return batch

    def _whole_batch(self) -> list[Job]:
        first = next(job for job in self._queue if not self._joins(job))
        key = first.batch_key()
        return [job for job in self._queue if job.batch_key() == key and not self._joins(job)][: self.max_batch]

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            joining = [job for job in batch if self._joins(job)]
            whole = [job for job in batch if not self._joins(job)]
            if whole:
                try:
                    with self.lock:
                        self._run_isolated(whole)
                finally:
                    for job in whole:
                        job.done.set()
            if self.running is not None and (joining or len(self.running)):
                with self.lock:
                    self._continue(joining)

    def _continue(self, joining: list[Job]) -> None:
        """Admit the joining jobs, then one decoding step of the running batch."""
        assert self.running is not None
        for job in self.running.admit(joining):      # a prompt that failed: its own error, at once
            job.done.set()
        if not len(self.running):
            return
        self.batch_sizes.append(len(self.running))
        try:
            finished = self.running.step(last=self._abort.is_set())
        except Exception:  # noqa: BLE001 - a step cannot say whose row failed: each runs again alone
            jobs = self.running.abandon()
            for job in jobs:
                job.output = ""
            self._run_alone(jobs)
            for job in jobs:
                job.done.set()
            return
        for job in finished:
            job.done.set()

    def _run_isolated(self, batch: list[Job]) -> None:
        """Run a batch; if it fails, run each of its jobs alone, so a request that fails gets its own
        error and leaves, and every other one finishes with the output it would have had alone."""
        try:
            self._run_batch(batch)
            return
        except Exception as exc:  # noqa: BLE001 - isolated below
            if len(batch) == 1:
                batch[0].error = exc
                return
        self._run_alone(batch)

    def _run_alone(self, jobs: list[Job]) -> None:
        """Run each job as a batch of its own; a failure is that job's own error."""
        for job in jobs:
            try:
                self._run_batch([job])
            except Exception as exc:  # noqa: BLE001 - this job's own error, answered to its request
                job.error = exc

    def _run_batch(self, jobs: list[Job]) -> None:
        import torch
        from transformers import StoppingCriteriaList

        self.batch_sizes.append(len(jobs))
        texts = [job.text for job in jobs]
        if self.seq2seq:
            enc = self.tokenizer(texts, padding=True, return_tensors="pt")
        else:
            enc = self.tokenizer(texts, padding=True, return_tensors="pt", padding_side="left",
                                 add_special_tokens=jobs[0].special_tokens)
        enc = {k: v.to(self.model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        for job, n in zip(jobs, enc["attention_mask"].sum(-1).tolist()):
            job.prompt_tokens = int(n)
        start = 1 if self.seq2seq else enc["input_ids"].shape[1]
        sampling = jobs[0].sampling
        settings = GenerationSettings(max_new_tokens=max(job.max_tokens for job in jobs), num_beams=1,
                                      do_sample=sampling is not None,
                                      temperature=sampling[0] if sampling else 1.0,
                                      top_p=sampling[1] if sampling else 1.0, stop_at_newline=False)
        kwargs = self.backend._generation_kwargs(settings, start)  # type: ignore[attr-defined]
        watch = _RowWatch(jobs, self.tokenizer, start, self.eos_ids, self._abort)
        kwargs["stopping_criteria"] = StoppingCriteriaList([watch])
        if sampling is not None:
            torch.manual_seed(sampling[2] if sampling[2] is not None else random.randrange(2 ** 31))
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        watch.finish_all(out)
