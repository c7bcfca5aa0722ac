"""open-redirect, driven by fake applications: vulnerable twins, bypass forms, and the traps of
detection.md §15.2 (own-host Location carrying the payload, body-only reflection)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import pytest

from lunge.checks.base import Attack, Confidence
from lunge.checks.navigation import refresh_url, target_host
from lunge.checks.redirect import CHECKS, OPEN_REDIRECT, TABLE
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response, parse

URL = "http://shop.test/login?next=https://shop.test/account"
POINT = "GET_next_value"


def app(respond: Callable[[str], Response]) -> Callable[[Request], Response]:
    def responder(request: Request) -> Response:
        point = parse(request).get(POINT)
        return respond(point.value if point else "")

    return responder


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, headers=Headers([("Location", location)]))


def html_page(body: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(200, headers=Headers([("Content-Type", "text/html"), *(headers or [])]), body=body.encode())


def run(responder, *, light: bool = False, url: str = URL, point: str = POINT):
    sent: list[Attack] = []
    ctx = context(Request.from_url(url), point, responder, seed=11, light=light)
    return drive(OPEN_REDIRECT, ctx, responder, sent=sent), sent


def allow_listed(value: str) -> str:
    """A correct allow-list: local paths that cannot turn scheme-relative, or http(s) URLs on the own host."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc == "shop.test" else "/"


VULNERABLE = {
    "raw Location": app(lambda v: redirect(v)),
    "307 Location": app(lambda v: redirect(v, 307)),
    # a naive "must be a local path" check: //host and /\host still leave the site
    "starts-with-slash check": app(lambda v: redirect(v) if v.startswith("/") else redirect("/")),
    "no double slash check": app(lambda v: redirect(v) if v.startswith("/") and not v.startswith("//")
                                 else redirect("/")),
    # a "contains the allowed host" check: beaten by carrying the original value in the query
    "contains allowed host": app(lambda v: redirect(v) if "shop.test" in v else html_page("refused")),
    # an allow-list that trusts an empty netloc: "https:host" has none for urlsplit, a browser goes to host
    "empty-netloc allow-list": app(lambda v: redirect(v) if urlsplit(v).netloc in ("", "shop.test")
                                   and not v.startswith(("/", "\\")) else redirect("/")),
    "meta refresh": app(lambda v: html_page(f'<meta http-equiv="Refresh" content="0; url={html.escape(v)}">')),
    "Refresh header": app(lambda v: Response(200, headers=Headers([("Refresh", f"3;url={v}")]))),
    "javascript location": app(lambda v: html_page(f"<script>window.location.href = {json.dumps(v)};</script>")),
    "javascript location.replace": app(lambda v: html_page(f"<script>location.replace({json.dumps(v)})</script>")),
}

SAFE = {
    "own-host Location with the payload in its query": app(lambda v: redirect("/login?next=" + quote(v, safe=""))),
    "absolute own-host Location with the payload": app(lambda v: redirect("https://shop.test/go?to=" + v)),
    "body-only reflection": app(lambda v: html_page(f"<p>You will be sent to <a>{html.escape(v)}</a></p>")),
    "URL in a script string that does not navigate": app(lambda v: html_page(f"<script>var u = {json.dumps(v)};"
                                                                                 "</script>")),
    "meta refresh in a JSON response": app(lambda v: Response(
        200, headers=Headers([("Content-Type", "application/json")]),
        body=json.dumps({"r": f'<meta http-equiv="refresh" content="0;url={v}">'}).encode())),
    "allow-list by parsed host": app(lambda v: redirect(allow_listed(v))),
    "Location header on a 200": app(lambda v: Response(200, headers=Headers([("Location", v)]))),
}


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_vulnerable_twin_is_found_and_confirmed(name: str) -> None:
    verdicts, sent = run(VULNERABLE[name])
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("open-redirect", 601, Confidence.FIRM)
    assert verdict.details["host"].endswith("." + TABLE.domain)
    assert verdict.details["confirm_host"] != verdict.details["host"]
    assert verdict.details["host"] in verdict.proof.lower().replace("\\", "/") or verdict.details["host"] in \
        verdict.details["url"].lower()
    assert sent[-1].label == "confirm"
    assert len(sent) <= 10


