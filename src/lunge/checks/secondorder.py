"""Following a redirect once, for checks whose payload is posted on one page and shown on the next.

A form that stores a value usually answers ``303 See Other`` to the page that shows it (the
Post/Redirect/Get pattern). The attack client never follows redirects (a finding's evidence is the
exact exchange), so a check that wants the next page asks for it: :func:`follow_redirect` builds the
``GET`` a browser would send, to the same origin only (never off the target), with the baseline's
credentials (its ``Cookie`` and ``Authorization``) and the cookies the redirect itself set.

>>> from lunge.checks.base import Attack, Exchange
>>> from lunge.http import Headers, Request, Response
>>> posted = Request.from_url("http://shop.test/cards", "POST", headers=[("Cookie", "sid=1")])
>>> answer = Response(303, headers=Headers([("Location", "/cards/7"), ("Set-Cookie", "card=x; Path=/")]))
>>> follow = follow_redirect(posted, Exchange(Attack(posted, ""), answer, 0.01))
>>> follow.method, follow.url, follow.headers.get("cookie")
('GET', 'http://shop.test/cards/7', 'sid=1; card=x')
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from lunge.checks.base import Exchange
from lunge.errors import MessageError
from lunge.http import Headers, Request

REDIRECTS = frozenset({301, 302, 303})  # the ones a browser follows with a GET
# Request headers a browser keeps on the GET that follows a redirect (the body's headers go).
_KEPT = ("authorization", "user-agent", "accept-language")


def follow_redirect(baseline: Request, exchange: Exchange) -> Request | None:
    """The ``GET`` of the page ``exchange``'s redirect points to, when it is one of
    :data:`REDIRECTS` to the baseline's own origin; else None."""
    response = exchange.response
    if response is None or response.status not in REDIRECTS:
        return None
    location = (response.headers.get("location") or "").strip()
    if not location or any(c in location for c in "\r\n\x00"):
        return None
    url = urljoin(baseline.url, location)
    try:
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname, parts.port or _default(parts.scheme)) != (
                baseline.scheme, baseline.host.lower(), baseline.port):
            return None
        kept = [(name, value) for name, value in baseline.headers if name.lower() in _KEPT]
        cookie = _cookies(baseline.headers.get("cookie") or "", response.headers.get_all("set-cookie"))
        if cookie:
            kept.append(("Cookie", cookie))
        return Request.from_url(url, "GET", headers=Headers(kept))
    except (ValueError, MessageError):
        return None


def _default(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _cookies(sent: str, set_cookies: list[str]) -> str:
    """The baseline's ``Cookie`` with the redirect's ``Set-Cookie`` pairs added or replaced."""
    pairs: dict[str, str] = {}
    for chunk in sent.split(";"):
        name, eq, value = chunk.strip().partition("=")
        if eq and name:
            pairs[name] = value
    for header in set_cookies:
        name, eq, value = header.split(";", 1)[0].strip().partition("=")
        if eq and name:
            pairs[name] = value
    return "; ".join(f"{name}={value}" for name, value in pairs.items())
