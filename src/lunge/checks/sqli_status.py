"""The status-only technique: an application that hides every database error behind a bare 5xx.

Such a page shows no DBMS message and, for an INSERT or UPDATE, no other page for a FALSE
condition either: the heuristic probe's crash is its only sign. Two oracles read the status alone:

- **The split** (Burp's break/escape pair): a lone quote must give a 5xx while its escaped form
  (the quote doubled) and a neutral value of the same length give the normal status, each twice,
  the second time in reversed order. A page that crashes on any non-digit, or on any quote, fails
  it: the escaped twin crashes too.
- **The conditional error** (sqlmap's error-based boolean idea, read from the status): the value
  carries ``CASE WHEN <cond> THEN 1 ELSE <err> END``, where ``<err>`` fails at run time only when
  reached (``ABS`` of the smallest 64-bit integer: SQLite, PostgreSQL, MySQL; ``EXP(710)``: MySQL,
  PostgreSQL, SQL Server, Oracle). A TRUE condition must answer, a FALSE one crash, through a
  second pair of numbers and the first pair re-sent in reversed order. It works where the value is
  compared (``' AND … AND '``), concatenated into an INSERT or UPDATE column (``'||…||'``) or added
  to a number (``+…``), so it reaches the column lists the page-comparing boolean technique never
  does.

The split alone is ``tentative``; the conditional error makes it ``firm`` (for a number, where a
doubled quote breaks the query as much as a lone one, the conditional error alone is ``firm``).
Cost: 3 requests per quote whose lone form does not crash twice, 6 per quote that splits; 1-2 per
conditional-error variant that does not hold, 6 for one that does.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from lunge.checks.base import Attack, CheckContext, Confidence, Exchange
from lunge.checks.sqli_context import BLOCKED_STATUS, Outcome, is_numeric

# Expressions that raise an error at run time (not when the statement is prepared), by family.
RUNTIME_ERRORS = (
    ("SQLite/PostgreSQL/MySQL", "ABS(-9223372036854775807-1)"),
    ("MySQL/PostgreSQL/SQL Server/Oracle", "EXP(710)"),
)


@dataclass(frozen=True, slots=True)
class Shape:
    """How a conditional expression is spliced in after the value; ``{e}`` is the CASE expression
    (numeric), ``{w}`` a random word.

    >>> QUOTED_AND.payload("bob", "'", "(X)", "kq")
    "bob' AND (X)=1 AND 'kq'='kq"
    >>> CONCAT.payload("bob", '"', "(X)", "kq")
    'bob"||(X)||"'
    """

    name: str
    template: str
    quoted: bool = True

    def payload(self, value: str, quote: str, expression: str, word: str) -> str:
        return value + self.template.format(q=quote, e=expression, w=word)


QUOTED_AND = Shape("quoted-and", "{q} AND {e}=1 AND {q}{w}{q}={q}{w}")
CONCAT = Shape("concat", "{q}||{e}||{q}")  # a column value of an INSERT or UPDATE
PLUS = Shape("numeric-plus", "+{e}", quoted=False)


def crashes(exchange: Exchange) -> bool:
    return exchange.ok and exchange.status >= 500


def answers(exchange: Exchange) -> bool:
    """An answer that is neither a crash nor a block (a WAF's 403 says nothing of the query)."""
    return exchange.ok and exchange.status < 500 and exchange.status not in BLOCKED_STATUS


def status_based(ctx: CheckContext) -> Generator[list[Attack], list[Exchange], tuple[Outcome | None, int]]:
    """The split for each quote, then the conditional error in the shapes the split allows;
    (outcome, requests sent)."""
    split, sent = yield from _split(ctx)
    shapes: list[tuple[Shape, str]] = []
    if is_numeric(ctx):
        shapes.append((PLUS, ""))
    if split is not None:
        quote = split.quote
        shapes += [(QUOTED_AND, quote), (CONCAT, quote)]
    for shape, quote in shapes:
        for family, error in RUNTIME_ERRORS:
            pair, count = yield from _conditional(ctx, shape, quote, error)
            sent += count
            if pair is not None:
                return _outcome(ctx, split, pair, shape, family), sent
    if split is not None:
        return _outcome(ctx, split, None, None, None), sent
    return None, sent


@dataclass(frozen=True, slots=True)
class _Split:
    quote: str
    lone: tuple[Exchange, Exchange]
    controls: tuple[Exchange, ...]  # the escaped forms and the neutral values


def _neutral(ctx: CheckContext, length: int) -> str:
    """A harmless suffix as long as the escaped quote pair: digits after a number, letters else."""
    if is_numeric(ctx):
        return str(ctx.number(10 ** (length - 1), 10**length - 1))
    return ctx.marker(length)


def _split(ctx: CheckContext) -> Generator[list[Attack], list[Exchange], tuple[_Split | None, int]]:
    value, status, sent = ctx.point.value, ctx.noise.status, 0
    for quote in ("'", '"'):
        first = yield [ctx.attack(value + quote, f"sqli-status:lone{quote}"),
                       ctx.attack(value + quote * 2, f"sqli-status:escaped{quote}"),
                       ctx.attack(value + _neutral(ctx, 2), "sqli-status:neutral")]
        sent += 3
        if not _splits(first, status):
            continue
        again = yield [ctx.attack(value + _neutral(ctx, 2), "sqli-status:neutral-again"),
                       ctx.attack(value + quote * 2, f"sqli-status:escaped{quote}-again"),
                       ctx.attack(value + quote, f"sqli-status:lone{quote}-again")]
        sent += 3
        if _splits(again[::-1], status):
            return _Split(quote, (first[0], again[2]), (first[1], first[2], again[1], again[0])), sent
    return None, sent


def _splits(exchanges: list[Exchange], status: int) -> bool:
    lone, escaped, neutral = exchanges
    return crashes(lone) and all(e.ok and e.status == status and answers(e) for e in (escaped, neutral))


def _case(condition: str, error: str, shape: Shape) -> str:
    # After a number the expression adds zero, so the value and the page stay as they were.
    true_value = "0" if not shape.quoted else "1"
    return f"(CASE WHEN {condition} THEN {true_value} ELSE {error} END)"


def _conditional(ctx: CheckContext, shape: Shape, quote: str,
                 error: str) -> Generator[list[Attack], list[Exchange], tuple[tuple[Exchange, ...] | None, int]]:
    """TRUE answers, FALSE crashes; then ``c=c`` / ``a=c`` and the first pair again, FALSE first.
    The exchanges (TRUE first) or None, with the requests sent."""
    value, word = ctx.point.value, ctx.marker(4)
    a, b, c = _distinct(ctx)
    label = f"sqli-status:{shape.name}"

    def attack(condition: str, suffix: str) -> Attack:
        return ctx.attack(shape.payload(value, quote, _case(condition, error, shape), word), f"{label}:{suffix}")

    (true,) = yield [attack(f"{a}={a}", "true")]
    if not answers(true):
        return None, 1
    (false,) = yield [attack(f"{a}={b}", "false")]
    if not crashes(false):
        return None, 2
    battery = yield [attack(f"{c}={c}", "true-again"), attack(f"{a}={c}", "false-again")]
    (false_again,) = yield [ctx.attack(false.attack.payload, false.attack.label + "-reversed")]
    (true_again,) = yield [ctx.attack(true.attack.payload, true.attack.label + "-reversed")]
    trues, falses = (battery[0], true_again), (battery[1], false_again)
    if all(t.ok and t.status == true.status for t in trues) and all(crashes(f) for f in falses):
        return (true, false, *battery, false_again, true_again), 6
    return None, 6


def _distinct(ctx: CheckContext) -> tuple[int, int, int]:
    numbers: list[int] = []
    while len(numbers) < 3:
        n = ctx.number(10, 99)
        if n not in numbers:
            numbers.append(n)
    return numbers[0], numbers[1], numbers[2]


def _outcome(ctx: CheckContext, split: _Split | None, pair: tuple[Exchange, ...] | None, shape: Shape | None,
             family: str | None) -> Outcome:
    parts, how = [], []
    details: dict[str, object] = {"technique": "status", "normal_status": ctx.noise.status}
    if split is not None:
        lone = split.lone[0]
        parts.append(f"status {lone.status} for a lone {split.quote} (twice), {ctx.noise.status} for the escaped "
                     f"{split.quote * 2} and a neutral value (twice each)")
        how.append(f"a lone {split.quote} crashed the page twice while its escaped form and a neutral value of "
                   "the same length kept the normal status, the second time in reversed order")
        details.update(quote=split.quote, lone_status=lone.status)
    if pair is not None and shape is not None:
        true, false = pair[0], pair[1]
        parts.append(f"status {true.status} for a TRUE condition, {false.status} for a FALSE one "
                     f"(an error raised only in the ELSE branch)")
        how.append("a conditional run-time error crashed the page for FALSE conditions only, through a second "
                   "pair and the first pair re-sent in reversed order")
        details.update(context=shape.name, dbms=family, true_status=true.status, false_status=false.status)
    exchange = pair[1] if pair is not None else split.lone[0] if split is not None else ctx.normal
    controls = (*(pair or ())[:1], *(pair or ())[2:], *(split.controls if split else ()))
    confidence = Confidence.FIRM if pair is not None else Confidence.TENTATIVE
    return Outcome("status", exchange, "; ".join(parts), "; ".join(how), confidence, controls, details)
