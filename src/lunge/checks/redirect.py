"""Open redirect (``open-redirect``): the application sends the browser to a host taken from input.

detection.md §5. Gate: the value looks like a URL or a path, or the parameter is named like a
redirect target (``next``, ``url``, ``redirect``, ``return``, ``continue``, ``dest``, ...).

Payloads (``data/redirect_payloads.yaml``) point at a random host under a reserved domain that
never resolves. Three go to every gated point (one in light mode); the bypass forms follow only when
the endpoint shows it redirects or reflects the injected host. The oracle is the *host* the browser
would go to (:mod:`~lunge.checks.navigation`): the 3xx ``Location``, a ``Refresh`` header, a
``<meta http-equiv="refresh">`` or a ``location`` assignment in executable script, resolved like a
browser resolves them and compared exactly, so ``/login?next=https://evil`` on the own host and a
body that merely prints the URL stay silent. A second random host confirms.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lunge.checks import datafiles, navigation, pointnames
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.navigation import Navigation
from lunge.http.points import Point, ValueKind


@datafiles.schema
@dataclass(frozen=True, slots=True)
class RedirectPayload:
    """One row of ``data/redirect_payloads.yaml``."""

    name: str
    template: str
    first: bool = False


@datafiles.schema
@dataclass(frozen=True, slots=True)
class RedirectTable:
    domain: str
    payloads: tuple[RedirectPayload, ...]


TABLE = datafiles.load("redirect_payloads.yaml", RedirectTable)

# Parameter-name words that usually carry a redirect target (ZAP, nuclei and wapiti's lists).
NAME_WORDS = frozenset({
    "next", "url", "uri", "redirect", "redir", "return", "returnto", "returnurl", "continue", "dest", "destination",
    "target", "r", "goto", "forward", "callback", "location", "link", "back", "success", "out", "jump", "navigate",
})
# An absolute URL, a scheme-relative or local path. Bare host names are left out: they are rare as
# redirect targets and look like file names ("report.txt") and tokens.
_URLISH = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*://|//|/|\\\\)")


@dataclass(slots=True)
class _Trail:
    controls: list[Exchange] = field(default_factory=list)
    signal: bool = False


def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    if point.kind is not ValueKind.STRING or point.family in ("URI", "PATH", "ACTION_NAME", "ACTION_EXT"):
        return False  # the request target itself: a payload there changes the page, not a redirect target
    return bool(_URLISH.match(point.value)) or named_like_redirect(point)


def named_like_redirect(point: Point) -> bool:
    """Whether the innermost key of ``point`` reads like a redirect target (``next``,
    ``returnUrl``, ``redirect_uri``, ...)."""
    return pointnames.named_like(point, NAME_WORDS)


def _run(ctx: CheckContext) -> Probe:
    trail = _Trail(signal=_navigates(ctx.normal))
    rows = [row for row in TABLE.payloads if _usable(row, ctx.point.value)]
    first = [row for row in rows if row.first]
    if ctx.light:
        first = first[:1]
    for row in first:
        verdict = yield from _attempt(ctx, row, trail)
        if verdict is not None:
            return [verdict]
    if not trail.signal:
        return []
    for row in rows:
        if row in first:
            continue
        verdict = yield from _attempt(ctx, row, trail)
        if verdict is not None:
            return [verdict]
    return []


def _attempt(ctx: CheckContext, row: RedirectPayload,
             trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    host = _host(ctx)
    (exchange,) = yield [ctx.attack(_fill(row.template, host, ctx.point.value), row.name)]
    hit = _navigation_to(exchange, host)
    if hit is None:
        trail.signal = trail.signal or _navigates(exchange) or host in _searchable(exchange)
        trail.controls.append(exchange)
        return None
    second = _host(ctx)
    (again,) = yield [ctx.attack(_fill(row.template, second, ctx.point.value), "confirm")]
    confirmed = _navigation_to(again, second)
    if confirmed is None:
        trail.controls.extend((exchange, again))
        return None
    return OPEN_REDIRECT.verdict(
        ctx, exchange, proof=hit.excerpt, confidence=Confidence.FIRM,
        confirmation=f"a second random host ({second}) was navigated to as well ({confirmed.how})",
        controls=(ctx.normal, *trail.controls, again),
        details={"how": hit.how, "url": hit.url, "status": exchange.status, "payload_form": row.name,
                 "host": host, "confirm_host": second},
    )


def _navigation_to(exchange: Exchange, host: str) -> Navigation | None:
    response = exchange.response
    if response is None:
        return None
    request = exchange.attack.request
    for nav in navigation.navigations(response):
        if navigation.target_host(nav.url, request.scheme, request.host) == host:
            return nav
    return None


def _navigates(exchange: Exchange) -> bool:
    return exchange.response is not None and bool(navigation.navigations(exchange.response))


def _searchable(exchange: Exchange) -> str:
    response = exchange.response
    if response is None:
        return ""
    return (" ".join(v for _, v in response.headers) + " " + response.text()).lower()


def _host(ctx: CheckContext) -> str:
    return f"{ctx.marker()}.{TABLE.domain}"


def _usable(row: RedirectPayload, value: str) -> bool:
    if "{value_host}" in row.template and not _value_host(value):
        return False
    return "{value}" not in row.template or bool(value)


def _fill(template: str, host: str, value: str) -> str:
    return template.replace("{host}", host).replace("{value_host}", _value_host(value)).replace("{value}", value)


def _value_host(value: str) -> str:
    try:
        return urlsplit(value).hostname or ""
    except ValueError:
        return ""


OPEN_REDIRECT = Check(
    id="open-redirect",
    title="Open redirect",
    kind="redir",
    severity=Severity.MEDIUM,
    cwe=601,
    description="The application redirects the browser to a URL taken from the request without checking that "
                "it stays on an allowed site, which lends the site's name to phishing and token theft.",
    run=_run,
    applies=_applies,
    remediation="Redirect only to relative paths or to hosts on an allow-list; compare the parsed host, not a "
                "substring; prefer an identifier that maps to a server-side list of targets.",
)
CHECKS = (OPEN_REDIRECT,)
