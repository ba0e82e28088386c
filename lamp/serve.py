"""``lamp serve``: personalized generation over HTTP, plus an OpenAI-compatible completions API.

The service keeps each user's profile in SQLite (:mod:`lamp.profile_store`). For a request it
retrieves from *that user's* profile only, builds the official token-budgeted prompt
(:func:`lamp.prompts.build_prompt`) and generates with one backend.

Endpoints::

    GET    /health                       liveness, model name and identity
    PUT    /users/{user_id}/profile      {"task": "LaMP-3", "profile": [LaMP items]}  (replaces)
    POST   /users/{user_id}/items        {"profile": [items], "task": optional}      (appends)
    GET    /users/{user_id}/profile
    DELETE /users/{user_id}
    POST   /personalize                  {"user_id", "input", "task"?, "k"?, "retriever"?, "max_tokens"?}
                                         -> {"output", "prompt", "retrieved": [item ids], ...}
    GET    /v1/models                    OpenAI format; ``root`` is the backend's exact identity
    POST   /v1/completions               OpenAI format: prompt (string or list), max_tokens,
                                         temperature, top_p, stop, seed, n=1

``/v1/completions`` hands each prompt to the backend exactly as ``lamp run`` does (the hf-causal
backend applies the model's chat template), so the ``openai`` backend pointed at this service
gets the same outputs as the hf backend run directly. Generation is serialized (one backend call
at a time) and a list prompt is one batch, so outputs do not depend on what other clients send.

Limits (413 for sizes, 422 for shapes and values, with a message naming the field): body bytes,
input/prompt/field characters, profile items per user, prompts per request, ``max_tokens``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import ipaddress
import json
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lamp.backends.base import Backend, GenerationSettings
from lamp.errors import LampError
from lamp.profile_store import DuplicateItems, ProfileStore
from lamp.records import ProfileItem

DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ServeLimits:
    """Size limits of one request (every one is checked before any work is done)."""

    max_input_chars: int = 20_000        # an input, a prompt, or any text field of a profile item
    max_items: int = 10_000              # items in one user's profile (so also in one request)
    max_tokens_limit: int = 512          # largest max_tokens a request may ask for
    max_prompts: int = 64                # prompts in one /v1/completions request
    max_id_chars: int = 256              # user ids and item ids
    max_body_bytes: int = 64 * 2 ** 20   # a whole request body


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


class CompletionBody(BaseModel):
    """The OpenAI completions request; fields we cannot honour are refused, unknown ones ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    echo: bool = False
    logprobs: int | None = None


