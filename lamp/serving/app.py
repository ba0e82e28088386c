"""``lamp serve``: personalized generation over HTTP, plus an OpenAI-compatible completions API.

The service keeps each user's profile in SQLite (:mod:`lamp.serving.store`). For a request it
retrieves from *that user's* profile only, builds the official token-budgeted prompt
(:func:`lamp.generation.prompts.build_prompt`) and generates with one backend.

Endpoints::

    GET    /health                       liveness, model name and identity
    PUT    /users/{user_id}/profile      {"task": "LaMP-3", "profile": [LaMP items]}  (replaces)
    POST   /users/{user_id}/items        {"profile": [items], "task": optional}      (appends)
    GET    /users/{user_id}/profile
    DELETE /users/{user_id}
    POST   /personalize                  {"user_id", "input", "task"?, "k"?, "retriever"?, "max_tokens"?}
                                         -> {"output", "prompt", "retrieved": [item ids], ...}
    GET    /v1/models, /v1/models/{id}   OpenAI format; ``root`` is the backend's exact identity
    POST   /v1/chat/completions          OpenAI format, with the model's chat template
    POST   /v1/completions               OpenAI format: the raw prompt (string or list) is continued

Both OpenAI endpoints take max_tokens, temperature, top_p, stop, seed, stream (server-sent events,
``stream_options.include_usage``) and n=1, answer errors in the OpenAI envelope, stop *during*
generation at a stop string (which is not returned) and count in ``usage`` the tokens really read
and generated. **Personalization through the standard API:** the request's ``user`` names a stored
profile; ``task``, ``retriever`` and ``k`` travel as extra body fields (``extra_body`` of the
openai client). The user's text (the prompt, or the last user message) is replaced by the official
personalized prompt from that user's top-k items, and the response's ``lamp`` field says which:
``{"user", "task", "retriever", "k", "retrieved": [item ids]}`` (a list per prompt for a list prompt).

Concurrent OpenAI requests are batched (:mod:`lamp.serving.engine`): greedy requests on a decoder-only
model join a running batch at its next decoding step (:mod:`lamp.serving.continuous`); others run as
one ``model.generate`` call in which every row stops on its own terms. The ``openai`` backend (``lamp
serve`` in front of another server) forwards each request instead, with ``--chat`` for the
upstream chat endpoint. Pointing the ``openai`` backend with ``chat=True`` at this service gives the
same outputs as the hf-causal backend run directly (both wrap the prompt as one user turn).

Limits (413 for sizes, 422 for shapes and values, with a message naming the field): body bytes,
input/prompt/field characters, profile items per user, prompts per request, ``max_tokens``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import ipaddress
import json
import logging
import queue
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from lamp.generation.backends.base import Backend, GenerationSettings
from lamp.core.errors import LampError
from lamp.core.extras import require

try:                                     # fastapi brings pydantic and starlette (the 'serve' extra)
    from fastapi import Depends, Request
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ModuleNotFoundError:
    require("fastapi", "serve", "lamp serve")
    raise
from lamp.serving.store import DuplicateItems, ProfileStore, TooManyItems
from lamp.core.records import ProfileItem
from lamp.serving.auth import AuthLayer, Credentials, USER_ID_RULE, _digest, may_access, principal_of, valid_user_id
from lamp.serving.engine import BatchEngine, Job, find_stop
from lamp.serving import logprobs as serve_logprobs
from lamp.serving.logprobs import TokenizeBody
from lamp.serving.engine import supports as batches
from lamp.serving.guards import AccessLog, ApiError, RequestGuard, error_body, strings

DEFAULT_PORT = 8000
#: The ranker of a personalized request that names none.
DEFAULT_RETRIEVER = "bm25"


@dataclass(frozen=True)
class ServeLimits:
    """Size limits of one request (every one is checked before any work is done)."""

    max_input_chars: int = 20_000        # an input, a prompt, or any text field of a profile item
    max_items: int = 10_000              # items in one user's profile (so also in one request)
    max_tokens_limit: int = 512          # largest max_tokens a request may ask for
    max_prompts: int = 64                # prompts in one /v1/completions request
    max_id_chars: int = 256              # user ids and item ids
    max_body_bytes: int = 16 * 2 ** 20   # a whole request body (refused while streaming, before parsing)


# --------------------------------------------------------------------------- request shapes

class ProfileBody(BaseModel):
    task: str = Field(description="LaMP task name, e.g. 'LaMP-3'")
    profile: list[dict[str, Any]] = Field(description="profile items in LaMP format")


class ItemsBody(BaseModel):
    profile: list[dict[str, Any]] = Field(description="items to append, in LaMP format")
    task: str | None = Field(None, description="needed only when the user does not exist yet")


class PersonalizeBody(BaseModel):
    user_id: str
    input: str
    task: str | None = Field(None, description="defaults to the task of the user's profile")
    k: int = Field(1, ge=0, description="profile items put in the prompt")
    retriever: str = "bm25"
    max_tokens: int | None = Field(None, ge=1)


class PersonalizationFields(BaseModel):
    """Fields of the OpenAI requests that personalize them: ``user`` (the standard field) names the
    stored profile; ``task``, ``retriever`` and ``k`` come as extra body fields (the openai client's
    ``extra_body``). A known ``user`` is personalized with the defaults (the profile's task, bm25,
    the server's k); an unknown one is answered unpersonalized unless ``task``/``retriever``/``k``
    asked for personalization (then 404). ``k: 0`` turns personalization off."""

    user: str | None = None
    task: str | None = Field(None, description="LaMP task of the prompt (default: the user's profile's)")
    retriever: str | None = Field(None, description="ranker over the user's profile (default bm25)")
    k: int | None = Field(None, ge=0, description="profile items put in the prompt (default: the server's)")


class SamplingFields(PersonalizationFields):
    """What the completions and chat completions requests share: the model, sampling, stop and
    streaming; fields we cannot honour are refused, unknown ones ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class CompletionBody(SamplingFields):
    """The OpenAI completions request."""

    prompt: str | list[str] | list[int] | list[list[int]]    # text, or token ids (lamp.serving.logprobs)
    max_tokens: int = Field(16, ge=1)
    echo: bool = False
    logprobs: int | None = None
    prompt_logprobs: int | None = None                      # vLLM's
    add_special_tokens: bool | None = None                  # vLLM's, for a text prompt with log-probabilities


class ChatBody(SamplingFields):
    """The OpenAI chat completions request (text content only)."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    tools: list[Any] | None = None


# --------------------------------------------------------------------------- the app

class _Service:
    """The state and logic behind the endpoints; the route functions only translate HTTP."""

    def __init__(self, backend: Backend, store: ProfileStore, model_name: str, settings: GenerationSettings,
                 limits: ServeLimits, retriever_options: dict[str, Any], default_k: int = 1,
                 max_batch: int = 32, batch_window_s: float = 0.01) -> None:
        self.backend, self.store, self.model_name = backend, store, model_name
        self.retriever_options = retriever_options
        self.settings, self.limits, self.default_k = settings, limits, default_k
        self.created = int(time.time())
        self._generate_lock = threading.Lock()
        #: Dynamic batching of the OpenAI endpoints on a local model (None: one backend call per request).
        self.engine = BatchEngine(backend, self._generate_lock, max_batch=max_batch, window_s=batch_window_s) \
            if batches(backend) else None
        self._retrievers: dict[str, Any] = {}
        self._retriever_lock = threading.Lock()

    # ---- checks

    def check_id(self, value: str, param: str) -> None:
        if not value or len(value) > self.limits.max_id_chars:
            raise ApiError(422, f"{param} must have 1 to {self.limits.max_id_chars} characters, got {len(value)}",
                           param)

    def check_new_user_id(self, user_id: str, param: str) -> None:
        """A profile is created only under an id of the safe alphabet (so no encoding aliases it)."""
        if not valid_user_id(user_id):
            raise ApiError(400, f"{param} is not an allowed user id; user ids are {USER_ID_RULE}", param)

    def authorize(self, scope: dict, user_id: str, param: str) -> None:
        """403 unless the request's principal may reach ``user_id``'s data (the id the route uses)."""
        if not may_access(principal_of(scope), user_id):
            raise ApiError(403, "this key may only reach its own user's data", param)

    def check_text(self, text: str, param: str) -> None:
        if len(text) > self.limits.max_input_chars:
            raise ApiError(413, f"{param} has {len(text)} characters; the limit is {self.limits.max_input_chars}",
                           param)

    def task(self, name: str, param: str = "task") -> Any:
        from lamp.core.tasks import get_task

        try:
            return get_task(name)
        except LampError as exc:
            raise ApiError(422, str(exc), param) from None

    def items(self, raw: list[dict[str, Any]], task: Any, param: str = "profile") -> list[ProfileItem]:
        """Validate LaMP profile items for ``task``; every problem is listed in one 422."""
        from lamp.core.files import Problems, item_from_json

        if len(raw) > self.limits.max_items:
            raise ApiError(413, f"{param} has {len(raw)} items; the limit is {self.limits.max_items} per user", param)
        problems = Problems(param, collect=True)
        items = []
        for n, obj in enumerate(raw):
            for key, value in obj.items():
                for where, text in strings(value, f"{param}[{n}].{key}"):   # at any depth
                    self.check_text(text, where)
            item = item_from_json(obj, problems, f"{param}[{n}]", task.item_fields)
            if item is not None:
                self.check_id(item.id, f"{param}[{n}].id")
                items.append(item)
        if problems.errors:
            shown = "; ".join(str(e) for e in problems.errors[:20])
            more = f" (and {len(problems.errors) - 20} more)" if len(problems.errors) > 20 else ""
            raise ApiError(422, f"invalid {task.name} profile items: {shown}{more}", param)
        return items

    # ---- generation

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        try:
            with self._generate_lock:
                return self.backend.generate(prompts, settings)
        except LampError as exc:               # an upstream server's failure (backend "openai") is a 502
            raise ApiError(*_job_error(exc)) from None

    def retriever(self, name: str) -> Any:
        with self._retriever_lock:
            if name not in self._retrievers:
                from retrievers import get_retriever

                try:
                    self._retrievers[name] = get_retriever(name, **self.retriever_options)
                except (LampError, TypeError) as exc:
                    raise ApiError(422, str(exc), "retriever") from None
            return self._retrievers[name]

    def personalize(self, body: PersonalizeBody) -> dict[str, Any]:
        self.check_id(body.user_id, "user_id")
        self.check_text(body.input, "input")
        if body.k > self.limits.max_items:
            raise ApiError(422, f"k must be at most {self.limits.max_items}, got {body.k}", "k")
        max_tokens = self.max_tokens(body.max_tokens or self.settings.max_new_tokens)
        profile = self.store.get_profile(body.user_id)
        if profile is None:
            raise ApiError(404, f"unknown user {body.user_id!r}; PUT /users/{{user_id}}/profile first", "user_id")
        task = self.task(body.task or profile.task)
        if task.name != profile.task:
            raise ApiError(409, f"user {body.user_id!r} has a {profile.task} profile, not {task.name}; "
                                "ask with that task or PUT a new profile", "task")
        from lamp.generation.prompts import build_prompt

        try:
            chosen = retrieve(self.retriever(body.retriever) if body.k else None, task, body.user_id, body.input,
                              profile.items, body.k)
            prompt = build_prompt(task, body.input, chosen, self.settings.max_input_length, self.backend.tokenizer)
        except LampError as exc:        # e.g. recency on a profile without dates
            raise ApiError(422, str(exc), "retriever") from None
        settings = replace(self.settings, max_new_tokens=max_tokens)
        if self.backend.uses_examples:      # e.g. uemb: the user's stored profile makes the user embedding
            from lamp.generation.backends.base import Example

            try:
                with self._generate_lock:
                    output = self.backend.predict_examples(
                        [Example(body.user_id, body.input, tuple(profile.items), prompt)], settings)[0]
            except LampError as exc:
                raise ApiError(400, str(exc)) from None
        else:
            output = self.generate([prompt], settings)[0]
        return {"user_id": body.user_id, "task": task.name, "output": output, "prompt": prompt,
                "retrieved": [it.id for it in chosen], "retriever": body.retriever if body.k else None,
                "model": self.model_name}

    def max_tokens(self, value: int) -> int:
        if value > self.limits.max_tokens_limit:
            raise ApiError(422, f"max_tokens is {value}; this server allows at most {self.limits.max_tokens_limit}",
                           "max_tokens")
        return value

    # ---- the OpenAI API

    def check_model(self, model: str | None) -> None:
        if model not in (None, self.model_name):
            raise ApiError(404, f"the model {model!r} does not exist; this server serves {self.model_name!r}",
                           "model")

    @staticmethod
    def stops(stop: str | list[str] | None) -> tuple[str, ...]:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise ApiError(422, "stop must be at most 4 non-empty strings", "stop")
        return tuple(stops)

    @staticmethod
    def sampling(temperature: float, top_p: float, seed: int | None) -> tuple[float, float, int | None] | None:
        return (temperature, top_p, seed) if temperature > 0 else None

    def personalization(self, body: PersonalizationFields) -> _Personal | None:
        """What the request's ``user`` (and extra body) ask for; None: not personalized."""
        explicit = body.task is not None or body.retriever is not None or body.k is not None
        if body.user is None:
            if explicit:
                raise ApiError(422, "task, retriever and k personalize with the stored profile of 'user'; "
                                    "give user", "user")
            return None
        self.check_id(body.user, "user")
        k = self.default_k if body.k is None else body.k
        if k > self.limits.max_items:
            raise ApiError(422, f"k must be at most {self.limits.max_items}, got {k}", "k")
        if k == 0:
            return None
        profile = self.store.get_profile(body.user)
        if profile is None:
            if explicit:
                raise ApiError(404, f"unknown user {body.user!r}; PUT /users/{{user_id}}/profile first", "user")
            return None
        task = self.task(body.task or profile.task)
        if task.name != profile.task:
            raise ApiError(409, f"user {body.user!r} has a {profile.task} profile, not {task.name}; "
                                "ask with that task or PUT a new profile", "task")
        name = body.retriever or DEFAULT_RETRIEVER
        self.retriever(name)                          # an unknown retriever is a 422 before any work
        return _Personal(body.user, task, name, k, profile.items)

    def personal_prompt(self, personal: _Personal, text: str) -> tuple[str, list[str]]:
        """The official prompt for ``text`` from the user's top-k items, and those items' ids."""
        from lamp.generation.prompts import build_prompt

        try:
            chosen = retrieve(self.retriever(personal.retriever), personal.task, personal.user, text,
                              personal.items, personal.k)
            prompt = build_prompt(personal.task, text, chosen, self.settings.max_input_length, self.backend.tokenizer)
        except LampError as exc:        # e.g. recency on a profile without dates
            raise ApiError(422, str(exc), "retriever") from None
        # the backend's final truncation (hf-causal: the official one)
        return self.backend.cut_prompt(prompt, self.settings.max_input_length), [it.id for it in chosen]

    def chat_text(self, messages: list[dict[str, Any]], personal: _Personal | None
                  ) -> tuple[str, list[str] | None, bool]:
        """The model input of a chat: the user's last message personalized, then the chat template."""
        if not messages:
            raise ApiError(422, "messages is empty", "messages")
        turns, last_user = [], None
        for n, msg in enumerate(messages):
            role, content = msg.get("role"), msg.get("content")
            if role not in ("system", "developer", "user", "assistant"):
                raise ApiError(422, f"messages[{n}].role must be system, developer, user or assistant, got {role!r}",
                               f"messages[{n}].role")
            if isinstance(content, list):          # content parts: text only
                if any(not isinstance(p, dict) or p.get("type") != "text" for p in content):
                    raise ApiError(422, f"messages[{n}].content: only text parts are supported",
                                   f"messages[{n}].content")
                content = "".join(str(p.get("text", "")) for p in content)
            if not isinstance(content, str):
                raise ApiError(422, f"messages[{n}].content must be a string", f"messages[{n}].content")
            self.check_text(content, f"messages[{n}].content")
            turns.append({"role": "system" if role == "developer" else role, "content": content})
            if role == "user":
                last_user = len(turns) - 1
        retrieved = None
        if personal is not None:
            if last_user is None:
                raise ApiError(422, "personalization needs a user message", "messages")
            turns[last_user]["content"], retrieved = self.personal_prompt(personal, turns[last_user]["content"])
        if self.engine is None:                     # forwarded upstream: one prompt
            if len(turns) != 1 or last_user != 0:
                raise ApiError(422, "in front of another server (--backend openai) a chat is one user message",
                               "messages")
            return turns[0]["content"], retrieved, True
        tokenizer = self.backend.tokenizer
        if getattr(tokenizer, "chat_template", None):    # the template holds every special token
            return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True), retrieved, False
        return "\n".join(t["content"] for t in turns), retrieved, True   # e.g. FLAN-T5: the turns, one a line

    def completion_texts(self, body: CompletionBody, personal: _Personal | None) -> tuple[list[str], list | None]:
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise ApiError(422, "prompt is an empty list", "prompt")
        if len(prompts) > self.limits.max_prompts:
            raise ApiError(413, f"prompt holds {len(prompts)} prompts; the limit is {self.limits.max_prompts}",
                           "prompt")
        for n, p in enumerate(prompts):
            self.check_text(p, "prompt" if isinstance(body.prompt, str) else f"prompt[{n}]")
        if personal is None:
            return prompts, None
        built = [self.personal_prompt(personal, p) for p in prompts]
        retrieved = [ids for _, ids in built]
        return [p for p, _ in built], (retrieved[0] if isinstance(body.prompt, str) else retrieved)

    def jobs(self, texts: list[str], max_tokens: int, stops: tuple[str, ...],
             sampling: tuple[float, float, int | None] | None,
             on_text: Callable[[int, str], None] | None = None) -> list[Job]:
        return [Job(text, max_tokens, stops, sampling, (lambda piece, i=i: on_text(i, piece)) if on_text else None)
                for i, text in enumerate(texts)]

    def execute(self, jobs: list[Job]) -> list[Job]:
        """Run the jobs: batched with other requests on a local model, else one backend call."""
        if self.engine is not None:
            try:
                return self.engine.run(jobs)
            except Exception as exc:  # noqa: BLE001 - this request's own failure, answered as its own
                raise ApiError(*_job_error(exc)) from None
        first = jobs[0]
        temperature, top_p, seed = first.sampling or (1.0, 1.0, None)
        settings = replace(self.settings, max_new_tokens=first.max_tokens, num_beams=1,
                           do_sample=first.sampling is not None, temperature=temperature, top_p=top_p,
                           seed=self.settings.seed if seed is None else seed, stop_at_newline="\n" in first.stops)
        for job, text in zip(jobs, self.generate([j.text for j in jobs], settings)):
            cut = find_stop(text, job.stops)
            job.output = text if cut is None else text[:cut]
            job.prompt_tokens = count_tokens(self.backend.tokenizer, job.text)
            job.completion_tokens = count_tokens(self.backend.tokenizer, job.output)
            short = job.completion_tokens is None or job.completion_tokens < job.max_tokens   # None: not counted
            job.finish_reason = "stop" if cut is not None or short else "length"
            if job.on_text is not None and job.output:
                job.on_text(job.output)
            job.done.set()
        return jobs

    def start(self, jobs: list[Job]) -> None:
        """Start the jobs without waiting (streaming); errors end up in ``job.error``."""
        if self.engine is not None:
            self.engine.submit(jobs)
            return

        def run() -> None:
            try:
                self.execute(jobs)
            except BaseException as exc:  # noqa: BLE001 - reported in the stream
                for job in jobs:
                    job.error = exc
                    job.done.set()
        threading.Thread(target=run, daemon=True).start()

    def complete(self, body: CompletionBody) -> tuple[list[Job], dict[str, Any]]:
        """Checked jobs of a completions request (not yet run) and the response's common fields."""
        self.check_model(body.model)
        refused = {"n": body.n != 1, "echo": body.echo, "logprobs": body.logprobs is not None}
        for param, bad in refused.items():
            if bad:
                raise ApiError(422, f"{param}={getattr(body, param)!r} is not supported (n=1, no echo, no logprobs)",
                               param)
        stops = self.stops(body.stop)
        max_tokens = self.max_tokens(body.max_tokens)
        personal = self.personalization(body)
        texts, retrieved = self.completion_texts(body, personal)
        jobs = self.jobs(texts, max_tokens, stops, self.sampling(body.temperature, body.top_p, body.seed))
        return jobs, self.common("cmpl", personal, retrieved)

    def chat(self, body: ChatBody) -> tuple[list[Job], dict[str, Any]]:
        self.check_model(body.model)
        refused = {"n": body.n != 1, "logprobs": bool(body.logprobs), "tools": bool(body.tools)}
        for param, bad in refused.items():
            if bad:
                raise ApiError(422, f"{param}={getattr(body, param)!r} is not supported (n=1, no logprobs, no tools)",
                               param)
        stops = self.stops(body.stop)
        max_tokens = self.max_tokens(body.max_completion_tokens or body.max_tokens or self.settings.max_new_tokens)
        personal = self.personalization(body)
        text, retrieved, special = self.chat_text(body.messages, personal)
        jobs = self.jobs([text], max_tokens, stops, self.sampling(body.temperature, body.top_p, body.seed))
        jobs[0].special_tokens = special
        return jobs, self.common("chatcmpl", personal, retrieved)

    def common(self, prefix: str, personal: _Personal | None, retrieved: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"id": f"{prefix}-{uuid.uuid4().hex}", "created": int(time.time()),
                               "model": self.model_name}
        if personal is not None:
            out["lamp"] = {"user": personal.user, "task": personal.task.name, "retriever": personal.retriever,
                           "k": personal.k, "retrieved": retrieved}
        return out


