"""Who may do what in ``lamp serve``: an admin credential, and one credential per user.

A user's credential reaches only that user's data: ``/users/{their id}/...`` (profile, items,
export, delete), ``/personalize`` with ``"user_id": their id``, and the OpenAI endpoints with no
``user`` or ``"user": their id``. The admin credential reaches everything. ``/health`` is open.
User ids are restricted to a safe alphabet (:data:`USER_ID_RULE`): no percent sign, slash or
non-ASCII letter, so no encoding of one id can read as another.

Secrets never come from the command line (the process list shows it to every local user):

* ``LAMP_SERVE_ADMIN_KEY`` (or the older ``LAMP_SERVE_API_KEY``), or ``--admin_key_file FILE``;
* ``--credentials_file FILE`` (or ``LAMP_SERVE_CREDENTIALS_FILE``): JSON
  ``{"admin": KEY?, "users": {"user id": KEY, ...}}``, where each KEY is the secret itself or
  ``"sha256:<hex>"`` of it (so the file need not hold secrets in clear).

Keys are held as SHA-256 digests and compared in constant time, and come only from the
``Authorization`` header: a key in the query string is refused (logs and proxies keep URLs).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lamp.core.errors import LampError
from lamp.serving.guards import error_body, send_json

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
            if not isinstance(user_id, str) or not valid_user_id(user_id):
                raise LampError(f"{credentials_file}: user id {user_id!r} is not allowed; user ids are "
                                f"{USER_ID_RULE}")
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


#: The characters a user id may hold (checked where a profile is created and in credentials files).
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,255}")
USER_ID_RULE = ("1 to 256 characters from A-Z, a-z, 0-9 and . _ @ : -, starting with a letter or digit")
#: Query-string parameters that look like a credential: refused, so no key is ever sent where logs keep it.
QUERY_KEY_NAMES = ("api_key", "api-key", "apikey", "key", "access_token", "token", "authorization")


def valid_user_id(user_id: str) -> bool:
    """True when ``user_id`` is in the safe alphabet (:data:`USER_ID_RULE`)."""
    return USER_ID_PATTERN.fullmatch(user_id) is not None


class AuthLayer:
    """ASGI middleware: ``Authorization: Bearer KEY`` everywhere but ``/health``.

    It decides *who* asks (the principal) and refuses a user key on the admin-only endpoints; which
    user's data a request may reach is decided by the route, on the very id the route uses
    (:func:`may_access`), so the check and the handler can never read the id differently.
    Runs before anything reads the body, so an unauthenticated client costs no parsing.
    """

    def __init__(self, app: Any, credentials: Credentials) -> None:
        self.app, self.creds = app, credentials

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        names = {unquote(pair.split("=", 1)[0]).lower()
                 for pair in scope.get("query_string", b"").decode("latin-1").split("&") if pair}
        if names & set(QUERY_KEY_NAMES):
            await self._deny(send, 401, "keys are accepted only in the Authorization header (Bearer KEY), "
                                        "never in the query string; this request was not served")
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        who = self.creds.who(header[7:]) if header.startswith("Bearer ") else None
        if who is None:
            await self._deny(send, 401, "missing or wrong key (Authorization: Bearer KEY)")
            return
        scope.setdefault("state", {})["lamp_principal"] = who
        path = scope["path"]
        user_scoped = path.startswith(("/users/", "/v1/")) or path in ("/personalize", "/tokenize")
        if who != ADMIN and not user_scoped:
            await self._deny(send, 403, "this endpoint needs the admin key")
            return
        await self.app(scope, receive, send)

    async def _deny(self, send: Any, status: int, message: str) -> None:
        await send_json(send, status, error_body(status, message))