class ApiError(Exception):
    """An error answer: status, message, and the request field it is about."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


# --------------------------------------------------------------------------- the app

class _Service:
    """The state and logic behind the endpoints; the route functions only translate HTTP."""

    def __init__(self, backend: Backend, store: ProfileStore, model_name: str, settings: GenerationSettings,
                 limits: ServeLimits, retriever_options: dict[str, Any]) -> None:
        self.backend, self.store, self.model_name = backend, store, model_name
        self.retriever_options = retriever_options
        self.settings, self.limits = settings, limits
        self.created = int(time.time())
        self._generate_lock = threading.Lock()
        self._retrievers: dict[str, Any] = {}
        self._retriever_lock = threading.Lock()

    # ---- checks

    def check_id(self, value: str, param: str) -> None:
        if not value or len(value) > self.limits.max_id_chars:
            raise ApiError(422, f"{param} must have 1 to {self.limits.max_id_chars} characters, got {len(value)}",
                           param)

    def check_text(self, text: str, param: str) -> None:
        if len(text) > self.limits.max_input_chars:
            raise ApiError(413, f"{param} has {len(text)} characters; the limit is {self.limits.max_input_chars}",
                           param)

    def task(self, name: str, param: str = "task") -> Any:
        from lamp.tasks import get_task

        try:
            return get_task(name)
        except LampError as exc:
            raise ApiError(422, str(exc), param) from None

    def items(self, raw: list[dict[str, Any]], task: Any, param: str = "profile") -> list[ProfileItem]:
        """Validate LaMP profile items for ``task``; every problem is listed in one 422."""
        from lamp.files import Problems, item_from_json

        if len(raw) > self.limits.max_items:
            raise ApiError(413, f"{param} has {len(raw)} items; the limit is {self.limits.max_items} per user", param)
        problems = Problems(param, collect=True)
        items = []
        for n, obj in enumerate(raw):
            for key, value in obj.items():
                if isinstance(value, str):
                    self.check_text(value, f"{param}[{n}].{key}")
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
        from lamp.backends.openai_api import GenerationFailures

        try:
            with self._generate_lock:
                return self.backend.generate(prompts, settings)
        except GenerationFailures as exc:      # an upstream server (backend "openai") failed
            raise ApiError(502, str(exc)) from None
        except LampError as exc:
            raise ApiError(400, str(exc)) from None

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
        from lamp.prompts import build_prompt

        try:
            chosen = retrieve(self.retriever(body.retriever) if body.k else None, task, body.user_id, body.input,
                              profile.items, body.k)
            prompt = build_prompt(task, body.input, chosen, self.settings.max_input_length, self.backend.tokenizer)
        except LampError as exc:        # e.g. recency on a profile without dates
            raise ApiError(422, str(exc), "retriever") from None
        settings = replace(self.settings, max_new_tokens=max_tokens)
        output = self.generate([prompt], settings)[0]
        return {"user_id": body.user_id, "task": task.name, "output": output, "prompt": prompt,
                "retrieved": [it.id for it in chosen], "retriever": body.retriever if body.k else None,
                "model": self.model_name}

    def max_tokens(self, value: int) -> int:
        if value > self.limits.max_tokens_limit:
            raise ApiError(422, f"max_tokens is {value}; this server allows at most {self.limits.max_tokens_limit}",
                           "max_tokens")
        return value

    def complete(self, body: CompletionBody) -> dict[str, Any]:
        if body.model not in (None, self.model_name):
            raise ApiError(404, f"the model {body.model!r} does not exist; this server serves {self.model_name!r}",
                           "model")
        refused = {"n": body.n != 1, "stream": body.stream, "echo": body.echo, "logprobs": body.logprobs is not None}
        for param, bad in refused.items():
            if bad:
                raise ApiError(422, f"{param}={getattr(body, param)!r} is not supported (n=1, no streaming, "
                                    "no echo, no logprobs)", param)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise ApiError(422, "prompt is an empty list", "prompt")
        if len(prompts) > self.limits.max_prompts:
            raise ApiError(413, f"prompt holds {len(prompts)} prompts; the limit is {self.limits.max_prompts}",
                           "prompt")
        for n, p in enumerate(prompts):
            self.check_text(p, "prompt" if isinstance(body.prompt, str) else f"prompt[{n}]")
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise ApiError(422, "stop must be at most 4 non-empty strings", "stop")
        sample = body.temperature > 0
        settings = replace(self.settings, max_new_tokens=self.max_tokens(body.max_tokens), num_beams=1,
                           do_sample=sample, temperature=body.temperature if sample else 1.0,
                           top_p=body.top_p if sample else 1.0,
                           seed=self.settings.seed if body.seed is None else body.seed,
                           stop_at_newline="\n" in stops)
        texts = [cut_at_stop(t, stops) for t in self.generate(prompts, settings)]
        choices, completion_tokens = [], 0
        for i, text in enumerate(texts):
            used = count_tokens(self.backend.tokenizer, text)
            completion_tokens += used
            stopped = any(s in text for s in stops) or used < settings.max_new_tokens
            choices.append({"index": i, "text": text, "logprobs": None, "finish_reason": "stop" if stopped else "length"})
        prompt_tokens = sum(count_tokens(self.backend.tokenizer, p) for p in prompts)
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_name, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


def cut_at_stop(text: str, stops: list[str]) -> str:
    """The text before the earliest stop string (the OpenAI API never returns the stop string)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def count_tokens(tokenizer: Any, text: str) -> int:
    """Token count for ``usage`` (characters / 4 when the backend has no tokenizer)."""
    if tokenizer is None:
        return (len(text) + 3) // 4
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
                  docs=[task.document(it) for it in items])
    order = retriever.rank_batch([query])[0]
    return [items[i] for i in list(order)[:k]]