@dataclass(frozen=True)
class _Personal:
    """A personalized request: whose profile, for which task, how many items by which ranker."""

    user: str
    task: Any
    retriever: str
    k: int
    items: list[ProfileItem]


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


def stream_events(svc: _Service, jobs: list[Job], common: dict[str, Any], chat: bool,
                  include_usage: bool) -> Iterator[dict[str, Any]]:
    """The server-sent events of a streamed request, as each row's text is generated."""
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
    svc.start(jobs)
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
                    yield error_body(*_job_error(job.error))
                    return
                yield chunk(i, None, job.finish_reason)
    if include_usage:
        yield {**common, "object": kind, "choices": [], "usage": usage(jobs)}


def count_tokens(tokenizer: Any, text: str) -> int | None:
    """Token count for ``usage`` (None when the backend has no local tokenizer to count with)."""
    if tokenizer is None or not callable(tokenizer) or not hasattr(tokenizer, "decode"):
        return None
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def retrieve(retriever: Any, task: Any, user_id: str, text: str, items: list[ProfileItem],
             k: int) -> list[ProfileItem]:
    """The k best items of this user's profile for the input (none for k=0 or a profile-blind ranker).

    The query and document texts are the task registry's (reference §2.1); the query id, which
    seeds the ``random`` ranker, is a hash of the user and the input, so a request is repeatable.
    """
    if k <= 0 or not items or retriever is None or getattr(retriever, "profile_blind", False):
        return []
    from retrievers import Query

    qid = hashlib.sha256(f"{user_id}\0{text}".encode()).hexdigest()[:16]
    query = Query(id=qid, text=task.query_with_fallback(text)[0], profile=list(items),
                  docs=[task.document(it) for it in items], input=text)
    order = retriever.rank_batch([query])[0]
    return [items[i] for i in list(order)[:k]]


