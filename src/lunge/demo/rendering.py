"""Markup echoed raw where no browser runs it: safe twins for reflected XSS (issue 18).

Each endpoint writes its parameter into the answer exactly as it came, ``<`` and all, but the
answer is not a page a browser renders in place:

| endpoint | answer |
| --- | --- |
| ``GET /api/suggest?q=`` | ``application/json`` |
| ``GET /api/suggest-xml?q=`` | ``application/xml`` (no XHTML namespace: shown as a tree) |
| ``GET /notes/preview?text=`` | ``text/plain`` with ``X-Content-Type-Options: nosniff`` |
| ``GET /export/search?q=`` | ``text/html`` served with ``Content-Disposition: attachment`` |

A scanner that greps for its payload reports all four; lunge must stay silent on them (and notes
the JSON and XML echoes on the test set instead).
"""

from __future__ import annotations

import json

from aiohttp import web

from lunge.demo.pages import layout
from lunge.demo.state import Handler

SUGGESTIONS = ("widget", "gadget", "gizmo")


def suggest_json() -> Handler:
    """``GET /api/suggest?q=<text>``: the product names starting like the text, and the text."""

    async def handler(request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")
        found = [name for name in SUGGESTIONS if name.startswith(query.lower()[:3])]
        return web.Response(text=json.dumps({"query": query, "suggestions": found}),
                            content_type="application/json", charset="utf-8")

    return handler


def suggest_xml() -> Handler:
    """``GET /api/suggest-xml?q=<text>``: the same as XML, the text pasted in raw."""

    async def handler(request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")
        items = "".join(f"<suggestion>{name}</suggestion>" for name in SUGGESTIONS
                        if name.startswith(query.lower()[:3]))
        body = f'<?xml version="1.0"?>\n<result><query>{query}</query>{items}</result>\n'
        return web.Response(text=body, content_type="application/xml", charset="utf-8")

    return handler


def preview_note() -> Handler:
    """``GET /notes/preview?text=<text>``: the note as plain text, never sniffed."""

    async def handler(request: web.Request) -> web.StreamResponse:
        text = request.query.get("text", "")
        return web.Response(text=f"Preview of your note:\n\n{text}\n", content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    return handler


def export_search() -> Handler:
    """``GET /export/search?q=<text>``: the search page to save, served as a download."""

    async def handler(request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")
        body = layout("Saved search", f"<p>Saved search: <b>{query}</b></p>")
        return web.Response(text=body, content_type="text/html", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="search.html"'})

    return handler


def routes() -> list[web.RouteDef]:
    """The four non-rendering echoes."""
    return [
        web.get("/api/suggest", suggest_json()),
        web.get("/api/suggest-xml", suggest_xml()),
        web.get("/notes/preview", preview_note()),
        web.get("/export/search", export_search()),
    ]
