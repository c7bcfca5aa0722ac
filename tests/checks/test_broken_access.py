"""broken-access (client-side role flags), driven by fake applications: a cookie flag that grants
the staff page; the twin that ignores it; the traps (a flag only echoed; a preference flag)."""

from __future__ import annotations

from collections.abc import Callable

from lunge.checks.base import Attack
from lunge.checks.roleflag import BROKEN_ACCESS
from lunge.checks.testing import context, drive
from lunge.http import Request, Response

BOARD = b"<h1>Board</h1><p>Your orders: 3</p>"
STAFF = b"<h1>Board</h1><p>Your orders: 3</p><h2>Staff tools</h2><ul><li>Refund any order</li><li>Ban users</li></ul>"


def flag(req: Request, name: str) -> str:
    for part in (req.headers.get("cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def trusting(req: Request) -> Response:
    value = flag(req, "is_admin")
    if value not in ("0", "1"):
        return Response(400, body=b"bad flag")
    return Response(200, body=STAFF if value == "1" else BOARD)


def ignoring(req: Request) -> Response:
    return Response(200, body=BOARD)


def run(responder: Callable[[Request], Response], cookie: str = "is_admin=0; theme=light",
        point: str = "HEADER_COOKIE_COOKIE_is_admin_value") -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    req = Request.from_url("http://app.test/board", headers=[("Cookie", cookie)])
    ctx = context(req, point, responder, seed=6)
    return drive(BROKEN_ACCESS, ctx, responder, sent=sent), sent


def test_cookie_flag_granting_staff_tools_is_found() -> None:
    verdicts, sent = run(trusting)
    assert len(verdicts) == 1 and verdicts[0].details["raised"] == "1" and verdicts[0].cwe == 285
    assert len(sent) == 3


def test_twin_ignoring_the_flag_is_silent() -> None:
    verdicts, sent = run(ignoring)
    assert verdicts == [] and len(sent) == 2


def test_trap_flag_only_echoed_is_silent() -> None:
    def echo(req: Request) -> Response:
        return Response(200, body=f"<p>role: {flag(req, 'role')}</p><p>Your orders: 3</p>".encode())

    assert run(echo, "role=user", "HEADER_COOKIE_COOKIE_role_value")[0] == []


def test_role_query_parameter_is_raised_to_admin() -> None:
    def app(req: Request) -> Response:
        return Response(200, body=STAFF if "role=admin" in req.target else BOARD)

    sent: list[Attack] = []
    req = Request.from_url("http://app.test/board?role=user&page=1")
    verdicts = drive(BROKEN_ACCESS, context(req, "GET_role_value", app), app, sent=sent)
    assert [v.details["raised"] for v in verdicts] == ["admin"]


def test_non_privilege_flags_are_not_attacked() -> None:
    assert run(trusting, "is_admin=0; dark=0", "HEADER_COOKIE_COOKIE_dark_value")[1] == []
    assert run(trusting, "is_admin=editor", "HEADER_COOKIE_COOKIE_is_admin_value")[1] == []