def _job_error(exc: BaseException) -> tuple[int, str]:
    """The status and message a failed job answers with (an upstream server's failure is a 502)."""
    from lamp.generation.backends.openai_api import GenerationFailures

    if isinstance(exc, GenerationFailures):
        return 502, str(exc)
    if isinstance(exc, LampError):
        return 400, str(exc)
    return 500, f"generation failed ({type(exc).__name__})"


def erase_from_caches(svc: Any, task: Any, items: list[ProfileItem]) -> int:
    """Remove a deleted user's text from every cache the service writes; returns the entries removed.

    Embedding caches of the retrievers built so far (when ``use_cache`` was turned on) drop the
    vectors of the user's documents; a generation cache, when the service has one, drops every
    row whose prompt or output quotes one of the user's texts.
    """
    texts = [task.document(it) for it in items]
    quoted = [v for it in items for k, v in it.to_json().items() if k != "id" and isinstance(v, str)]
    erased = 0
    for retriever in list(getattr(svc, "_retrievers", {}).values()):
        cache = getattr(getattr(retriever, "encoder", None), "cache", None)
        if cache is not None:
            erased += cache.erase(texts)
    gen_cache = getattr(svc, "generation_cache", None)
    if gen_cache is not None:
        erased += gen_cache.erase_containing(quoted)
    return erased


