"""Dashboard sessions on their own (expiry, the memory bound, constant-time CSRF comparison) and the
sign-in form's failed-authentication limit, shared with the API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from lunge.control.app import create_app
from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.control.dashboard.sessions import Sessions, same
from tests.control.conftest import tenant


def test_a_session_expires_and_ids_are_never_reused() -> None:
    now = [100.0]
    sessions = Sessions(ttl_s=60, clock=lambda: now[0])
    first = sessions.open(1, "shop", 7)
    again = sessions.open(1, "shop", 7)
    assert first.id != again.id and first.csrf != again.csrf and len(first.id) >= 43
    assert sessions.get(first.id) == first
    now[0] += 59.9
    assert sessions.get(first.id) == first
    now[0] += 0.1
    assert sessions.get(first.id) is None and sessions.get(again.id) is None
    assert sessions.get("") is None and sessions.get(None) is None


def test_sessions_stay_bounded_and_the_oldest_go_first() -> None:
    sessions = Sessions(cap=3)
    opened = [sessions.open(1, "shop", n) for n in range(5)]
    assert [sessions.get(s.id) is not None for s in opened] == [False, False, True, True, True]
    sessions.close(opened[4].id)
    assert sessions.get(opened[4].id) is None


def test_csrf_values_compare_exactly_and_never_empty() -> None:
    assert same("abc", "abc")
    assert not same("abc", "abd") and not same("", "") and not same(None, "abc") and not same("abc", None)
    assert not same("\udcff", "x")  # a lone surrogate from a hostile form is compared, not an error


def test_failed_sign_ins_are_rate_limited_as_the_api_is(db_url: str) -> None:
    control = open_control(ControlConfig(db_url=db_url, admin_token="a" * 32, auth_failures=3))
    try:
        with TestClient(create_app(control)) as client:
            team = tenant(control, "team")

            def attempt(token: str) -> int:
                form = client.get("/dashboard/signin").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', form)
                assert csrf
                return client.post("/dashboard/signin", data={"csrf": csrf[1], "token": token},
                                   follow_redirects=False).status_code

            assert [attempt("lunge_" + "z" * 43) for _ in range(4)] == [401, 401, 401, 429]
            assert attempt(team.token) == 429  # the same address waits, even with a good token
            assert client.get("/v1/test_run", headers=team.headers).status_code == 429  # one limiter for both
    finally:
        control.close()
