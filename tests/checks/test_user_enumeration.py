"""user-enumeration, driven by fake sign-ins: a message that names the failure; the twin with one
message; the traps (a rate limit that kicks in, an echo of the username)."""

from __future__ import annotations

import json
from collections.abc import Callable

from lunge.checks.base import Attack
from lunge.checks.enumeration import USER_ENUMERATION
from lunge.checks.testing import context, drive
from lunge.http import Request, Response

USERS = {"alice": "wonderland"}


def form(req: Request) -> dict[str, str]:
    from urllib.parse import parse_qs
    return {k: v[0] for k, v in parse_qs(req.body.decode()).items()}


def login(answer: Callable[[str, str], Response]) -> Callable[[Request], Response]:
    def responder(req: Request) -> Response:
        fields = form(req)
        user, password = fields.get("username", ""), fields.get("password", "")
        if USERS.get(user) == password:
            return Response(303, body=b"See /account.")
        return answer(user, password)

    return responder


def telling(user: str, password: str) -> Response:
    if user not in USERS:
        return Response(404, body=b"<p>No such user.</p>")
    return Response(401, body=b"<p>Wrong password.</p>")


def same(user: str, password: str) -> Response:
    return Response(401, body=b"<p>Wrong username or password.</p>")


def request() -> Request:
    return Request.from_url("http://app.test/login", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                            b"username=alice&password=wonderland")


def run(responder: Callable[[Request], Response], req: Request | None = None,
        point: str = "POST_FORM_URLENCODED_username_value") -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = context(req or request(), point, responder, seed=4)
    return drive(USER_ENUMERATION, ctx, responder, sent=sent), sent


def test_telling_messages_are_found() -> None:
    verdicts, sent = run(login(telling))
    assert len(verdicts) == 1 and verdicts[0].cwe == 204
    assert (verdicts[0].details["known_status"], verdicts[0].details["unknown_status"]) == (401, 404)
    assert len(sent) == 4
    assert all("wonderland" not in form(a.request)["password"] for a in sent)


def test_same_message_twin_is_silent() -> None:
    verdicts, sent = run(login(same))
    assert verdicts == [] and len(sent) == 4


def test_message_differing_only_by_text_is_found() -> None:
    def text(user: str, password: str) -> Response:
        return Response(401, body=b"<p>Unknown account.</p>" if user not in USERS else b"<p>Password incorrect.</p>")

    assert len(run(login(text))[0]) == 1


def test_trap_echo_of_the_username_is_silent() -> None:
    def echo(user: str, password: str) -> Response:
        return Response(401, body=f"<p>Sign-in failed for {user}.</p>".encode())

    assert run(login(echo))[0] == []


def test_trap_rate_limit_is_silent() -> None:
    count = [0]

    def limited(user: str, password: str) -> Response:
        count[0] += 1
        if count[0] > 2:
            return Response(429, body=b"<p>Too many attempts.</p>")
        return telling(user, password)

    assert run(login(limited))[0] == []


def test_needs_a_password_field_beside_the_username() -> None:
    req = Request.from_url("http://app.test/check", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                           b"username=alice")
    assert run(login(telling), req)[1] == []
    body = json.dumps({"user": {"email": "a@b.test", "password": "x"}}).encode()
    req = Request.from_url("http://app.test/api/login", "POST", [("Content-Type", "application/json")], body)
    ctx = context(req, "POST_JSON_DOC_HASH_user_HASH_email_value", login(same))
    assert USER_ENUMERATION.applies(ctx)