def create_app(backend: Backend, store: ProfileStore, *, model_name: str | None = None,
               settings: GenerationSettings | None = None, limits: ServeLimits | None = None,
               api_key: str | None = None, retriever_options: dict[str, Any] | None = None) -> Any:
    """The FastAPI app serving ``backend`` with profiles from ``store``.

    ``settings`` are the generation defaults of ``/personalize`` (``max_input_length`` is the
    prompt budget); ``api_key``, when set, is required as ``Authorization: Bearer KEY`` on every
    endpoint but ``/health``. ``retriever_options`` go to :func:`retrievers.get_retriever` (e.g.
    ``contriever_checkpoint``); each retriever is built once, on first use. Dense retrievers get
    ``use_cache=False`` unless told otherwise, so no embedding of a user's items outlives the user
    on disk after ``DELETE /users/{user_id}``.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    limits = limits or ServeLimits()
    settings = settings or GenerationSettings(num_beams=1, max_new_tokens=64)
    svc = _Service(backend, store, model_name or backend.identity, settings, limits,
                   {"workers": 1, "use_cache": False, **(retriever_options or {})})
    app = FastAPI(title="lamp serve", description="Personalized generation with retrieval from user profiles.")
    app.state.service = svc

    def error_response(request: Request, status: int, message: str, param: str | None = None) -> JSONResponse:
        if request.url.path.startswith("/v1/"):
            kind = "invalid_request_error" if status < 500 else "server_error"
            return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}},
                                status_code=status)
        return JSONResponse({"detail": message, "param": param}, status_code=status)

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
    def put_profile(user_id: str, body: ProfileBody) -> dict[str, Any]:
        svc.check_id(user_id, "user_id")
        task = svc.task(body.task)
        items = svc.items(body.profile, task)
        try:
            store.put_profile(user_id, task.name, items)
        except DuplicateItems as exc:
            raise ApiError(422, str(exc), "profile") from None
        return {"user_id": user_id, "task": task.name, "items": len(items)}

    @app.post("/users/{user_id}/items")
    def add_items(user_id: str, body: ItemsBody) -> dict[str, Any]:
        svc.check_id(user_id, "user_id")
        known = store.summary(user_id)              # (task, number of items) or None
        if known is None and body.task is None:
            raise ApiError(404, f"unknown user {user_id!r}; give 'task' to create the profile", "task")
        task = svc.task(body.task or known[0])  # type: ignore[index]
        if known is not None and task.name != known[0]:
            raise ApiError(409, f"user {user_id!r} has a {known[0]} profile; cannot add {task.name} items", "task")
        items = svc.items(body.profile, task)
        have = known[1] if known else 0
        if have + len(items) > limits.max_items:
            raise ApiError(413, f"user {user_id!r} would have {have + len(items)} items; the limit is "
                                f"{limits.max_items}", "profile")
        try:
            total = store.add_items(user_id, items, task.name)
        except DuplicateItems as exc:
            raise ApiError(409, str(exc), "profile") from None
        return {"user_id": user_id, "task": task.name, "items": total}

    @app.get("/users/{user_id}/profile")
    def get_profile(user_id: str) -> dict[str, Any]:
        profile = store.get_profile(user_id)
        if profile is None:
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        return {"user_id": user_id, "task": profile.task, "profile": [it.to_json() for it in profile.items]}

    @app.delete("/users/{user_id}")
    def delete_user(user_id: str) -> dict[str, Any]:
        if not store.delete_user(user_id):
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        return {"user_id": user_id, "deleted": True}

    @app.post("/personalize")
    def personalize(body: PersonalizeBody) -> dict[str, Any]:
        return svc.personalize(body)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": svc.model_name, "object": "model", "created": svc.created,
                                            "owned_by": "lamp", "root": backend.identity}]}

    @app.post("/v1/completions")
    def completions(body: CompletionBody) -> dict[str, Any]:
        return svc.complete(body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail))

    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)
    if api_key:
        app.add_middleware(_Auth, key=api_key)      # added last = runs first: no body is read unauthenticated
    return app


# --------------------------------------------------------------------------- ASGI guards

class _Auth:
    """Requires ``Authorization: Bearer KEY`` everywhere but ``/health``."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.expected = app, f"Bearer {key}".encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _send_json(send, 401, {"detail": "missing or wrong API key (Authorization: Bearer KEY)"})
                return
        await self.app(scope, receive, send)