def _scrubbers(store: ProfileStore) -> tuple[Any, Any]:
    """(scrub a user's items, scrub a user's input) with keyed per-user placeholders."""
    from lamp.privacy.scrub import KeyedPlaceholders, get_scrubber

    scrubber, secret = get_scrubber(), store.secret()

    def scrub_items(user_id: str, items: list[ProfileItem]) -> list[ProfileItem]:
        mapping = KeyedPlaceholders(secret, user_id)
        return [scrubber.scrub_item(it, mapping) for it in items]

    def scrub_input(user_id: str, text: str) -> str:
        return scrubber.scrub_text(text, KeyedPlaceholders(secret, user_id))
    return scrub_items, scrub_input


def create_app(backend: Backend, store: ProfileStore, *, model_name: str | None = None,
               settings: GenerationSettings | None = None, limits: ServeLimits | None = None,
               api_key: str | None = None, retriever_options: dict[str, Any] | None = None,
               default_k: int = 1, max_batch: int = 32, batch_window_s: float = 0.01,
               credentials: Any = None, scrub: bool = False) -> Any:
    """The FastAPI app serving ``backend`` with profiles from ``store``.

    ``credentials`` (:class:`lamp.serving.auth.Credentials`): an admin key and per-user keys; a user's
    key reaches only that user's data. ``api_key`` alone is an admin key. ``scrub``: PII in stored
    items and ``/personalize`` inputs is replaced by keyed per-user placeholders (:mod:`lamp.privacy.scrub`).

    ``default_k``: profile items in a personalized OpenAI request that gives no ``k``.
    ``max_batch`` and ``batch_window_s``: dynamic batching of the OpenAI endpoints
    (:mod:`lamp.serving.engine`; hf backends only).

    ``settings`` are the generation defaults of ``/personalize`` (``max_input_length`` is the
    prompt budget); ``api_key``, when set, is required as ``Authorization: Bearer KEY`` on every
    endpoint but ``/health``. ``retriever_options`` go to :func:`retrievers.get_retriever` (e.g.
    ``contriever_checkpoint``); each retriever is built once, on first use. Dense retrievers get
    ``use_cache=False`` unless told otherwise, so no embedding of a user's items outlives the user
    on disk after ``DELETE /users/{user_id}``.
    """
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    limits = limits or ServeLimits()
    settings = settings or GenerationSettings(num_beams=1, max_new_tokens=64)
    svc = _Service(backend, store, model_name or backend.identity, settings, limits,
                   {"workers": 1, "use_cache": False, **(retriever_options or {})}, default_k=default_k,
                   max_batch=max_batch, batch_window_s=batch_window_s)
    # redirect_slashes off: a redirect that rewrites the path is a second reading of the user id
    app = FastAPI(title="lamp serve", description="Personalized generation with retrieval from user profiles.",
                  redirect_slashes=False)
    app.state.service = svc
    scrub_items, scrub_input = _scrubbers(store) if scrub else (None, None)

    def error_response(request: Request, status: int, message: str, param: str | None = None) -> JSONResponse:
        return JSONResponse(error_body(status, message, param), status_code=status)

    def owner(request: Request, user_id: str) -> str:
        """The path's user id, once the caller is known to may reach it (the id the route then uses)."""
        svc.authorize(request.scope, user_id, "user_id")
        return user_id

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.message, exc.param)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts, first = [], None
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ())[1:]) or "body"
            first = first or loc
            parts.append(f"{loc}: {err.get('msg')}")
        return error_response(request, 422, "invalid request: " + "; ".join(parts[:10]), first)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": svc.model_name, "identity": backend.identity}

    @app.put("/users/{user_id}/profile")
    def put_profile(body: ProfileBody, user_id: str = Depends(owner)) -> dict[str, Any]:
        svc.check_new_user_id(user_id, "user_id")
        task = svc.task(body.task)
        items = svc.items(body.profile, task)
        items = scrub_items(user_id, items) if scrub_items else items
        try:
            store.put_profile(user_id, task.name, items)
        except DuplicateItems as exc:
            raise ApiError(422, str(exc), "profile") from None
        return {"user_id": user_id, "task": task.name, "items": len(items)}

    @app.post("/users/{user_id}/items")
    def add_items(body: ItemsBody, user_id: str = Depends(owner)) -> dict[str, Any]:
        known = store.summary(user_id)              # (task, number of items) or None
        if known is None:
            svc.check_new_user_id(user_id, "user_id")
        if known is None and body.task is None:
            raise ApiError(404, f"unknown user {user_id!r}; give 'task' to create the profile", "task")
        task = svc.task(body.task or known[0])  # type: ignore[index]
        if known is not None and task.name != known[0]:
            raise ApiError(409, f"user {user_id!r} has a {known[0]} profile; cannot add {task.name} items", "task")
        items = svc.items(body.profile, task)
        items = scrub_items(user_id, items) if scrub_items else items
        have = known[1] if known else 0
        if have + len(items) > limits.max_items:
            raise ApiError(413, f"user {user_id!r} would have {have + len(items)} items; the limit is "
                                f"{limits.max_items}", "profile")
        try:
            total = store.add_items(user_id, items, task.name, max_items=limits.max_items)
        except DuplicateItems as exc:
            raise ApiError(409, str(exc), "profile") from None
        except TooManyItems as exc:          # counted inside the transaction: concurrent appends cannot overrun
            raise ApiError(413, str(exc), "profile") from None
        return {"user_id": user_id, "task": task.name, "items": total}

    @app.get("/users/{user_id}/profile")
    def get_profile(user_id: str = Depends(owner)) -> dict[str, Any]:
        profile = store.get_profile(user_id)
        if profile is None:
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        return {"user_id": user_id, "task": profile.task, "profile": [it.to_json() for it in profile.items]}

    @app.delete("/users/{user_id}")
    def delete_user(user_id: str = Depends(owner)) -> dict[str, Any]:
        profile = store.get_profile(user_id)
        if profile is None or not store.delete_user(user_id):
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        erase_from_caches(svc, svc.task(profile.task), profile.items)
        return {"user_id": user_id, "deleted": True}

    @app.get("/users/{user_id}/export")
    def export_user(user_id: str = Depends(owner)) -> dict[str, Any]:
        """Everything the service holds about the user (their profile is all it stores)."""
        profile = store.get_profile(user_id)
        if profile is None:
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        return {"user_id": user_id, "task": profile.task, "profile": [it.to_json() for it in profile.items],
                "retention_days": store.retention_days, "scrubbed": scrub_items is not None}

    @app.post("/personalize")
    def personalize(body: PersonalizeBody, request: Request) -> dict[str, Any]:
        svc.authorize(request.scope, body.user_id, "user_id")
        if scrub_input and body.user_id:
            body = body.model_copy(update={"input": scrub_input(body.user_id, body.input)})
        return svc.personalize(body)

    def model_card() -> dict[str, Any]:
        return {"id": svc.model_name, "object": "model", "created": svc.created, "owned_by": "lamp",
                "root": backend.identity}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    def model(model_id: str) -> dict[str, Any]:
        svc.check_model(model_id)
        return model_card()

    def answer(jobs: list[Job], common: dict[str, Any], chat: bool, stream: bool,
               stream_options: dict[str, Any] | None) -> Any:
        if not stream:
            svc.execute(jobs)
            return (chat_response if chat else completion_response)(jobs, common)
        from fastapi.responses import StreamingResponse

        include_usage = bool((stream_options or {}).get("include_usage"))

        def sse() -> Iterator[str]:
            for event in stream_events(svc, jobs, common, chat, include_usage):
                yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/completions")
    def completions(body: CompletionBody, request: Request) -> Any:
        if body.user is not None:
            svc.authorize(request.scope, body.user, "user")
        if serve_logprobs.wanted(body):          # echo, log-probabilities, token ids
            return serve_logprobs.complete(svc, body)
        jobs, common = svc.complete(body)
        return answer(jobs, common, False, body.stream, body.stream_options)

    @app.post("/tokenize")
    def tokenize(body: TokenizeBody) -> dict[str, Any]:
        return serve_logprobs.tokenize(svc, body)

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatBody, request: Request) -> Any:
        if body.user is not None:
            svc.authorize(request.scope, body.user, "user")
        jobs, common = svc.chat(body)
        return answer(jobs, common, True, body.stream, body.stream_options)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail))

    # Middleware added last runs first: the access log, then auth (no body is read unauthenticated),
    # then the body limit and the text check, then the app.
    app.add_middleware(RequestGuard, limit=limits.max_body_bytes)
    if api_key and credentials is None:
        credentials = Credentials(admin=_digest(api_key))
    if credentials is not None and not credentials.empty:
        app.add_middleware(AuthLayer, credentials=credentials)
    app.add_middleware(AccessLog)
    return app


