"""The engine on real loopback servers for the authentication checks that need more than the baseline:
the origin's public keys looked up once per run (jwt's RS256 -> HS256 confusion), and the policy's
``limits.login_attempts`` handed to brute-force."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lunge.checks.bruteforce import BRUTE_FORCE
from lunge.checks.jwt import JWT, b64url
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.engine.tokenclaims import TokenClaims
from lunge.http import Headers, Request, Response
from lunge.policy import BUILTIN, Limits
from lunge.store.models import NewBaseline

# The default policy with the Authorization header as a point, and no passive rules (a Server banner).
POLICY = dataclasses.replace(BUILTIN["default"], include=("URI", "HEADER_AUTHORIZATION"), passive=False)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _rs256(claims: dict[str, object]) -> str:
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = KEY.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(signature)}"


def _jwk() -> dict[str, str]:
    numbers = KEY.public_key().public_numbers()
    return {"kty": "RSA", "kid": "1", "use": "sig", "alg": "RS256",
            "n": b64url(numbers.n.to_bytes(256, "big")), "e": b64url(numbers.e.to_bytes(3, "big"))}


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verified(token: str, *, pinned: bool) -> dict[str, object] | None:
    try:
        head, body, signature = token.split(".")
        alg = json.loads(_decode(head)).get("alg")
        raw = _decode(signature)
    except ValueError:
        return None
    signing_input = f"{head}.{body}".encode()
    if alg == "HS256" and not pinned:  # the mistake: "the key" used with whatever alg the token names
        if not hmac.compare_digest(hmac.new(PEM, signing_input, hashlib.sha256).digest(), raw):
            return None
    elif alg == "RS256":
        try:
            KEY.public_key().verify(raw, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001  (InvalidSignature, or bytes that are no signature)
            return None
    else:
        return None
    claims = json.loads(_decode(body))
    return claims if isinstance(claims, dict) else None


def _issuer() -> tuple[web.Application, list[str]]:
    fetched: list[str] = []

    async def jwks(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.json_response({"keys": [_jwk()]})

    async def missing(request: web.Request) -> web.Response:
        fetched.append(request.path)
        raise web.HTTPNotFound()

    def me(pinned: bool):  # noqa: ANN202
        async def handler(request: web.Request) -> web.Response:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            claims = _verified(token, pinned=pinned)
            if claims is None:
                return web.json_response({"error": "invalid token"}, status=401)
            return web.json_response({"user": claims.get("sub"), "plan": "gold"})
        return handler

    app = web.Application()
    app.add_routes([web.get("/.well-known/jwks.json", jwks), web.get("/jwks.json", missing),
                    web.get("/.well-known/openid-configuration", missing),
                    web.get("/api/me", me(pinned=False)), web.get("/safe/api/me", me(pinned=True))])
    return app, fetched


async def _run(store, baselines: list[tuple[Request, Response]], config: RunConfig):  # noqa: ANN202
    record = store.create_record("rec")
    store.add_baselines([NewBaseline(record.id, req, resp) for req, resp in baselines])
    store.close_record(record.id)
    run = store.create_run(name="run", record_id=record.id, policy_name=config.policy.name)
    final = await RunEngine(store, run, config, Events()).execute()
    return final, list(store.iter_findings(final.id))


async def test_rs256_confusion_is_found_with_the_jwks_fetched_once(store, loopback) -> None:
    app, fetched = _issuer()
    server = await loopback(app)
    token = _rs256({"sub": "alice"})
    ok = Response(200, body=b'{"user": "alice", "plan": "gold"}')
    baselines = [(Request.from_url(f"{server.url}{path}", headers=[("Authorization", f"Bearer {token}")]), ok)
                 for path in ("/api/me", "/safe/api/me")]
    config = RunConfig(policy=POLICY, checks=(JWT,), workers=1)

    final, findings = await _run(store, baselines, config)

    found = [(f.check_id, f.url, f.details.get("technique")) for f in findings]
    assert found == [("jwt", f"{server.url}/api/me", "alg-confusion")]
    assert '"alg":"HS256"' in base64.urlsafe_b64decode(findings[0].payload.split()[1].split(".")[0] + "==").decode()
    assert sorted(fetched) == ["/.well-known/jwks.json", "/.well-known/openid-configuration", "/jwks.json"]
    assert final.stats["requests_setup"] >= 3


async def test_no_published_key_no_confusion_and_no_second_fetch(store, loopback) -> None:
    fetched: list[str] = []

    async def nothing(request: web.Request) -> web.Response:
        fetched.append(request.path)
        if request.path == "/api/me":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if _verified(token, pinned=False) is not None:
                return web.json_response({"user": "alice", "plan": "gold"})
            return web.json_response({"error": "invalid token"}, status=401)
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", nothing)
    server = await loopback(app)
    token = _rs256({"sub": "alice"})
    ok = Response(200, body=b'{"user": "alice", "plan": "gold"}')
    req = Request.from_url(f"{server.url}/api/me?page=1", headers=[("Authorization", f"Bearer {token}")])
    again = Request.from_url(f"{server.url}/api/me?page=2", headers=[("Authorization", f"Bearer {token}")])
    config = RunConfig(policy=POLICY, checks=(JWT,), workers=1)

    _, findings = await _run(store, [(req, ok), (again, ok)], config)

    assert findings == []
    assert sum(path != "/api/me" for path in fetched) == 3  # one lookup for the origin, not one per baseline


async def test_a_pem_in_a_recorded_response_is_used_without_any_fetch(store, loopback) -> None:
    app, fetched = _issuer()
    server = await loopback(app)
    token = _rs256({"sub": "alice"})
    key_page = Response(200, headers=Headers([("Content-Type", "application/json")]),
                        body=json.dumps({"public_key": PEM.decode()}).encode())
    ok = Response(200, body=b'{"user": "alice", "plan": "gold"}')
    baselines = [(Request.from_url(f"{server.url}/keys"), key_page),
                 (Request.from_url(f"{server.url}/api/me", headers=[("Authorization", f"Bearer {token}")]), ok)]
    config = RunConfig(policy=POLICY, checks=(JWT,), workers=1)

    _, findings = await _run(store, baselines, config)

    assert [f.details["forgery"] for f in findings] == ["alg-confusion-spki-pem"]


def _login_app(lock_after: int | None) -> web.Application:
    failures: dict[str, int] = {}

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if lock_after is not None and failures.get(user, 0) >= lock_after:
            return web.Response(status=429, text="Too many failed sign-ins.", headers={"Retry-After": "60"})
        if (user, password) == ("alice", "wonderland"):
            return web.Response(status=303, text="See /account.", headers={"Location": "/account"})
        failures[user] = failures.get(user, 0) + 1
        return web.Response(status=401, text="Wrong username or password.")

    app = web.Application()
    app.router.add_post("/login", login)
    return app


@pytest.mark.parametrize(("lock_after", "found"), [(None, True), (3, False)])
async def test_brute_force_sends_the_policys_number_of_attempts(store, loopback, lock_after, found) -> None:
    server = await loopback(_login_app(lock_after))
    req = Request.from_url(f"{server.url}/login", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                           b"username=alice&password=wonderland")
    recorded = Response(303, headers=Headers([("Location", "/account")]), body=b"See /account.")
    policy = dataclasses.replace(BUILTIN["full"], limits=Limits(login_attempts=7), passive=False)
    config = RunConfig(policy=policy, checks=(BRUTE_FORCE,), workers=1)

    final, findings = await _run(store, [(req, recorded)], config)

    assert [f.check_id for f in findings] == (["brute-force"] if found else [])
    if found:
        assert findings[0].details["attempts"] == 7
        assert final.stats["requests_by_check"]["brute-force"] == 8


async def test_a_forgeable_token_is_swapped_to_another_identity_the_record_showed(store, loopback) -> None:
    notes = {"alice": ["Buy carrots", "Call the Hatter"], "bob": ["Fix the roof"]}

    def hs256(claims: dict[str, object]) -> str:
        head, body = b64url(b'{"alg":"HS256","typ":"JWT"}'), b64url(json.dumps(claims).encode())
        return f"{head}.{body}.{b64url(hmac.new(b'secret', f'{head}.{body}'.encode(), hashlib.sha256).digest())}"

    async def read(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        head, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        good = b64url(hmac.new(b"secret", f"{head}.{body}".encode(), hashlib.sha256).digest())
        sub = json.loads(_decode(body)).get("sub") if body and hmac.compare_digest(good, signature) else None
        if sub not in notes:
            return web.json_response({"error": "invalid token"}, status=401)
        return web.json_response({"owner": sub, "notes": notes[sub]})

    app = web.Application()
    app.router.add_get("/api/notes", read)
    server = await loopback(app)
    bob = Response(200, body=json.dumps({"token": hs256({"sub": "bob"})}).encode())
    sign_in = Request.from_url(f"{server.url}/api/token", "POST", [("Content-Type", "application/json")],
                               b'{"username": "bob", "password": "builder"}')
    alice = hs256({"sub": "alice"})
    mine = Response(200, body=json.dumps({"owner": "alice", "notes": notes["alice"]}).encode())
    read_notes = Request.from_url(f"{server.url}/api/notes", headers=[("Authorization", f"Bearer {alice}")])
    config = RunConfig(policy=POLICY, checks=(JWT,), workers=1)

    _, findings = await _run(store, [(sign_in, bob), (read_notes, mine)], config)

    assert [f.details["technique"] for f in findings] == ["cracked-key"]
    swap = findings[0].details["identity_swap"]
    assert (swap["claim"], swap["from"], swap["to"]) == ("sub", "alice", "bob")
    assert '"owner": "bob"' in swap["answer"]
    assert "another user's page" in findings[0].confirmation


def test_token_claims_are_noted_from_requests_and_responses_without_time_claims() -> None:
    claims = TokenClaims()
    bearer = f"{b64url(b'{\"alg\":\"HS256\"}')}.{b64url(b'{\"sub\":\"alice\",\"exp\":9,\"admin\":false}')}.c2ln"
    claims.note(Request.from_url("http://a.test/me", headers=[("Authorization", f"Bearer {bearer}")]), None)
    first = claims.snapshot()
    assert dict(first) == {"sub": ("alice",)}
    issued = f"{b64url(b'{\"alg\":\"none\"}')}.{b64url(b'{\"sub\":\"bob\",\"uid\":2}')}."
    claims.note(Request.from_url("http://a.test/login", "POST"), Response(200, body=json.dumps({"t": issued}).encode()))
    assert dict(claims.snapshot()) == {"sub": ("alice", "bob"), "uid": (2,)}
    assert claims.snapshot() is claims.snapshot() and dict(first) == {"sub": ("alice",)}  # snapshots stay put
