"""OpenAI response shaping for ``lamp serve``: whole answers, server-sent events, and ``usage``.

The service (:mod:`lamp.serving.service`) runs :class:`~lamp.serving.engine.Job` objects; this module
only turns finished (or streaming) jobs into the OpenAI completions and chat completions shapes,
so the routes of :mod:`lamp.serving.app` stay a translation of HTTP.
"""

from __future__ import annotations

import json
import queue
from typing import Any, Callable, Iterator

from lamp.serving.engine import Job
from lamp.serving.guards import error_body


def count_tokens(tokenizer: Any, text: str) -> int | None:
    """Token count for ``usage`` (None when the backend has no local tokenizer to count with)."""
    if tokenizer is None or not callable(tokenizer) or not hasattr(tokenizer, "decode"):
        return None
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def usage(jobs: list[Job]) -> dict[str, int] | None:
    """OpenAI ``usage`` from the tokens really read and generated (None when they are not known)."""
    if any(j.prompt_tokens is None or j.completion_tokens is None for j in jobs):
        return None
    prompt, completion = sum(j.prompt_tokens for j in jobs), sum(j.completion_tokens for j in jobs)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_response(jobs: list[Job], common: dict[str, Any]) -> dict[str, Any]:
    choices = [{"index": i, "text": j.output, "logprobs": None, "finish_reason": j.finish_reason}
               for i, j in enumerate(jobs)]
    return {**common, "object": "text_completion", "choices": choices, "usage": usage(jobs)}


def chat_response(jobs: list[Job], common: dict[str, Any]) -> dict[str, Any]:
    choices = [{"index": i, "message": {"role": "assistant", "content": j.output}, "logprobs": None,
                "finish_reason": j.finish_reason} for i, j in enumerate(jobs)]
    return {**common, "object": "chat.completion", "choices": choices, "usage": usage(jobs)}


def stream_events(start: Callable[[list[Job]], None], jobs: list[Job], common: dict[str, Any], chat: bool,
                  include_usage: bool, job_error: Callable[[BaseException], tuple[int, str]]
                  ) -> Iterator[dict[str, Any]]:
    """The server-sent events of a streamed request, as each row's text is generated.

    ``start`` launches the jobs without waiting; a failed job ends the stream with the error
    envelope of ``job_error``'s status and message."""
    pieces: queue.Queue[tuple[int, str]] = queue.Queue()
    for i, job in enumerate(jobs):
        job.on_text = lambda piece, i=i: pieces.put((i, piece))
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(i: int, text: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else \
                ({"content": text} if text is not None else {})
            choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": i, "text": text or "", "logprobs": None, "finish_reason": finish}
        return {**common, "object": kind, "choices": [choice]}

    if chat:
        yield from (chunk(i, None, None, first=True) for i in range(len(jobs)))
    start(jobs)
    finished: set[int] = set()
    while len(finished) < len(jobs):
        try:
            i, piece = pieces.get(timeout=0.05)
            yield chunk(i, piece, None)
            continue
        except queue.Empty:
            pass
        for i, job in enumerate(jobs):
            if i not in finished and job.done.is_set() and pieces.empty():
                finished.add(i)
                if job.error is not None:
                    yield error_body(*job_error(job.error))
                    return
                yield chunk(i, None, job.finish_reason)
    if include_usage:
        yield {**common, "object": kind, "choices": [], "usage": usage(jobs)}


def sse_lines(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """The events as ``text/event-stream`` lines, closed by OpenAI's ``[DONE]``."""
    for event in events:
        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