# --------------------------------------------------------------------------- running it

@contextlib.contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields the base URL (``http://127.0.0.1:PORT``).

    ``port=0`` takes a free port (the socket is bound here first, so there is no race). For tests and
    notebooks; ``lamp serve`` runs uvicorn in the foreground.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=2,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="lamp-serve")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise LampError(f"the HTTP server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("example:\n  lamp serve --port 8000 --db profiles.sqlite3\n"
                     "  curl -X PUT localhost:8000/users/u1/profile -H 'content-type: application/json' \\\n"
                     "       -d '{\"task\": \"LaMP-3\", \"profile\": [{\"id\": \"1\", \"text\": \"broke fast\", "
                     "\"score\": \"2\"}]}'\n"
                     "  curl localhost:8000/personalize -H 'content-type: application/json' \\\n"
                     "       -d '{\"user_id\": \"u1\", \"input\": \"... review: stopped working\", \"k\": 1}'\n"
                     "  # any OpenAI client; 'user' picks the stored profile, extra_body the retrieval:\n"
                     "  python -c \"import openai; c = openai.OpenAI(base_url='http://127.0.0.1:8000/v1', api_key='YOUR-KEY'); "
                     "print(c.chat.completions.create(model='SmolLM2-135M-Instruct', user='u1', "
                     "extra_body={'k': 2}, messages=[{'role': 'user', 'content': '...'}]))\"")
    limits = ServeLimits()
    parser.add_argument("--model", default=None,
                        help="a local model folder or hub id (default: the bundled SmolLM2-135M-Instruct); with "
                             "--backend openai, the upstream server's model name (default: the one it serves)")
    from lamp.generation.backends.base import BACKENDS

    parser.add_argument("--backend", default="hf-causal",
                        help=f"a registered LLM backend ({', '.join(BACKENDS)}); openai: personalize in front "
                             "of an OpenAI-compatible server (--base-url)")
    parser.add_argument("--base-url", default=None, help="upstream server for --backend openai, e.g. http://gpu:8000/v1")
    parser.add_argument("--tokenizer", default=None,
                        help="with --backend openai: tokenizer for the prompt budget (a folder, hub id, the bundled "
                             "model's name, or 'chars/4' for a rough estimate); default: --model's tokenizer")
    parser.add_argument("--chat", action="store_true",
                        help="with --backend openai: forward to the upstream /v1/chat/completions (instruct models)")
    parser.add_argument("--served-model-name", default=None,
                        help="model name in the OpenAI API (default: the --model value)")
    parser.add_argument("--db", default="lamp_profiles.sqlite3", help="SQLite file of users' profiles")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--api-key", default=None, help=argparse.SUPPRESS)   # refused: argv is public
    parser.add_argument("--admin-key-file", default=None,
                        help="file holding the admin key (or env LAMP_SERVE_ADMIN_KEY); never on the command line")
    parser.add_argument("--credentials-file", default=None,
                        help='JSON {"admin": KEY, "users": {"user id": KEY or "sha256:HEX"}} (or env '
                             "LAMP_SERVE_CREDENTIALS_FILE): a user's key reaches only that user's data")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve without credentials (loopback only): every local client reaches every profile")
    parser.add_argument("--retention-days", type=float, default=None,
                        help="drop profile items stored more than this many days ago")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let the model folder run its own Python code (off unless given here)")
    from lamp.privacy.scrub import add_scrub_flag

    add_scrub_flag(parser)
    parser.add_argument("--max-length", type=int, default=256, help="prompt token budget (official default 256)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="default max_tokens of /personalize")
    parser.add_argument("--num-beams", type=int, default=1, help="beams for /personalize (/v1 is always 1)")
    parser.add_argument("--stop-at-newline", action="store_true", help="/personalize stops at the first newline")
    parser.add_argument("--k", type=int, default=1,
                        help="profile items in a personalized OpenAI request that gives no 'k' (default 1)")
    parser.add_argument("--max-batch", type=int, default=32,
                        help="most concurrent OpenAI requests decoded together (dynamic batching)")
    parser.add_argument("--batch-window-ms", type=float, default=10.0,
                        help="how long a batch waits for more requests after its first (milliseconds)")
    from retrievers.base import add_retriever_flags

    add_retriever_flags(parser, dashes=True)       # every registered retriever's options
    parser.add_argument("--max-input-chars", type=int, default=limits.max_input_chars,
                        help="longest input, prompt or profile text field, in characters")
    parser.add_argument("--max-items", type=int, default=limits.max_items, help="profile items per user")
    parser.add_argument("--max-tokens-limit", type=int, default=limits.max_tokens_limit,
                        help="largest max_tokens a request may ask for")
    parser.add_argument("--max-prompts", type=int, default=limits.max_prompts, help="prompts per /v1 request")


def run(args: argparse.Namespace) -> int:
    uvicorn = require("uvicorn", "serve", "lamp serve")
    for flag in ("max_input_chars", "max_items", "max_tokens_limit", "max_prompts", "max_length",
                 "max_new_tokens", "num_beams", "max_batch"):
        if getattr(args, flag) < 1:
            raise LampError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    from lamp.serving.auth import load_credentials

    if args.api_key is not None:
        raise LampError("--api-key on the command line is visible to every local user (ps); put the key in "
                        "LAMP_SERVE_ADMIN_KEY or a file given by --admin-key-file / --credentials-file")
    if args.retention_days is not None and not args.retention_days > 0:
        raise LampError(f"--retention-days must be positive, got {args.retention_days}")
    credentials = load_credentials(args.admin_key_file, args.credentials_file)
    if credentials.empty and not args.no_auth:
        raise LampError("no credentials: set LAMP_SERVE_ADMIN_KEY, --admin-key-file or --credentials-file "
                        "(per-user keys), or pass --no-auth to let every local client reach every profile")
    if credentials.empty and not _is_loopback(args.host):
        raise LampError(f"--no-auth serves users' profiles to anyone who reaches {args.host}; it is allowed "
                        "on a loopback address only")
    backend, name = _load_backend(args)
    store = ProfileStore(args.db, retention_days=args.retention_days)
    settings = GenerationSettings(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens,
                                  max_input_length=args.max_length, stop_at_newline=args.stop_at_newline)
    limits = ServeLimits(max_input_chars=args.max_input_chars, max_items=args.max_items,
                         max_tokens_limit=args.max_tokens_limit, max_prompts=args.max_prompts)
    from retrievers.base import retriever_kwargs

    options = retriever_kwargs(args)
    if args.k < 0 or args.batch_window_ms < 0:
        raise LampError("--k and --batch-window-ms must be 0 or more")
    app = create_app(backend, store, model_name=name, settings=settings, limits=limits, credentials=credentials,
                     scrub=args.scrub,
                     retriever_options=options, default_k=args.k, max_batch=args.max_batch,
                     batch_window_s=args.batch_window_ms / 1000)
    print(f"lamp serve: {name} ({backend.identity}) on http://{args.host}:{args.port}", file=sys.stderr)
    # Ctrl-C: in-flight requests get one second, then the server stops (stored profiles are committed).
    engine = app.state.service.engine

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if engine is not None:      # Ctrl-C: the running batch ends at its next step, so no request
                engine.stop()           # handler keeps the process alive until its generation is done
            super().handle_exit(sig, frame)

    # uvicorn's own access log prints whole URLs (user ids, query strings): ours prints route templates
    access = logging.getLogger("lamp.serving.app.access")
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s lamp.serving.app %(levelname)s %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info", access_log=False,
                          timeout_graceful_shutdown=1)).run()
    return 0


