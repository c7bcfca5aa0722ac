"""Vulnerabilities reachable only when the replay keeps the application's state, each with a safe twin.

The functional suite leaves the shop in a state where replaying its requests as recorded fails: the
lab table it reset is dropped again at the end, the bearer tokens it got are revoked by its logout
(and expire in seconds anyway), its API key was rotated, its CSRF tokens were used up. A scanner that
replays the record blindly gets 500s, 401s and 403s there and never reaches the vulnerable code.

| endpoint | needs | how it shows |
| --- | --- | --- |
| ``GET /lab/notes?id=1`` after ``POST /lab/reset`` | the reset replayed first | SQLite error (500) |
| ``GET /api/v2/orders?status=open`` (JWT, 3 s) | a token from ``POST /api/v2/session`` | SQLite error |
| ``GET /api/v3/notes?tag=open`` (``X-APIKEY``) | the key ``POST /api/v3/keys`` hands out now | SQLite error (500) |
| ``POST /feedback`` (one-use ``csrf_token``) | a token fetched from ``GET /feedback`` | ``subject`` echoed unescaped |
| ``POST /account/password`` | the same value in ``password`` and ``password_again`` | SQLite error (500) |
"""

from __future__ import annotations

import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from lunge.demo.auth import bearer, jwt_secret, jwt_sign, jwt_verify, sign_in_json
from lunge.demo.db import DB_ERRORS, Database, Row
from lunge.demo.pages import db_error_page, describe_error, escape, json_response, message, page
from lunge.demo.state import Handler, demo

TOKEN_SECONDS = 3.0
Lookup = Callable[[Database, str], Awaitable[list[Row]]]
_DIGITS = frozenset("0123456789")


@dataclass(slots=True)
class Lab:
    """The in-memory state of these endpoints (one per running application)."""

    revoked_before: float = 0.0
    keys: dict[str, str] = field(default_factory=dict)  # username -> its current API key
    csrf: set[str] = field(default_factory=set)  # issued, not yet used


# Keyed by the application (not kept in it: its keys are fixed before it starts).
_LABS: weakref.WeakKeyDictionary[web.Application, Lab] = weakref.WeakKeyDictionary()


def lab(request: web.Request) -> Lab:
    found = _LABS.get(request.app)
    if found is None:
        found = _LABS[request.app] = Lab()
    return found


async def _unsafe(sql: str, db: Database, raw: str) -> list[Row]:
    return await db.fetch(sql.replace("?", f"'{raw}'", 1))


async def _safe(sql: str, db: Database, raw: str) -> list[Row]:
    return await db.fetch(sql, (raw,))


# ---------------------------------------------------------------------- 1. reset first (ordered replay)
_NOTE = "SELECT id, body FROM lab_notes WHERE id = ?"
_RESET = """BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS lab_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
DELETE FROM lab_notes;
INSERT INTO lab_notes (id, body) VALUES (1, 'Calibrate the widget press.');
COMMIT;"""


async def reset(request: web.Request) -> web.StreamResponse:
    """``POST /lab/reset``: (re)create the lab table with its seed rows."""
    try:  # one transaction: a reset racing another (or the clean-up) never leaves half a table
        await demo(request).db.call(lambda conn: conn.executescript(_RESET))
    except DB_ERRORS as exc:
        return json_response({"error": describe_error(exc)}, 500)
    return json_response({"reset": True})


async def teardown(request: web.Request) -> web.StreamResponse:
    """``DELETE /lab/notes``: drop the lab table (the suite's clean-up)."""
    await demo(request).db.execute("DROP TABLE IF EXISTS lab_notes")
    return json_response({"dropped": True})


def notes(safe: bool) -> Handler:
    """``GET /lab/notes?id=<n>``: one lab note (the vulnerable one pastes the id into SQL)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        raw = request.query.get("id", "")
        if not raw or (safe and not set(raw) <= _DIGITS):
            return message("Lab note", "Pass a numeric note id.", 400)
        try:
            rows = await demo(request).db.fetch(_NOTE, (int(raw),)) if safe else \
                await demo(request).db.fetch(_NOTE.replace("?", raw))
        except DB_ERRORS as exc:
            return db_error_page(exc, "loading the lab note")
        if not rows:
            return message("Lab note", "No such note.", 404)
        return page("Lab note", f"<p class=\"note\">{escape(rows[0][1])}</p>")

    return handler


# ---------------------------------------------------------------------- 2. an expiring, revocable bearer token
_ORDERS = "SELECT count(*) FROM orders WHERE ? IN ('open', 'closed')"


async def session(request: web.Request) -> web.StreamResponse:
    """``POST /api/v2/session`` (JSON credentials): a bearer JWT valid for :data:`TOKEN_SECONDS`."""
    user = await _credentials(request)
    if user is None:
        return json_response({"error": "bad credentials"}, 401)
    now = time.time()
    claims = {"sub": user, "iat": now, "exp": int(now + TOKEN_SECONDS) + 1, "jti": secrets.token_hex(4)}
    return json_response({"access_token": jwt_sign(claims, await jwt_secret(demo(request).db))})


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /api/v2/logout``: every token issued so far is revoked."""
    lab(request).revoked_before = time.time()
    return json_response({"logged_out": True})


