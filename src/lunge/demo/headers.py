"""CRLF injection and JSONP callback injection, each with its safe twin, and a trap.

- ``GET /language?lang=`` remembers the language in a cookie written straight into the response
  head, the way a stack that does not check header values writes it (aiohttp refuses line breaks in
  header values, rightly, so :class:`RawHeadResponse` writes the head itself); characters are written
  as Latin-1 by keeping their low byte, as older stacks did. The twin accepts known languages only.
- ``GET /api/stock?sku=&callback=`` answers JSONP: the callback is the function name of the script;
  the twin accepts only a JavaScript name (``a.b_c``).
- Trap: ``GET /track?ref=`` copies the value into a header percent-encoded (line breaks stay
  ``%0D%0A`` inside the value) and shows it, escaped, in the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote

from aiohttp import web

from lunge.demo.pages import choice, escape, layout, message, page
from lunge.demo.state import Handler

LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish"}
STOCK = {"w-1": 12, "w-2": 0, "g-7": 3}
_JS_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")

Accept = Callable[[str], bool]


class RawHeadResponse(web.Response):
    """A response whose head is written as is: header values keep their line breaks.

    Only the demo's vulnerable endpoint uses it; it overrides aiohttp's ``_write_headers`` (the one
    place aiohttp serialises and checks the head) to play a server that does not check.
    """

    async def _write_headers(self) -> None:
        request = self._req
        writer = self._payload_writer
        assert request is not None and writer is not None
        version = request.version
        lines = [f"HTTP/{version[0]}.{version[1]} {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        transport = writer.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        transport.write(head)


def low_byte(text: str) -> str:
    """Each character cut to its low byte, as stacks that write header text as Latin-1 did.

    >>> low_byte("en\\u560d\\u560a") == "en\\r\\n"
    True
    """
    return "".join(chr(ord(c) & 0xFF) for c in text)


def any_language(lang: str) -> bool:
    """The vulnerability: any value is remembered."""
    return bool(lang)


def known_language(lang: str) -> bool:
    """The twin: only the languages the shop has."""
    return lang in LANGUAGES


def language(accept: Accept, raw: bool) -> Handler:
    """``GET /language?lang=&from=``: remember the interface language in the ``lang`` cookie
    (``from``, the menu the choice came from, is one of a fixed list)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        lang = request.query.get("lang", "")
        if not accept(lang) or choice(request, "from", ("menu", "footer")) is None:
            return message("Language", "This language is not available.", 400)
        body = f"<p>Interface language: {escape(LANGUAGES.get(lang, 'unknown'))}.</p>"
        if raw:
            response: web.Response = RawHeadResponse(text=layout("Language", body), content_type="text/html",
                                                     charset="utf-8")
            response.headers["Set-Cookie"] = f"lang={low_byte(lang)}; Path=/"
            return response
        response = page("Language", body)
        response.set_cookie("lang", lang, path="/")
        return response

    return handler


def jsonp_name(callback: str) -> bool:
    """The twin's allow-list: a JavaScript name, dotted paths allowed.

    >>> jsonp_name("shop.show_stock"), jsonp_name("alert(1);x")
    (True, False)
    """
    return len(callback) <= 64 and _JS_NAME.fullmatch(callback) is not None


def stock(accept: Accept) -> Handler:
    """``GET /api/stock?sku=&callback=``: the stock of a product, as a JSONP script."""

    async def handler(request: web.Request) -> web.StreamResponse:
        sku, callback = request.query.get("sku", ""), request.query.get("callback", "")
        if sku not in STOCK or not callback or not accept(callback):
            return web.json_response({"error": "unknown product or bad callback"}, status=400)
        data = json.dumps({"sku": sku, "stock": STOCK[sku]})
        return web.Response(text=f"/**/{callback}({data});", content_type="application/javascript",
                            charset="utf-8")

    return handler


async def track(request: web.Request) -> web.StreamResponse:
    """``GET /track?ref=``: where the visitor came from, kept (encoded) in a header and shown."""
    ref = request.query.get("ref", "direct")
    response = page("Welcome", f"<p>You came from {escape(ref)}.</p>")
    response.headers["X-Referral"] = quote(ref, safe="")
    return response


def routes() -> list[web.RouteDef]:
    """The header and JSONP endpoints, their twins and the trap."""
    return [
        web.get("/language", language(any_language, raw=True)),
        web.get("/safe/language", language(known_language, raw=False)),
        web.get("/api/stock", stock(lambda callback: bool(callback))),
        web.get("/safe/api/stock", stock(jsonp_name)),
        web.get("/track", track),
    ]
