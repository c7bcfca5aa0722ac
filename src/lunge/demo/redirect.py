"""Open redirect: ``GET /go?next=/home`` redirects wherever ``next`` says; the twin
``GET /safe/go`` redirects only to a path on this site and refuses anything else with 400.

``src`` says which link was followed (for statistics): letters only, else 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from lunge.demo.pages import message
from lunge.demo.state import Handler

Allow = Callable[[str], bool]

_SOURCE = re.compile(r"[a-z]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def anywhere(target: str) -> bool:
    """The vulnerability: every target is fine."""
    return True


def same_site(target: str) -> bool:
    """A path on this site: starts with one ``/``, no scheme, no host, no backslash, no control
    characters (browsers drop some of them and read ``/\\host`` as ``//host``).

    >>> same_site("/home"), same_site("//evil.test"), same_site("/\\\\evil.test"), same_site("https://x.test/")
    (True, False, False, False)
    """
    if not target.startswith("/") or target.startswith("//") or "\\" in target or _CONTROL.search(target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def go(allow: Allow) -> Handler:
    """``GET /go?next=<url>&src=<link>``: redirect (302) to ``next``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        target = request.query.get("next", "")
        if not _SOURCE.fullmatch(request.query.get("src", "nav")) or not target:
            return message("Redirect", "Pass a target and a known link source.", 400)
        # Line breaks can never go into a header, whatever the endpoint's policy.
        if "\r" in target or "\n" in target or not allow(target):
            return message("Redirect", "This redirect target is not allowed.", 400)
        return web.Response(status=302, text="Redirecting.", headers={"Location": target})

    return handler


def routes() -> list[web.RouteDef]:
    """The open redirect endpoint and its twin."""
    return [
        web.get("/go", go(anywhere)),
        web.get("/safe/go", go(same_site)),
    ]
