"""auth-bypass, driven by fake sign-in endpoints: loose comparison (type juggling), wildcard API
keys, and the twins and traps (strict comparison; a field that is not checked at all)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from lunge.checks.authbypass import AUTH_BYPASS
from lunge.checks.base import Attack
from lunge.checks.testing import context, drive
from lunge.http import Request, Response

PASSWORD = "wonderland"
OK = Response(200, body=b'{"status": "signed in", "user": "alice"}')
NO = Response(401, body=b'{"error": "wrong username or password"}')


def json_login(compare: Callable[[Any], bool]) -> Callable[[Request], Response]:
    def responder(req: Request) -> Response:
        try:
            body = json.loads(req.body)
        except ValueError:
            return Response(400, body=b"bad json")
        return OK if body.get("username") == "alice" and compare(body.get("password")) else NO

    return responder


def loose(given: Any) -> bool:
    """JavaScript's ``"wonderland" == given`` for the values a JSON body can carry, roughly."""
    return given is True or given == PASSWORD


def strict(given: Any) -> bool:
    return isinstance(given, str) and given == PASSWORD


def run(responder: Callable[[Request], Response], req: Request, point: str) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = context(req, point, responder, seed=9)
    return drive(AUTH_BYPASS, ctx, responder, sent=sent), sent


def login_request() -> Request:
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    return Request.from_url("http://app.test/api/login", "POST", [("Content-Type", "application/json")], body)


JSON_POINT = "POST_JSON_DOC_HASH_password_value"


def test_json_true_password_is_found() -> None:
    verdicts, sent = run(json_login(loose), login_request(), JSON_POINT)
    assert len(verdicts) == 1 and verdicts[0].details["value"] == "true"
    assert verdicts[0].cwe == 287
    assert json.loads(verdicts[0].exchange.attack.request.body)["password"] is True
    assert len(sent) == 1 + 7 + 1


def test_strict_comparison_twin_is_silent() -> None:
    verdicts, sent = run(json_login(strict), login_request(), JSON_POINT)
    assert verdicts == [] and len(sent) == 8


def test_trap_field_not_checked_is_silent() -> None:
    verdicts, sent = run(json_login(lambda given: True), login_request(), JSON_POINT)
    assert verdicts == [] and len(sent) == 1


def api(accepts: Callable[[str], bool]) -> Callable[[Request], Response]:
    def responder(req: Request) -> Response:
        key = parse_qs(req.query, keep_blank_values=True).get("api_key", [""])[0]
        return Response(200, body=b'{"items": [1, 2]}') if accepts(key) else Response(403, body=b"forbidden")

    return responder


def test_wildcard_api_key_is_found_and_a_strict_one_is_not() -> None:
    req = Request.from_url("http://app.test/items?api_key=K3y9-abc&page=1")
    verdicts, _ = run(api(lambda k: k in ("K3y9-abc", "*")), req, "GET_api_key_value")
    assert [v.details["value"] for v in verdicts] == ["*"]
    verdicts, sent = run(api(lambda k: k == "K3y9-abc"), req, "GET_api_key_value")
    assert verdicts == [] and len(sent) == 3


def test_only_credential_fields() -> None:
    req = Request.from_url("http://app.test/items?page=1&username=alice")
    for point in ("GET_page_value", "GET_username_value"):
        assert not AUTH_BYPASS.applies(context(req, point, api(lambda k: True)))
