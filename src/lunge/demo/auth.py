"""Logging in: password checks, session tokens, and HS256 JSON Web Tokens (standard library only).

:func:`jwt_claims_unverified` is the deliberate mistake the vulnerable ``/api/me`` makes: it reads
the claims without checking the signature. :func:`jwt_verify` is what the safe twin does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from aiohttp import web

from lunge.demo.db import DB_ERRORS, Database, password_hash
from lunge.demo.state import demo

JWT_HEADER = {"alg": "HS256", "typ": "JWT"}


async def check_password(db: Database, username: str, password: str) -> tuple[int, str] | None:
    """``(user id, username)`` when the credentials are right (parametrised query), else None."""
    try:
        rows = await db.fetch("SELECT id, username, salt, password_hash FROM users WHERE username = ?", (username,))
    except DB_ERRORS:  # text SQLite cannot bind (NUL, lone surrogates) names nobody
        return None
    if not rows:
        return None
    user_id, name, salt, expected = rows[0]
    if not hmac.compare_digest(password_hash(password, salt), expected):
        return None
    return int(user_id), str(name)


FAILURES_ALLOWED = 5  # failed sign-ins per client address and username ...
FAILURE_WINDOW = 60.0  # ... within this many seconds; more are answered 429


def _too_many_failures(request: web.Request, username: str) -> bool:
    """Whether this client already failed to sign in as ``username`` too often lately."""
    now = time.monotonic()
    key = (request.remote or "", username)
    recent = [t for t in demo(request).failed_sign_ins.get(key, ()) if now - t < FAILURE_WINDOW]
    demo(request).failed_sign_ins[key] = recent
    return len(recent) >= FAILURES_ALLOWED


def _note_failure(request: web.Request, username: str) -> None:
    demo(request).failed_sign_ins.setdefault((request.remote or "", username), []).append(time.monotonic())


def _throttled() -> web.HTTPTooManyRequests:
    return web.HTTPTooManyRequests(text="Too many failed sign-ins; try again in a minute.",
                                   headers={"Retry-After": str(int(FAILURE_WINDOW))})


async def sign_in(request: web.Request, username: str, password: str) -> tuple[int, str] | None:
    """:func:`check_password` behind the shop's limit on failed sign-ins (the brute-force check's
    safe side): past five failures a minute for one client address and username, a wrong password
    is answered 429 with ``Retry-After`` (raised). The right password still signs in, so the
    functional suite and a scanner's own sign-ins (sessions renewed mid-run) are never locked out.
    A throttle that still lets the right password in only slows an attacker who honours the 429:
    the vault twin locks the account instead (:class:`Lockout`)."""
    user = await check_password(demo(request).db, username, password)
    if user is not None:
        return user
    if _too_many_failures(request, username):
        raise _throttled()
    _note_failure(request, username)
    return None


async def sign_in_json(request: web.Request) -> tuple[int, str] | None:
    """:func:`sign_in` with the JSON body's ``{"username", "password"}``; None when the body is not
    that (not JSON, not an object, not two strings) or the password is wrong."""
    try:
        body = await request.json()
    except ValueError:
        return None
    username = body.get("username") if isinstance(body, dict) else None
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    return await sign_in(request, username, password)


LOCK_AFTER = 5  # consecutive failed sign-ins for one client address and username ...
LOCK_SECONDS = 5.0  # ... lock that username for that client this long: every attempt is a 429


class Lockout:
    """An account lockout (the vault twin's): after five failures in a row, every attempt (the
    right password included) is refused for a few seconds. Short, and per client and username, so
    the functional suite and a scanner's later requests are not locked out for the rest of a run."""

    def __init__(self, request: web.Request, username: str) -> None:
        self._table = demo(request).lockouts
        self._key = (request.remote or "", username)

    def check(self) -> None:
        """Raise the 429 while the lock lasts."""
        left = self._table.get(self._key, (0, 0.0))[1] - time.monotonic()
        if left > 0:
            raise web.HTTPTooManyRequests(text="This account is locked after too many failed sign-ins; try again "
                                               "in a few seconds.", headers={"Retry-After": str(int(left) + 1)})

    def failed(self) -> None:
        failures = self._table.get(self._key, (0, 0.0))[0] + 1
        locked = failures >= LOCK_AFTER
        self._table[self._key] = (0, time.monotonic() + LOCK_SECONDS) if locked else (failures, 0.0)

    def succeeded(self) -> None:
        self._table.pop(self._key, None)


async def new_session(db: Database, user_id: int) -> str:
    """A new session token for ``user_id``; sessions last as long as the application runs."""
    token = secrets.token_hex(16)
    await db.execute("INSERT INTO sessions (token, user_id) VALUES (?, ?)", (token, user_id))
    return token


async def jwt_secret(db: Database) -> bytes:
    """The signing key, created with the database (so it survives a restart on the same file)."""
    rows = await db.fetch("SELECT value FROM settings WHERE key = 'jwt_secret'")
    return bytes.fromhex(rows[0][0])


def b64url(data: bytes) -> str:
    """Unpadded base64url.

    >>> b64url(b'{"a":1}')
    'eyJhIjoxfQ'
    """
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``; ValueError when it is not base64url."""
    if not text or any(ch not in _B64URL for ch in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def jwt_sign(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token carrying ``claims``.

    >>> token = jwt_sign({"sub": "alice"}, b"k")
    >>> jwt_verify(token, b"k")
    {'sub': 'alice'}
    >>> jwt_verify(token, b"other") is None
    True
    """
    head = b64url(json.dumps(JWT_HEADER, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{body}.{_signature(f'{head}.{body}', secret)}"


def _signature(signing_input: str, secret: bytes) -> str:
    return b64url(hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def jwt_verify(token: str, secret: bytes) -> dict[str, Any] | None:
    """The claims of ``token`` if it is exactly the HS256 token we signed, else None."""
    parts = token.split(".")
    if len(parts) != 3 or _json_object(parts[0]) != JWT_HEADER:
        return None
    try:
        expected = _signature(f"{parts[0]}.{parts[1]}", secret)
    except UnicodeEncodeError:
        return None
    if not hmac.compare_digest(expected.encode(), parts[2].encode("utf-8", "replace")):
        return None
    return _json_object(parts[1])


def jwt_claims_unverified(token: str) -> dict[str, Any] | None:
    """The claims of ``token`` **without checking its signature** (the vulnerable way)."""
    parts = token.split(".")
    return _json_object(parts[1]) if len(parts) == 3 else None


def _json_object(part: str) -> dict[str, Any] | None:
    try:
        value = json.loads(b64url_decode(part))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header.

    >>> bearer("Bearer abc"), bearer("Basic abc"), bearer(None)
    ('abc', None, None)
    """
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
