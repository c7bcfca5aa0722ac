"""The ``nosqli`` check against fake applications over the demo's MongoDB-style matcher, a
``$where`` evaluated as JavaScript-like expressions, and the traps of detection.md §9: validation
errors on objects and brackets, stringified objects, SQL, a page that accepts anything."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from lunge.checks.base import Attack, Confidence, Verdict
from lunge.checks.nosqli import NOSQLI
from lunge.checks.testing import ResponderResult, context, drive
from lunge.demo import docstore
from lunge.http import Headers, Request, Response

MEMBERS = [{"email": "alice@x.test", "name": "Alice", "plan": "gold"},
           {"email": "bob@x.test", "name": "Bob", "plan": "free"}]
JSON_POINT = "POST_JSON_DOC_HASH_email_value"
QUERY_POINT = "GET_email_value"

Read = Callable[[Request], Any]  # the request -> the value the app queries with


def json_request(value: str = "alice@x.test") -> Request:
    return Request.from_url("http://app.test/lookup", "POST", body=json.dumps({"email": value, "page": 1}).encode(),
                            headers=[("Content-Type", "application/json")])


def query_request(value: str = "alice@x.test") -> Request:
    return Request.from_url(f"http://app.test/lookup?email={value}&page=1")


def from_json(request: Request) -> Any:
    try:
        return json.loads(request.body).get("email")
    except ValueError:
        return None


def from_brackets(request: Request) -> Any:
    """Express's qs for one level: ``email[$ne]=x`` is ``{"$ne": "x"}``, ``email[$in][]=x`` a list."""
    found: Any = None
    for key, value in parse_qsl(urlsplit(request.target).query, keep_blank_values=True):
        match = re.fullmatch(r"email(?:\[(\$\w+)\](\[\])?)?", key)
        if match is None:
            continue
        if match.group(1) is None:
            found = value
        elif match.group(2):
            found = {match.group(1): [*(found or {}).get(match.group(1), []), value]}
        else:
            found = {match.group(1): value}
    return found


def from_query_plain(request: Request) -> Any:
    return dict(parse_qsl(urlsplit(request.target).query)).get("email")


def mongo(read: Read, *, strings_only: bool = False, stringify: bool = False) -> Callable[[Request], ResponderResult]:
    def respond(request: Request) -> ResponderResult:
        value = read(request)
        if value is None or (strings_only and not isinstance(value, str)):
            return _json(400, {"error": "email must be a string"})
        try:
            found = docstore.find(MEMBERS, {"email": str(value) if stringify else value})
        except docstore.QueryError as exc:
            return _json(500, {"error": f"MongoServerError: {exc}"})
        return _json(200, {"name": found[0]["name"]}) if found else _json(404, {"error": "no such member"})

    return respond


def _json(status: int, data: object) -> Response:
    return Response(status, headers=Headers([("Content-Type", "application/json")]), body=json.dumps(data).encode())


def run(responder: Callable[[Request], ResponderResult], request: Request, point: str,
        seed: int = 1) -> tuple[list[Verdict], list[Attack]]:
    ctx = context(request, point, responder, seed=seed, time_delay=1.0)
    sent: list[Attack] = []
    return drive(NOSQLI, ctx, responder, sent=sent), sent


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_operator_object_in_json(seed: int) -> None:
    (verdict,), sent = run(mongo(from_json), json_request(), JSON_POINT, seed)
    assert verdict.details["technique"] == "operator" and verdict.confidence is Confidence.FIRM
    assert verdict.details["place"] == "json" and json.loads(verdict.payload) == json.loads(
        verdict.exchange.attack.request.body)["email"]
    assert len(sent) <= 9


def test_operator_brackets_in_the_query() -> None:
    (verdict,), _ = run(mongo(from_brackets), query_request(), QUERY_POINT)
    assert verdict.details["place"] == "query" and "email[$ne]=" in verdict.payload


def test_the_matchers_own_error() -> None:
    def regex_app(request: Request) -> ResponderResult:  # the value is used as a $regex
        value = from_json(request)
        try:
            found = docstore.find(MEMBERS, {"email": {"$regex": f"^{value}"}})
        except docstore.QueryError as exc:
            return _json(500, {"error": f"MongoServerError: {exc}"})
        return _json(200 if found else 404, {"n": len(found)})

    (verdict,), _ = run(regex_app, json_request(), JSON_POINT)
    assert verdict.details["technique"] == "error" and verdict.details["engine"] == "MongoDB"


