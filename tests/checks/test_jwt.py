"""jwt, driven by fake token-checking applications: unverified signatures, alg none, a wordlist key,
and the traps (an app that rejects alg none with a strong key; an endpoint that ignores the token)."""

from __future__ import annotations

import json
from collections.abc import Callable

from lunge.checks.base import Attack
from lunge.checks.jwt import JWT, b64url, crack, parse_token, sign
from lunge.checks.testing import context, drive
from lunge.http import Headers, Request, Response

POINT = "HEADER_AUTHORIZATION_value"
STRONG = "k9Qz7Lr2Vb8Wx1Nm4Tp6Yc3Hd5Jf0Gs"


def token(key: str, claims: dict[str, object] | None = None, alg: str = "HS256") -> str:
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims or {"sub": "alice"}).encode())
    return f"{head}.{body}.{sign(alg, key, f'{head}.{body}')}"


def request(value: str) -> Request:
    return Request.from_url("http://api.test/me", headers=[("Authorization", f"Bearer {value}")])


Verifier = Callable[[str], dict[str, object] | None]


def app(verify: Verifier) -> Callable[[Request], Response]:
    def responder(req: Request) -> Response:
        header = req.headers.get("authorization") or ""
        claims = verify(header.removeprefix("Bearer "))
        if claims is None:
            return Response(401, body=b'{"error": "invalid token"}')
        return Response(200, body=json.dumps({"user": claims.get("sub"), "plan": "gold"}).encode())

    return responder


def parts(tok: str) -> tuple[dict[str, object], dict[str, object], str] | None:
    t = parse_token(tok)
    return (t.header, t.claims, t.signature) if t else None


def verifying(key: str, *, accept_none: bool = False, case_insensitive_none: bool = False) -> Verifier:
    def verify(tok: str) -> dict[str, object] | None:
        decoded = parts(tok)
        if decoded is None:
            return None
        header, claims, signature = decoded
        alg = str(header.get("alg"))
        if accept_none and (alg == "none" or (case_insensitive_none and alg.lower() == "none")):
            return claims
        if alg != "HS256":
            return None
        head, body, _ = tok.split(".")
        return claims if sign("HS256", key, f"{head}.{body}") == signature else None

    return verify


def unverified(tok: str) -> dict[str, object] | None:
    decoded = parts(tok)
    return decoded[1] if decoded else None


def run(responder: Callable[[Request], Response], tok: str) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = context(request(tok), POINT, responder, seed=3)
    return drive(JWT, ctx, responder, sent=sent), sent


def test_crack_finds_a_wordlist_key_offline_and_not_a_strong_one() -> None:
    weak = parse_token(token("secret"))
    strong = parse_token(token(STRONG))
    assert weak is not None and strong is not None
    assert crack(weak) == "secret"
    assert crack(strong) is None


def test_unverified_signature_is_found() -> None:
    verdicts, sent = run(app(unverified), token(STRONG))
    assert len(verdicts) == 1
    assert verdicts[0].details["technique"] == "signature-not-verified"
    assert verdicts[0].cwe == 347
    assert len(sent) == 3


def test_alg_none_is_found_with_every_spelling_tried() -> None:
    verdicts, sent = run(app(verifying(STRONG, accept_none=True)), token(STRONG))
    assert [v.details["technique"] for v in verdicts] == ["alg-none"]
    labels = {a.label for a in sent}
    assert {"jwt:alg-none", "jwt:alg-None", "jwt:alg-NONE", "jwt:alg-nOnE", "jwt:signature-stripped"} <= labels


def test_case_insensitive_none_reports_all_accepted_spellings() -> None:
    verdicts, _ = run(app(verifying(STRONG, accept_none=True, case_insensitive_none=True)), token(STRONG))
    assert set(verdicts[0].details["accepted_forgeries"]) >= {"alg-none", "alg-NONE", "alg-nOnE"}


def test_wordlist_key_is_cracked_and_a_resigned_token_accepted() -> None:
    verdicts, sent = run(app(verifying("secret")), token("secret"))
    assert len(verdicts) == 1
    assert verdicts[0].details["technique"] == "cracked-key"
    assert verdicts[0].details["cracked_key"] == "secret"
    forged = next(a for a in sent if a.label == "jwt:cracked-key")
    claims = parse_token(forged.payload.removeprefix("Bearer "))
    assert claims is not None and "lunge" in claims.claims


def test_trap_strong_key_rejecting_none_is_silent() -> None:
    verdicts, sent = run(app(verifying(STRONG)), token(STRONG))
    assert verdicts == []
    assert len(sent) == 7  # 2 controls + 4 alg none + stripped


def test_trap_endpoint_ignoring_the_token_is_silent() -> None:
    def public(req: Request) -> Response:
        return Response(200, body=b'{"items": [1, 2, 3]}')

    verdicts, sent = run(public, token(STRONG))
    assert verdicts == []
    assert len(sent) == 2


def test_recorded_token_refused_is_not_judged() -> None:
    def expired(req: Request) -> Response:
        return Response(401, body=b'{"error": "expired"}')

    verdicts, sent = run(expired, token(STRONG))
    assert verdicts == [] and sent == []


def test_only_the_token_point_not_its_claims() -> None:
    ctx = context(request(token(STRONG)), "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value", app(unverified))
    assert not JWT.applies(ctx)


def test_plain_header_is_not_a_token() -> None:
    req = Request.from_url("http://api.test/me", headers=Headers([("Authorization", "Basic dXNlcjpwYXNz")]))
    ctx = context(req, POINT, app(unverified))
    assert not JWT.applies(ctx)


def test_expired_recorded_token_is_forged_with_a_later_exp() -> None:
    now = 2_000_000_000

    def fresh(verify: Verifier) -> Verifier:
        def check(tok: str) -> dict[str, object] | None:
            claims = verify(tok)
            exp = claims.get("exp") if claims else None
            return claims if isinstance(exp, int) and exp > now else None

        return check

    expired = token(STRONG, {"sub": "alice", "exp": now - 60})

    def app_fresh(verify: Verifier) -> Callable[[Request], Response]:
        inner = app(fresh(verify))

        def responder(req: Request) -> Response:
            # the genuine request is answered as the engine would send it: with a renewed token
            if (req.headers.get("authorization") or "").endswith(expired):
                return Response(200, body=json.dumps({"user": "alice", "plan": "gold"}).encode())
            return inner(req)

        return responder

    verdicts, _ = run(app_fresh(verifying(STRONG, accept_none=True)), expired)
    assert [v.details["technique"] for v in verdicts] == ["alg-none"]
    verdicts, _ = run(app_fresh(verifying(STRONG)), expired)
    assert verdicts == []
