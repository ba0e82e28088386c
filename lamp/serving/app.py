"""``lamp serve``'s app: the routes (each only translates HTTP), the middleware, and a test server.

The service keeps each user's profile in SQLite (:mod:`lamp.serving.store`). For a request it
retrieves from *that user's* profile only, builds the official token-budgeted prompt with the
query and example builders a run uses, and generates with one backend. The rooms of the service:
request shapes (:mod:`lamp.serving.shapes`), the logic (:mod:`lamp.serving.service`,
:mod:`lamp.serving.completions`, :mod:`lamp.serving.logprobs`), responses and SSE
(:mod:`lamp.serving.responses`); the verb's flags are :mod:`lamp.cli.serve`.

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

import contextlib
import socket
import threading
import time
from typing import Any, Iterator

from lamp.core.errors import LampError
from lamp.core.extras import require
from lamp.generation.backends.base import Backend, GenerationSettings

try:                                     # fastapi brings pydantic and starlette (the 'serve' extra)
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ModuleNotFoundError:
    require("fastapi", "serve", "lamp serve")
    raise
from lamp.serving import logprobs as serve_logprobs
from lamp.serving.auth import AuthLayer, Credentials, _digest
from lamp.serving.completions import chat as chat_jobs, complete as completion_jobs
from lamp.serving.engine import Job
from lamp.serving.guards import AccessLog, ApiError, RequestGuard, error_body
from lamp.serving.logprobs import TokenizeBody
from lamp.serving.responses import chat_response, completion_response, sse_lines, stream_events
from lamp.serving.service import Service, job_error
from lamp.serving.shapes import ChatBody, CompletionBody, ItemsBody, PersonalizeBody, ProfileBody, ServeLimits
from lamp.serving.store import ProfileStore


def create_app(backend: Backend, store: ProfileStore, *, model_name: str | None = None,
               settings: GenerationSettings | None = None, limits: ServeLimits | None = None,
               api_key: str | None = None, retriever_options: dict[str, Any] | None = None,
               default_k: int = 1, max_batch: int = 32, batch_window_s: float = 0.01,
               credentials: Credentials | None = None, scrub: bool = False) -> FastAPI:
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
    limits = limits or ServeLimits()
    settings = settings or GenerationSettings(num_beams=1, max_new_tokens=64)
    svc = Service(backend, store, model_name or backend.identity, settings, limits,
                  {"workers": 1, "use_cache": False, **(retriever_options or {})}, default_k=default_k,
                  max_batch=max_batch, batch_window_s=batch_window_s, scrub=scrub)
    # redirect_slashes off: a redirect that rewrites the path is a second reading of the user id
    app = FastAPI(title="lamp serve", description="Personalized generation with retrieval from user profiles.",
                  redirect_slashes=False)
    app.state.service = svc

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
        return svc.put_profile(user_id, body)

    @app.post("/users/{user_id}/items")
    def add_items(body: ItemsBody, user_id: str = Depends(owner)) -> dict[str, Any]:
        return svc.add_items(user_id, body)

    @app.get("/users/{user_id}/profile")
    def get_profile(user_id: str = Depends(owner)) -> dict[str, Any]:
        return svc.get_profile(user_id)

    @app.delete("/users/{user_id}")
    def delete_user(user_id: str = Depends(owner)) -> dict[str, Any]:
        return svc.delete_user(user_id)

    @app.get("/users/{user_id}/export")
    def export_user(user_id: str = Depends(owner)) -> dict[str, Any]:
        """Everything the service holds about the user (their profile is all it stores)."""
        return svc.export(user_id)

    @app.post("/personalize")
    def personalize(body: PersonalizeBody, request: Request) -> dict[str, Any]:
        svc.authorize(request.scope, body.user_id, "user_id")
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
        include_usage = bool((stream_options or {}).get("include_usage"))
        events = stream_events(svc.start, jobs, common, chat, include_usage, job_error)
        return StreamingResponse(sse_lines(events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.post("/v1/completions")
    def completions(body: CompletionBody, request: Request) -> Any:
        if body.user is not None:
            svc.authorize(request.scope, body.user, "user")
        if serve_logprobs.wanted(body):          # echo, log-probabilities, token ids
            return serve_logprobs.complete(svc, body)
        jobs, common = completion_jobs(svc, body)
        return answer(jobs, common, False, body.stream, body.stream_options)

    @app.post("/tokenize")
    def tokenize(body: TokenizeBody) -> dict[str, Any]:
        return serve_logprobs.tokenize(svc, body)

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatBody, request: Request) -> Any:
        if body.user is not None:
            svc.authorize(request.scope, body.user, "user")
        jobs, common = chat_jobs(svc, body)
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


@contextlib.contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields the base URL (``http://127.0.0.1:PORT``).

    ``port=0`` takes a free port (the socket is bound here first, so there is no race). For tests and
    notebooks; ``lamp serve`` runs uvicorn in the foreground.
    """
    uvicorn = require("uvicorn", "serve", "lamp serve")
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
