"""What the SQL injection techniques share: where a value may sit in a query, how to close and
re-balance that place, and how to compare attack responses with normal ones.

A :class:`Context` is one place a value can have in SQL text (a bare number, a single-quoted
string, a LIKE pattern, an ORDER BY expression ...). Every payload is *balanced*: it closes the
value's context, adds a condition, and re-opens so that the rest of the original query stays
valid; no comment terminators, so the page for a TRUE condition is the normal page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lunge.checks.base import CheckContext, Confidence, Exchange
from lunge.http.points import ValueKind

# Never oracle samples: a WAF, a rate limit or a crash says nothing about a condition's truth
# (sqlmap's WAF_BLOCK_HTTP_CODES and nonsql.blockedStatus).
BLOCKED_STATUS = frozenset({403, 406, 429, 451})
_NUMBER = re.compile(r"-?\d{1,15}(?:\.\d{1,9})?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
SAME_MARGIN = 0.02  # a page within floor - 0.02 of normal is "the same" (sqlmap's 0.98 bound)


@dataclass(frozen=True, slots=True)
class Context:
    """One place a value can sit in SQL.

    ``close`` ends the value's context and ``reopen`` restores the query after the added
    condition (``{w}`` is a random word, so the balancing literal is never a fixed string).
    ``replace`` contexts put the condition *around* the value instead (ORDER BY expressions).
    ``stackable``: a statement may follow ``close`` + ``;`` (MSSQL's WAITFOR).

    >>> SINGLE.condition("abc", "12=12", "kq")
    "abc' AND 12=12 AND 'kq'='kq"
    >>> ORDER.condition("name", "12=13", "kq")
    '(CASE WHEN 12=13 THEN name ELSE NULL END)'
    """

    name: str
    close: str = ""
    reopen: str = ""
    replace: bool = False
    stackable: bool = True

    def condition(self, value: str, condition: str, word: str) -> str:
        """``value`` in this context with ``condition`` AND-ed to the query."""
        if self.replace:
            return f"(CASE WHEN {condition} THEN {value} ELSE NULL END)"
        return f"{value}{self.close} AND {condition}{self.reopen.format(w=word)}"

    def stacked(self, value: str, statement: str) -> str:
        """``value`` in this context followed by a whole statement (the rest commented out)."""
        return f"{value}{self.close}; {statement}-- "


NUMERIC = Context("numeric")
NUMERIC_PAREN = Context("numeric-paren", ")", " AND ({w}={w}")
SINGLE = Context("single-quote", "'", " AND '{w}'='{w}")
SINGLE_PAREN = Context("single-quote-paren", "')", " AND ('{w}'='{w}")
DOUBLE = Context("double-quote", '"', ' AND "{w}"="{w}')
LIKE = Context("like", "%'", " AND '%'='")
ORDER = Context("order-by", replace=True, stackable=False)


def is_numeric(ctx: CheckContext) -> bool:
    """Whether the point's value is a number (a JSON number, or digits in text)."""
    return ctx.point.kind is ValueKind.NUMBER or bool(_NUMBER.fullmatch(ctx.point.value))


def is_identifier(value: str) -> bool:
    """A value that could be a column name (``name``, ``u.created_at``): ORDER BY is plausible."""
    return bool(_IDENTIFIER.fullmatch(value))


def contexts_for(ctx: CheckContext) -> tuple[Context, ...]:
    """The contexts worth trying for this value, likeliest first (sqlmap orders its boundaries by
    the value's type: unquoted first for digits, quoted first for text)."""
    if is_numeric(ctx):
        return NUMERIC, SINGLE, NUMERIC_PAREN, SINGLE_PAREN
    ordered = (SINGLE, DOUBLE, LIKE, SINGLE_PAREN)
    return (*ordered, ORDER) if is_identifier(ctx.point.value) else ordered


def time_contexts_for(ctx: CheckContext) -> tuple[Context, ...]:
    """The context families a time probe tries: the two likeliest for the value's kind."""
    return (NUMERIC, SINGLE) if is_numeric(ctx) else (SINGLE, DOUBLE)


# ---------------------------------------------------------------------- comparing
def usable(exchange: Exchange) -> bool:
    """Whether a response may serve as an oracle sample (an answer, not blocked, not a crash)."""
    status = exchange.status
    return exchange.ok and status not in BLOCKED_STATUS and status < 500


def cleaned(ctx: CheckContext, exchange: Exchange) -> str:
    """The response as the noise model compares it, its own payload removed where reflected."""
    return ctx.remember("cleaned", exchange, lambda e: ctx.noise.clean(e.text, _reflections(ctx, e)))


def _reflections(ctx: CheckContext, exchange: Exchange) -> tuple[str, ...]:
    payload = exchange.attack.payload
    return (payload,) if payload != ctx.point.value and len(payload) >= 2 else ()


def measure(ctx: CheckContext, exchange: Exchange, other: Exchange | None = None) -> tuple[float, int]:
    """(similarity, differing characters) between the response and the normal one (or ``other``)."""
    base = ctx.noise.reference if other is None else cleaned(ctx, other)
    return ctx.noise.measure(cleaned(ctx, exchange), base)


def same_as_normal(ctx: CheckContext, exchange: Exchange) -> bool:
    """The response is the normal page: same status, within the noise floor."""
    if not exchange.ok or exchange.status != ctx.noise.status:
        return False
    ratio, chars = measure(ctx, exchange)
    return ratio >= ctx.noise.floor - SAME_MARGIN or chars <= ctx.noise.jitter


def keeps_page(ctx: CheckContext, exchange: Exchange, other: Exchange | None) -> bool:
    """The response is the normal page *and*, when ``other`` (another value's page) differs from
    the normal one, nearer to it than ``other`` is: on a page where a different value changes one
    word ("taken" / "available"), a ratio of 0.99 is not "the same page"."""
    if not same_as_normal(ctx, exchange):
        return False
    if other is None or not differs(ctx, other):
        return True
    chars, jitter = measure(ctx, exchange)[1], ctx.noise.jitter
    return chars <= jitter or chars < measure(ctx, other)[1] - jitter


def differs(ctx: CheckContext, exchange: Exchange, other: Exchange | None = None) -> bool:
    """The response clearly differs from the normal one (or from ``other``): another status, or
    more changed characters than twice the jitter between normal responses. Both must be usable."""
    if not usable(exchange) or (other is not None and not usable(other)):
        return False
    status = ctx.noise.status if other is None else other.status
    if exchange.status != status:
        return True
    return measure(ctx, exchange, other)[1] > 2 * ctx.noise.jitter


@dataclass(frozen=True, slots=True)
class Outcome:
    """A technique's conclusion: everything :meth:`Check.verdict` needs, and the technique's name."""

    technique: str
    exchange: Exchange
    proof: str
    confirmation: str
    confidence: Confidence
    controls: tuple[Exchange, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
