"""ssti against real template engines (Jinja2, Mako, Tornado, rendering the value as template
source), small stand-ins for engines that are not installed, and the traps of detection.md §15.2
(literal echo of template syntax, a calculator that evaluates a*b, errors on braces)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import jinja2
import jinja2.sandbox
import pytest
from mako.template import Template as MakoTemplate
from tornado.template import Template as TornadoTemplate

from lunge.checks.base import Attack, Confidence
from lunge.checks.ssti import CHECKS, SSTI, TABLE, Marker
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response, parse

URL = "http://t.test/hello?name=alice"
POINT = "GET_name_value"


def html_response(body: str, status: int = 200) -> Response:
    return Response(status, headers=Headers([("Content-Type", "text/html")]), body=body.encode())


def value_of(request: Request) -> str:
    point = parse(request).get(POINT)
    return point.value if point else ""


def app(render: Callable[[str], str]) -> Callable[[Request], Response]:
    """A page greeting the visitor through ``render(source)``; a template error is a 500."""

    def respond(request: Request) -> Response:
        try:
            return html_response(f"<h1>{render('Hello ' + value_of(request))}</h1>")
        except Exception as exc:  # the engine's error, whatever its class: a 500 page
            return html_response(f"<pre>{html.escape(type(exc).__name__)}</pre>", 500)

    return respond


def jinja(source: str) -> str:
    return jinja2.sandbox.SandboxedEnvironment().from_string(source).render()


def mako(source: str) -> str:
    return str(MakoTemplate(source).render())


def tornado(source: str) -> str:
    return TornadoTemplate(source, autoescape=None).generate().decode()


def smarty_like(source: str) -> str:
    """Smarty as far as the probes need it: ``{a*b}`` tags; any other brace tag is an error."""
    def tag(match: re.Match[str]) -> str:
        if not re.fullmatch(r"\d+\*\d+", match[1]):
            raise ValueError("Smarty: unknown tag")
        a, b = match[1].split("*")
        return str(int(a) * int(b))
    return re.sub(r"\{([^{}]*)\}", tag, source)


def erb_like(source: str) -> str:
    """ERB as far as the probes need it: ``<%= a*b %>`` and ``<%= 'x'.upcase %>``."""
    def tag(match: re.Match[str]) -> str:
        code = match[1].strip()
        if m := re.fullmatch(r"(\d+)\*(\d+)", code):
            return str(int(m[1]) * int(m[2]))
        if m := re.fullmatch(r"'(\w+)'\.upcase", code):
            return m[1].upper()
        raise ValueError("NoMethodError")
    return re.sub(r"<%=(.*?)%>", tag, source)


def run(responder, *, light: bool = False, url: str = URL, point: str = POINT, sent: list[Attack] | None = None):
    sent = [] if sent is None else sent
    ctx = context(Request.from_url(url), point, responder, seed=5, light=light)
    return drive(SSTI, ctx, responder, sent=sent), sent


ENGINES = {
    "jinja2": (app(jinja), "jinja2", "curly"),
    "mako": (app(mako), "mako", "dollar"),
    "tornado": (app(tornado), "tornado", "curly"),
    "smarty": (app(smarty_like), "smarty", "smarty"),
    "erb": (app(erb_like), "erb", "erb"),
}


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_a_rendering_engine_is_found_confirmed_and_named(name: str) -> None:
    responder, engine, family = ENGINES[name]
    verdicts, sent = run(responder)
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("ssti", 1336, Confidence.FIRM)
    assert verdict.details["engine"] == engine and verdict.details["family"] == family
    a, b = verdict.details["operands"]
    assert str(a * b) in verdict.proof and str(a * b) not in verdict.payload
    assert verdict.proof in verdict.exchange.text
    assert any(x.attack.label == "confirm" for x in verdict.controls)
    assert len(sent) <= 10


def test_the_light_probe_finds_the_common_engines() -> None:
    verdicts, _ = run(app(jinja), light=True)
    assert verdicts and verdicts[0].details["engine"] == "jinja2"


TRAPS: dict[str, Callable[[Request], Response]] = {
    # the template syntax comes back as written, raw or escaped
    "raw echo": lambda r: html_response(f"<p>{value_of(r)}</p>"),
    "escaped echo": lambda r: html_response(f"<p>{html.escape(value_of(r))}</p>"),
    # a calculator that evaluates every a*b it finds, wherever it is
    "calculator": lambda r: html_response("<p>" + re.sub(r"(\d+)\*(\d+)", lambda m: str(int(m[1]) * int(m[2])),
                                                         value_of(r)) + "</p>"),
    # a page that chokes on braces, and a filter that strips template tags
    "errors on braces": lambda r: html_response("error", 500) if "{" in value_of(r) else html_response("ok"),
    "tag stripper": lambda r: html_response(re.sub(r"\{[{%#^/][^}]*\}\}?|<%=?.*?%>|\$\{[^}]*\}|#\{[^}]*\}", "",
                                                   value_of(r))),
    # an engine that renders data, not source: the value is a variable
    "data, not source": lambda r: html_response(jinja2.sandbox.SandboxedEnvironment(autoescape=True)
                                                .from_string("<p>Hello {{ name }}</p>").render(name=value_of(r))),
}


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_traps_stay_silent(name: str) -> None:
    verdicts, sent = run(TRAPS[name])
    assert verdicts == []
    assert len(sent) == len(TABLE.probes)  # 4 requests for a point that is not vulnerable


def test_budget_on_a_point_that_is_not_vulnerable() -> None:
    _, full = run(TRAPS["raw echo"])
    _, light = run(TRAPS["raw echo"], light=True)
    assert (len(full), len(light)) == (4, 1)


def test_a_render_that_does_not_repeat_is_not_reported() -> None:
    calls = {"n": 0}

    def once(request: Request) -> Response:  # renders the first attack only (a cached page, say)
        if value_of(request) != "alice":
            calls["n"] += 1
        return app(jinja)(request) if calls["n"] <= 1 else html_response("<h1>Hello</h1>")

    verdicts, _ = run(once)
    assert verdicts == []


def test_second_order_render_on_the_page_the_post_redirects_to() -> None:
    stored: dict[str, str] = {}

    def respond(request: Request) -> Response:
        if request.method == "POST":
            value = parse(request).get("POST_FORM_URLENCODED_message_value")
            stored["card"] = value.value if value else ""
            return Response(303, headers=Headers([("Location", "/cards/view"), ("Set-Cookie", "card=1; Path=/")]))
        if "card=1" not in (request.headers.get("cookie") or ""):
            return html_response("no card", 404)
        return html_response(f"<p>{jinja(stored.get('card', ''))}</p>")

    baseline = Request.from_url("http://t.test/cards", "POST", headers=[
        ("Content-Type", "application/x-www-form-urlencoded")], body=b"message=hi")
    ctx = context(baseline, "POST_FORM_URLENCODED_message_value", respond, seed=2)
    sent: list[Attack] = []
    verdicts = drive(SSTI, ctx, respond, sent=sent)
    assert len(verdicts) == 1 and verdicts[0].details["second_order"] is True
    assert verdicts[0].exchange.attack.request.method == "GET"
    assert verdicts[0].exchange.attack.label.endswith(":redirect")


def test_off_site_redirects_are_not_followed() -> None:
    def respond(request: Request) -> Response:
        return Response(302, headers=Headers([("Location", "http://elsewhere.test/x")]))

    _, sent = run(respond)
    assert all(a.request.host == "t.test" for a in sent)
    assert len(sent) == 4


def test_markers_fill_and_expect_without_rereading_values() -> None:
    marker = Marker(("t1", "t2", "t3", "t4"), 12, 34, "lngv", "word")
    assert marker.fill("%T1%{{%A%*%B%}}%T2%") == "t1{{12*34}}t2"
    assert marker.expected("%T1%%P%%T2%%XU%%VL%") == "t1408t2WORD4"
    assert marker.fill("{% if %V% %}%T1%") == "{% if lngv %}t1"


def test_check_metadata() -> None:
    assert CHECKS == (SSTI,)
    assert (SSTI.id, SSTI.kind, SSTI.severity.value) == ("ssti", "ssti", "high")
