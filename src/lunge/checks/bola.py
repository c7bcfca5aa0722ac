"""Broken object-level authorisation (``bola``, CWE-639; OWASP API Security Top 10 2023, API1): one
user's object served to another user who asks for it by its id.

Applies once per baseline (``per_baseline``, ``uses_identities``) to a baseline recorded as a known
identity A that names an object: an id-like value in a path segment (a number, a UUID, a long hex
string), or a query, form or JSON field named like an id (``id``, ``doc_id``, ``uuid``, ``slug``).
For each other identity B whose credentials fit the request (at most two):

1. the baseline sent as B, and as the anonymous identity (no credentials);
2. a finding needs B to get A's answer (the normal page within the noise, both user names cut out),
   while the anonymous request is answered otherwise (denied, or another page): a public object
   every visitor may read is no finding;
3. confirmed by the same request as B with the id replaced by a random one of the same shape, which
   must get another answer (an endpoint that shows one page whatever the id names no object), and
   by the swap sent again, which must get A's answer again.

An endpoint that checks the owner answers B with a 403 or a 404 and stays silent.

When no swap is confirmed (or no other identity's credentials fit) and the id is a number, the
neighbouring ids (+1, then -1) are asked for with A's own credentials: a finding when a success page
names another identity (its user name as a whole word) that A's recorded answer did not name, the
same request from an anonymous visitor does not show that name, and sent again it names it again.

Budget: 2 requests per baseline and identity (B, anonymous once), 2 more to confirm; for a numeric
id, 1 or 2 more (the neighbours), 2 more to confirm.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

from lunge.checks import accepted, pointnames, swap
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Probe, Severity
from lunge.checks.identity import Identities
from lunge.http import Point

_NUMBER = re.compile(r"^\d{1,19}\Z")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.IGNORECASE)
_HEX = re.compile(r"^(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,64}\Z", re.IGNORECASE)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
ID_WORDS = frozenset({"id", "uuid", "guid", "slug", "uid", "oid", "ref"})


def id_like(value: str) -> bool:
    """A value shaped like an object id: a number, a UUID, or a long hex string.

    >>> [id_like(v) for v in ("42", "3f2b9c1e-0a4d-4b8e-9c1f-2a3b4c5d6e7f", "5f1c2a9be07d", "docs", "12.5")]
    [True, True, True, False, False]
    """
    return bool(_NUMBER.match(value) or _UUID.match(value) or _HEX.match(value))


def object_point(ctx: CheckContext) -> Point | None:
    """The first point naming an object: an id-like path segment, or a query/form/JSON value in a
    field named like an id (``id``, ``doc_id``, ``uuid``, ``slug``)."""
    for point in ctx.points:
        if point.role.value != "value" or not point.value:
            continue
        if point.family in ("PATH", "ACTION_NAME") and id_like(point.value):  # the last segment is ACTION_NAME
            return point
        # A number in a query is as often a page or a count as an id: only a field named like one.
        if point.family in ("GET", "POST") and pointnames.named_like(point, ID_WORDS) and _SLUG.match(point.value):
            return point
    return None


def other_id(ctx: CheckContext, value: str) -> str:
    """A random id of ``value``'s shape that names nothing the record showed."""
    if _NUMBER.match(value):
        return str(ctx.rng.randint(10 ** 7, 10 ** 8 - 1))
    if _UUID.match(value):
        return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))
    if _HEX.match(value):
        return "".join(ctx.rng.choice("0123456789abcdef") for _ in value)
    return ctx.marker(max(6, min(len(value), 16)))


def _applies(ctx: CheckContext) -> bool:
    ids = ctx.identities
    point = object_point(ctx)
    return (ids is not None and ids.mine is not None and point is not None
            and (bool(swap.candidates(ctx, ids)) or bool(_NUMBER.match(point.value) and _absent_names(ctx, ids))))


def _run(ctx: CheckContext) -> Probe:
    ids, point = ctx.identities, object_point(ctx)
    if ids is None or ids.mine is None or point is None or not accepted.comparable(ctx):
        return []
    verdicts = yield from _swapped(ctx, ids, point)
    if not verdicts and _NUMBER.match(point.value):
        verdicts = yield from _neighbours(ctx, ids, point)
    return verdicts


