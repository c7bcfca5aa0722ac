"""User enumeration (``user-enumeration``, CWE-204): a sign-in that answers differently for an
existing and an unknown username, so anyone can list the accounts to attack.

Applies to the username-like field (``username``, ``user``, ``login``, ``email``, ``account`` ...)
of a POST body that also carries a password-like field (the sign-in form or JSON). Both requests of
each pair carry a random wrong password; the username is the recorded one (it exists: the recorded
sign-in used it) or a random one (it does not). Sent one at a time, interleaved (4 requests):

    recorded user, random user 1, recorded user, random user 2

The recorded user's two answers must agree, the two random users' answers must agree (a login that
locks or rate-limits after a few failures breaks this and stays silent), and the recorded user's
answer must differ from the random users' by status, or by more text than the repeats differ by,
once the usernames are removed where they are echoed. A 429 (Too Many Requests) in any of the four
answers is rate limiting, not enumeration: silent.
"""

from __future__ import annotations

from collections.abc import Generator

from lunge.checks import pointnames
from lunge.checks.authbypass import PASSWORD_WORDS
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity
from lunge.http.points import Point

USER_WORDS = frozenset({"username", "user", "login", "email", "mail", "userid", "account", "uname", "loginid",
                        "usr", "principal"})


def password_point(ctx: CheckContext) -> Point | None:
    """The password-like field next to ``ctx.point`` in the same POST body, else None."""
    for point in ctx.points:
        if (point.name.endswith("_value") and point.path[0].parser == "POST" and point.value
                and point.path[:-1] == ctx.point.path[:-1] and pointnames.named_like(point, PASSWORD_WORDS)):
            return point
    return None


def sign_in_username(ctx: CheckContext) -> bool:
    """``ctx.point`` is the username-like field of a sign-in (a POST body with a password beside it)."""
    point = ctx.point
    if not point.name.endswith("_value") or not point.value or point.path[0].parser != "POST":
        return False
    if pointnames.named_like(point, PASSWORD_WORDS) or not pointnames.named_like(point, USER_WORDS):
        return False
    return password_point(ctx) is not None


def _attempt(ctx: CheckContext, password: Point, username: str, wrong: str,
             label: str) -> Generator[list[Attack], list[Exchange], Exchange]:
    request = ctx.points.replace_many({ctx.point: username, password: wrong})
    (exchange,) = yield [Attack(request, username, label)]
    return exchange


def _run(ctx: CheckContext) -> Probe:
    password = password_point(ctx)
    if password is None:
        return []
    known, wrong = ctx.point.value, ctx.marker(14)
    strangers = [_stranger(ctx), _stranger(ctx)]
    names = (known, *strangers)
    a1 = yield from _attempt(ctx, password, known, wrong, "user-enumeration:known")
    b1 = yield from _attempt(ctx, password, strangers[0], wrong, "user-enumeration:unknown")
    a2 = yield from _attempt(ctx, password, known, wrong, "user-enumeration:known-again")
    b2 = yield from _attempt(ctx, password, strangers[1], wrong, "user-enumeration:unknown-again")
    if not all(e.ok for e in (a1, b1, a2, b2)):
        return []
    if any(e.status == 429 for e in (a1, b1, a2, b2)):
        # Rate-limited (the recorded user's earlier failures, other checks' included): a 429 says how
        # many attempts came before, not whether the username exists.
        return []
    jitter = max(_distance(ctx, a1, a2, names), _distance(ctx, b1, b2, names), ctx.noise.jitter)
    if a1.status != a2.status or b1.status != b2.status:
        return []
    if a1.status == b1.status:
        apart = _distance(ctx, a1, b1, names)
        if apart <= 2 * jitter or apart == 0:
            return []
    return [USER_ENUMERATION.verdict(
        ctx, a1, proof=a1.text[:160], confidence=Confidence.FIRM,
        confirmation=f"with the same wrong password, the recorded username got status {a1.status} twice and two "
                     f"random usernames got status {b1.status} with another answer",
        controls=(b1, a2, b2),
        details={"known_status": a1.status, "unknown_status": b1.status, "unknown_answer": b1.text[:160],
                 "jitter": jitter},
    )]


def _stranger(ctx: CheckContext) -> str:
    name = ctx.marker(12)
    return f"{name}@example.invalid" if "@" in ctx.point.value else name


def _distance(ctx: CheckContext, a: Exchange, b: Exchange, names: tuple[str, ...]) -> int:
    model = ctx.noise
    return model.measure(model.clean(a.text, names), model.clean(b.text, names))[1]


USER_ENUMERATION = Check(
    id="user-enumeration",
    title="Username enumeration",
    kind="userenum",
    severity=Severity.LOW,
    cwe=204,
    description="The sign-in answers differently for an existing username and an unknown one (status or "
    "message), so an attacker can list valid accounts before guessing their passwords.",
    run=_run,
    applies=sign_in_username,
    remediation="Answer a failed sign-in with one status and one message whatever failed (unknown user or wrong "
    "password), and spend the same work on both paths.",
)
CHECKS = (USER_ENUMERATION,)
