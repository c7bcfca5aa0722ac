"""Server-side request forgery: a link preview and a webhook.

- ``GET /preview?url=...`` fetches the URL (``file://`` included) and shows what came back; the twin
  ``/safe/preview`` resolves the host (through the shop's resolver, which may answer every name: a
  DNS lookup is not a fetch) and fetches only URLs on the shop's own origin, else 400.
- ``POST /api/webhooks`` with ``{"callback": URL}`` answers 202 at once and calls the URL half a second
  later (a blind SSRF: nothing of the fetch shows in the answer); the twin registers only callbacks
  on the shop's own origin and calls nothing else.
- ``GET /hooks/ping`` is what the functional suite points both at: it answers ``pong``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from lunge.demo.fetcher import FetchError, Resolver, fetch, resolve, resolver_of
from lunge.demo.pages import escape, json_response, message, page
from lunge.demo.state import Handler

logger = logging.getLogger(__name__)

Allow = Callable[[str, web.Request, Resolver], bool]
WEBHOOK_DELAY = 0.5  # seconds between accepting a webhook and calling it


def anywhere(url: str, request: web.Request, resolver: Resolver) -> bool:
    """The vulnerability: every URL is fine."""
    return True


def own_origin(url: str, request: web.Request, resolver: Resolver) -> bool:
    """Only ``http://<this shop's host:port>/...``; the host is resolved first, as allow-lists that
    check resolved addresses do (so names under a wildcard zone get looked up, then refused)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return False
    if parts.scheme != "http" or not parts.hostname or parts.username is not None:
        return False
    try:
        address = resolve(parts.hostname, resolver)
    except FetchError:
        return False
    host, _, own_port = request.host.rpartition(":")
    return address == host and str(port) == own_port


def preview(allow: Allow) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        url = request.query.get("url", "")
        resolver = resolver_of(request)
        loop = asyncio.get_running_loop()
        if not url or not await loop.run_in_executor(None, allow, url, request, resolver):
            return message("Preview", "This URL cannot be previewed.", 400)
        try:
            data = await loop.run_in_executor(None, fetch, url, resolver)
        except FetchError:
            return message("Preview", "Could not fetch that URL.", 502)
        text = data.decode("utf-8", "replace")
        return page("Preview", f"<pre class=\"preview\">{escape(text)}</pre>")

    return handler


def webhooks(allow: Allow) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
        except ValueError:
            return json_response({"error": "send a JSON object"}, 400)
        url = data.get("callback") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            return json_response({"error": "callback is required"}, 400)
        resolver = resolver_of(request)
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(None, allow, url, request, resolver):
            loop.call_later(WEBHOOK_DELAY, lambda: loop.run_in_executor(None, _call, url, resolver))
        return json_response({"status": "queued"}, 202)

    return handler


def _call(url: str, resolver: Resolver) -> None:
    try:
        fetch(url, resolver, files=False)
    except FetchError as exc:
        logger.debug("webhook %s failed: %s", url, exc)


async def ping(request: web.Request) -> web.StreamResponse:
    return web.Response(text="pong", content_type="text/plain")


def routes() -> list[web.RouteDef]:
    """The SSRF endpoints and their twins."""
    return [
        web.get("/hooks/ping", ping),
        web.get("/preview", preview(anywhere)),
        web.get("/safe/preview", preview(own_origin)),
        web.post("/api/webhooks", webhooks(anywhere)),
        web.post("/safe/api/webhooks", webhooks(own_origin)),
    ]
