"""The ordinary parts of the shop: the home page, signing in (form and API token). All safe:
they give a scanner nothing, and the functional test suite needs them to reach the rest."""

from __future__ import annotations

import base64
import json
import time

from aiohttp import web

from lunge.demo.auth import jwt_secret, jwt_sign, new_session, sign_in
from lunge.demo.pages import escape, json_response, message, page
from lunge.demo.state import demo

# The preferences cookie a new session starts with: base64 of {"lang": "en"}, unpadded (a padded
# value would need quoting in a cookie).
DEFAULT_PREFS = base64.b64encode(json.dumps({"lang": "en"}).encode()).decode("ascii").rstrip("=")
# Alphabetically after "session": a client that sorts its cookies sends the session in the middle.
THEME_COOKIE = ("theme", "light")

_LINKS = (
    ("/products?id=1&view=full", "A product"), ("/search?q=widget&page=1", "Search"),
    ("/greet?name=visitor&lang=en", "Greeting"), ("/comments", "Comments"),
    ("/download?file=report.txt&disposition=inline", "Quarterly report"), ("/docs/readme.txt/raw", "Read me"),
    ("/users/2/profile", "Bob's profile"), ("/go?next=/home&src=nav", "Back home"),
)


async def home(request: web.Request) -> web.StreamResponse:
    """``GET /`` and ``GET /home``: links, and the sign-in form."""
    links = "\n".join(f"<li><a href=\"{escape(href)}\">{escape(label)}</a></li>" for href, label in _LINKS)
    form = ("<form action=\"/login\" method=\"post\"><input name=\"username\" placeholder=\"username\">"
            "<input type=\"password\" name=\"password\"><button>Sign in</button></form>")
    return page("Welcome", f"<ul class=\"links\">\n{links}\n</ul>\n<h2>Sign in</h2>\n{form}")


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /login`` (form ``username``, ``password``): a session cookie, then ``/account``."""
    form = await request.post()
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return message("Sign in", "Pass a username and a password.", 400)
    db = demo(request).db
    user = await sign_in(request, username, password)
    if user is None:
        return message("Sign in", "Wrong username or password.", 401)
    response = web.Response(status=303, text="See /account.", headers={"Location": "/account"})
    response.set_cookie("session", await new_session(db, user[0]), path="/", httponly=True, samesite="Lax")
    response.set_cookie("prefs", DEFAULT_PREFS, path="/", samesite="Lax")
    response.set_cookie(*THEME_COOKIE, path="/", samesite="Lax")
    return response


async def token(request: web.Request) -> web.StreamResponse:
    """``POST /api/token`` (JSON ``{"username", "password"}``): an HS256 bearer token for ``/api/me``."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(username, str) or not isinstance(password, str):
        return json_response({"error": "username and password (strings) are required"}, 400)
    db = demo(request).db
    user = await sign_in(request, username, password)
    if user is None:
        return json_response({"error": "wrong username or password"}, 401)
    claims = {"sub": user[1], "iat": int(time.time())}
    return json_response({"token": jwt_sign(claims, await jwt_secret(db)), "token_type": "Bearer"})


def routes() -> list[web.RouteDef]:
    """The ordinary pages."""
    return [
        web.get("/", home),
        web.get("/home", home),
        web.post("/login", login),
        web.post("/api/token", token),
    ]
