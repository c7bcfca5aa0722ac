"""The boolean-based technique: a TRUE condition keeps the normal page, a FALSE one changes it.

Per context (cheapest first): TRUE, and only if it kept the normal page, FALSE. A FALSE page that
differs beyond the noise teaches an :class:`Oracle` the two pages; then sqlmap's contradiction
battery (``checkFalsePositives``: with random a < b < c, ``a=a`` TRUE, ``a=c`` FALSE, ``c=b`` FALSE,
``b=b`` TRUE), four comparisons more (``c>a``, ``b<c`` TRUE, ``a>b``, ``c<a`` FALSE: a page that
picks one of two variants by a hash of the input passes eight random draws once in 256 tries, four
only once in 16) and the first pair again in reversed order (Burp) must all be classified as
expected. Inconclusive answers are retried once and never read as FALSE; blocked statuses (403,
406, 429, 451) and crashes (5xx) are never samples. Costs 1 request per context that does not keep
the normal page, 2 when FALSE looks like TRUE (an accept-all page), 12 for a confirmed finding.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from enum import StrEnum

from lunge.checks.base import Attack, CheckContext, Confidence, Exchange
from lunge.checks.sqli_context import Context, Outcome, cleaned, keeps_page, measure, same_as_normal, usable


class Truth(StrEnum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Oracle:
    """Tells the TRUE page (the normal one) from the FALSE page of one context.

    A response is TRUE when it has the normal status and is within ``tolerance`` characters of
    the normal page (and nearer to it than to the FALSE page), FALSE symmetrically. ``gap`` is how
    many characters the learned FALSE page differs by; ``tolerance`` is the normal jitter plus a
    quarter of the gap, so a 100-character difference on a 100 KB page is as clear as on 1 KB.
    """

    false: Exchange
    false_text: str
    gap: int
    tolerance: int
    by_status: bool

    @classmethod
    def learn(cls, ctx: CheckContext, true: Exchange, false: Exchange) -> Oracle | None:
        """None when the pair cannot serve: TRUE is not the normal page, FALSE is not a usable
        sample, or FALSE does not differ from TRUE beyond the noise (an accept-all page)."""
        if not same_as_normal(ctx, true) or not usable(false):
            return None
        by_status = false.status != ctx.noise.status
        gap = measure(ctx, false)[1]
        jitter = ctx.noise.jitter
        if not by_status and (gap <= 2 * jitter or measure(ctx, false, true)[1] <= 2 * jitter):
            return None
        return cls(false, cleaned(ctx, false), gap, jitter + gap // 4, by_status)

    def classify(self, ctx: CheckContext, exchange: Exchange) -> Truth:
        if not usable(exchange):
            return Truth.UNKNOWN
        text = cleaned(ctx, exchange)
        to_true = ctx.noise.measure(text, ctx.noise.reference)[1]
        to_false = ctx.noise.measure(text, self.false_text)[1]
        status = exchange.status
        if status == ctx.noise.status and to_true <= self.tolerance and (self.by_status or to_true < to_false):
            return Truth.TRUE
        if status == self.false.status and to_false <= self.tolerance and (self.by_status or to_false < to_true):
            return Truth.FALSE
        return Truth.UNKNOWN


@dataclass(frozen=True, slots=True)
class BooleanResult:
    """The technique's outcome (None if nothing confirmed), the contexts whose TRUE condition kept
    the normal page (the query survived the payload: worth a time probe) and the requests sent."""

    outcome: Outcome | None
    survivors: tuple[Context, ...]
    requests: int


@dataclass(frozen=True, slots=True)
class _Attempt:
    outcome: Outcome | None = None
    survived: bool = False  # the TRUE condition kept the normal page
    accept_all: bool = False  # ... and so did the FALSE one
    contradicted: bool = False  # the battery or the re-sent pair contradicted the first pair
    sent: int = 0


def boolean_based(ctx: CheckContext, contexts: tuple[Context, ...], *, other: Exchange | None = None,
                  stop_on_accept_all: bool = False) -> Generator[list[Attack], list[Exchange], BooleanResult]:
    """Try each context in turn; stop at the first confirmed one. ``other`` is another value's page
    (the heuristic's neutral control): a TRUE condition must keep the page nearer to the normal one
    than that. With ``stop_on_accept_all``
    (the heuristic probe's junk left the page as it was: the value is cast or truncated before
    use) the first context where FALSE also keeps the page ends the search: the others would too.
    A contradiction in the battery ends it too: the page changes for reasons of its own (an A/B
    test, a rotating banner) and no other context would be judged more reliably."""
    survivors: list[Context] = []
    requests = 0
    for context in contexts:
        attempt = yield from _try(ctx, context, other)
        requests += attempt.sent
        if attempt.survived:
            survivors.append(context)
        if attempt.outcome is not None or attempt.contradicted or (attempt.accept_all and stop_on_accept_all):
            return BooleanResult(attempt.outcome, tuple(survivors), requests)
    return BooleanResult(None, tuple(survivors), requests)


def _try(ctx: CheckContext, context: Context, other: Exchange | None) -> Generator[list[Attack], list[Exchange],
                                                                                    _Attempt]:
    value, word = ctx.point.value, ctx.marker(4)
    a, b = _distinct(ctx, 2)
    label = f"sqli-boolean:{context.name}"
    (true,) = yield [ctx.attack(context.condition(value, f"{a}={a}", word), f"{label}:true")]
    if not keeps_page(ctx, true, other):
        return _Attempt(sent=1)
    (false,) = yield [ctx.attack(context.condition(value, f"{a}={b}", word), f"{label}:false")]
    oracle = Oracle.learn(ctx, true, false)
    if oracle is None:
        return _Attempt(survived=True, accept_all=same_as_normal(ctx, false), sent=2)
    confirmations, sent = yield from _confirm(ctx, context, oracle, true, false, word)
    if confirmations is None:
        return _Attempt(survived=True, contradicted=True, sent=2 + sent)
    outcome = _outcome(ctx, context, oracle, true, false, confirmations, 2 + sent)
    return _Attempt(outcome, survived=True, sent=2 + sent)


def _confirm(ctx: CheckContext, context: Context, oracle: Oracle, true: Exchange, false: Exchange,
             word: str) -> Generator[list[Attack], list[Exchange], tuple[tuple[Exchange, ...] | None, int]]:
    """The battery (sqlmap's four first, so a flaky page costs four requests, then four more) and
    the first pair re-sent FALSE first; (the exchanges, requests sent), None on a contradiction."""
    x, y, z = sorted(_distinct(ctx, 3))
    rounds = [
        [(f"{x}={x}", Truth.TRUE), (f"{x}={z}", Truth.FALSE), (f"{z}={y}", Truth.FALSE), (f"{y}={y}", Truth.TRUE)],
        [(f"{z}>{x}", Truth.TRUE), (f"{x}>{y}", Truth.FALSE), (f"{y}<{z}", Truth.TRUE), (f"{z}<{x}", Truth.FALSE)],
    ]
    label = f"sqli-boolean:{context.name}"
    done: list[Exchange] = []
    sent = 0
    for battery in rounds:
        expected = [(context.condition(ctx.point.value, c, word), f"{label}:battery", t) for c, t in battery]
        checked, count = yield from _expect(ctx, oracle, expected, together=True)
        sent += count
        if checked is None:
            return None, sent
        done += checked
    replayed, count = yield from _expect(ctx, oracle, [(false.attack.payload, f"{label}:false-again", Truth.FALSE),
                                                       (true.attack.payload, f"{label}:true-again", Truth.TRUE)])
    sent += count
    return (None if replayed is None else (*done, *replayed)), sent


def _expect(ctx: CheckContext, oracle: Oracle, expected: list[tuple[str, str, Truth]], *,
            together: bool = False) -> Generator[list[Attack], list[Exchange], tuple[list[Exchange] | None, int]]:
    """Send the payloads (as one batch, or one by one to keep their order at the target) and
    check each is classified as expected; an UNKNOWN is re-sent once. None on a contradiction."""
    attacks = [ctx.attack(payload, label) for payload, label, _ in expected]
    if together:
        answers = yield attacks
    else:
        answers = []
        for attack in attacks:
            answers += (yield [attack])
    sent = len(attacks)
    out: list[Exchange] = []
    for attack, answer, (_, _, want) in zip(attacks, answers, expected, strict=True):
        got = oracle.classify(ctx, answer)
        if got is Truth.UNKNOWN:
            (answer,) = yield [attack]
            sent += 1
            got = oracle.classify(ctx, answer)
        if got is not want:
            return None, sent
        out.append(answer)
    return out, sent


def _distinct(ctx: CheckContext, count: int) -> list[int]:
    numbers: set[int] = set()
    while len(numbers) < count:
        numbers.add(ctx.number(1000, 9999))
    return list(numbers)


def _outcome(ctx: CheckContext, context: Context, oracle: Oracle, true: Exchange, false: Exchange,
             confirmations: tuple[Exchange, ...], requests: int) -> Outcome:
    true_ratio, false_ratio = measure(ctx, true)[0], measure(ctx, false)[0]
    floor = ctx.noise.floor
    proof = (f"TRUE page ratio {true_ratio:.2f} vs FALSE {false_ratio:.2f} (floor {floor:.2f}); "
             f"{oracle.gap} characters differ where normal pages differ by {ctx.noise.jitter}")
    if oracle.by_status:
        proof += f"; status {true.status} vs {false.status}"
    how = ("a TRUE condition kept the normal page and a FALSE one changed it, through the contradiction "
           "battery (a=a, a=c, c=b, b=b, c>a, a>b, b<c, c<a) and the pair re-sent in reversed order")
    details = {"technique": "boolean", "context": context.name, "true_ratio": round(true_ratio, 4),
               "false_ratio": round(false_ratio, 4), "floor": round(floor, 4), "false_chars": oracle.gap,
               "jitter": ctx.noise.jitter, "tolerance": oracle.tolerance, "by_status": oracle.by_status,
               "true_status": true.status, "false_status": false.status, "comparison": ctx.noise.mode.value,
               "requests": requests}
    return Outcome("boolean", true, proof, how, Confidence.FIRM, (false, *confirmations), details)
