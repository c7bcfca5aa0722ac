"""jwt's key tricks: kid pointing at an empty file or injecting a key into SQL, and RS256 -> HS256
algorithm confusion with the application's published public key; known vectors for the forging."""

from __future__ import annotations

import base64
import dataclasses
import doctest
import hashlib
import hmac
import importlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lunge.checks import jwks
from lunge.checks.base import Attack
from lunge.checks.jwks import RsaKey
from lunge.checks.jwt import JWT, b64url, forge, parse_token, sign
from lunge.checks.testing import context, drive
from lunge.http import Request, Response

POINT = "HEADER_AUTHORIZATION_value"
KEY = b"k9Qz7Lr2Vb8Wx1Nm4Tp6Yc3Hd5Jf0Gs"
# A 512-bit modulus of 0xc5 bytes: its X.509 PEM and the HS256 signature of HEAD.BODY with the PEM's
# bytes as the key were checked with `openssl pkey -pubin` and `openssl dgst -sha256 -mac HMAC`.
VECTOR_KEY = RsaKey(int("c5" * 64, 16), 65537)
VECTOR_PEM = (b"-----BEGIN PUBLIC KEY-----\n"
              b"MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMXFxcXFxcXFxcXFxcXFxcXFxcXFxcXF\n"
              b"xcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcUCAwEAAQ==\n"
              b"-----END PUBLIC KEY-----\n")
HEAD, BODY = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJzdWIiOiJhbGljZSJ9"


def test_spki_pem_and_its_hs256_signature_match_openssl() -> None:
    assert dict(VECTOR_KEY.pems())["spki-pem"] == VECTOR_PEM
    assert sign("HS256", VECTOR_PEM, f"{HEAD}.{BODY}") == "M-eM8ZCKGPcwVfP_r1n7jqOzVzvlz8M4_esVEURRmMo"
    assert forge({"alg": "HS256", "typ": "JWT"}, BODY, VECTOR_PEM).endswith(
        ".M-eM8ZCKGPcwVfP_r1n7jqOzVzvlz8M4_esVEURRmMo")


def test_both_serialisations_are_byte_for_byte_what_cryptography_writes() -> None:
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    numbers = public.public_numbers()
    pems = dict(RsaKey(numbers.n, numbers.e).pems())
    pem = serialization.Encoding.PEM
    assert pems["spki-pem"] == public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pems["pkcs1-pem"] == public.public_bytes(pem, serialization.PublicFormat.PKCS1)


def test_keys_are_read_back_from_pem_jwks_and_openid_metadata() -> None:
    assert jwks.from_pem_text(VECTOR_PEM.decode()) == [VECTOR_KEY]
    escaped = json.dumps({"public_key": dict(VECTOR_KEY.pems())["pkcs1-pem"].decode()})  # a PEM inside JSON
    assert jwks.from_pem_text(escaped) == [VECTOR_KEY]
    n = b64url(VECTOR_KEY.n.to_bytes(64, "big"))
    document = json.dumps({"keys": [{"kty": "RSA", "kid": "1", "n": n, "e": "AQAB"}, {"kty": "oct", "k": "AA"}]})
    assert jwks.from_jwks(document) == [VECTOR_KEY]
    assert jwks.from_jwks("not json") == [] and jwks.from_jwks('{"keys": 3}') == []
    assert jwks.jwks_uri('{"issuer": "x", "jwks_uri": "http://a.test/keys"}') == "http://a.test/keys"
    assert jwks.from_der(b"\x30\x05\x02\x01") is None  # truncated: no key, no exception


# ---------------------------------------------------------------------- apps
def request(value: str) -> Request:
    return Request.from_url("http://api.test/me", headers=[("Authorization", f"Bearer {value}")])


Verifier = Callable[[dict[str, object], str, str], bool]  # header, signing input, signature


def app(verify: Verifier) -> Callable[[Request], Response]:
    def responder(req: Request) -> Response:
        token = parse_token((req.headers.get("authorization") or "").removeprefix("Bearer "))
        if token is None or not verify(token.header, f"{token.head}.{token.body}", token.signature):
            return Response(401, body=b'{"error": "invalid token"}')
        return Response(200, body=json.dumps({"user": token.claims.get("sub"), "plan": "gold"}).encode())

    return responder


