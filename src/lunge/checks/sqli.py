"""SQL injection (CWE-89): one check, ``sqli``, running its techniques cheapest first.

1. **Heuristic** (2-3 requests, :mod:`~lunge.checks.sqli_probe`): the value plus a random string of
   ``"'),(.``, with a neutral control (text) or the arithmetic pair ``(v+k)-k`` / ``(v+k+1)-k``
   (integers). In light mode (a point seen many times) nothing more is sent unless it showed a
   DBMS error, a crash, quote sensitivity, evaluated arithmetic or a TRUE condition keeping the page.
2. **Error-based** (:mod:`~lunge.checks.sqli_errors`), when the probe showed a DBMS error that
   normal responses and the neutral control do not: a lone quote must show the same DBMS's error;
   the escaped twin staying clean makes it certain.
3. **Boolean-based** (:mod:`~lunge.checks.sqli_boolean`), per context in the order the value's kind
   suggests (numeric, quoted, LIKE, parenthesised, ORDER BY), with the contradiction battery; not
   tried on a page that never changes with the value, or too noisy to compare.
4. **Status-only** (:mod:`~lunge.checks.sqli_status`), when the probe crashed the page without a
   DBMS error: a lone quote's 5xx against its escaped twin and a neutral value, then a conditional
   run-time error (TRUE answers, FALSE crashes), also in INSERT/UPDATE column values.
5. **Time-based** (:mod:`~lunge.checks.sqli_time` over :mod:`~lunge.checks.timing`): MySQL/SQLite
   ``SLEEP``, ``pg_sleep``, ``WAITFOR DELAY``, ``DBMS_PIPE.RECEIVE_MESSAGE``, in the contexts where
   the query survived the boolean payloads, else the two likeliest for the value; the only way
   to find a blind endpoint.

It stops at the first confirmed technique: one finding per point. A partly confirmed error (the
probe's DBMS error without a second payload reproducing it) is reported tentative when nothing
else confirms. Budget for a non-injectable point: 2-3 requests in light mode, about 15 in full mode
(see the tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lunge.checks.base import Check, CheckContext, Confidence, Probe, Severity, Verdict
from lunge.checks.sqli_boolean import boolean_based
from lunge.checks.sqli_context import ORDER, Context, Outcome, contexts_for, time_contexts_for
from lunge.checks.sqli_errors import error_based, signatures
from lunge.checks.sqli_probe import Heuristic, heuristic
from lunge.checks.sqli_status import status_based
from lunge.checks.sqli_time import time_based
from lunge.http.points import Role, ValueKind

MAX_VALUE = 4096  # longer values are documents, not parameters a query embeds
TIME_CONTEXTS = 2  # context families a time probe tries


def run(ctx: CheckContext) -> Probe:
    """The check's generator: heuristic, then error, boolean and time techniques."""
    table = signatures()
    normal = table.present(_normal_texts(ctx))
    found = yield from heuristic(ctx, table, normal)
    spent = found.requests
    if ctx.light and not found.signal:
        return []
    tentative: Outcome | None = None
    dbms: str | None = None  # named by an error the neutral control did not show
    if found.error is not None:
        outcome, sent = yield from error_based(ctx, table, found.error, found.probe, found.neutral, normal)
        spent += sent
        if outcome is not None:
            dbms = found.error.dbms
            if outcome.confidence is not Confidence.TENTATIVE:
                return [_verdict(ctx, outcome, found, spent, dbms)]
            tentative = outcome
    survivors: tuple[Context, ...] = ()
    if ctx.noise.testable and not found.blind:
        result = yield from boolean_based(ctx, contexts_for(ctx), other=found.other,
                                          stop_on_accept_all=not found.changed)
        spent += result.requests
        if result.outcome is not None:
            return [_verdict(ctx, result.outcome, found, spent, dbms)]
        survivors = result.survivors
    if found.crashed and found.error is None:
        status, sent = yield from status_based(ctx)
        spent += sent
        if status is not None and status.confidence is not Confidence.TENTATIVE:
            return [_verdict(ctx, status, found, spent, dbms)]
        tentative = tentative or status
    timed, sent = yield from time_based(ctx, _time_contexts(ctx, survivors), dbms)
    spent += sent
    if timed is not None:
        return [_verdict(ctx, timed, found, spent, dbms)]
    return [_verdict(ctx, tentative, found, spent, dbms)] if tentative is not None else []


def _normal_texts(ctx: CheckContext) -> Iterable[str]:
    yield from (r.text for r in ctx.replays if r.ok)
    if ctx.recorded is not None:
        yield ctx.recorded.text()


def _time_contexts(ctx: CheckContext, survivors: tuple[Context, ...]) -> tuple[Context, ...]:
    """Contexts where the boolean payloads kept the query valid first, then the likeliest ones;
    never ORDER BY, where a sleep runs once per row."""
    ordered = dict.fromkeys(c for c in (*survivors, *time_contexts_for(ctx)) if c is not ORDER)
    return tuple(ordered)[:TIME_CONTEXTS]


def _verdict(ctx: CheckContext, outcome: Outcome, found: Heuristic, spent: int, dbms: str | None) -> Verdict:
    details: dict[str, Any] = {"dbms": None, **outcome.details, "heuristic": _signals(found), "requests_total": spent}
    if dbms is not None:  # an error names the DBMS more precisely than a sleep function
        details["dbms"] = dbms
    return SQLI.verdict(ctx, outcome.exchange, proof=outcome.proof, confirmation=outcome.confirmation,
                        confidence=outcome.confidence, controls=outcome.controls, details=details)


def _signals(found: Heuristic) -> dict[str, Any]:
    return {"error": found.error.text if found.error else None, "cast": found.cast.text if found.cast else None,
            "changed": found.changed, "quote_sensitive": found.quote_sensitive, "evaluated": found.evaluated,
            "crashed": found.crashed, "blind": found.blind}


def applies(ctx: CheckContext) -> bool:
    """Values (not names) of a reasonable size that hold no nested points of their own: a base64 or
    JSON wrapper is attacked through the values inside it."""
    point = ctx.point
    if point.role is not Role.VALUE or point.kind is ValueKind.BINARY or len(point.value) > MAX_VALUE:
        return False
    depth = len(point.path)
    return not any(len(other.path) > depth and other.path[:depth] == point.path for other in ctx.points)


SQLI = Check(
    id="sqli",
    title="SQL injection",
    kind="sqli",
    severity=Severity.HIGH,
    cwe=89,
    description="The value is placed into an SQL query without being bound as a parameter: an attacker can "
    "change the query's logic, read or alter data, and sometimes run commands on the database server.",
    run=run,
    applies=applies,
    remediation="Pass the value to the database as a bound parameter (prepared statement), never by string "
    "building; for identifiers such as ORDER BY columns, map the input to an allow-list of known names.",
)

CHECKS = (SQLI,)
