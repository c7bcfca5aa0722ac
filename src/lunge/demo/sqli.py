"""SQL injection, one endpoint per point family, each with a safe twin.

Every feature is one handler built twice: around a lookup that pastes the value into SQL (the
vulnerable endpoint) and around one that validates it and passes it as a parameter (the twin under
``/safe``). Input reading and rendering are shared, so the pair differs in exactly one place.

| endpoint | value | how it shows |
| --- | --- | --- |
| ``GET /products?id=1`` | query, numeric | the SQLite error message (500) |
| ``POST /login-check`` | form field | "taken" / "available" only (boolean-blind) |
| ``POST /api/orders/search`` | JSON field | a constant answer: only time tells (``sleep()``) |
| ``GET /account`` | ``session`` cookie | the SQLite error message (500) |
| ``GET /api/tenant`` | ``X-Tenant`` header | found / 404 only (boolean-blind) |
| ``GET /users/<id>/profile`` | path segment, numeric | the SQLite error message, inline (200) |
| ``GET /preferences`` | ``lang`` in base64-JSON ``prefs`` cookie | supported / not (boolean-blind) |
| ``GET /api/me`` | ``sub`` claim of the bearer JWT | the SQLite error message in JSON (500) |
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from lunge.demo.auth import bearer, jwt_claims_unverified, jwt_secret, jwt_verify
from lunge.demo.db import DB_ERRORS, Database, Row
from lunge.demo.pages import (
    choice,
    cookies,
    db_error_page,
    describe_error,
    escape,
    json_response,
    message,
    page,
)
from lunge.demo.state import Handler, demo

logger = logging.getLogger(__name__)

Lookup = Callable[[Database, str], Awaitable[list[Row]]]
TokenReader = Callable[[web.Request, str], Awaitable[str | None]]

_ID = re.compile(r"[0-9]{1,9}")
VIEWS = ("full", "compact")
DEFAULT_LANG = "en"


class Rejected(Exception):
    """A safe lookup refusing a value: the handler answers as for "not found"."""


def _id(raw: str) -> int:
    if not _ID.fullmatch(raw):
        raise Rejected
    return int(raw)


# ---------------------------------------------------------------------- products: query, error-based
async def _product_unsafe(db: Database, raw: str) -> list[Row]:
    return await db.fetch(f"SELECT id, name, price, description FROM products WHERE id = {raw}")


async def _product_safe(db: Database, raw: str) -> list[Row]:
    return await db.fetch("SELECT id, name, price, description FROM products WHERE id = ?", (_id(raw),))


def products(lookup: Lookup) -> Handler:
    """``GET /products?id=<n>&view=full|compact``: one product."""

    async def handler(request: web.Request) -> web.StreamResponse:
        view = choice(request, "view", VIEWS)
        raw = request.query.get("id", "")
        if view is None or not raw:
            return message("Product", "Pass a product id and a known view.", 400)
        try:
            rows = await lookup(demo(request).db, raw)
        except Rejected:
            return message("Product", "Invalid product id.", 400)
        except DB_ERRORS as exc:
            return db_error_page(exc, "loading the product")
        if not rows:
            return message("Product", "No such product.", 404)
        _, name, price, description = rows[0]
        details = f"<p class=\"description\">{escape(description)}</p>" if view == "full" else ""
        return page(str(name), f"<p class=\"price\">{_money(price)}</p>{details}")

    return handler


def _money(price: object) -> str:
    # A UNION payload may put any value in the price column: render it, never crash on it.
    return f"${price:.2f}" if isinstance(price, int | float) else escape(price)


# ---------------------------------------------------------------------- login-check: form, boolean-blind
async def _user_unsafe(db: Database, username: str) -> list[Row]:
    return await db.fetch(f"SELECT id FROM users WHERE username = '{username}'")


async def _user_safe(db: Database, username: str) -> list[Row]:
    return await db.fetch("SELECT id FROM users WHERE username = ?", (username,))


def login_check(lookup: Lookup) -> Handler:
    """``POST /login-check`` (form ``username``): is the username taken? Errors are hidden."""

    async def handler(request: web.Request) -> web.StreamResponse:
        username = (await request.post()).get("username")
        if not isinstance(username, str) or not username:
            return message("Username check", "Pass a username.", 400)
        try:
            taken = bool(await lookup(demo(request).db, username))
        except DB_ERRORS:
            taken = False
        answer = "This username is taken." if taken else "This username is available."
        return page("Username check", f"<p class=\"result\">{answer}</p>")

    return handler


# ---------------------------------------------------------------------- orders: JSON, time-based
_ORDERS_OF = "SELECT count(*) FROM orders JOIN customers ON customers.id = orders.customer_id WHERE customers.name = "


async def _orders_unsafe(db: Database, name: str) -> list[Row]:
    return await db.fetch(f"{_ORDERS_OF}'{name}'")


async def _orders_safe(db: Database, name: str) -> list[Row]:
    return await db.fetch(f"{_ORDERS_OF}?", (name,))


def order_search(lookup: Lookup) -> Handler:
    """``POST /api/orders/search`` (JSON ``{"customer": {"name": ...}}``): queues an e-mail of the
    customer's orders. The answer never depends on the name or on errors."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = _customer_name(await _json_body(request))
        if name is None:
            return json_response({"error": "customer.name (a string) is required"}, 400)
        try:
            rows = await lookup(demo(request).db, name)
            logger.debug("order search matched %s orders", rows[0][0] if rows else 0)
        except DB_ERRORS as exc:
            logger.debug("order search failed: %s", exc)
        return json_response({"status": "accepted", "message": "The matching orders will be e-mailed."}, 202)

    return handler


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:  # not JSON, or not UTF-8
        return None


