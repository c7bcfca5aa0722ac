"""session-forgery, driven by fake applications: an unsigned base64-JSON identity cookie, its signed
twin, and the traps (a page that only echoes the name; the same page for everyone)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

from lunge.checks.base import Attack
from lunge.checks.session import SESSION_FORGERY
from lunge.checks.testing import context, drive
from lunge.http import Request, Response

WALLETS = {1: ("alice", 120), 2: ("bob", 40), 3: ("carol", 7)}
KEY = b"server-side key"


def cookie(doc: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def read(req: Request, name: str) -> str:
    header = req.headers.get("cookie") or ""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def decode(value: str) -> dict[str, object] | None:
    try:
        doc = json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def wallet_page(uid: object) -> Response:
    wallet = WALLETS.get(uid) if isinstance(uid, int) else None
    if wallet is None:
        return Response(404, body=b"<p>No such wallet.</p>")
    return Response(200, body=f"<h1>Wallet of {wallet[0]}</h1><p>Balance: {wallet[1]} coins</p>".encode())


def unsigned(req: Request) -> Response:
    doc = decode(read(req, "wallet"))
    return wallet_page(doc.get("uid")) if doc else Response(401, body=b"sign in")


def signed(req: Request) -> Response:
    value = read(req, "wallet")
    expected = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, read(req, "wallet_sig")):
        return Response(401, body=b"<p>Bad session signature.</p>")
    return unsigned(req)


def run(responder: Callable[[Request], Response], doc: dict[str, object], point: str,
        extra: str = "") -> tuple[list, list[Attack]]:
    value = cookie(doc)
    header = f"wallet={value}{extra}"
    if responder is signed:
        header += f"; wallet_sig={hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()}"
    req = Request.from_url("http://shop.test/wallet", headers=[("Cookie", header)])
    sent: list[Attack] = []
    ctx = context(req, point, responder, seed=5)
    return drive(SESSION_FORGERY, ctx, responder, sent=sent), sent


UID = "HEADER_COOKIE_COOKIE_wallet_BASE64_JSON_DOC_HASH_uid_value"


def test_unsigned_identity_cookie_is_found() -> None:
    verdicts, sent = run(unsigned, {"uid": 1, "lang": "en"}, UID)
    assert len(verdicts) == 1
    assert verdicts[0].details["forged"] == "2"
    assert verdicts[0].cwe == 565
    assert len(sent) == 3


def test_signed_twin_is_silent() -> None:
    verdicts, sent = run(signed, {"uid": 1, "lang": "en"}, UID)
    assert verdicts == []
    assert len(sent) == 3  # garbage + two neighbours


def test_trap_page_that_only_echoes_the_name_is_silent() -> None:
    def echo(req: Request) -> Response:
        doc = decode(read(req, "wallet")) or {}
        return Response(200, body=f"<p>Hello {doc.get('user')}, welcome back.</p>".encode())

    verdicts, _ = run(echo, {"user": "alice"}, "HEADER_COOKIE_COOKIE_wallet_BASE64_JSON_DOC_HASH_user_value")
    assert verdicts == []


def test_trap_same_page_for_everyone_is_silent() -> None:
    def same(req: Request) -> Response:
        return Response(200, body=b"<p>Our prices</p>")

    verdicts, _ = run(same, {"uid": 1}, UID)
    assert verdicts == []


def test_non_identity_fields_are_not_attacked() -> None:
    req = Request.from_url("http://shop.test/wallet", headers=[("Cookie", f"prefs={cookie({'lang': 'en'})}")])
    ctx = context(req, "HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_lang_value", unsigned)
    assert not SESSION_FORGERY.applies(ctx)