def hs256(header: dict[str, object], key: bytes | None, signing_input: str, signature: str) -> bool:
    return header.get("alg") == "HS256" and key is not None and hmac.compare_digest(
        sign("HS256", key, signing_input), signature)


def kid_token(kid: str = "main") -> str:
    return forge({"alg": "HS256", "typ": "JWT", "kid": kid}, b64url(b'{"sub":"alice"}'), KEY)


def run(responder: Callable[[Request], Response], tok: str,
        keys: tuple[RsaKey, ...] = ()) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = dataclasses.replace(context(request(tok), POINT, responder, seed=5), public_keys=keys)
    return drive(JWT, ctx, responder, sent=sent), sent


# ---------------------------------------------------------------------- kid
def test_kid_read_as_a_file_path_is_found_with_the_empty_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "main").write_bytes(KEY)

    def from_file(header: dict[str, object], signing_input: str, signature: str) -> bool:
        try:
            key = (keys / str(header.get("kid"))).read_bytes()  # the mistake: kid joined to a directory
        except OSError:
            return False
        return hs256(header, key, signing_input, signature)

    verdicts, sent = run(app(from_file), kid_token())
    assert [v.details["technique"] for v in verdicts] == ["kid-path-traversal"]
    assert verdicts[0].details["header"]["kid"].endswith("dev/null")
    assert "empty file" in verdicts[0].confirmation
    assert sum(a.label == "jwt:kid-path-traversal" for a in sent) == 2


def test_kid_in_an_sql_lookup_is_found_with_a_union_select_key() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE keys (kid TEXT, key TEXT)")
    db.execute("INSERT INTO keys VALUES ('main', ?)", (KEY.decode(),))

    def from_sql(header: dict[str, object], signing_input: str, signature: str) -> bool:
        try:
            row = db.execute(f"SELECT key FROM keys WHERE kid = '{header.get('kid')}'").fetchone()  # noqa: S608
        except sqlite3.Error:
            return False
        return hs256(header, row[0].encode() if row else None, signing_input, signature)

    verdicts, _ = run(app(from_sql), kid_token())
    assert [v.details["technique"] for v in verdicts] == ["kid-sql-injection"]
    assert "UNION SELECT" in verdicts[0].details["header"]["kid"]


def test_trap_kid_looked_up_in_a_fixed_table_is_silent() -> None:
    table = {"main": KEY}

    def fixed(header: dict[str, object], signing_input: str, signature: str) -> bool:
        return hs256(header, table.get(str(header.get("kid"))), signing_input, signature)

    verdicts, sent = run(app(fixed), kid_token())
    assert verdicts == []
    assert len(sent) == 7 + 3  # controls, alg none and stripped, then the three kid forgeries


def test_a_token_without_kid_gets_no_kid_forgeries() -> None:
    tok = forge({"alg": "HS256", "typ": "JWT"}, b64url(b'{"sub":"alice"}'), KEY)
    _, sent = run(app(lambda h, i, s: hs256(h, KEY, i, s)), tok)
    assert not any("kid" in a.label for a in sent)


# ---------------------------------------------------------------------- RS256 -> HS256
@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rs256(private: rsa.RSAPrivateKey) -> str:
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64url(b'{"sub":"alice"}')
    signature = private.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(signature)}"