def orders(lookup: Lookup) -> Handler:
    """``GET /api/v2/orders?status=open`` with a live bearer token: how many orders have that status."""

    async def handler(request: web.Request) -> web.StreamResponse:
        token = bearer(request.headers.get("Authorization"))
        claims = jwt_verify(token, await jwt_secret(demo(request).db)) if token else None
        if (claims is None or float(claims.get("exp", 0)) < time.time()
                or float(claims.get("iat", 0)) <= lab(request).revoked_before):
            return json_response({"error": "token expired or revoked"}, 401)
        try:
            rows = await lookup(demo(request).db, request.query.get("status", ""))
        except DB_ERRORS as exc:
            return json_response({"error": describe_error(exc)}, 500)
        return json_response({"orders": rows[0][0] if rows else 0})

    return handler


# ---------------------------------------------------------------------- 3. an API key from a login call
_BOARD = "SELECT count(*) FROM comments WHERE board = ?"


async def new_key(request: web.Request) -> web.StreamResponse:
    """``POST /api/v3/keys`` (JSON credentials): a new API key; the user's previous key stops working."""
    user = await _credentials(request)
    if user is None:
        return json_response({"error": "bad credentials"}, 401)
    key = lab(request).keys[user] = secrets.token_hex(12)
    return json_response({"key": key})


def board(lookup: Lookup) -> Handler:
    """``GET /api/v3/notes?tag=open`` with a current ``X-APIKEY``: how many comments carry the tag."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-APIKEY", "") not in lab(request).keys.values():
            return json_response({"error": "unknown API key"}, 401)
        try:
            rows = await lookup(demo(request).db, request.query.get("tag", ""))
        except DB_ERRORS as exc:
            return json_response({"error": describe_error(exc)}, 500)
        return json_response({"comments": rows[0][0] if rows else 0})

    return handler


# ---------------------------------------------------------------------- 4. a form with a one-use CSRF token
def feedback_form(prefix: str) -> Handler:
    """``GET /feedback``: the form, with a fresh one-use token."""

    async def handler(request: web.Request) -> web.StreamResponse:
        token = secrets.token_hex(16)
        lab(request).csrf.add(token)
        return page("Feedback", f'<form method="post" action="{prefix}/feedback">'
                                f'<input type="hidden" name="csrf_token" value="{token}">'
                                '<input name="subject"><button>Send</button></form>')

    return handler


def feedback(safe: bool) -> Handler:
    """``POST /feedback`` (form ``subject``, ``csrf_token``): thanks, quoting the subject."""

    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token, subject = form.get("csrf_token"), form.get("subject")
        if not isinstance(token, str) or token not in lab(request).csrf:
            return message("Feedback", "Invalid or used CSRF token.", 403)
        lab(request).csrf.discard(token)
        if not isinstance(subject, str) or not subject:
            return message("Feedback", "Pass a subject.", 400)
        shown = escape(subject) if safe else subject
        return page("Feedback", f"<p class=\"thanks\">Thanks for your feedback about {shown}.</p>")

    return handler


# ---------------------------------------------------------------------- 5. a confirmation field
_REUSED = "SELECT count(*) FROM users WHERE password_hash = ?"


def change_password(lookup: Lookup) -> Handler:
    """``POST /account/password`` (form ``password``, ``password_again``): refuses a reused password."""

    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        new, again = form.get("password"), form.get("password_again")
        if not isinstance(new, str) or not new or new != again:
            return message("Password", "The two passwords differ.", 400)
        try:
            rows = await lookup(demo(request).db, new)
        except DB_ERRORS as exc:
            return db_error_page(exc, "checking the password history")
        reused = bool(rows and rows[0][0])
        return message("Password", "That password was used before." if reused else "Password accepted.", 200)

    return handler


async def _credentials(request: web.Request) -> str | None:
    found = await sign_in_json(request)
    return found[1] if found else None


def _pair(sql: str) -> tuple[Lookup, Lookup]:
    async def unsafe(db: Database, raw: str) -> list[Row]:
        return await _unsafe(sql, db, raw)

    async def safe(db: Database, raw: str) -> list[Row]:
        return await _safe(sql, db, raw)

    return unsafe, safe


def routes() -> list[web.RouteDef]:
    orders_unsafe, orders_safe = _pair(_ORDERS)
    board_unsafe, board_safe = _pair(_BOARD)
    reused_unsafe, reused_safe = _pair(_REUSED)
    return [
        web.post("/lab/reset", reset), web.delete("/lab/notes", teardown),
        web.get("/lab/notes", notes(False)), web.get("/safe/lab/notes", notes(True)),
        web.post("/api/v2/session", session), web.post("/api/v2/logout", logout),
        web.get("/api/v2/orders", orders(orders_unsafe)), web.get("/safe/api/v2/orders", orders(orders_safe)),
        web.post("/api/v3/keys", new_key),
        web.get("/api/v3/notes", board(board_unsafe)), web.get("/safe/api/v3/notes", board(board_safe)),
        web.get("/feedback", feedback_form("")), web.get("/safe/feedback", feedback_form("/safe")),
        web.post("/feedback", feedback(False)), web.post("/safe/feedback", feedback(True)),
        web.post("/account/password", change_password(reused_unsafe)),
        web.post("/safe/account/password", change_password(reused_safe)),
    ]