def where(request: Request, errors: bool = True) -> ResponderResult:
    """``$where: "this.email == '<value>'"`` run by a JavaScript-like evaluator: ``sleep(ms)``
    blocks (here: adds latency) and returns undefined, as in MongoDB's server-side JavaScript."""
    value = from_json(request) or ""
    source = f"this.email == '{value}'"
    expression = source.replace("&&", " and ").replace("||", " or ").replace("this.email", "email")
    slept: list[float] = []
    total_ms = 0.0
    for doc in MEMBERS:
        try:
            tree = ast.parse(expression, mode="eval")
        except SyntaxError:
            if errors:
                return _json(500, {"error": "MongoServerError: SyntaxError: unterminated string literal @:1"}), 0.01
            return _json(200, {"ok": False}), 0.01
        names = {"email": doc["email"], "sleep": lambda ms: slept.append(float(ms)) or None}
        allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.Eq, ast.Name, ast.Load,
                   ast.Constant, ast.Call)
        if not all(isinstance(node, allowed) for node in ast.walk(tree)):
            return _json(500, {"error": "MongoServerError: SyntaxError"}), 0.01
        eval(compile(tree, "<where>", "eval"), {"__builtins__": {}}, names)  # noqa: S307 - a whitelisted AST
    total_ms = sum(slept)
    return _json(200, {"ok": True}), 0.01 + total_ms / 1000


def test_a_where_breakout_by_its_error() -> None:
    (verdict,), _ = run(where, json_request(), JSON_POINT)
    assert verdict.details["technique"] == "error"


def test_a_where_breakout_by_time() -> None:
    (verdict,), sent = run(lambda r: where(r, errors=False), json_request(), JSON_POINT)
    assert verdict.details["technique"] == "time"
    assert any(a.timing for a in sent) and "sleep(" in verdict.payload


@pytest.mark.parametrize(("trap", "request_", "point"), [
    (mongo(from_json, strings_only=True), json_request(), JSON_POINT),
    (mongo(from_json, stringify=True), json_request(), JSON_POINT),
    (mongo(from_query_plain), query_request(), QUERY_POINT),
    (lambda r: _json(200, {"ok": True}), json_request(), JSON_POINT),
], ids=["strings-only", "stringified", "no-bracket-parsing", "accept-all"])
def test_traps(trap: Callable[[Request], ResponderResult], request_: Request, point: str) -> None:
    verdicts, sent = run(trap, request_, point)
    assert verdicts == []
    assert len(sent) <= 7


def test_a_bracket_validation_error_is_not_an_injection() -> None:
    def validating(request: Request) -> ResponderResult:  # rejects any bracketed parameter with 400
        if "%5B" in request.target or "[" in request.target:
            return _json(400, {"error": "unexpected parameter"})
        return mongo(from_query_plain)(request)

    assert run(validating, query_request(), QUERY_POINT)[0] == []


def test_light_mode_sends_the_error_probe_only() -> None:
    responder = mongo(from_json, strings_only=True)
    ctx = context(json_request(), JSON_POINT, responder, light=True)
    sent: list[Attack] = []
    assert drive(NOSQLI, ctx, responder, sent=sent) == [] and len(sent) == 2


def test_operator_brackets_in_a_form() -> None:
    def form_app(request: Request) -> ResponderResult:
        fields: dict[str, Any] = {}
        for key, value in parse_qsl(request.body.decode(), keep_blank_values=True):
            match = re.fullmatch(r"(\w+)(?:\[(\$\w+)\](\[\])?)?", key)
            if match is None:
                continue
            name, operator, listed = match.groups()
            fields[name] = value if operator is None else {operator: [value] if listed else value}
        try:
            found = docstore.find(MEMBERS, {"email": fields.get("email")})
        except docstore.QueryError:
            return _json(500, {"error": "bad query"})
        return _json(200, {"name": found[0]["name"]}) if found else _json(404, {"error": "no such member"})

    request = Request.from_url("http://app.test/lookup", "POST", body=b"email=alice%40x.test&page=1",
                               headers=[("Content-Type", "application/x-www-form-urlencoded")])
    (verdict,), _ = run(form_app, request, "POST_FORM_URLENCODED_email_value")
    assert verdict.details["place"] == "form" and "email[$ne]=" in verdict.payload
