"""Who may do what: forged tokens, forged session data and cross-site requests.

- ``GET /api/notes``: an HS256 bearer JWT signed with ``secret`` (a wordlist key; alg none is
  refused). Twin ``GET /safe/api/notes``: tokens signed with the shop's random 256-bit key.
- ``GET /wallet``: the ``uid`` inside the base64-JSON ``wallet`` cookie, unsigned. Twin
  ``GET /safe/wallet``: the same cookie, verified against its HMAC in ``wallet_sig`` first.
- ``POST /wallet/transfer``: authenticated by the ``wallet_session`` cookie alone (no token, no
  SameSite, no Origin check). Twin ``POST /safe/wallet/transfer``: a foreign Origin/Referer is a 403.
- ``POST /api/vault/login`` (JSON ``{"username", "password"}``): the password compared loosely, as
  JavaScript's ``==`` or PHP's would (``true`` equals any password), an unknown username is a
  404 "no such user" where a wrong password is a 401, and failures are never limited. Twin
  ``POST /safe/api/vault/login``: a string, compared strictly; one answer for every failure; five
  failures in a row lock the username for that client for five seconds (every attempt a 429).
- ``PUT /api/profile`` (JSON ``{"theme"}``): every model field of the body is bound, ``role``
  included. Twin ``PUT /safe/api/profile``: only ``theme`` is bound. Neither stores anything (the
  update is applied to a copy and answered), so attacks never change what other requests see.
- ``GET /board``: the staff tools shown when the ``is_admin`` cookie (set to ``0`` by
  ``GET /board/enter``) says ``1``. Twin ``GET /safe/board``: the cookie is never read.

Signing in for the notes (``POST /api/notes/token``) and the wallet (``POST /wallet/login``) checks
the password strictly, with the shop's limit on failures (:func:`lunge.demo.auth.sign_in`); a
transfer is only validated and acknowledged, so no page shows its effect and replaying it is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from lunge.demo.auth import Lockout, bearer, jwt_secret, jwt_sign, jwt_verify, new_session, sign_in, sign_in_json
from lunge.demo.pages import cookies, escape, json_response, message, page
from lunge.demo.state import Handler, demo

WEAK_KEY = b"secret"  # the mistake: a key from every JWT secret wordlist
WALLET_KEY = b"demo wallet signing key, server side only"
NOTES = {"alice": ["Buy carrots", "Call the Hatter"], "bob": ["Fix the roof"]}
WALLETS = {1: ("alice", 120), 2: ("bob", 40)}
VAULT = {"alice": "wonderland", "bob": "builder"}  # the vault's own accounts (a separate service)
KeyOf = Callable[[web.Request], Awaitable[bytes]]


async def _weak(request: web.Request) -> bytes:
    return WEAK_KEY


async def _strong(request: web.Request) -> bytes:
    return await jwt_secret(demo(request).db)


async def notes_token(request: web.Request) -> web.StreamResponse:
    """``POST /api/notes/token`` (JSON ``{"username", "password"}``): a token signed with the weak key."""
    user = await sign_in_json(request)
    if user is None:
        return json_response({"error": "wrong username or password"}, 401)
    return json_response({"token": jwt_sign({"sub": user[1]}, WEAK_KEY), "token_type": "Bearer"})


def notes(key_of: KeyOf) -> Handler:
    """``GET /api/notes`` with a bearer JWT: the notes of its ``sub`` (signature verified, HS256 only)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        token = bearer(request.headers.get("Authorization"))
        claims = jwt_verify(token, await key_of(request)) if token else None
        sub = claims.get("sub") if claims else None
        if not isinstance(sub, str) or sub not in NOTES:
            return json_response({"error": "invalid token"}, 401)
        return json_response({"owner": sub, "notes": NOTES[sub]})

    return handler


# ---------------------------------------------------------------------- wallet
def _wallet_cookie(user_id: int) -> str:
    return base64.b64encode(json.dumps({"uid": user_id, "lang": "en"}).encode()).decode("ascii").rstrip("=")


def _sign(value: str) -> str:
    return hmac.new(WALLET_KEY, value.encode(), hashlib.sha256).hexdigest()


async def wallet_login(request: web.Request) -> web.StreamResponse:
    """``POST /wallet/login`` (form ``username``, ``password``): the wallet cookies, then ``/wallet``."""
    form = await request.post()
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return message("Wallet", "Pass a username and a password.", 400)
    db = demo(request).db
    user = await sign_in(request, username, password)
    if user is None:
        return message("Wallet", "Wrong username or password.", 401)
    value = _wallet_cookie(user[0])
    response = web.Response(status=303, text="See /wallet.", headers={"Location": "/wallet"})
    response.set_cookie("wallet", value, path="/", samesite="Lax")
    response.set_cookie("wallet_sig", _sign(value), path="/", samesite="Lax")
    # The CSRF mistake: the server-side session cookie carries no SameSite attribute.
    response.set_cookie("wallet_session", await new_session(db, user[0]), path="/", httponly=True)
    return response


