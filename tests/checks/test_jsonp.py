"""xss-jsonp against JSONP endpoints: the callback written raw (found), checked against a name
pattern (silent), a JSON API and an HTML page (not attacked), and content types browsers refuse."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from lunge.checks.base import Attack, Confidence
from lunge.checks.jsonp import CHECKS, XSS_JSONP
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response, parse

URL = "http://t.test/api/stock?callback=showStock"
POINT = "GET_callback_value"
DATA = json.dumps({"sku": "w-1", "stock": 4})


def value_of(request: Request) -> str:
    point = parse(request).get(POINT)
    return point.value if point else ""


def script(body: str, content_type: str = "application/javascript", *extra: tuple[str, str]) -> Response:
    return Response(200, headers=Headers([("Content-Type", content_type), *extra]), body=body.encode())


def jsonp(shape: Callable[[str], str] = lambda cb: f"{cb}({DATA});", content_type: str = "application/javascript",
          extra: tuple[tuple[str, str], ...] = ()) -> Callable[[Request], Response]:
    return lambda request: script(shape(value_of(request)), content_type, *extra)


def run(responder, *, url: str = URL, point: str = POINT):
    sent: list[Attack] = []
    ctx = context(Request.from_url(url), point, responder, seed=3)
    return drive(XSS_JSONP, ctx, responder, sent=sent), sent


VULNERABLE = {
    "raw": (jsonp(), "semicolon", Confidence.FIRM),
    "comment preamble": (jsonp(lambda cb: f"/**/ {cb}({DATA})"), "semicolon", Confidence.FIRM),
    "semicolons stripped": (jsonp(lambda cb: f"{cb.replace(';', '')}({DATA})"), "comment", Confidence.FIRM),
    # m()({...}): m runs first, then its result is called
    "semicolons and slashes stripped": (jsonp(lambda cb: f"{re.sub(r'[;/]', '', cb)}({DATA})"), "comment",
                                        Confidence.FIRM),
    # a deny-list refusing ';' and '/' (falling back to a fixed name): only the comma form passes
    "deny-list": (jsonp(lambda cb: f"{'callback' if re.search(r'[;/]', cb) else cb}({DATA})"), "comma",
                  Confidence.FIRM),
    "text/javascript with nosniff": (jsonp(content_type="text/javascript; charset=utf-8"), "semicolon",
                                     Confidence.FIRM),
    "json type, sniffed": (jsonp(content_type="application/json"), "semicolon", Confidence.TENTATIVE),
}


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_an_expression_in_the_callback_is_found_and_confirmed(name: str) -> None:
    responder, form, confidence = VULNERABLE[name]
    verdicts, sent = run(responder)
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("xss-jsonp", 79, confidence)
    assert verdict.details["form"] == form
    assert verdict.details["marker"] in verdict.proof
    assert sent[-1].label == "confirm"


def allow_list(request: Request) -> Response:
    callback = value_of(request)
    if not re.fullmatch(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*", callback):
        return Response(400, headers=Headers([("Content-Type", "application/json")]), body=b'{"error":"callback"}')
    return script(f"/**/{callback}({DATA});")


TRAPS = {
    "name allow-list": allow_list,
    "allow-list falling back to a default name": lambda r: script(
        f"{value_of(r) if re.fullmatch(r'[A-Za-z_$][\w$]*', value_of(r)) else 'callback'}({DATA});"),
    "callback quoted as a string": lambda r: script(f"handle({json.dumps(value_of(r))}, {DATA});"),
    "json with nosniff": jsonp(content_type="application/json", extra=(("X-Content-Type-Options", "nosniff"),)),
    "html page": jsonp(content_type="text/html"),
}


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_traps_stay_silent(name: str) -> None:
    verdicts, sent = run(TRAPS[name])
    assert verdicts == []
    assert len(sent) <= 3


def test_points_that_are_not_a_callback_cost_nothing() -> None:
    api = lambda r: Response(200, headers=Headers([("Content-Type", "application/json")]), body=DATA.encode())  # noqa: E731
    page = lambda r: script(f"var sku = {json.dumps(value_of(r))}; showStock(sku);")  # noqa: E731
    for responder in (api, page):
        verdicts, sent = run(responder)
        assert verdicts == [] and sent == []


def test_check_metadata() -> None:
    assert CHECKS == (XSS_JSONP,)
    assert (XSS_JSONP.id, XSS_JSONP.kind, XSS_JSONP.cwe) == ("xss-jsonp", "xss", 79)