@pytest.mark.parametrize("name", sorted(SAFE))
def test_trap_stays_silent(name: str) -> None:
    verdicts, sent = run(SAFE[name])
    assert verdicts == [], name
    assert len(sent) <= 9


def test_budget_for_a_non_redirecting_gated_point() -> None:
    never = app(lambda v: html_page("<p>welcome</p>"))
    _, full = run(never)
    _, light = run(never, light=True)
    assert [a.label for a in full] == ["absolute-https", "scheme-relative", "slash-backslash"]
    assert [a.label for a in light] == ["absolute-https"]


def test_light_mode_escalates_when_the_endpoint_redirects() -> None:
    verdicts, sent = run(VULNERABLE["contains allowed host"], light=True)
    assert len(verdicts) == 1
    assert verdicts[0].details["payload_form"] == "original-in-query"
    assert verdicts[0].payload.endswith("/?https://shop.test/account")


def test_gate_skips_values_and_names_that_are_not_redirect_targets() -> None:
    responder = app(lambda v: redirect(v))
    ctx = context(Request.from_url("http://shop.test/search?q=shoes"), "GET_q_value", responder)
    assert not OPEN_REDIRECT.applies(ctx)
    ctx = context(Request.from_url("http://shop.test/a?returnUrl=home"), "GET_returnUrl_value", responder)
    assert OPEN_REDIRECT.applies(ctx)
    ctx = context(Request.from_url("http://shop.test/a?x=%2Fhome"), "GET_x_value", responder)
    assert OPEN_REDIRECT.applies(ctx)
    ctx = context(Request.from_url("http://shop.test/a?afterLoginURL=home"), "GET_afterLoginURL_value", responder)
    assert OPEN_REDIRECT.applies(ctx)
    ctx = context(Request.from_url("http://shop.test/a?curlyHair=1"), "GET_curlyHair_value", responder)
    assert not OPEN_REDIRECT.applies(ctx)


def test_a_redirect_that_does_not_repeat_is_not_reported() -> None:
    seen = {"n": 0}

    def once(request: Request) -> Response:
        value = parse(request).get(POINT).value  # type: ignore[union-attr]
        if value == "https://shop.test/account":
            return redirect(value)
        seen["n"] += 1
        return redirect(value) if seen["n"] == 1 else redirect("/")

    verdicts, sent = run(once)
    assert verdicts == []
    assert "confirm" in [a.label for a in sent]


@pytest.mark.parametrize(("url", "expected"), [
    ("https://evil.test/", "evil.test"),
    ("//evil.test", "evil.test"),
    ("/\\evil.test", "evil.test"),
    ("\\\\evil.test\\x", "evil.test"),
    ("https:evil.test", "evil.test"),  # from an http page: absolute
    ("http:evil.test", "shop.test"),  # same scheme without slashes: a relative path
    (" \thTtPs://EVIL.test.:8443/x", "evil.test"),
    ("https://shop.test@evil.test/", "evil.test"),
    ("https://evil%2Etest/", "evil.test"),
    ("/login?next=https://evil.test", "shop.test"),
    ("evil.test", "shop.test"),
    ("javascript:alert(1)", None),
    ("https://[::1]:80/", "[::1]"),
])
def test_target_host_resolves_like_a_browser(url: str, expected: str | None) -> None:
    assert target_host(url, "http", "shop.test") == expected


def test_refresh_values() -> None:
    assert refresh_url("0; URL=https://a.test") == "https://a.test"
    assert refresh_url("1,'https://a.test/x' ignored") == "https://a.test/x"
    assert refresh_url("") is None


def test_module_exports_the_check() -> None:
    assert [c.id for c in CHECKS] == ["open-redirect"] and CHECKS[0].kind == "redir"
