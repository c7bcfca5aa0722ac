"""Cross-site scripting: reflected in three contexts, and stored; each with a safe twin.

| endpoint | value | context |
| --- | --- | --- |
| ``GET /search?q=`` | query | HTML text |
| ``POST /newsletter`` | form ``email`` | a double-quoted attribute value |
| ``GET /greet?name=`` | query | a single-quoted JavaScript string inside ``<script>`` |
| ``POST /comments`` → ``GET /comments`` | form ``text`` | stored, shown as HTML text |

Each handler is built around an output function: :func:`raw` for the vulnerable endpoint, an
escaping one for the twin under ``/safe``. Nothing else differs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from aiohttp import web

from lunge.demo.db import DB_ERRORS
from lunge.demo.pages import choice, escape, message, page
from lunge.demo.state import Handler, demo

Render = Callable[[str], str]

GREETINGS = {"en": "Hello", "fr": "Bonjour", "de": "Hallo"}
MAX_COMMENT = 2000
SHOWN_COMMENTS = 200
_PAGE = re.compile(r"[1-9][0-9]?")


def raw(value: str) -> str:
    """The vulnerability: the value goes into the page as it came."""
    return value


def js_string(value: str) -> str:
    """A JavaScript string literal that cannot end the string or the ``<script>`` element.

    >>> js_string("a'</script>")
    '"a\\'\\\\u003c/script\\\\u003e"'
    """
    text = json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def single_quoted(value: str) -> str:
    """The vulnerable literal: the value between single quotes, unescaped."""
    return f"'{value}'"


# ---------------------------------------------------------------------- search: HTML text
def search(show: Render) -> Handler:
    """``GET /search?q=<text>&page=<n>``: products whose name contains the text."""

    async def handler(request: web.Request) -> web.StreamResponse:
        number = request.query.get("page", "1")
        if not _PAGE.fullmatch(number):
            return message("Search", "Invalid page number.", 400)
        query = request.query.get("q", "")
        try:
            rows = await demo(request).db.fetch(
                "SELECT name FROM products WHERE name LIKE ? ORDER BY id LIMIT 10 OFFSET ?",
                (f"%{query}%", (int(number) - 1) * 10),
            )
        except DB_ERRORS:  # text SQLite cannot bind (NUL, lone surrogates) matches nothing
            rows = []
        items = "".join(f"<li>{escape(name)}</li>" for (name,) in rows) or "<li>No products found.</li>"
        form = f"<form action=\"{escape(request.path)}\" method=\"get\"><input name=\"q\"><button>Go</button></form>"
        body = f"{form}\n<p>Results for <b>{show(query)}</b>:</p>\n<ul class=\"results\">{items}</ul>"
        return page("Search", body)

    return handler


# ---------------------------------------------------------------------- newsletter: attribute value
def newsletter(show: Render) -> Handler:
    """``POST /newsletter`` (form ``email``): asks to confirm the address in a pre-filled form."""

    async def handler(request: web.Request) -> web.StreamResponse:
        email = (await request.post()).get("email")
        if not isinstance(email, str) or not email:
            return message("Newsletter", "Pass an e-mail address.", 400)
        body = (f"<p>Please confirm your subscription.</p>\n<form action=\"{escape(request.path)}\" method=\"post\">"
                f"<input type=\"email\" name=\"email\" value=\"{show(email)}\"><button>Confirm</button></form>")
        return page("Newsletter", body)

    return handler


# ---------------------------------------------------------------------- greet: JavaScript string
def greet(literal: Render) -> Handler:
    """``GET /greet?name=<name>&lang=en|fr|de``: greets the visitor from a script."""

    async def handler(request: web.Request) -> web.StreamResponse:
        lang = choice(request, "lang", tuple(GREETINGS))
        name = request.query.get("name", "")
        if lang is None or not name:
            return message("Greeting", "Pass a name and a known language.", 400)
        script = (f"var name = {literal(name)};\n"
                  f"document.getElementById(\"greeting\").textContent = \"{GREETINGS[lang]}, \" + name + \"!\";")
        return page("Greeting", f"<p id=\"greeting\"></p>\n<script>\n{script}\n</script>")

    return handler


# ---------------------------------------------------------------------- comments: stored
def comments(board: str, show: Render) -> Handler:
    """``GET /comments``: the newest comments of one board."""

    async def handler(request: web.Request) -> web.StreamResponse:
        rows = await demo(request).db.fetch(
            "SELECT text FROM comments WHERE board = ? ORDER BY id DESC LIMIT ?", (board, SHOWN_COMMENTS)
        )
        items = "\n".join(f"<li class=\"comment\"><p>{show(text)}</p></li>" for (text,) in rows)
        form = (f"<form action=\"{escape(request.path)}\" method=\"post\"><textarea name=\"text\"></textarea>"
                "<button>Post</button></form>")
        return page("Comments", f"<ul class=\"comments\">\n{items}\n</ul>\n{form}")

    return handler


def add_comment(board: str) -> Handler:
    """``POST /comments`` (form ``text``): stores the comment (parametrised) and redirects to the
    board (post/redirect/get, so the answer itself shows nothing)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        text = (await request.post()).get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_COMMENT:
            return message("Comments", f"A comment is 1 to {MAX_COMMENT} characters.", 400)
        try:
            await demo(request).db.execute("INSERT INTO comments (board, text) VALUES (?, ?)", (board, text))
        except DB_ERRORS:  # text SQLite cannot store (NUL, lone surrogates)
            return message("Comments", "This comment cannot be stored.", 400)
        raise web.HTTPSeeOther(request.path)

    return handler


def routes() -> list[web.RouteDef]:
    """The XSS endpoints and their twins."""
    return [
        web.get("/search", search(raw)),
        web.get("/safe/search", search(escape)),
        web.post("/newsletter", newsletter(raw)),
        web.post("/safe/newsletter", newsletter(escape)),
        web.get("/greet", greet(single_quoted)),
        web.get("/safe/greet", greet(js_string)),
        web.get("/comments", comments("open", raw)),
        web.post("/comments", add_comment("open")),
        web.get("/safe/comments", comments("safe", escape)),
        web.post("/safe/comments", add_comment("safe")),
    ]
