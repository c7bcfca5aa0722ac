"""No limit on failed sign-ins (``brute-force``, CWE-307): a password can be guessed at full speed.

Applies where ``user-enumeration`` does (:func:`lunge.checks.enumeration.sign_in_username`: the
username-like field of a POST body with a password-like field beside it), once per sign-in
endpoint (a repeated one is ``light``: skipped), and only when the recorded sign-in is a stable
success (:func:`lunge.checks.accepted.comparable`).

Sent one at a time, in order (``ctx.login_attempts`` + 1 requests, the policy's
``limits.login_attempts``, 20 by default): the recorded username with that many random wrong
passwords, then the recorded sign-in itself, unchanged. A finding needs both halves:

- none of the failures was held back: every one has the first failure's status, none is a 429 or a
  503 or carries ``Retry-After``, none says "too many", "locked", "try again later" or asks for a
  CAPTCHA, and the last third of them were not answered markedly slower than the first third
  (a growing delay is a throttle);
- the right password still signs in as recorded (the same answer within the noise): the account was
  not locked either, silently or not.

It stops at the first failure that shows a limit (the rest would only feed the lockout), and says
nothing when a wrong password is accepted (``auth-bypass``'s business) or an attempt got no answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Generator

from lunge.checks import accepted
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.enumeration import password_point, sign_in_username
from lunge.http.points import Point

# What lockouts, throttles and CAPTCHA walls say (OWASP ASVS V2.2.1 and the usual framework messages:
# django-axes, Devise lockable, ASP.NET Identity, Keycloak brute-force detection, reCAPTCHA/hCaptcha).
_LIMITED = re.compile(r"too many|locked|lockout|try again (?:later|in)|temporarily (?:blocked|disabled|suspended)"
                      r"|rate.?limit|slow down|captcha|verify you are (?:a )?human", re.IGNORECASE)
_LIMIT_STATUSES = frozenset({429, 503})
SLOWER = 2.0  # the last third's mean latency over the first third's, beyond which the delay grows ...
SLOWER_BY = 1.0  # ... by at least a second (throttles wait seconds; a loaded host adds less)


def _applies(ctx: CheckContext) -> bool:
    return not ctx.light and sign_in_username(ctx)


def _limited(exchange: Exchange, first: Exchange) -> str | None:
    """Why ``exchange`` (a failed sign-in) shows a limit, else None."""
    response = exchange.response
    if response is None:
        return "no answer"
    if response.status in _LIMIT_STATUSES:
        return f"status {response.status}"
    if response.status != first.status:
        return f"status {first.status} became {response.status}"
    if "retry-after" in response.headers:
        return "Retry-After"
    found = _LIMITED.search(exchange.text)
    return f"{found.group(0)!r} in the answer" if found else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _slowing(failures: list[Exchange]) -> tuple[float, float]:
    """Mean latency (seconds) of the first and the last third of the failures."""
    third = max(1, len(failures) // 3)
    return _mean([e.elapsed for e in failures[:third]]), _mean([e.elapsed for e in failures[-third:]])


def _attempt(ctx: CheckContext, password: Point, n: int) -> Generator[list[Attack], list[Exchange], Exchange]:
    wrong = ctx.marker(14)
    request = ctx.points.replace_many({ctx.point: ctx.point.value, password: wrong})
    (exchange,) = yield [Attack(request, ctx.point.value, f"brute-force:wrong-{n}")]
    return exchange


def _run(ctx: CheckContext) -> Probe:
    password = password_point(ctx)
    if password is None or not accepted.comparable(ctx):
        return []
    failures: list[Exchange] = []
    for n in range(1, ctx.login_attempts + 1):
        exchange = yield from _attempt(ctx, password, n)
        if not failures and not accepted.rejected(ctx, exchange):
            return []  # a wrong password signed in (or no answer): not a question of attempts
        if _limited(exchange, failures[0] if failures else exchange) is not None:
            return []
        failures.append(exchange)
    early, late = _slowing(failures)
    if late > SLOWER * early and late - early >= SLOWER_BY:
        return []  # a growing delay: throttled
    (final,) = yield [ctx.replay("brute-force:right-password")]
    if not accepted.accepted(ctx, final):
        return []  # the right password no longer signs in: locked out (perhaps silently)
    return [_verdict(ctx, failures, final, early, late)]


def _verdict(ctx: CheckContext, failures: list[Exchange], final: Exchange, early: float, late: float) -> Verdict:
    statuses = dict(Counter(e.status for e in failures))
    count = len(failures)
    return BRUTE_FORCE.verdict(
        ctx, final, proof=accepted.excerpt(final), confidence=Confidence.FIRM,
        confirmation=f"{count} wrong passwords for the recorded username, sent one after another, were all refused "
                     f"the same way (status {failures[0].status}, no 429, no Retry-After, no lockout or CAPTCHA "
                     f"message, {early * 1000:.0f} ms then {late * 1000:.0f} ms on average), and the recorded "
                     f"password then signed in as recorded (status {final.status})",
        controls=(failures[0], failures[-1]),
        details={"attempts": count, "statuses": statuses, "first_third_ms": round(early * 1000, 1),
                 "last_third_ms": round(late * 1000, 1), "final_status": final.status,
                 "failure_answer": accepted.excerpt(failures[0])},
    )


BRUTE_FORCE = Check(
    id="brute-force",
    title="No limit on failed sign-ins",
    kind="bruteforce",
    severity=Severity.MEDIUM,
    cwe=307,
    description="The sign-in accepts an unlimited run of wrong passwords for one account: no rate limit, no "
    "growing delay, no lockout, no CAPTCHA, and the right password still works afterwards. Passwords can be "
    "guessed online at full speed.",
    run=_run,
    applies=_applies,
    remediation="Limit failed sign-ins per account and per client (a growing delay, a temporary lockout or a "
    "CAPTCHA after a few failures), answer throttled attempts with 429 and Retry-After, and alert on bursts.",
)
CHECKS = (BRUTE_FORCE,)