class _BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413: at once by Content-Length, else while reading."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over {self.limit} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            body = ({"error": {"message": detail, "type": "invalid_request_error", "param": None, "code": 413}}
                    if scope["path"].startswith("/v1/") else {"detail": detail, "param": None})
            await _send_json(send, 413, body)
            return
        seen = 0

        async def counted_receive() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:      # FastAPI re-raises HTTPException from body reading
                    raise StarletteHTTPException(413, detail)
            return msg

        await self.app(scope, counted_receive, send)


async def _send_json(send: Any, status: int, obj: Any) -> None:
    body = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


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
                     "       -d '{\"user_id\": \"u1\", \"input\": \"... review: stopped working\", \"k\": 1}'")
    limits = ServeLimits()
    parser.add_argument("--model", default=None,
                        help="a local model folder or hub id (default: the bundled SmolLM2-135M-Instruct); with "
                             "--backend openai, the upstream server's model name (default: the one it serves)")
    parser.add_argument("--backend", default="hf-causal", choices=["hf-causal", "hf-seq2seq", "openai"],
                        help="openai: personalize in front of an OpenAI-compatible server (--base-url)")
    parser.add_argument("--base-url", default=None, help="upstream server for --backend openai, e.g. http://gpu:8000/v1")
    parser.add_argument("--tokenizer", default=None,
                        help="with --backend openai: local tokenizer folder or hub id for the prompt budget")
    parser.add_argument("--served-model-name", default=None,
                        help="model name in the OpenAI API (default: the --model value)")
    parser.add_argument("--db", default="lamp_profiles.sqlite3", help="SQLite file of users' profiles")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (env LAMP_SERVE_API_KEY)")
    parser.add_argument("--max-length", type=int, default=256, help="prompt token budget (official default 256)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="default max_tokens of /personalize")
    parser.add_argument("--num-beams", type=int, default=1, help="beams for /personalize (/v1 is always 1)")
    parser.add_argument("--stop-at-newline", action="store_true", help="/personalize stops at the first newline")
    parser.add_argument("--contriever-checkpoint", default=None,
                        help="encoder for the 'contriever' and 'trained' retrievers (default: bundled MiniLM)")
    parser.add_argument("--max-input-chars", type=int, default=limits.max_input_chars)
    parser.add_argument("--max-items", type=int, default=limits.max_items, help="profile items per user")
    parser.add_argument("--max-tokens-limit", type=int, default=limits.max_tokens_limit)
    parser.add_argument("--max-prompts", type=int, default=limits.max_prompts, help="prompts per /v1 request")


def run(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from lamp.backends.base import load_backend
    from lamp.models import DEFAULT_MODEL, resolve_model

    for flag in ("max_input_chars", "max_items", "max_tokens_limit", "max_prompts", "max_length",
                 "max_new_tokens", "num_beams"):
        if getattr(args, flag) < 1:
            raise LampError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    api_key = args.api_key or os.environ.get("LAMP_SERVE_API_KEY") or None
    if not _is_loopback(args.host) and not api_key:
        print(f"warning: serving users' profiles on {args.host} without an API key; anyone who can reach this "
              "port can read them (set --api-key)", file=sys.stderr)
    store = ProfileStore(args.db)
    if args.backend == "openai":
        if not args.base_url:
            raise LampError("--backend openai needs --base-url (the upstream OpenAI-compatible server)")
        backend = load_backend("openai", base_url=args.base_url, tokenizer=args.tokenizer,
                               model=args.model, progress=False)
        backend.identity                            # asks the upstream which model it serves (fails early)
        name = args.served_model_name or backend.model
    else:
        backend = load_backend(args.backend, model=resolve_model(args.model or DEFAULT_MODEL))
        name = args.served_model_name or args.model or DEFAULT_MODEL
    settings = GenerationSettings(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens,
                                  max_input_length=args.max_length, stop_at_newline=args.stop_at_newline)
    limits = ServeLimits(max_input_chars=args.max_input_chars, max_items=args.max_items,
                         max_tokens_limit=args.max_tokens_limit, max_prompts=args.max_prompts)
    options = {"contriever_checkpoint": args.contriever_checkpoint} if args.contriever_checkpoint else {}
    app = create_app(backend, store, model_name=name, settings=settings, limits=limits, api_key=api_key,
                     retriever_options=options)
    print(f"lamp serve: {name} ({backend.identity}) on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