def _customer_name(body: Any) -> str | None:
    customer = body.get("customer") if isinstance(body, dict) else None
    name = customer.get("name") if isinstance(customer, dict) else None
    return name if isinstance(name, str) and name else None


# ---------------------------------------------------------------------- account: cookie, error-based
_ACCOUNT_OF = ("SELECT users.username, users.display_name, users.email FROM sessions "
               "JOIN users ON users.id = sessions.user_id WHERE sessions.token = ")


async def _account_unsafe(db: Database, token: str) -> list[Row]:
    return await db.fetch(f"{_ACCOUNT_OF}'{token}'")


async def _account_safe(db: Database, token: str) -> list[Row]:
    return await db.fetch(f"{_ACCOUNT_OF}?", (token,))


def account(lookup: Lookup) -> Handler:
    """``GET /account``: the account of the ``session`` cookie."""

    async def handler(request: web.Request) -> web.StreamResponse:
        token = cookies(request).get("session")
        if not token:
            return login_required()
        try:
            rows = await lookup(demo(request).db, token)
        except DB_ERRORS as exc:
            return db_error_page(exc, "loading your account")
        if not rows:
            return login_required()
        username, display, email = rows[0]
        body = (f"<p>Signed in as <strong>{escape(username)}</strong> ({escape(display)}).</p>\n"
                f"<p>E-mail: {escape(email)}</p>")
        return page("Your account", body)

    return handler


def login_required() -> web.Response:
    """401 with a link to the sign-in form."""
    return page("Please sign in", "<p>Your session has expired. <a href=\"/\">Sign in</a> again.</p>", 401)


# ---------------------------------------------------------------------- tenant: header, boolean-blind
async def _tenant_unsafe(db: Database, slug: str) -> list[Row]:
    return await db.fetch(f"SELECT slug, name, plan FROM tenants WHERE slug = '{slug}'")


async def _tenant_safe(db: Database, slug: str) -> list[Row]:
    return await db.fetch("SELECT slug, name, plan FROM tenants WHERE slug = ?", (slug,))


def tenant(lookup: Lookup) -> Handler:
    """``GET /api/tenant`` with ``X-Tenant: <slug>``: the tenant's plan. Errors look like "unknown"."""

    async def handler(request: web.Request) -> web.StreamResponse:
        slug = request.headers.get("X-Tenant")
        if not slug:
            return json_response({"error": "the X-Tenant header is required"}, 400)
        try:
            rows = await lookup(demo(request).db, slug)
        except DB_ERRORS:
            rows = []
        if not rows:
            return json_response({"error": "unknown tenant"}, 404)
        slug, name, plan = rows[0]
        return json_response({"tenant": slug, "name": name, "plan": plan})

    return handler


# ---------------------------------------------------------------------- profile: path segment, error-based
async def _profile_unsafe(db: Database, raw: str) -> list[Row]:
    return await db.fetch(f"SELECT username, display_name, bio FROM users WHERE id = {raw}")


async def _profile_safe(db: Database, raw: str) -> list[Row]:
    return await db.fetch("SELECT username, display_name, bio FROM users WHERE id = ?", (_id(raw),))