def _load_backend(args: argparse.Namespace) -> tuple[Backend, str]:
    """The backend ``--backend`` names, from what its registry entry says of it, and its served name.

    A backend that loads weights here (``loads_local_model``) gets ``--model`` (default: the bundled
    model) and ``--trust-remote-code``; any other gets ``--model`` as given (the openai backend: the
    upstream's model name) and the flags it accepts (``--base-url``, ``--tokenizer``, ``--chat``).
    A flag the backend has no option for is an error, not silently ignored."""
    from lamp.generation.backends.base import backend_class, load_backend
    from lamp.generation.models import DEFAULT_MODEL, resolve_model
    from lamp.pipeline.run import check_backend_options

    cls = backend_class(args.backend)
    if not cls.is_llm:
        raise LampError(f"--backend {args.backend} is not an LLM backend")
    local = cls.loads_local_model
    given = {"base_url": args.base_url, "tokenizer": None if local else args.tokenizer, "chat": args.chat or None,
             "trust_remote_code": args.trust_remote_code or None}
    opts = {key: value for key, value in given.items() if value is not None}
    check_backend_options(args.backend, opts, "lamp serve")
    if "progress" in inspect.signature(cls).parameters:
        opts["progress"] = False                   # a server logs requests, not progress bars
    backend = load_backend(args.backend, model=resolve_model(args.model or DEFAULT_MODEL) if local else args.model,
                           **opts)
    identity = backend.identity                    # a remote backend asks its server now (fails early)
    served = args.model or (DEFAULT_MODEL if local else getattr(backend, "model", None) or identity)
    return backend, args.served_model_name or served
