"""The anomaly fuzzer against fake applications: bytes that break the code are found and
narrowed; a changed value, rejected input and echoes of odd bytes stay silent; budgets hold."""

from __future__ import annotations

import dataclasses
import doctest
import html
from collections.abc import Callable

from lunge.checks import anomaly
from lunge.checks.anomaly import ANOMALY, FuzzerConfig, FuzzPayload, configured
from lunge.checks.base import Attack, Confidence
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response, parse

URL = "http://t.test/search?q=widget"
POINT = "GET_q_value"
HTML = Headers([("Content-Type", "text/html")])
PRODUCTS = ("widget", "gadget")


def app(on_value: Callable[[str], Response | tuple[Response, float] | None]):
    def respond(request: Request):
        point = parse(request).get(POINT)
        return on_value(point.value if point else "")

    return respond


def search_page(value: str) -> Response:
    """Results depend on the value: a fuzzed value finds nothing, like the control."""
    found = [p for p in PRODUCTS if p in value] or ["no products found"]
    items = "".join(f"<li>{p}</li>" for p in found)
    return Response(200, "OK", headers=HTML, body=f"<html><ul>{items}</ul></html>".encode())


def run(responder, *, check=ANOMALY, light: bool = False):
    sent: list[Attack] = []
    ctx = context(Request.from_url(URL), POINT, responder, seed=5, light=light)
    return drive(check, ctx, responder, sent=sent), sent


def test_doctests() -> None:
    assert doctest.testmod(anomaly).failed == 0


def test_a_byte_that_gives_a_5xx_is_found_narrowed_and_confirmed() -> None:
    def on(value: str) -> Response:
        if "'" in value:
            return Response(500, "Internal Server Error", headers=HTML, body=b"<h1>Server error</h1>")
        return search_page(value)

    verdicts, sent = run(app(on))
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert verdict.check_id == "anomaly" and verdict.confidence is Confidence.TENTATIVE
    assert verdict.details["bytes"] == ["0x27 (')"]
    assert "status 500" in verdict.details["differences"]["0x27 (')"]
    assert verdict.exchange.attack.label == "confirm" and verdict.exchange.status == 500
    assert verdict.proof == "500 Internal Server Error"
    assert [c.attack.label for c in verdict.controls] == ["control", "control"]
    assert len(sent) <= FuzzerConfig().budget
    # one chunk of 250, halved 8 times down to the byte, plus its confirmation, for each payload shape
    assert len(sent) < 40


def test_several_bytes_and_no_answer_are_listed() -> None:
    def on(value: str) -> Response | None:
        if "\\" in value:
            return None  # the connection dies
        if '"' in value:
            return Response(502, "Bad Gateway", body=b"upstream")
        return search_page(value)

    verdicts, _ = run(app(on))
    assert len(verdicts) == 1
    assert sorted(verdicts[0].details["bytes"]) == ['0x22 (")', "0x5c (\\)"]
    assert "no response" in verdicts[0].details["differences"]["0x5c (\\)"]


def test_a_much_longer_page_is_an_anomaly_where_the_value_is_not_echoed() -> None:
    trace = "".join(f"<p>frame {i} in handler()</p>" for i in range(40))

    def on(value: str) -> Response:
        if "\x00" in value or "`" in value:
            return Response(200, "OK", headers=HTML, body=f"<html><ul><li>x</li></ul>{trace}</html>".encode())
        return search_page(value)

    verdicts, _ = run(app(on))
    assert verdicts and verdicts[0].details["bytes"] == ["0x60 (`)"]
    assert "differ from the control" in verdicts[0].details["differences"]["0x60 (`)"]


def test_a_slow_answer_is_an_anomaly() -> None:
    def on(value: str):
        return (search_page(value), 7.5) if "%" in value else search_page(value)

    verdicts, _ = run(app(on))
    assert verdicts and verdicts[0].details["bytes"] == ["0x25 (%)"]


SILENT = {
    "results change with the value": app(search_page),
    "odd bytes rejected with a 400": app(lambda v: search_page(v) if v.isalnum() else Response(400, body=b"bad")),
    "echo, HTML-escaped": app(lambda v: Response(200, headers=HTML, body=f"<p>{html.escape(v)}</p>".encode())),
    "echo, control characters dropped": app(lambda v: Response(
        200, headers=HTML, body="<p>{}</p>".format("".join(c for c in v if c.isprintable())).encode())),
    "always the same page": app(lambda v: Response(200, headers=HTML, body=b"<p>static</p>")),
}


def test_traps_stay_silent() -> None:
    for name, responder in SILENT.items():
        verdicts, sent = run(responder)
        assert verdicts == [], name
        assert len(sent) == 6, (name, len(sent))  # a control and two chunks per payload shape


def test_budget_and_stop_conditions_hold() -> None:
    def broken(value: str) -> Response:
        return Response(500, body=b"error") if value != "widget" and not value.isalnum() else search_page(value)

    verdicts, sent = run(app(broken))
    assert len(verdicts[0].details["bytes"]) == 3  # max_anomalies
    assert len(sent) <= 64
    tight = configured((ANOMALY,), FuzzerConfig(payloads=(FuzzPayload("replace", "all", 16),), budget=10))[0]
    verdicts, sent = run(app(broken), check=tight)
    assert len(sent) <= 10
    assert all(len(a.payload) <= 16 for a in sent)


def test_light_points_and_other_checks_are_left_alone() -> None:
    verdicts, sent = run(app(search_page), light=True)
    assert verdicts == [] and sent == []
    other = dataclasses.replace(ANOMALY, id="other")
    assert configured((other,), FuzzerConfig(budget=1)) == (other,)
