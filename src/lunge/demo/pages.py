"""HTML and JSON responses of the demo shop, and the request readers every handler shares.

Everything a page shows is escaped here unless a handler deliberately passes markup: the vulnerable
endpoints are vulnerable in one place each, never by accident of the layout.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import unquote

from aiohttp import web

SITE = "lunge demo shop"
_NAV = (
    ("/", "Home"), ("/products?id=1&view=full", "Products"), ("/search?q=widget&page=1", "Search"),
    ("/comments", "Comments"), ("/account", "Account"),
)


def escape(value: object) -> str:
    """Text made safe for HTML text and quoted attribute values.

    >>> escape('<a href="x">')
    '&lt;a href=&quot;x&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def layout(title: str, body: str) -> str:
    """A whole page around ``body`` (markup the caller is responsible for)."""
    nav = " | ".join(f'<a href="{href}">{escape(label)}</a>' for href, label in _NAV)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)} - {SITE}</title>\n</head>\n<body>\n"
        f"<header><strong>{SITE}</strong> <nav>{nav}</nav></header>\n"
        f"<main>\n<h1>{escape(title)}</h1>\n{body}\n</main>\n"
        "<footer><p>A deliberately vulnerable application. Never expose it.</p></footer>\n"
        "</body>\n</html>\n"
    )


def page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """An HTML response."""
    return web.Response(text=layout(title, body), status=status, content_type="text/html", charset="utf-8",
                        headers=headers)


def message(title: str, text: str, status: int) -> web.Response:
    """A page with one fixed sentence: what rejections look like. ``text`` is escaped and must never
    carry the rejected input (a rejection that echoes input would be a reflection of its own)."""
    return page(title, f"<p class=\"message\">{escape(text)}</p>", status)


def db_error_page(exc: BaseException, what: str) -> web.Response:
    """The debug-mode error page: the database's error message is shown, HTML-escaped."""
    detail = escape(describe_error(exc))
    body = f"<p>Database error while {escape(what)}.</p>\n<pre class=\"traceback\">{detail}</pre>"
    return page("Internal Server Error", body, 500)


def describe_error(exc: BaseException) -> str:
    """``module.Class: message``, as a traceback's last line shows it.

    >>> import sqlite3
    >>> describe_error(sqlite3.OperationalError('near "x": syntax error'))
    'sqlite3.OperationalError: near "x": syntax error'
    """
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}: {exc}"


def dumps(data: Any) -> str:
    """JSON with ``<``, ``>`` and ``&`` written as escapes (as Go's encoder does), so a JSON body
    can never be read as markup, even by a browser that sniffs.

    >>> dumps({"a": "<b>&"})
    '{"a": "\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response (see :func:`dumps`)."""
    return web.Response(text=dumps(data), status=status, content_type="application/json", charset="utf-8")


def cookies(request: web.Request) -> dict[str, str]:
    """The request's cookies as most frameworks read them: ``name=value`` pairs split at ``;``,
    values percent-decoded. (aiohttp's own parser also splits at spaces, which no browser-facing
    framework does.) The first cookie of a name wins.

    >>> from aiohttp.test_utils import make_mocked_request
    >>> cookies(make_mocked_request("GET", "/", headers={"Cookie": "a=1 2; b=x%3By; a=3"}))
    {'a': '1 2', 'b': 'x;y'}
    """
    found: dict[str, str] = {}
    for header in request.headers.getall("Cookie", []):
        for chunk in header.split(";"):
            name, eq, value = chunk.partition("=")
            if eq and name.strip():
                found.setdefault(name.strip(), unquote(value.strip(), errors="replace"))
    return found


def choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """The query parameter ``name`` if it is one of ``allowed`` (the first one when absent), else
    None: routing and display options are validated against a fixed list."""
    value = request.query.get(name, allowed[0])
    return value if value in allowed else None