def _swapped(ctx: CheckContext, ids: Identities, point: Point) -> Probe:
    """The baseline sent as each other identity that fits (steps 1-3 of the module's docstring)."""
    assert ids.mine is not None
    anonymous = None
    for other in swap.candidates(ctx, ids):
        judged = swap.without_names(ctx, ids.mine, other)
        got, anonymous, believed = yield from swap.tried(ctx, judged, other, "bola", anonymous)
        if not believed or anonymous is None:  # believed implies an anonymous answer (for mypy)
            continue
        elsewhere = ctx.points.replace(point, other_id(ctx, point.value))
        unknown, again = yield [swap.send_as(ctx, other, "bola:unknown-id", elsewhere),
                                swap.send_as(ctx, other, "bola:confirm")]
        if not unknown.ok or swap.got_it(judged, unknown) or not swap.got_it(judged, again):
            continue
        return [BOLA.verdict(
            replace(ctx, point=point), got, proof=accepted.excerpt(got), confidence=Confidence.FIRM,
            confirmation=f"sent as {other.name}, {ids.mine.name}'s request for {point.value!r} got "
                         f"{ids.mine.name}'s answer twice (status {got.status}); anonymous got status "
                         f"{anonymous.status} and another answer, another id got status {unknown.status}",
            controls=(ctx.normal, anonymous, unknown, again),
            details={"owner": ids.mine.name, "as": other.name, "object": point.value,
                     "anonymous_status": anonymous.status, "unknown_id_status": unknown.status},
        )]
    return []


def _named(name: str) -> re.Pattern[str]:
    """``name`` as a whole word (an e-mail address or a user name inside a page)."""
    return re.compile(rf"(?<![\w@.-]){re.escape(name)}(?![\w@-])", re.IGNORECASE)


def _absent_names(ctx: CheckContext, ids: Identities) -> list[str]:
    """The other identities' names (3 characters or more) the baseline's normal answer does not show."""
    text = ctx.normal.text
    return [i.name for i in ids.others() if len(i.name) >= 3 and not _named(i.name).search(text)]


def _neighbours(ctx: CheckContext, ids: Identities, point: Point) -> Probe:
    """Id enumeration with the baseline's own credentials: the numeric id plus and minus one; a
    finding when a success names another identity the recorded answer did not name, an anonymous
    visitor asking for the same id does not get that name, and the request sent again names it again."""
    assert ids.mine is not None
    names = _absent_names(ctx, ids)
    value = int(point.value)
    for near in (value + 1, value - 1):
        if near < 0 or not names:
            continue
        request = ctx.points.replace(point, str(near))
        (got,) = yield [Attack(request, str(near), "bola:neighbour")]
        named = [n for n in names if 200 <= got.status < 300 and _named(n).search(got.text)]
        if not named:
            continue
        anonymous, again = yield [swap.send_as(ctx, ids.anonymous, "bola:neighbour-anonymous", request),
                                  Attack(request, str(near), "bola:neighbour-confirm")]
        if (200 <= anonymous.status < 300 and _named(named[0]).search(anonymous.text)) \
                or again.status != got.status or not _named(named[0]).search(again.text):
            continue
        match = _named(named[0]).search(got.text)
        assert match is not None
        start = max(0, match.start() - 80)
        return [BOLA.verdict(
            replace(ctx, point=point), got, proof=got.text[start:match.end() + 80], confidence=Confidence.FIRM,
            confirmation=f"with {ids.mine.name}'s own credentials, id {near} (recorded: {point.value}) got a "
                         f"page naming {named[0]}, another user, twice (status {got.status}); anonymous got "
                         f"status {anonymous.status} without that name",
            controls=(ctx.normal, anonymous, again),
            details={"owner": ids.mine.name, "names": named[0], "object": str(near), "recorded": point.value,
                     "technique": "id-enumeration", "anonymous_status": anonymous.status},
        )]
    return []


BOLA = Check(
    id="bola",
    title="Broken object-level authorisation (another user's object by its id)",
    kind="bola",
    severity=Severity.HIGH,
    cwe=639,
    description="An object one user owns is served to another signed-in user who names it: the application "
    "checks that the requester is signed in, not that the object is theirs (IDOR).",
    run=_run,
    applies=_applies,
    remediation="Check on every request that the object named belongs to (or is shared with) the signed-in "
    "user; answer 404 otherwise. Prefer looking objects up through the user (WHERE owner = :user).",
    per_baseline=True,
    uses_identities=True,
)
CHECKS = (BOLA,)
