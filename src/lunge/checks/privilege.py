"""``broken-access`` by identity (CWE-285; OWASP API Security Top 10 2023, API5 "broken function-level
authorisation"): a function only a higher user used, served to a lower user.

Applies once per baseline, with the run's identities, to a baseline recorded as identity H whose
function (``METHOD /path/{id}``) the record shows H using and no other recorded identity using, when
the record shows another identity's traffic at all (so "only H used it" means something). The lower
identities are the others whose credentials fit the request and that the record shows using fewer
functions than H (identities from the settings, which the record does not show, count as lower).
A baseline that names an object by its id is left to ``bola``, which replays it as every other user.

1. the baseline sent as the lower identity L, and as the anonymous one;
2. a finding needs L to get H's answer (the normal page within the noise, user names cut out) while
   the anonymous request is answered otherwise: the function needs a signed-in user and checks
   nothing more. A page every visitor gets is no finding; neither is a function every user used
   (the record shows it is not privileged), nor one that answers L with a 403;
3. confirmed by sending it as L again: H's answer again.

Budget: 2 requests per privileged baseline and lower identity (L, anonymous once), 1 more to confirm.
"""

from __future__ import annotations

from lunge.checks import accepted, bola, swap
from lunge.checks.base import Check, CheckContext, Confidence, Exchange, Probe, Verdict
from lunge.checks.identity import Identities, endpoint


def _function(ctx: CheckContext) -> str:
    """``METHOD /path/{id}`` of the baseline, as the engine names the functions an identity used."""
    return endpoint(ctx.baseline)


def privileged(ctx: CheckContext, ids: Identities) -> bool:
    """Only the baseline's own identity used its function, and another identity's traffic is known.
    A baseline that names an object by its id is ``bola``'s (one vulnerability, one finding)."""
    mine = ids.mine
    if mine is None or bola.object_point(ctx) is not None:
        return False
    function = _function(ctx)
    recorded = [i for i in ids.others() if i.endpoints]
    return function in mine.endpoints and bool(recorded) and not any(function in i.endpoints for i in recorded)


def applies(ctx: CheckContext) -> bool:
    ids = ctx.identities
    return ids is not None and privileged(ctx, ids) and bool(swap.candidates(ctx, ids, lower_only=True))


def run(ctx: CheckContext, check: Check) -> Probe:
    ids = ctx.identities
    if ids is None or ids.mine is None or not privileged(ctx, ids) or not accepted.comparable(ctx):
        return []
    higher = ids.mine
    anonymous = None
    for lower in swap.candidates(ctx, ids, lower_only=True):
        judged = swap.without_names(ctx, higher, lower)
        got, anonymous, believed = yield from swap.tried(ctx, judged, lower, "broken-access", anonymous)
        if not believed or anonymous is None:  # believed implies an anonymous answer (for mypy)
            continue
        (again,) = yield [swap.send_as(ctx, lower, "broken-access:confirm")]
        if not swap.got_it(judged, again):
            continue
        return [_verdict(ctx, check, higher.name, lower.name, got, anonymous, again)]
    return []


def _verdict(ctx: CheckContext, check: Check, higher: str, lower: str, got: Exchange,
             anonymous: Exchange, again: Exchange) -> Verdict:
    function = _function(ctx)
    return check.verdict(
        ctx, got, proof=accepted.excerpt(got), confidence=Confidence.FIRM,
        confirmation=f"{function}, used in the record by {higher} alone, sent as {lower} got {higher}'s answer "
                     f"twice (status {got.status}); anonymous got status {anonymous.status} and another answer",
        controls=(ctx.normal, anonymous, again),
        details={"function": function, "recorded_as": higher, "as": lower, "anonymous_status": anonymous.status},
    )


__all__ = ["applies", "privileged", "run"]
