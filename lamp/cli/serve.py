"""``lamp serve``: the verb's flags and its run (the service itself is :mod:`lamp.serving.app`).

The request limits are declared once, as :class:`lamp.serving.shapes.ServeLimits` settings
(:mod:`lamp.core.settings`); every flag is spelled with underscores, as in the other verbs, and answers to dashes too
(``--max_items``, ``--max-items``: vLLM's spelling).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from typing import Any

from lamp.core.errors import LampError
from lamp.core.extras import require
from lamp.core.settings import accept_both_spellings, add_flags, from_args
from lamp.generation.backends.base import BACKENDS, Backend, GenerationSettings
from lamp.generation.backends.opener import check_backend_options, open_backend
from lamp.generation.models import DEFAULT_MODEL
from lamp.privacy.scrub import add_scrub_flag
from lamp.serving.app import create_app
from lamp.serving.auth import load_credentials
from lamp.serving.shapes import ServeLimits
from lamp.serving.store import ProfileStore
from retrievers.base import add_retriever_flags, retriever_kwargs

DEFAULT_PORT = 8000
#: The limits that are flags (the id and body sizes are fixed).
LIMIT_FLAGS = ("max_input_chars", "max_items", "max_tokens_limit", "max_prompts")


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
    parser.add_argument("--model", default=None,
                        help="a local model folder or hub id (default: the bundled SmolLM2-135M-Instruct); with "
                             "--backend openai, the upstream server's model name (default: the one it serves)")
    parser.add_argument("--backend", default="hf-causal",
                        help=f"a registered LLM backend ({', '.join(BACKENDS)}); openai: personalize in front "
                             "of an OpenAI-compatible server (--base_url)")
    parser.add_argument("--base_url", default=None, help="upstream server for --backend openai, e.g. http://gpu:8000/v1")
    parser.add_argument("--tokenizer", default=None,
                        help="with --backend openai: tokenizer for the prompt budget (a folder, hub id, the bundled "
                             "model's name, or 'chars/4' for a rough estimate); default: --model's tokenizer")
    parser.add_argument("--chat", action="store_true",
                        help="with --backend openai: forward to the upstream /v1/chat/completions (instruct models)")
    parser.add_argument("--served_model_name", default=None,
                        help="model name in the OpenAI API (default: the --model value)")
    parser.add_argument("--db", default="lamp_profiles.sqlite3", help="SQLite file of users' profiles")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--api_key", default=None, help=argparse.SUPPRESS)   # refused: argv is public
    parser.add_argument("--admin_key_file", default=None,
                        help="file holding the admin key (or env LAMP_SERVE_ADMIN_KEY); never on the command line")
    parser.add_argument("--credentials_file", default=None,
                        help='JSON {"admin": KEY, "users": {"user id": KEY or "sha256:HEX"}} (or env '
                             "LAMP_SERVE_CREDENTIALS_FILE): a user's key reaches only that user's data")
    parser.add_argument("--no_auth", action="store_true",
                        help="serve without credentials (loopback only): every local client reaches every profile")
    parser.add_argument("--retention_days", type=float, default=None,
                        help="drop profile items stored more than this many days ago")
    parser.add_argument("--trust_remote_code", action="store_true",
                        help="let the model folder run its own Python code (off unless given here)")
    add_scrub_flag(parser)
    parser.add_argument("--max_length", type=int, default=256, help="prompt token budget (official default 256)")
    parser.add_argument("--max_new_tokens", type=int, default=64, help="default max_tokens of /personalize")
    parser.add_argument("--num_beams", type=int, default=1, help="beams for /personalize (/v1 is always 1)")
    parser.add_argument("--stop_at_newline", action="store_true", help="/personalize stops at the first newline")
    parser.add_argument("--k", type=int, default=1,
                        help="profile items in a personalized OpenAI request that gives no 'k' (default 1)")
    parser.add_argument("--max_batch", type=int, default=32,
                        help="most concurrent OpenAI requests decoded together (dynamic batching)")
    parser.add_argument("--batch_window_ms", type=float, default=10.0,
                        help="how long a batch waits for more requests after its first (milliseconds)")
    add_retriever_flags(parser)       # every registered retriever's options
    add_flags(parser, ServeLimits, skip=[f for f in ServeLimits.__dataclass_fields__ if f not in LIMIT_FLAGS],
              defaults=True)
    accept_both_spellings(parser)


def run(args: argparse.Namespace) -> int:
    uvicorn = require("uvicorn", "serve", "lamp serve")
    for flag in (*LIMIT_FLAGS, "max_length", "max_new_tokens", "num_beams", "max_batch"):
        if getattr(args, flag) < 1:
            raise LampError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.api_key is not None:
        raise LampError("--api_key on the command line is visible to every local user (ps); put the key in "
                        "LAMP_SERVE_ADMIN_KEY or a file given by --admin_key_file / --credentials_file")
    if args.retention_days is not None and not args.retention_days > 0:
        raise LampError(f"--retention_days must be positive, got {args.retention_days}")
    credentials = load_credentials(args.admin_key_file, args.credentials_file)
    if credentials.empty and not args.no_auth:
        raise LampError("no credentials: set LAMP_SERVE_ADMIN_KEY, --admin_key_file or --credentials_file "
                        "(per-user keys), or pass --no_auth to let every local client reach every profile")
    if credentials.empty and not _is_loopback(args.host):
        raise LampError(f"--no_auth serves users' profiles to anyone who reaches {args.host}; it is allowed "
                        "on a loopback address only")
    backend, name = _load_backend(args)
    store = ProfileStore(args.db, retention_days=args.retention_days)
    settings = GenerationSettings(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens,
                                  max_input_length=args.max_length, stop_at_newline=args.stop_at_newline)
    options = retriever_kwargs(args)
    if args.k < 0 or args.batch_window_ms < 0:
        raise LampError("--k and --batch_window_ms must be 0 or more")
    app = create_app(backend, store, model_name=name, settings=settings, limits=from_args(ServeLimits, args),
                     credentials=credentials, scrub=args.scrub, retriever_options=options, default_k=args.k,
                     max_batch=args.max_batch, batch_window_s=args.batch_window_ms / 1000)
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


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _load_backend(args: argparse.Namespace) -> tuple[Backend, str]:
    """The backend ``--backend`` names, opened as every verb opens one, and its served name.

    A backend that loads weights here (``loads_local_model``) gets ``--model`` (default: the bundled
    model) and ``--trust_remote_code``; any other gets ``--model`` as given (the openai backend: the
    upstream's model name) and the flags it accepts (``--base_url``, ``--tokenizer``, ``--chat``).
    A flag the backend has no option for is an error, not silently ignored."""
    factory = check_backend_options(args.backend, {}, "lamp serve", llm=False)
    if not factory.is_llm:
        raise LampError(f"--backend {args.backend} is not an LLM backend")
    local = factory.loads_local_model
    served = {"base_url": args.base_url, "tokenizer": None if local else args.tokenizer, "chat": args.chat or None}
    options = {"trust_remote_code": True} if args.trust_remote_code else {}
    backend = open_backend(args.backend, args.model, options, source="lamp serve", served=served,
                           defaults={"progress": False})     # a server logs requests, not progress bars
    identity = backend.identity                    # a remote backend asks its server now (fails early)
    name = args.model or (DEFAULT_MODEL if local else getattr(backend, "model", None) or identity)
    return backend, args.served_model_name or name
