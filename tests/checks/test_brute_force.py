"""brute-force, driven by fake sign-ins: no limit at all (found); the traps: a 429 after a few failures,
a silent lockout (the right password refused afterwards), a lockout message, a growing delay, a
CAPTCHA, a sign-in that accepts any password."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import parse_qs

import pytest

from lunge.checks.base import Attack
from lunge.checks.bruteforce import BRUTE_FORCE
from lunge.checks.testing import ResponderResult, context, drive
from lunge.http import Headers, Request, Response

USERS = {"alice": "wonderland"}
FAILED = Response(401, body=b"<p>Wrong username or password.</p>")
SIGNED_IN = Response(303, headers=Headers([("Location", "/account")]), body=b"See /account.")


def fields(req: Request) -> tuple[str, str]:
    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    return form.get("username", ""), form.get("password", "")


def request() -> Request:
    return Request.from_url("http://app.test/login", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                            b"username=alice&password=wonderland")


class Login:
    """A sign-in that counts failures per username; ``limited`` decides the answer once counted."""

    def __init__(self, limited: Callable[[int, bool], ResponderResult] | None = None) -> None:
        self.failures: dict[str, int] = {}
        self.limited = limited

    def __call__(self, req: Request) -> ResponderResult:
        user, password = fields(req)
        right = USERS.get(user) == password
        count = self.failures.get(user, 0)
        if self.limited is not None:
            answer = self.limited(count, right)
            if answer is not None:
                return answer
        if right:
            return SIGNED_IN
        self.failures[user] = count + 1
        return FAILED


def run(responder: Callable[[Request], ResponderResult], attempts: int = 20) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = replace(context(request(), "POST_FORM_URLENCODED_username_value", responder, seed=6),
                  login_attempts=attempts)
    return drive(BRUTE_FORCE, ctx, responder, sent=sent), sent


def test_no_limit_is_found_with_the_attempts_and_the_final_success() -> None:
    verdicts, sent = run(Login())
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe) == ("brute-force", 307)
    assert verdict.details["attempts"] == 20 and verdict.details["statuses"] == {401: 20}
    assert verdict.details["final_status"] == 303
    assert "signed in as recorded" in verdict.confirmation
    assert len(sent) == 21
    assert [fields(a.request)[0] for a in sent] == ["alice"] * 21
    assert len({fields(a.request)[1] for a in sent[:20]}) == 20  # a new wrong password each time
    assert fields(sent[-1].request)[1] == "wonderland" and sent[-1].label == "brute-force:right-password"


def test_the_policy_sets_the_number_of_attempts() -> None:
    verdicts, sent = run(Login(), attempts=5)
    assert verdicts[0].details["attempts"] == 5 and len(sent) == 6


def test_trap_429_after_five_failures_is_silent_and_stops_early() -> None:
    def throttle(count: int, right: bool) -> Response | None:
        return Response(429, headers=Headers([("Retry-After", "30")]), body=b"slow down") if count >= 5 else None

    verdicts, sent = run(Login(throttle))
    assert verdicts == []
    assert len(sent) == 6  # stopped at the first limited answer


def test_trap_silent_lockout_refusing_the_right_password_is_silent() -> None:
    def locked(count: int, right: bool) -> Response | None:
        return FAILED if count >= 5 else None  # the same answer, right password or not

    verdicts, sent = run(Login(locked))
    assert verdicts == [] and len(sent) == 21


@pytest.mark.parametrize("body", [b"<p>Account locked for 15 minutes.</p>",
                                  b"<p>Wrong password. Please complete the CAPTCHA.</p>",
                                  b"<p>Too many failed attempts.</p>"])
def test_trap_lockout_or_captcha_message_is_silent(body: bytes) -> None:
    def message(count: int, right: bool) -> Response | None:
        return Response(401, body=body) if count >= 3 and not right else None

    verdicts, _ = run(Login(message))
    assert verdicts == []


def test_trap_growing_delay_is_silent() -> None:
    login = Login()

    def delaying(req: Request) -> tuple[Response, float]:
        waited = 0.01 + 0.2 * login.failures.get("alice", 0)  # 0.2 s more for each failure
        answer = login(req)
        assert isinstance(answer, Response)
        return answer, waited

    verdicts, sent = run(delaying)
    assert verdicts == [] and len(sent) == 20  # the right password is not even tried


def test_trap_status_change_after_failures_is_silent() -> None:
    def forbidden(count: int, right: bool) -> Response | None:
        return Response(403, body=b"<p>Forbidden.</p>") if count >= 10 else None

    verdicts, _ = run(Login(forbidden))
    assert verdicts == []


def test_trap_any_password_accepted_is_not_this_checks_finding() -> None:
    verdicts, sent = run(lambda req: SIGNED_IN)
    assert verdicts == [] and len(sent) == 1


def test_a_recorded_failure_is_not_judged() -> None:
    verdicts, sent = run(lambda req: FAILED)
    assert verdicts == [] and sent == []


def test_only_the_username_of_a_sign_in() -> None:
    ctx = context(request(), "POST_FORM_URLENCODED_password_value", Login())
    assert not BRUTE_FORCE.applies(ctx)
    lone = Request.from_url("http://app.test/check", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                            b"username=alice")
    assert not BRUTE_FORCE.applies(context(lone, "POST_FORM_URLENCODED_username_value", Login()))
    assert not BRUTE_FORCE.applies(replace(context(request(), "POST_FORM_URLENCODED_username_value", Login()),
                                           light=True))
