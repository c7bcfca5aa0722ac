"""HS256 tokens: the verifying reader refuses every change; the unverified one (the vulnerable
endpoint's) believes anything shaped like a token."""

from __future__ import annotations

import json

import pytest

from lunge.demo.auth import b64url, b64url_decode, bearer, jwt_claims_unverified, jwt_sign, jwt_verify

SECRET = b"s" * 32


def _forge(token: str, claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    head, _, signature = token.split(".")
    if header is not None:
        head = b64url(json.dumps(header).encode())
    return f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"


def test_a_signed_token_verifies() -> None:
    assert jwt_verify(jwt_sign({"sub": "alice", "iat": 1}, SECRET), SECRET) == {"sub": "alice", "iat": 1}


@pytest.mark.parametrize("tamper", [
    lambda t: _forge(t, {"sub": "bob"}),
    lambda t: _forge(t, {"sub": "alice"}, {"alg": "none", "typ": "JWT"}),
    lambda t: t.rsplit(".", 1)[0] + ".",
    lambda t: t + "'",
    lambda t: t + ".x",
    lambda t: "garbage",
])
def test_any_change_fails_verification(tamper) -> None:
    token = jwt_sign({"sub": "alice"}, SECRET)
    assert jwt_verify(tamper(token), SECRET) is None
    assert jwt_verify(token, b"another key") is None


def test_the_unverified_reader_believes_a_forged_claim() -> None:
    forged = _forge(jwt_sign({"sub": "alice"}, SECRET), {"sub": "bob' OR '1'='1"})
    assert jwt_claims_unverified(forged) == {"sub": "bob' OR '1'='1"}
    assert jwt_claims_unverified("a.b") is None
    assert jwt_claims_unverified("a.!!.c") is None


def test_base64url_round_trip_and_refusals() -> None:
    assert b64url_decode(b64url(b"\x00\xff{}")) == b"\x00\xff{}"
    for text in ("", "a+b", "abc=", "a"):
        with pytest.raises(ValueError):
            b64url_decode(text)


def test_bearer() -> None:
    assert bearer("Bearer  tok ") == "tok"
    assert bearer("bearer tok") == "tok"
    assert bearer("Bearer") is None
    assert bearer("Basic dXNlcg==") is None
