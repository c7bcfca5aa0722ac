"""Forged session data (``session-forgery``, CWE-565): a cookie that carries the user's identity in
readable form (base64 or URL-encoded JSON) with no signature, trusted by the application.

Applies to an identity-named field (``uid``, ``user_id``, ``username``, ``account``, ``email`` ...)
inside a JSON document inside a cookie, outside a JWT (the ``jwt`` check owns those). The field is
changed to another identity and nothing is re-signed:

- numeric ids: the neighbours (``id + 1``, ``id - 1``);
- names: a few account names every system has (``admin``, ``administrator``, ``root``, ``test``).

Oracle (:mod:`lunge.checks.accepted`): the genuine cookie's answer is a stable success; a *garbage*
identity (a random word or a number far out of range) is answered differently from the forged
identity; and the forged identity's answer is a success that differs from the genuine one beyond the
noise *with the changed value removed where it is echoed* (so a page that merely prints the name it
is given does not count: the page must show another user's data). The winning forgery is sent
again and must give the same answer. A signed cookie refuses both the forgery and the garbage alike.

Budget: 1 (garbage) + at most 2 (neighbours) or 4 (names) + 1 (confirmation) = at most 6 requests
per identity field; 3 for a number that resists.
"""

from __future__ import annotations

from collections.abc import Iterator

from lunge.checks import accepted, pointnames
from lunge.checks.base import Check, CheckContext, Confidence, Probe, Severity
from lunge.checks.sqli_context import differs, measure, usable

IDENTITY_WORDS = frozenset({
    "uid", "userid", "user", "username", "usr", "login", "account", "accountid", "acct", "owner", "ownerid",
    "customer", "customerid", "member", "memberid", "email", "mail", "sub", "principal", "identity", "who",
})
ACCOUNT_NAMES = ("admin", "administrator", "root", "test")
_LAYERS = frozenset({"BASE64", "URL", "JSON_DOC"})


def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    parsers = [step.parser for step in point.path]
    if not point.name.endswith("_value") or "COOKIE" not in parsers or "JWT" in parsers:
        return False
    if "JSON_DOC" not in parsers or parsers[-1] != "HASH" or not point.value:
        return False
    return pointnames.named_like(point, IDENTITY_WORDS)


def candidates(value: str) -> Iterator[str]:
    """Other identities to try for ``value``.

    >>> list(candidates("7")), list(candidates("alice"))[:2]
    (['8', '6'], ['admin', 'administrator'])
    """
    if value.isdigit():
        number = int(value)
        yield str(number + 1)
        if number > 0:
            yield str(number - 1)
        return
    yield from (name for name in ACCOUNT_NAMES if name != value.lower())


def _garbage(ctx: CheckContext) -> str:
    value = ctx.point.value
    return str(ctx.number(10**8, 10**9 - 1)) if value.isdigit() else ctx.marker(12)


def _run(ctx: CheckContext) -> Probe:
    if not accepted.comparable(ctx):
        return []
    (garbage,) = yield [ctx.attack(_garbage(ctx), "session-forgery:garbage")]
    for other in candidates(ctx.point.value):
        (forged,) = yield [ctx.attack(other, f"session-forgery:{other}")]
        if not accepted.another_page(ctx, forged, garbage):
            continue
        (again,) = yield [ctx.attack(other, "session-forgery:confirm")]
        if not usable(again) or differs(ctx, again, forged):
            continue
        return [SESSION_FORGERY.verdict(
            ctx, forged, proof=accepted.excerpt(forged), confidence=Confidence.FIRM,
            confirmation=f"the cookie's {ctx.point.value!r} changed to {other!r} (nothing re-signed) was served as a "
                         f"different user's page twice; a random identity got another answer (status "
                         f"{garbage.status})",
            controls=(ctx.normal, garbage, again),
            details={"recorded": ctx.point.value, "forged": other, "garbage_status": garbage.status,
                     "difference": measure(ctx, forged)[1], "jitter": ctx.noise.jitter},
        )]
    return []


SESSION_FORGERY = Check(
    id="session-forgery",
    title="Unsigned session data trusted",
    kind="session",
    severity=Severity.HIGH,
    cwe=565,
    description="A cookie carries the user's identity as readable data without a signature, and the application "
    "trusts it: changing the identity field serves another user's session.",
    run=_run,
    applies=_applies,
    remediation="Keep session state on the server behind a random session id, or sign (HMAC) and verify the "
    "cookie's whole content with a server-side key before reading any field of it.",
)
CHECKS = (SESSION_FORGERY,)