def _uid(value: str) -> int | None:
    try:
        doc: Any = json.loads(base64.b64decode(value + "=" * (-len(value) % 4), validate=True))
    except ValueError:
        return None
    uid = doc.get("uid") if isinstance(doc, dict) else None
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def wallet(signed: bool) -> Handler:
    """``GET /wallet``: the balance of the cookie's ``uid`` (the twin checks the cookie's HMAC first)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        jar = cookies(request)
        value = jar.get("wallet", "")
        # Compared as bytes: a tampered cookie may hold any character (compare_digest refuses non-ASCII str).
        if signed and not hmac.compare_digest(_sign(value).encode(), jar.get("wallet_sig", "").encode()):
            return message("Wallet", "Your wallet session is not valid; sign in again.", 401)
        uid = _uid(value)
        if uid is None:
            return message("Wallet", "Sign in to see your wallet.", 401)
        if uid not in WALLETS:
            return message("Wallet", "No such wallet.", 404)
        name, balance = WALLETS[uid]
        return page("Wallet", f"<p>Wallet of <strong>{escape(name)}</strong></p><p>Balance: {balance} coins</p>")

    return handler


def _same_site(request: web.Request) -> bool:
    """No Origin/Referer (a non-browser client), or one naming this very host."""
    for header in ("Origin", "Referer"):
        value = request.headers.get(header)
        if value is not None and urlsplit(value).netloc != request.host:
            return False
    return True


def transfer(check_origin: bool) -> Handler:
    """``POST /wallet/transfer`` (form ``to``, ``amount``) for the ``wallet_session`` user."""

    async def handler(request: web.Request) -> web.StreamResponse:
        token = cookies(request).get("wallet_session", "")
        rows = await demo(request).db.fetch("SELECT user_id FROM sessions WHERE token = ?", (token,))
        if not rows:
            return message("Transfer", "Sign in first.", 401)
        if check_origin and not _same_site(request):
            return message("Transfer", "Cross-site requests are refused.", 403)
        form = await request.post()
        to, amount = form.get("to"), form.get("amount")
        if to not in {name for name, _ in WALLETS.values()} or not isinstance(amount, str) or not amount.isdigit():
            return message("Transfer", "Pass a known recipient and a whole amount.", 400)
        return web.Response(status=303, text="Transfer scheduled.", headers={"Location": "/wallet"})

    return handler


# ---------------------------------------------------------------------- vault sign-in
def _loose(expected: str, given: object) -> bool:
    """The mistake: ``expected == given`` with JavaScript's loose rules for what JSON carries: a
    boolean ``true`` equals any non-empty string."""
    return given is True or (isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode()))


def vault_login(loose: bool) -> Handler:
    """``POST /api/vault/login`` (JSON ``{"username", "password"}``): signed in or refused; ``loose``
    is the vulnerable flavour (loose comparison, unknown users told apart)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        username = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(username, str) or (not loose and not isinstance(password, str)):
            return json_response({"error": "username and password (strings) are required"}, 400)
        lockout = None if loose else Lockout(request, username)  # the first mistake's twin: no limit at all
        if lockout is not None:
            lockout.check()
        expected = VAULT.get(username)
        if expected is None and loose:  # the second mistake: telling which usernames exist
            return json_response({"error": "no such user"}, 404)
        if expected is None or not _loose(expected, password):
            if lockout is not None:
                lockout.failed()
            return json_response({"error": "wrong username or password"}, 401)
        if lockout is not None:
            lockout.succeeded()
        return json_response({"status": "signed in", "user": username})

    return handler


# ---------------------------------------------------------------------- profile update
PROFILE = {"username": "alice", "theme": "light", "role": "customer"}
THEMES = ("light", "dark")


def update_profile(bindable: frozenset[str]) -> Handler:
    """``PUT /api/profile`` (JSON ``{"theme": "light" | "dark"}``): the updated profile."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("theme") not in THEMES:
            return json_response({"error": "theme must be light or dark"}, 400)
        if not all(isinstance(v, str) and v.isalnum() and len(v) <= 20 for v in body.values()):
            return json_response({"error": "fields are short words"}, 400)
        changes = {key: value for key, value in body.items() if key in bindable}
        return json_response({"profile": {**PROFILE, **changes}})

    return handler


# ---------------------------------------------------------------------- board
_BOARD = "<p>Open orders: 3</p><p>Messages: none</p>"
_STAFF = "<h2>Staff tools</h2><ul><li>Refund any order</li><li>Suspend an account</li><li>Export customers</li></ul>"


async def board_enter(request: web.Request) -> web.StreamResponse:
    """``GET /board/enter``: the board's cookie (``is_admin=0``), then ``/board``."""
    response = web.Response(status=303, text="See /board.", headers={"Location": "/board"})
    response.set_cookie("is_admin", "0", path="/", samesite="Lax")
    return response


def board(trust_cookie: bool) -> Handler:
    """``GET /board``: the board; staff tools when the ``is_admin`` cookie says so (the mistake)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        flag = cookies(request).get("is_admin", "0")
        if trust_cookie and flag not in ("0", "1"):
            return message("Board", "The board cookie is not valid.", 400)
        staff = trust_cookie and flag == "1"
        return page("Board", _BOARD + (_STAFF if staff else ""))

    return handler


def routes() -> list[web.RouteDef]:
    """The access-control endpoints and their twins."""
    return [
        web.post("/api/notes/token", notes_token),
        web.get("/api/notes", notes(_weak)),
        web.get("/safe/api/notes", notes(_strong)),
        web.post("/wallet/login", wallet_login),
        web.get("/wallet", wallet(signed=False)),
        web.get("/safe/wallet", wallet(signed=True)),
        web.post("/wallet/transfer", transfer(check_origin=False)),
        web.post("/safe/wallet/transfer", transfer(check_origin=True)),
        web.post("/api/vault/login", vault_login(loose=True)),
        web.post("/safe/api/vault/login", vault_login(loose=False)),
        web.put("/api/profile", update_profile(frozenset({"theme", "role"}))),  # the mistake: role is bound
        web.put("/safe/api/profile", update_profile(frozenset({"theme"}))),
        web.get("/board/enter", board_enter),
        web.get("/board", board(trust_cookie=True)),
        web.get("/safe/board", board(trust_cookie=False)),
    ]
