"""The demo's key-choosing tokens and its limit on failed sign-ins, by hand: the kid path and the
RS256 -> HS256 confusion really work on the vulnerable side and not on the twins; the shop's RSA
key, JWK Set and PEM agree; past five failures a minute a wrong password is a 429."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from lunge.checks import jwks
from lunge.checks.jwt import b64url, forge
from lunge.demo import ThreadedDemoServer, jwtkeys
from lunge.demo.auth import FAILURES_ALLOWED, LOCK_AFTER, LOCK_SECONDS, b64url_decode
from lunge.http import Request
from tests.demo.wire import Sent, send


async def _post(shop: ThreadedDemoServer, path: str, body: dict[str, object]) -> Sent:
    return await send(Request.from_url(f"{shop.url}{path}", "POST", [("Content-Type", "application/json")],
                                       json.dumps(body).encode()))


async def _get(shop: ThreadedDemoServer, path: str, token: str) -> Sent:
    return await send(Request.from_url(f"{shop.url}{path}", headers=[("Authorization", f"Bearer {token}")]))


ALICE = {"username": "alice", "password": "wonderland"}


def test_the_rsa_key_the_jwks_and_the_pem_agree() -> None:
    public = serialization.load_pem_public_key(jwtkeys.PUBLIC_PEM)
    assert public.public_numbers().n == jwtkeys.N and public.public_numbers().e == jwtkeys.E  # type: ignore[union-attr]
    token = jwtkeys.rs256_sign({"sub": "alice"})
    head, body, signature = token.split(".")
    public.verify(b64url_decode(signature), f"{head}.{body}".encode(), padding.PKCS1v15(),  # type: ignore[call-arg,union-attr]
                  hashes.SHA256())
    assert jwks.from_pem_text(jwtkeys.PUBLIC_PEM.decode()) == [jwks.RsaKey(jwtkeys.N, jwtkeys.E)]


async def test_the_published_jwks_lets_anyone_sign_for_the_unpinned_reader(shop: ThreadedDemoServer) -> None:
    published = await send(Request.from_url(f"{shop.url}/.well-known/jwks.json"))
    (key,) = jwks.from_jwks(published.text)
    pem = dict(key.pems())["spki-pem"]
    assert pem == jwtkeys.PUBLIC_PEM
    forged = forge({"alg": "HS256", "typ": "JWT"}, b64url(b'{"sub":"bob"}'), pem)
    assert (await _get(shop, "/api/rs/notes", forged)).text.startswith('{"owner": "bob"')
    assert (await _get(shop, "/safe/api/rs/notes", forged)).status == 401
    genuine = json.loads((await _post(shop, "/api/rs/token", ALICE)).text)["token"]
    assert (await _get(shop, "/safe/api/rs/notes", genuine)).status == 200


async def test_a_kid_naming_an_empty_file_makes_the_key_empty_only_for_the_path_reader(
        shop: ThreadedDemoServer) -> None:
    genuine = json.loads((await _post(shop, "/api/keyring/token", ALICE)).text)["token"]
    header = json.loads(b64url_decode(genuine.split(".")[0]))
    assert header["kid"] == jwtkeys.KID
    forged = forge({**header, "kid": "../../../../../../../../dev/null"}, b64url(b'{"sub":"bob"}'), b"")
    assert (await _get(shop, "/api/keyring/notes", forged)).text.startswith('{"owner": "bob"')
    assert (await _get(shop, "/safe/api/keyring/notes", forged)).status == 401
    for path in ("/api/keyring/notes", "/safe/api/keyring/notes"):
        assert (await _get(shop, path, genuine)).status == 200


async def test_past_five_failures_a_wrong_password_is_429_and_the_right_one_still_works(
        shop: ThreadedDemoServer) -> None:
    wrong = {"username": "dave", "password": "not-his"}  # a user of its own: no other test's failures count
    answers = [(await _post(shop, "/api/token", wrong)).status for _ in range(FAILURES_ALLOWED + 2)]
    assert answers == [401] * FAILURES_ALLOWED + [429, 429]
    limited = await _post(shop, "/api/token", wrong)
    assert limited.response.headers.get("retry-after") == "60"
    assert (await _post(shop, "/api/token", ALICE)).status == 200


async def test_the_vault_locks_out_only_on_its_safe_side(shop: ThreadedDemoServer) -> None:
    wrong, right = {"username": "bob", "password": "not-his"}, {"username": "bob", "password": "builder"}
    twin = [(await _post(shop, "/safe/api/vault/login", wrong)).status for _ in range(LOCK_AFTER + 1)]
    assert twin == [401] * LOCK_AFTER + [429]
    locked = await _post(shop, "/safe/api/vault/login", right)  # the right password too, while it lasts
    assert locked.status == 429 and 0 < int(locked.response.headers.get("retry-after") or 0) <= LOCK_SECONDS + 1
    vulnerable = [(await _post(shop, "/api/vault/login", wrong)).status for _ in range(LOCK_AFTER + 5)]
    assert set(vulnerable) == {401}
    assert (await _post(shop, "/api/vault/login", right)).status == 200
