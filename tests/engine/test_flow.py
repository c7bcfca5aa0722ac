"""Value flows learned from a record, and the ordering of baselines (pure parts)."""

from __future__ import annotations

import asyncio
import doctest

import pytest

from lunge.engine import flow, order
from lunge.engine.flow import FlowMap
from lunge.engine.order import Gate, Role, classify, pin_patterns
from lunge.http import Headers, Request, Response


@pytest.mark.parametrize("module", [flow, order])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def _json(body: str) -> Response:
    return Response(200, headers=Headers([("Content-Type", "application/json")]), body=body.encode())


def test_a_token_from_a_json_answer_flows_into_a_later_header() -> None:
    flows = FlowMap()
    flows.learn(1, 1, Request("POST", "http", "t", 80, "/login"), _json('{"access_token": "tok-123456"}'))
    consumer = Request.from_url("http://t/me").with_headers(Headers([("Authorization", "Bearer tok-123456")]))
    flows.learn(2, 2, consumer, None)
    (use,) = flows.uses[2]
    assert (use.point, use.recorded, use.source.name, use.credential) == (
        "HEADER_AUTHORIZATION_value", "tok-123456", "access_token", True)


def test_a_session_cookie_flows_into_the_cookie_not_the_whole_header() -> None:
    flows = FlowMap()
    flows.learn(1, 1, Request("POST", "http", "t", 80, "/login"),
                Response(303, headers=Headers([("Set-Cookie", "sid=abcdef0123; Max-Age=30")])))
    flows.learn(2, 2, Request.from_url("http://t/a").with_headers(Headers([("Cookie", "sid=abcdef0123; x=1")])), None)
    assert [u.point for u in flows.uses[2]] == ["HEADER_COOKIE_COOKIE_sid_value"]


def test_an_id_flows_only_into_a_point_holding_exactly_it() -> None:
    flows = FlowMap()
    flows.learn(1, 1, Request("POST", "http", "t", 80, "/users"), _json('{"username": "carol"}'))
    flows.learn(2, 2, Request.from_url("http://t/users/carol/profile"), None)
    flows.learn(3, 3, Request.from_url("http://t/search?q=carolina"), None)
    assert [u.point for u in flows.uses[2]] == ["PATH_1_value"]
    assert 3 not in flows.uses


def test_short_or_unrelated_values_make_no_flow() -> None:
    flows = FlowMap()
    flows.learn(1, 1, Request("POST", "http", "t", 80, "/x"), _json('{"token": "ab", "title": "hello world"}'))
    flows.learn(2, 2, Request.from_url("http://t/y?a=ab&b=hello%20world"), None)
    assert flows.uses == {}


def test_a_hidden_csrf_input_is_a_per_use_source() -> None:
    flows = FlowMap()
    page = Response(200, headers=Headers([("Content-Type", "text/html")]),
                    body=b'<input type="hidden" name="csrfmiddlewaretoken" value="zzzzzzzz9">')
    flows.learn(1, 1, Request.from_url("http://t/form"), page)
    form = Request("POST", "http", "t", 80, "/form", headers=Headers([("Content-Type",
                   "application/x-www-form-urlencoded")]), body=b"q=1&csrfmiddlewaretoken=zzzzzzzz9")
    flows.learn(2, 2, form, None)
    (use,) = flows.uses[2]
    assert use.source.per_use and use.point == "POST_FORM_URLENCODED_csrfmiddlewaretoken_value"


@pytest.mark.parametrize(("method", "path", "role", "destructive"), [
    ("GET", "/createdb", Role.SETUP, False),
    ("POST", "/api/reset", Role.SETUP, True),
    ("POST", "/users/v1/login", Role.SETUP, False),
    ("POST", "/api/key", Role.SETUP, False),
    ("POST", "/comments", Role.STATE, False),
    ("PUT", "/users/v1/bob/password", Role.STATE, True),
    ("DELETE", "/books/3", Role.STATE, True),
    ("GET", "/logout", Role.SAFE, True),
    ("GET", "/books?id=3", Role.SAFE, False),
])
def test_classify(method: str, path: str, role: Role, destructive: bool) -> None:
    place = classify(Request(method, "http", "t", 80, path))
    assert (place.role, place.destructive) == (role, destructive)


def test_a_policy_pin_makes_any_baseline_setup() -> None:
    pins = pin_patterns([r"^POST /api/fixtures-v2$"])
    assert classify(Request("POST", "http", "t", 80, "/api/fixtures-v2"), pins).role is Role.SETUP
    assert classify(Request("POST", "http", "t", 80, "/api/other"), pins).role is Role.STATE


async def test_the_gate_runs_safe_baselines_together_and_others_alone() -> None:
    gate = Gate()
    log: list[str] = []

    async def baseline(name: str, exclusive: bool) -> None:
        log.append(f"+{name}")
        await asyncio.sleep(0.01)
        log.append(f"-{name}")
        await gate.leave()

    tasks = []
    for name, exclusive in (("a", False), ("b", False), ("W", True), ("c", False)):
        await gate.enter(exclusive)
        tasks.append(asyncio.ensure_future(baseline(name, exclusive)))
    await asyncio.gather(*tasks)
    assert log[:2] == ["+a", "+b"]  # safe ones overlap
    w = log.index("+W")
    assert {"-a", "-b"} <= set(log[:w]) and log[w + 1] == "-W" and log[-2:] == ["+c", "-c"]


def test_a_value_with_delimiters_is_still_found_by_search() -> None:
    flows = FlowMap()
    flows.learn(1, 1, Request("POST", "http", "t", 80, "/login"), _json('{"token": "ab/cd+ef=="}'))
    flows.learn(2, 2, Request.from_url("http://t/a").with_headers(Headers([("X-Token", "ab/cd+ef==")])), None)
    assert [u.point for u in flows.uses[2]] == ["HEADER_X-TOKEN_value"]
