"""Authentication bypass (``auth-bypass``, CWE-287): a credential check that accepts a value that
is not the credential: a JSON ``true``, an empty array, ``null`` or an operator object where a
password string was expected (loose comparison, type juggling: PHP ``==``, JavaScript ``==``,
``strcmp`` returning NULL for an array), a wildcard ``*`` or an empty string (a ``LIKE`` or a
glob match, an empty-key default) for a password or an API key.

Applies to the value of a password-like field (``password``, ``passwd``, ``pwd``, ``passphrase``,
``pin``) in a JSON or form body, and to an API-key-like field anywhere but in a cookie
(``api_key``, ``apikey``, ``x-api-key``, ``access_key``, ``secret``). The baseline must be a stable
success (:mod:`lunge.checks.accepted`): the recorded sign-in worked.

1. *Wrong credential* control (1 request): a random string. It must be refused, or the endpoint
   does not check this value at all and there is nothing to bypass.
2. Bypass values (JSON: ``true``, ``[]``, ``null``, ``{"$ne": 1}``, ``0``, then ``"*"``, ``""``;
   elsewhere: ``*``, the empty string): the first one answered like the genuine credential is sent
   again and must be accepted again.

Budget: 1 + 7 (+1) requests per JSON password field, 1 + 2 (+1) elsewhere.
"""

from __future__ import annotations

from lunge.checks import accepted, pointnames
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Probe, Severity

PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "pin", "passcode", "pw"})
KEY_WORDS = frozenset({"apikey", "xapikey", "accesskey", "secret", "secretkey", "clientsecret", "authkey"})
# (payload, raw JSON): loose comparisons first, wildcards after.
JSON_VALUES = (("true", True), ("[]", True), ("null", True), ('{"$ne": 1}', True), ("0", True), ("*", False),
               ("", False))
PLAIN_VALUES = ("*", "")


def _in_json(ctx: CheckContext) -> bool:
    parsers = [step.parser for step in ctx.point.path]
    return "JSON_DOC" in parsers and parsers[-1] == "HASH" and "JWT" not in parsers and "BASE64" not in parsers


def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    parsers = [step.parser for step in point.path]
    if not point.name.endswith("_value") or not point.value or "COOKIE" in parsers or "JWT" in parsers:
        return False
    if pointnames.named_like(point, PASSWORD_WORDS):
        return parsers[0] == "POST"
    return pointnames.named_like(point, KEY_WORDS)


def _values(ctx: CheckContext) -> list[tuple[str, bool]]:
    if _in_json(ctx):
        return list(JSON_VALUES)
    return [(value, False) for value in PLAIN_VALUES]


def _run(ctx: CheckContext) -> Probe:
    if not accepted.comparable(ctx):
        return []
    (wrong,) = yield [ctx.attack(ctx.marker(14), "auth-bypass:wrong")]
    if not accepted.rejected(ctx, wrong):
        return []  # a wrong value is accepted too (or no answer): this value is not checked here
    attacks = [ctx.attack(value, f"auth-bypass:{value or 'empty'}", raw=raw) for value, raw in _values(ctx)]
    answers = yield attacks
    for exchange in answers:
        if not accepted.accepted(ctx, exchange):
            continue
        (again,) = yield [Attack(exchange.attack.request, exchange.attack.payload, "auth-bypass:confirm")]
        if not accepted.accepted(ctx, again):
            continue
        shown = exchange.attack.payload or "an empty string"
        return [AUTH_BYPASS.verdict(
            ctx, exchange, proof=accepted.excerpt(exchange), confidence=Confidence.CERTAIN,
            confirmation=f"{shown} in place of the credential was answered like the genuine one twice, while a "
                         f"random wrong value was refused (status {wrong.status})",
            controls=(ctx.normal, wrong, again),
            details={"value": exchange.attack.payload, "wrong_status": wrong.status,
                     "accepted": [a.attack.payload for a in answers if accepted.accepted(ctx, a)]},
        )]
    return []


AUTH_BYPASS = Check(
    id="auth-bypass",
    title="Authentication bypass",
    kind="authbypass",
    severity=Severity.CRITICAL,
    cwe=287,
    description="The credential check accepts a value that is not the credential (true, an array, null, an "
    "operator object, a wildcard or an empty string): anyone can sign in or call the API without the secret.",
    run=_run,
    applies=_applies,
    remediation="Require the credential to be a non-empty string of the expected type before comparing, compare "
    "with a constant-time strict equality (never ==, LIKE or a pattern match), and reject empty keys.",
)
CHECKS = (AUTH_BYPASS,)