def rsa_app(private: rsa.RSAPrivateKey, *, confused: bool, pem_format: serialization.PublicFormat
            ) -> Callable[[Request], Response]:
    public = private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, pem_format)

    def verify(header: dict[str, object], signing_input: str, signature: str) -> bool:
        if header.get("alg") == "HS256":  # the mistake: "the key" used with the token's own alg
            return confused and hs256(header, pem, signing_input, signature)
        if header.get("alg") != "RS256":
            return False
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        try:
            public.verify(raw, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001  (cryptography's InvalidSignature, or a malformed one)
            return False
        return True

    return app(verify)


@pytest.mark.parametrize("pem_format", [serialization.PublicFormat.SubjectPublicKeyInfo,
                                        serialization.PublicFormat.PKCS1])
def test_rs256_accepting_hs256_signed_with_the_public_pem_is_found(
        rsa_key: rsa.RSAPrivateKey, pem_format: serialization.PublicFormat) -> None:
    numbers = rsa_key.public_key().public_numbers()
    verdicts, sent = run(rsa_app(rsa_key, confused=True, pem_format=pem_format), rs256(rsa_key),
                         (RsaKey(numbers.n, numbers.e),))
    assert [v.details["technique"] for v in verdicts] == ["alg-confusion"]
    assert verdicts[0].details["header"]["alg"] == "HS256"
    assert "RSA public key (PEM)" in verdicts[0].confirmation
    assert sum(a.label.startswith("jwt:alg-confusion") for a in sent) == 2


def test_trap_rs256_pinned_is_silent(rsa_key: rsa.RSAPrivateKey) -> None:
    numbers = rsa_key.public_key().public_numbers()
    app_ = rsa_app(rsa_key, confused=False, pem_format=serialization.PublicFormat.SubjectPublicKeyInfo)
    verdicts, sent = run(app_, rs256(rsa_key), (RsaKey(numbers.n, numbers.e),))
    assert verdicts == []
    assert len(sent) == 7 + 2


def test_without_a_published_key_no_confusion_is_tried(rsa_key: rsa.RSAPrivateKey) -> None:
    app_ = rsa_app(rsa_key, confused=True, pem_format=serialization.PublicFormat.SubjectPublicKeyInfo)
    verdicts, sent = run(app_, rs256(rsa_key))
    assert verdicts == [] and len(sent) == 7


def test_hmac_digests_match_the_standard_library() -> None:
    expected = base64.urlsafe_b64encode(hmac.new(b"", b"a.b", hashlib.sha384).digest()).decode().rstrip("=")
    assert sign("HS384", b"", "a.b") == expected


@pytest.mark.parametrize("name", ["lunge.checks.jwt", "lunge.checks.jwks"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------- identity swap
def notes_app(per_user: bool) -> Callable[[Request], Response]:
    notes = {"alice": "Buy carrots and call the Hatter", "bob": "Fix the roof"}

    def responder(req: Request) -> Response:
        token = parse_token((req.headers.get("authorization") or "").removeprefix("Bearer "))
        sub = token.claims.get("sub") if token is not None and hs256(
            token.header, b"secret", f"{token.head}.{token.body}", token.signature) else None
        if sub not in notes:
            return Response(401, body=b'{"error": "invalid token"}')
        shown = sub if per_user else "alice"  # the trap: one page whoever the token names
        return Response(200, body=json.dumps({"owner": shown, "notes": notes[str(shown)]}).encode())

    return responder


def swap_run(per_user: bool, seen: tuple[str, ...]) -> tuple[list, list[Attack]]:
    responder = notes_app(per_user)
    tok = forge({"alg": "HS256", "typ": "JWT"}, b64url(b'{"sub":"alice"}'), b"secret")
    sent: list[Attack] = []
    ctx = dataclasses.replace(context(request(tok), POINT, responder, seed=7), token_claims={"sub": seen})
    return drive(JWT, ctx, responder, sent=sent), sent


def test_a_forgery_that_got_in_is_swapped_to_another_identity_from_the_record() -> None:
    verdicts, sent = swap_run(per_user=True, seen=("alice", "bob"))
    swap = verdicts[0].details["identity_swap"]
    assert (swap["claim"], swap["from"], swap["to"], swap["status"]) == ("sub", "alice", "bob", 200)
    assert verdicts[0].severity == "critical" and "another user's page" in verdicts[0].confirmation
    forged = parse_token(next(a for a in sent if a.label == "jwt:identity-swap").payload)
    assert forged is not None and forged.claims["sub"] == "bob"
    assert sum(a.label.startswith("jwt:identity") for a in sent) == 3  # swap, unknown identity, confirm


def test_trap_same_page_for_every_identity_gets_no_swap() -> None:
    verdicts, sent = swap_run(per_user=False, seen=("alice", "bob"))
    assert verdicts[0].details["identity_swap"] is None
    assert sum(a.label.startswith("jwt:identity") for a in sent) == 2


def test_no_other_identity_in_the_record_no_swap_requests() -> None:
    verdicts, sent = swap_run(per_user=True, seen=("alice",))
    assert verdicts[0].details["identity_swap"] is None
    assert not any(a.label.startswith("jwt:identity") for a in sent)