def profile(lookup: Lookup) -> Handler:
    """``GET /users/<id>/profile``: a public profile. The error is shown inline, status 200."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            rows = await lookup(demo(request).db, request.match_info["user_id"])
        except Rejected:
            rows = []
        except DB_ERRORS as exc:
            detail = escape(describe_error(exc))
            return page("Profile", f"<p>Could not load this profile.</p>\n<pre class=\"error\">{detail}</pre>")
        if not rows:
            return message("Profile", "No such user.", 404)
        username, display, bio = rows[0]
        return page(f"{display} (@{username})", f"<p class=\"bio\">{escape(bio)}</p>")

    return handler


# ---------------------------------------------------------------------- preferences: base64-JSON cookie, boolean
async def _language_unsafe(db: Database, code: str) -> list[Row]:
    return await db.fetch(f"SELECT label FROM languages WHERE code = '{code}'")


async def _language_safe(db: Database, code: str) -> list[Row]:
    return await db.fetch("SELECT label FROM languages WHERE code = ?", (code,))


def preferences(lookup: Lookup) -> Handler:
    """``GET /preferences``: the interface language from the ``prefs`` cookie (base64 of
    ``{"lang": "en"}``). A cookie that does not decode means the default language."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            rows = await lookup(demo(request).db, prefs_language(cookies(request).get("prefs", "")))
        except DB_ERRORS:
            rows = []
        if rows:
            body = f"<p class=\"language\">Interface language: {escape(rows[0][0])}</p>"
        else:
            body = "<p class=\"language\">Your preferred language is not supported; pages are shown in English.</p>"
        return page("Preferences", body)

    return handler


def prefs_language(cookie: str) -> str:
    """``lang`` of a ``prefs`` cookie (padded or unpadded base64 of a JSON object).

    >>> prefs_language("eyJsYW5nIjogImZyIn0"), prefs_language("garbage!")
    ('fr', 'en')
    """
    try:
        data = json.loads(base64.b64decode(cookie + "=" * (-len(cookie) % 4), validate=True))
    except ValueError:  # not base64 (binascii.Error), not UTF-8, not JSON
        return DEFAULT_LANG
    lang = data.get("lang") if isinstance(data, dict) else None
    return lang if isinstance(lang, str) else DEFAULT_LANG


# ---------------------------------------------------------------------- me: JWT claim, error-based
async def _sub_unverified(request: web.Request, token: str) -> str | None:
    claims = jwt_claims_unverified(token)  # the mistake: the signature is never checked
    sub = claims.get("sub") if claims else None
    return sub if isinstance(sub, str) else None


async def _sub_verified(request: web.Request, token: str) -> str | None:
    claims = jwt_verify(token, await jwt_secret(demo(request).db))
    sub = claims.get("sub") if claims else None
    return sub if isinstance(sub, str) else None


async def _me_unsafe(db: Database, username: str) -> list[Row]:
    return await db.fetch(f"SELECT username, display_name, email FROM users WHERE username = '{username}'")


async def _me_safe(db: Database, username: str) -> list[Row]:
    return await db.fetch("SELECT username, display_name, email FROM users WHERE username = ?", (username,))


def me(read_sub: TokenReader, lookup: Lookup) -> Handler:
    """``GET /api/me`` with ``Authorization: Bearer <JWT>``: the user named by the ``sub`` claim."""

    async def handler(request: web.Request) -> web.StreamResponse:
        token = bearer(request.headers.get("Authorization"))
        sub = await read_sub(request, token) if token else None
        if sub is None:
            return json_response({"error": "invalid token"}, 401)
        try:
            rows = await lookup(demo(request).db, sub)
        except DB_ERRORS as exc:
            return json_response({"error": "database error", "detail": describe_error(exc)}, 500)
        if not rows:
            return json_response({"error": "no such user"}, 404)
        username, display, email = rows[0]
        return json_response({"username": username, "name": display, "email": email})

    return handler


def routes() -> list[web.RouteDef]:
    """The SQL injection endpoints and their twins."""
    return [
        web.get("/products", products(_product_unsafe)),
        web.get("/safe/products", products(_product_safe)),
        web.post("/login-check", login_check(_user_unsafe)),
        web.post("/safe/login-check", login_check(_user_safe)),
        web.post("/api/orders/search", order_search(_orders_unsafe)),
        web.post("/safe/api/orders/search", order_search(_orders_safe)),
        web.get("/account", account(_account_unsafe)),
        web.get("/safe/account", account(_account_safe)),
        web.get("/api/tenant", tenant(_tenant_unsafe)),
        web.get("/safe/api/tenant", tenant(_tenant_safe)),
        web.get("/users/{user_id}/profile", profile(_profile_unsafe)),
        web.get("/safe/users/{user_id}/profile", profile(_profile_safe)),
        web.get("/preferences", preferences(_language_unsafe)),
        web.get("/safe/preferences", preferences(_language_safe)),
        web.get("/api/me", me(_sub_unverified, _me_unsafe)),
        web.get("/safe/api/me", me(_sub_verified, _me_safe)),
    ]
