"""Whether a tampered credential was *accepted*: the shared oracle of the authentication checks.

A credential check (``jwt``, ``session-forgery``, ``auth-bypass``, ``csrf``) sends the baseline with
its credential forged and asks whether the application answered as it answered the genuine one:
same status and the same page within the noise of the endpoint's replays
(:func:`lunge.checks.sqli_context.same_as_normal`). That is only meaningful when the genuine answer
is a success (a 2xx or 3xx: a recorded 401 would make every forgery "accepted") and when the noise
model says the endpoint is stable enough to compare. Each check pairs it with a control that must
be *rejected* (a garbage credential, no credential), so an endpoint that ignores the credential
altogether never passes for one that trusts a forged one.
"""

from __future__ import annotations

from lunge.checks.base import CheckContext, Exchange
from lunge.checks.sqli_context import differs, measure, same_as_normal, usable


def comparable(ctx: CheckContext) -> bool:
    """The normal answer is a stable success: forged credentials can be judged against it."""
    return ctx.noise.testable and 200 <= ctx.noise.status < 400 and all(r.ok for r in ctx.replays)


def accepted(ctx: CheckContext, exchange: Exchange) -> bool:
    """The answer to ``exchange`` is the normal page (status and content within the noise)."""
    return exchange.ok and same_as_normal(ctx, exchange)


def rejected(ctx: CheckContext, exchange: Exchange) -> bool:
    """The application answered, and not with the normal page: it told the forgery apart."""
    return exchange.ok and not same_as_normal(ctx, exchange)


def excerpt(exchange: Exchange, limit: int = 160) -> str:
    """The first ``limit`` characters of the response body, for proofs ('' with no response)."""
    return exchange.text[:limit]


def another_page(ctx: CheckContext, forged: Exchange, garbage: Exchange) -> bool:
    """``forged`` (a changed identity or role) got a success page of its own: a 2xx that differs
    from the normal page by more than the noise and the echo of the changed value itself (a
    one-digit id cannot be cut out of a page), and from what a garbage value got."""
    if not usable(forged) or not 200 <= forged.status < 300 or not differs(ctx, forged):
        return False
    echo = len(ctx.point.value) + len(forged.attack.payload)
    if forged.status == ctx.noise.status and measure(ctx, forged)[1] <= echo + 2 * ctx.noise.jitter:
        return False
    return not garbage.ok or garbage.status != forged.status or differs(ctx, forged, garbage)
