"""csrf, driven by fake applications: a cookie-session form with no defence; its twins (an Origin
check, a token, SameSite cookies) and the traps (an action that needs no session; JSON APIs)."""

from __future__ import annotations

from collections.abc import Callable

from lunge.checks.base import Attack
from lunge.checks.csrf import CSRF, FOREIGN_ORIGIN
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response

SESSION = "sid=4f2a9c; theme=light"
NO_SAMESITE = {"sid": "sid=4f2a9c; Path=/; HttpOnly"}
LAX = {"sid": "sid=4f2a9c; Path=/; HttpOnly; SameSite=Lax"}


def transfer(req: Request, *, check_origin: bool = False, needs_session: bool = True) -> Response:
    if needs_session and "sid=4f2a9c" not in (req.headers.get("cookie") or ""):
        return Response(401, body=b"<p>Sign in first.</p>")
    origin = req.headers.get("origin")
    if check_origin and origin is not None and origin != "http://bank.test":
        return Response(403, body=b"<p>Cross-site request refused.</p>")
    return Response(303, body=b"Transferred.", headers=Headers([("Location", "/account")]))


def request(body: bytes = b"to=bob&amount=10", content_type: str = "application/x-www-form-urlencoded",
            extra: list[tuple[str, str]] | None = None) -> Request:
    headers = [("Content-Type", content_type), ("Cookie", SESSION), ("Origin", "http://bank.test"), *(extra or [])]
    return Request.from_url("http://bank.test/transfer", "POST", headers, body)


def run(responder: Callable[[Request], Response], req: Request | None = None,
        set_cookies: dict[str, str] | None = None) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = context(req or request(), "URI_value", responder, set_cookies=NO_SAMESITE if set_cookies is None
                  else set_cookies)
    return drive(CSRF, ctx, responder, sent=sent), sent


def test_cookie_session_form_without_defence_is_found() -> None:
    verdicts, sent = run(transfer)
    assert len(verdicts) == 1 and verdicts[0].cwe == 352
    assert len(sent) == 3
    forged = verdicts[0].exchange.attack.request
    assert forged.headers.get("origin") == FOREIGN_ORIGIN
    assert CSRF.per_baseline


def test_origin_check_twin_is_silent() -> None:
    verdicts, sent = run(lambda r: transfer(r, check_origin=True))
    assert verdicts == [] and len(sent) == 2


def test_samesite_lax_session_cookie_is_not_sent_cross_site() -> None:
    verdicts, sent = run(transfer, set_cookies={**LAX, "theme": "theme=light; Path=/"})
    assert verdicts == []
    no_cookies, cross = sent
    assert "sid=" not in (cross.request.headers.get("cookie") or "")


def test_all_cookies_samesite_is_not_attacked() -> None:
    verdicts, sent = run(transfer, set_cookies={**LAX, "theme": "theme=light; SameSite=Strict"})
    assert verdicts == [] and sent == []


def test_trap_action_without_session_is_silent() -> None:
    verdicts, _ = run(lambda r: transfer(r, needs_session=False))
    assert verdicts == []


def test_token_in_the_form_is_not_attacked() -> None:
    verdicts, sent = run(transfer, request(b"to=bob&amount=10&csrf_token=abc123"))
    assert verdicts == [] and sent == []


def test_json_body_and_custom_header_are_not_attacked() -> None:
    assert run(transfer, request(b'{"to": "bob"}', "application/json"))[1] == []
    assert run(transfer, request(extra=[("X-Requested-With", "XMLHttpRequest")]))[1] == []


def test_get_is_not_attacked() -> None:
    req = Request.from_url("http://bank.test/account", headers=[("Cookie", SESSION)])
    assert run(transfer, req)[1] == []
