"""What every ``lamp serve`` request passes before the app sees it, and the one error envelope.

* :func:`error_body` is the only error shape the service answers with, on every route and every
  status (401 and 403 from the auth layer, 413 from the body limit, 422 from validation, 500):
  ``{"error": {"message", "type", "param", "code"}}``, the OpenAI envelope.
* :class:`RequestGuard` refuses a body over the limit (at once by ``Content-Length``, else while
  reading it) and any text a client can send that the service will not store or tokenize: C0
  control characters other than tab, newline and carriage return, DEL and the C1 controls, lone
  UTF-16 surrogates (JSON's ``"\\ud800"``) and Unicode non-characters, in the path, the query
  string, and every string (and key) of a JSON body, at any depth. The answer is a 400 naming the
  field and the code point, never the text itself.
* :class:`AccessLog` is the outermost layer: it writes one line per request with the route's
  *template* (``/users/{user_id}/profile``), never a user id, a query string or a key, and turns
  any exception the app lets escape into a 500 envelope that names only the exception's type, so no
  traceback quoting a user's data reaches a log.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Awaitable, Callable, Iterator
from urllib.parse import unquote

log = logging.getLogger("lamp.serving.app.access")

_ERROR_TYPES = {401: "authentication_error", 403: "permission_error"}


class ApiError(Exception):
    """An error answer: status, message, and the request field it is about (the app turns it into
    :func:`error_body`)."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """The error envelope of every route (OpenAI's, so one client handles them all)."""
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


async def send_json(send: Any, status: int, obj: Any) -> None:
    body = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- text a client may send

def _refused_class() -> str:
    ranges = ["\x00-\x08", "\x0b\x0c", "\x0e-\x1f", "\x7f-\x9f", "\ud800-\udfff", "\ufdd0-\ufdef"]
    ranges += [chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17)]
    return "[" + "".join(ranges) + "]"


_REFUSED = re.compile(_refused_class())
#: What :func:`refused_character` refuses, in words (for the docs and the error message).
REFUSED_TEXT = ("control characters other than tab, newline and carriage return, lone surrogates and "
                "Unicode non-characters")


def refused_character(text: str) -> tuple[int, int] | None:
    """``(position, code point)`` of the first character the service refuses in ``text``; None: none."""
    found = _REFUSED.search(text)
    return None if found is None else (found.start(), ord(found.group()))


def strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value (keys included), with its path (``profile[0].meta.notes[2]``)."""
    stack = [(value, where)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                stack.append((item, path))
                stack.append((key, f"{path} (a key)"))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))


def first_refused(value: Any, where: str = "") -> str | None:
    """The error message for the first refused character anywhere in a JSON value; None: all fine."""
    for path, text in strings(value, where):
        bad = refused_character(text)
        if bad is not None:
            # the path may hold the bad character itself (a key): show it escaped
            shown = (path or "body").encode("ascii", "backslashreplace").decode("ascii")
            return (f"{shown} holds U+{bad[1]:04X} at position {bad[0]}; the service refuses "
                    f"{REFUSED_TEXT}")
    return None


class RequestGuard:
    """ASGI middleware: the body limit and the text check (see the module docstring)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = unquote(scope.get("query_string", b"").decode("latin-1"), errors="surrogateescape")
        problem = first_refused({"path": scope["path"], "query string": query})
        if problem is not None:
            await send_json(send, 400, error_body(400, problem))
            return
        too_big = f"request body over {self.limit} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await send_json(send, 413, error_body(413, too_big))
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body, whole = await read_body(receive, self.limit)
        if not whole:
            await send_json(send, 413, error_body(413, too_big))
            return
        try:
            parsed = json.loads(body) if body else None
        except RecursionError:
            await send_json(send, 400, error_body(400, "the JSON body nests too deep"))
            return
        except ValueError:               # not JSON (or not UTF-8): the app answers 422 with the details
            parsed = None
        problem = first_refused(parsed)
        if problem is not None:
            await send_json(send, 400, error_body(400, problem))
            return
        await self.app(scope, replay(body, receive), send)


async def read_body(receive: Any, limit: int) -> tuple[bytes, bool]:
    """The whole request body, and False (with nothing kept) once it passes ``limit`` bytes."""
    chunks, seen = [], 0
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            break
        chunk = msg.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            return b"", False
        chunks.append(chunk)
        if not msg.get("more_body"):
            break
    return b"".join(chunks), True


def replay(body: bytes, upstream: Any) -> Callable[[], Awaitable[dict]]:
    """The body already read, then the client's own messages (a disconnect, when it comes)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return await upstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


# --------------------------------------------------------------------------- the access log

_USER_SEGMENT = re.compile(r"^/users/[^/]*")


def route_template(path: str) -> str:
    """The path with the user id taken out: what the access log may show."""
    return _USER_SEGMENT.sub("/users/{user_id}", path)


class AccessLog:
    """ASGI middleware, outermost: a log line per request without personal data or secrets, and a
    500 envelope (exception type only) for anything the app lets escape."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.monotonic(), [0]

        async def watched_send(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:  # noqa: BLE001 - answered and logged without its message (it may quote data)
            log.error("%s %s: unhandled %s", scope.get("method"), route_template(scope["path"]), type(exc).__name__)
            if status[0] == 0:
                status[0] = 500
                await send_json(send, 500, error_body(500, f"internal error ({type(exc).__name__})"))
        log.info("%s %s %d %.1fms", scope.get("method"), route_template(scope["path"]), status[0],
                 1000 * (time.monotonic() - start))
