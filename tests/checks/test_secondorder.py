"""follow_redirect: the GET a browser sends after a same-site 301/302/303, nothing else."""

from __future__ import annotations

import doctest

import pytest

from lunge.checks import secondorder
from lunge.checks.base import Attack, Exchange
from lunge.checks.secondorder import follow_redirect
from lunge.http import Headers, Request, Response

POSTED = Request.from_url("http://shop.test:8080/cards", "POST", headers=[
    ("Cookie", "sid=1; card=old"), ("Authorization", "Bearer t"),
    ("Content-Type", "application/x-www-form-urlencoded")], body=b"message=hi")


def answer(status: int, location: str, *cookies: str) -> Exchange:
    headers = Headers([("Location", location), *(("Set-Cookie", c) for c in cookies)])
    return Exchange(Attack(POSTED, "hi"), Response(status, headers=headers), 0.01)


def test_doctests() -> None:
    assert doctest.testmod(secondorder).failed == 0


def test_same_site_redirect_is_followed_with_credentials_and_new_cookies() -> None:
    follow = follow_redirect(POSTED, answer(303, "preview?x=1", "card=new; Path=/; HttpOnly"))
    assert follow is not None
    assert (follow.method, follow.url, follow.body) == ("GET", "http://shop.test:8080/preview?x=1", b"")
    assert follow.headers.get("cookie") == "sid=1; card=new"
    assert follow.headers.get("authorization") == "Bearer t" and follow.headers.get("content-type") is None


@pytest.mark.parametrize(("status", "location"), [
    (302, "http://elsewhere.test/x"), (302, "//elsewhere.test/x"), (302, "https://shop.test:8080/x"),
    (302, "http://shop.test/x"), (307, "/x"), (200, "/x"), (302, ""), (302, "/x\r\nSet-Cookie: a=b"),
])
def test_anything_else_is_not_followed(status: int, location: str) -> None:
    assert follow_redirect(POSTED, answer(status, location)) is None


def test_no_response_is_not_followed() -> None:
    assert follow_redirect(POSTED, Exchange(Attack(POSTED, "hi"), None, 0.0, "timeout")) is None
