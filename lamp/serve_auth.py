"""Who may do what in ``lamp serve``: an admin credential, and one credential per user.

A user's credential reaches only that user's data: ``/users/{their id}/...`` (profile, items,
export, delete), ``/personalize`` with ``"user_id": their id``, and the OpenAI endpoints with no
``user`` or ``"user": their id``. The admin credential reaches everything. ``/health`` is open.

Secrets never come from the command line (the process list shows it to every local user):

* ``LAMP_SERVE_ADMIN_KEY`` (or the older ``LAMP_SERVE_API_KEY``), or ``--admin-key-file FILE``;
* ``--credentials-file FILE`` (or ``LAMP_SERVE_CREDENTIALS_FILE``): JSON
  ``{"admin": KEY?, "users": {"user id": KEY, ...}}``, where each KEY is the secret itself or
  ``"sha256:<hex>"`` of it (so the file need not hold secrets in clear).

Keys are held as SHA-256 digests and compared in constant time. A user-scoped request whose body
names a user is checked here, before the app sees it: the body is read (within the body limit),
checked, and handed on unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

from lamp.errors import LampError

ADMIN = "admin"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _parse_key(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise LampError(f"{where}: expected a non-empty key string")
    if value.startswith("sha256:"):
        try:
            raw = bytes.fromhex(value[len("sha256:"):])
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise LampError(f"{where}: 'sha256:' must be followed by 64 hex digits")
        return raw
    if len(value) < 16:
        raise LampError(f"{where}: a key must have at least 16 characters (got {len(value)})")
    return _digest(value)


@dataclass
class Credentials:
    """SHA-256 digests of the admin key and of each user's key."""

    admin: bytes | None = None
    users: dict[str, bytes] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.admin is None and not self.users

    def who(self, secret: str) -> str | None:
        """``ADMIN``, ``"user:<id>"``, or None for an unknown key (every digest is compared)."""
        given = _digest(secret)
        found = None
        if self.admin is not None and hmac.compare_digest(given, self.admin):
            found = ADMIN
        for user_id, digest in self.users.items():
            if hmac.compare_digest(given, digest) and found is None:
                found = f"user:{user_id}"
        return found


def _read_secret_file(path: str | os.PathLike, what: str) -> str:
    p = Path(path)
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LampError(f"{p}: cannot read the {what} ({exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: {p} ({what}) is readable by other users; chmod 600 it", file=sys.stderr)
    return text


def load_credentials(admin_key_file: str | None = None, credentials_file: str | None = None,
                     env: dict[str, str] | None = None) -> Credentials:
    """Credentials from the environment and files (see the module docstring)."""
    env = dict(os.environ if env is None else env)
    creds = Credentials()
    admin = env.get("LAMP_SERVE_ADMIN_KEY") or env.get("LAMP_SERVE_API_KEY")
    if admin:
        creds.admin = _parse_key(admin, "LAMP_SERVE_ADMIN_KEY")
    if admin_key_file:
        creds.admin = _parse_key(_read_secret_file(admin_key_file, "admin key").strip(), str(admin_key_file))
    credentials_file = credentials_file or env.get("LAMP_SERVE_CREDENTIALS_FILE")
    if credentials_file:
        text = _read_secret_file(credentials_file, "credentials file")
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise LampError(f"{credentials_file}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("users", {}), dict) or set(obj) - {"admin", "users"}:
            raise LampError(f"{credentials_file}: expected {{\"admin\": KEY, \"users\": {{user id: KEY}}}}")
        if obj.get("admin") is not None:
            creds.admin = _parse_key(obj["admin"], f"{credentials_file}: admin")
        for user_id, key in obj.get("users", {}).items():
            creds.users[user_id] = _parse_key(key, f"{credentials_file}: users.{user_id}")
        seen: dict[bytes, str] = {}
        for user_id, digest in creds.users.items():
            if digest in seen or digest == creds.admin:
                raise LampError(f"{credentials_file}: user {user_id!r} shares a key with "
                                f"{seen.get(digest, 'the admin')!r}; every key must be distinct")
            seen[digest] = user_id
    return creds


def principal_of(scope: dict) -> str | None:
    """The principal the auth layer set for this request (None when the app runs without auth)."""
    return (scope.get("state") or {}).get("lamp_principal")


def may_access(principal: str | None, user_id: str) -> bool:
    """True when ``principal`` may read/write ``user_id``'s data (no auth configured: True)."""
    return principal is None or principal == ADMIN or principal == f"user:{user_id}"


#: Endpoints whose JSON body names the user: path -> body field.
BODY_USER_FIELDS = {"/personalize": "user_id", "/v1/completions": "user", "/v1/chat/completions": "user"}


class AuthLayer:
    """ASGI middleware: ``Authorization: Bearer KEY`` everywhere but ``/health``, scoped per user.

    Runs before anything reads the body, so an unauthenticated client costs no parsing.
    """

    def __init__(self, app: Any, credentials: Credentials, body_limit: int,
                 send_json: Callable[[Any, int, Any], Awaitable[None]]) -> None:
        self.app, self.creds, self.body_limit, self.send_json = app, credentials, body_limit, send_json

    def _error(self, scope: dict, message: str, status: int = 401) -> Any:
        """The OpenAI error envelope under ``/v1/``, ``{"detail"}`` elsewhere (as the app answers)."""
        if scope["path"].startswith("/v1/"):
            kind = {401: "authentication_error", 403: "permission_error"}.get(status, "invalid_request_error")
            return {"error": {"message": message, "type": kind, "param": None, "code": status}}
        return {"detail": message, "param": None}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        who = self.creds.who(header[7:]) if header.startswith("Bearer ") else None
        if who is None:
            await self.send_json(send, 401, self._error(scope, "missing or wrong key (Authorization: Bearer KEY)"))
            return
        scope.setdefault("state", {})["lamp_principal"] = who
        if who != ADMIN:
            user = who[len("user:"):]
            path = scope["path"]
            parts = path.split("/")
            if len(parts) >= 3 and parts[1] == "users":
                if unquote(parts[2]) != user:
                    await self._forbid(scope, send, "this key may only reach its own user's data")
                    return
            elif path in BODY_USER_FIELDS and scope.get("method") == "POST":
                body, ok = await self._read_body(receive)
                if not ok:
                    await self.send_json(send, 413, self._error(scope, f"request body over {self.body_limit} bytes",
                                                                413))
                    return
                named = _named_user(body, BODY_USER_FIELDS[path])
                if named is not None and named != user:
                    await self._forbid(scope, send, f"this key may only use user {user!r}'s profile")
                    return
                receive = _replay(body, receive)
            elif not (path.startswith("/v1/") or path == "/personalize"):
                await self._forbid(scope, send, "this endpoint needs the admin key")
                return
        await self.app(scope, receive, send)

    async def _forbid(self, scope: dict, send: Any, message: str) -> None:
        await self.send_json(send, 403, self._error(scope, message, 403))

    async def _read_body(self, receive: Any) -> tuple[bytes, bool]:
        chunks, seen = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.body_limit:
                return b"", False
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        return b"".join(chunks), True


def _named_user(body: bytes, field_name: str) -> str | None:
    """The user a JSON body names; a body that is not a JSON object is left for the app to refuse."""
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = obj.get(field_name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else (None if value is None else repr(value))


def _replay(body: bytes, upstream: Any) -> Callable[[], Awaitable[dict]]:
    """The body already read, then the client's own messages (a disconnect, when it comes)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return await upstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive
