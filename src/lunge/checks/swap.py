"""Sending a baseline as another user, and judging the answer: shared by ``bola`` and ``broken-access``.

The oracle is :mod:`lunge.checks.accepted`'s: an answer is the recorded user's when it is the normal
page (status and content within the noise of the baseline's own replays), with the user names of
both identities cut out of every page first (a header that says "signed in as bob" must not hide
that bob got alice's document). A swap is believed only with a control that must be *rejected*:
the anonymous identity (no credentials at all), so a page every visitor may read is never taken
for one the other user should not have got.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

from lunge.checks import accepted
from lunge.checks.base import Attack, CheckContext, Exchange
from lunge.checks.identity import Identities, Identity
from lunge.http import Request

MAX_OTHERS = 2  # other identities a baseline is replayed as (each costs a request or two)


def send_as(ctx: CheckContext, identity: Identity, label: str, request: Request | None = None) -> Attack:
    """``request`` (default: the baseline) sent as ``identity``; the payload names who."""
    assert ctx.identities is not None
    return Attack(ctx.identities.send_as(identity, request or ctx.baseline), f"as {identity.name}", label)


def candidates(ctx: CheckContext, identities: Identities, *, lower_only: bool = False) -> list[Identity]:
    """The other identities whose credentials fit the baseline (the same header or cookie names),
    at most :data:`MAX_OTHERS`; with ``lower_only``, only those the record shows using fewer
    functions than the baseline's own identity (or, from the settings, none)."""
    mine = identities.mine
    out = []
    for other in identities.others():
        if not other.fits(ctx.baseline):
            continue
        if lower_only and mine is not None and len(other.endpoints) >= len(mine.endpoints):
            continue
        out.append(other)
    return out[:MAX_OTHERS]


def without_names(ctx: CheckContext, *identities: Identity) -> CheckContext:
    """``ctx`` with the identities' names cut out of the pages it compares (as an echoed value is)."""
    names = tuple(i.name for i in identities if len(i.name) >= 3)
    if not names:
        return ctx
    model = ctx.noise
    cleaned = replace(model, reference=model.clean(ctx.normal.text, names), reflected=(*model.reflected, *names))
    return replace(ctx, noise=cleaned)


def got_it(ctx: CheckContext, exchange: Exchange) -> bool:
    """``exchange`` got the recorded user's answer (the normal page, within the noise)."""
    return accepted.accepted(ctx, exchange)


def denied(ctx: CheckContext, exchange: Exchange) -> bool:
    """``exchange`` was answered, and not with the recorded user's page."""
    return accepted.rejected(ctx, exchange)


Tried = Generator[list[Attack], list[Exchange], tuple[Exchange, Exchange | None, bool]]


def tried(ctx: CheckContext, judged: CheckContext, other: Identity, label: str, anonymous: Exchange | None) -> Tried:
    """The baseline sent as ``other``, and as the anonymous identity unless its answer is already
    known (``anonymous``: the same for every other identity). Returns other's answer, the anonymous
    one, and whether the swap is believed: ``other`` got the recorded user's page (as ``judged``
    compares it) while the anonymous control was denied it."""
    assert ctx.identities is not None
    attacks = [send_as(ctx, other, f"{label}:as-{other.name}")]
    if anonymous is None:
        attacks.append(send_as(ctx, ctx.identities.anonymous, f"{label}:anonymous"))
    got, *rest = yield attacks
    anonymous = rest[0] if rest else anonymous
    return got, anonymous, anonymous is not None and got_it(judged, got) and denied(judged, anonymous)


__all__ = ["MAX_OTHERS", "candidates", "denied", "got_it", "send_as", "tried", "without_names"]
