"""Injection into query languages other than SQL: the techniques the ``ldapi``, ``xpathi``,
``nosqli`` and "other query languages" checks share, each driven by a table of its own
(``data/<language>.yaml``: error signatures, breakers, boolean pairs, evaluated expressions).

Three techniques, cheapest first (detection.md §9, §10):

1. **Error** (sqlmap's ``*_ERROR_SIGNATURES``, ZAP's crash probes): the value plus the first
   breaker, beside a neutral value of the same shape. A signature of the language absent from every
   normal response, present for the breaker and absent for the neutral value is confirmed by the
   second breaker showing the same engine's error (firm); one breaker alone is tentative. A page
   that also shows an SQL error is left to ``sqli`` (sqlmap's ``sqlErrorPresent``).
2. **Evaluation** (a computed marker, as FAST's ``CALC_MARKER``): an expression of the language
   whose result (``a*b``) is in neither the payload nor any normal page must appear, twice, with
   fresh operands.
3. **Boolean pairs** with matched shapes (sqlmap's ``_detectBoolean``): TRUE and FALSE payloads
   differ only in one constant and use functions only this language has (``string-length`` and
   ``count(/*)`` in XPath, a ``)(`` filter breakout in LDAP), so a SQL-injectable or escaping twin
   cannot pass. TRUE must keep the normal page (nearer to it than a neutral value's page), FALSE
   must change it; then the context's second pair does the same and the first pair is re-sent
   FALSE first.

Light mode (a point seen many times) sends the error probe only. Cost for a point that is not
vulnerable: 2 (error) + 1 per evaluation + 1 per boolean context (2 when FALSE keeps the page).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from functools import cache

from lunge.checks import datafiles
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Verdict
from lunge.checks.sqli_context import differs, keeps_page, same_as_normal, usable
from lunge.checks.sqli_errors import signatures as sql_signatures
from lunge.http.points import Role, ValueKind

MAX_VALUE = 4096
_EXCERPT = 120


@datafiles.schema
@dataclass(frozen=True, slots=True)
class ErrorSignature:
    """One error text of one engine (a driver, a library, a server)."""

    engine: str
    pattern: str


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Pair:
    """A TRUE (``holds``) and a FALSE (``fails``) payload of the same shape. Placeholders: ``{v}``
    the value, ``{w}`` a random word, ``{n}`` its length, ``{m}`` its length plus one."""

    holds: str
    fails: str


@datafiles.schema
@dataclass(frozen=True, slots=True)
class BooleanContext:
    """A place the value can sit in, with its screening pair first and its confirming pair second."""

    name: str
    pairs: tuple[Pair, Pair]
    numeric_only: bool = False


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Evaluation:
    """An expression that prints ``{a}*{b}`` computed (``{v}`` the value), and its ``control``: the
    same text where the language would print the operands verbatim (a quoted string), so a page
    that computes any ``a*b`` it is given (a calculator) is told from the language."""

    name: str
    payload: str
    control: str = ""


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Language:
    """One query language's table."""

    language: str
    errors: tuple[ErrorSignature, ...] = ()
    breakers: tuple[str, ...] = ()
    contexts: tuple[BooleanContext, ...] = ()
    evaluations: tuple[Evaluation, ...] = ()
    _compiled: tuple[tuple[ErrorSignature, re.Pattern[str]], ...] = field(default=(), init=False, repr=False,
                                                                          compare=False)

    def __post_init__(self) -> None:
        compiled = tuple((e, datafiles.pattern(self.language, e.pattern, re.IGNORECASE)) for e in self.errors)
        object.__setattr__(self, "_compiled", compiled)

    def search(self, text: str, exclude: frozenset[str] = frozenset(),
               engine: str | None = None) -> tuple[ErrorSignature, str, str] | None:
        """The first signature (of ``engine``) in ``text`` not in ``exclude``, with an excerpt and
        the matched text."""
        for signature, regex in self._compiled:
            if signature.pattern in exclude or (engine is not None and signature.engine != engine):
                continue
            match = regex.search(text)
            if match:
                start, end = match.span()
                return signature, text[max(0, start - _EXCERPT): end + _EXCERPT].strip(), match.group(0)
        return None

    def present(self, texts: Iterable[str]) -> frozenset[str]:
        return frozenset(s.pattern for text in texts for s, regex in self._compiled if regex.search(text))


@cache
def language(name: str) -> Language:
    """The packaged table ``data/<name>.yaml``."""
    return datafiles.load(f"{name}.yaml", Language)


@dataclass(frozen=True, slots=True)
class Found:
    """A technique's conclusion for :func:`verdict`."""

    technique: str
    exchange: Exchange
    proof: str
    confirmation: str
    confidence: Confidence
    controls: tuple[Exchange, ...] = ()
    details: dict[str, object] = field(default_factory=dict)


def applies(ctx: CheckContext) -> bool:
    """Values of a reasonable size that hold no nested points (the values inside are attacked)."""
    point = ctx.point
    if point.role is not Role.VALUE or point.kind is ValueKind.BINARY or len(point.value) > MAX_VALUE:
        return False
    depth = len(point.path)
    return not any(len(other.path) > depth and other.path[:depth] == point.path for other in ctx.points)


def normal_texts(ctx: CheckContext) -> list[str]:
    texts = [r.text for r in ctx.replays if r.ok]
    if ctx.recorded is not None:
        texts.append(ctx.recorded.text())
    return texts


def run_language(check: Check, table: Language, ctx: CheckContext) -> Probe:
    """The three techniques for one language; at most one verdict."""
    spent = 0
    tentative: Found | None = None
    if table.errors and table.breakers:
        found, sent = yield from error_based(ctx, table)
        spent += sent
        if found is not None and found.confidence is not Confidence.TENTATIVE:
            return [verdict(check, ctx, found, spent)]
        tentative = found
    if ctx.light and tentative is None:
        return []
    for evaluation in table.evaluations:
        found, sent = yield from evaluated(ctx, evaluation)
        spent += sent
        if found is not None:
            return [verdict(check, ctx, found, spent)]
    if ctx.noise.testable:
        found, sent = yield from boolean_based(ctx, table.contexts, table.language)
        spent += sent
        if found is not None:
            return [verdict(check, ctx, found, spent)]
    return [verdict(check, ctx, tentative, spent)] if tentative is not None else []


def verdict(check: Check, ctx: CheckContext, found: Found, spent: int) -> Verdict:
    details = {**found.details, "technique": found.technique, "requests_total": spent}
    return check.verdict(ctx, found.exchange, proof=found.proof, confirmation=found.confirmation,
                         confidence=found.confidence, controls=found.controls, details=details)


# ---------------------------------------------------------------------- error
def neutral(ctx: CheckContext) -> str:
    """The value with random digits (a number) or letters appended: any change, no syntax."""
    if ctx.point.kind is ValueKind.NUMBER or ctx.point.value.isdigit():
        return ctx.point.value + str(ctx.number(10, 99))
    return ctx.point.value + ctx.marker(6)


def error_based(ctx: CheckContext, table: Language) -> Generator[list[Attack], list[Exchange],
                                                                     tuple[Found | None, int]]:
    value, lang = ctx.point.value, table.language
    normal = table.present(normal_texts(ctx))
    probe, control = yield [ctx.attack(value + table.breakers[0], f"{lang}-error:break"),
                            ctx.attack(neutral(ctx), f"{lang}-error:neutral")]
    first = table.search(probe.text, normal) if probe.ok else None
    if first is None or (control.ok and table.search(control.text, normal) is not None):
        return None, 2
    signature, excerpt, matched = first
    if _sql_error(ctx, probe.text.replace(matched, "")):
        return None, 2
    details: dict[str, object] = {"engine": signature.engine, "pattern": signature.pattern}
    if len(table.breakers) > 1:
        (second,) = yield [ctx.attack(value + table.breakers[1], f"{lang}-error:break-again")]
        if second.ok and table.search(second.text, normal, signature.engine) is not None:
            how = (f"the {signature.engine} error appeared for two different breakers and not for a neutral value "
                   "of the same shape, nor in any normal response")
            return Found("error", probe, excerpt, how, Confidence.FIRM, (control, second), details), 3
        how = f"the {signature.engine} error appeared for one breaker and not for a neutral value; the second did not"
        return Found("error", probe, excerpt, how, Confidence.TENTATIVE, (control, second), details), 3
    how = f"the {signature.engine} error appeared for the breaker and not for a neutral value"
    return Found("error", probe, excerpt, how, Confidence.TENTATIVE, (control,), details), 2


def _sql_error(ctx: CheckContext, text: str) -> bool:
    """An SQL error the normal pages do not show, besides the language's own (the SQL table names
    some ORM errors too): the value reached SQL, which ``sqli`` judges."""
    table = sql_signatures()
    return table.search(text, exclude=table.present(normal_texts(ctx))) is not None


# ---------------------------------------------------------------------- evaluation
def _operands(ctx: CheckContext, avoid: Iterable[str]) -> tuple[int, int, str]:
    """Two numbers whose product is in none of ``avoid`` (the normal pages)."""
    texts = tuple(avoid)
    while True:
        a, b = ctx.number(1000, 9999), ctx.number(1000, 9999)
        product = str(a * b)
        if not any(product in t for t in texts):
            return a, b, product


def evaluated(ctx: CheckContext, evaluation: Evaluation) -> Generator[list[Attack], list[Exchange],
                                                                          tuple[Found | None, int]]:
    normal = normal_texts(ctx)
    label = f"eval:{evaluation.name}"
    exchanges: list[Exchange] = []
    products: list[str] = []
    for round_ in ("probe", "confirm"):
        a, b, product = _operands(ctx, normal)
        payload = evaluation.payload.format(v=ctx.point.value, a=a, b=b)
        (exchange,) = yield [ctx.attack(payload, f"{label}:{round_}")]
        exchanges.append(exchange)
        products.append(product)
        if not exchange.ok or product not in exchange.text:
            return None, len(exchanges)
    if evaluation.control:
        a, b, product = _operands(ctx, normal)
        (control,) = yield [ctx.attack(evaluation.control.format(v=ctx.point.value, a=a, b=b), f"{label}:control")]
        exchanges.append(control)
        if not control.ok or product in control.text:
            return None, len(exchanges)
    first, *others = exchanges
    how = ("the product of two random numbers written as an expression appeared computed in the response, and "
           "again with fresh numbers, but not when the same numbers were a quoted string; it is in no normal "
           "response and not in the payload")
    details: dict[str, object] = {"evaluation": evaluation.name, "products": products}
    proof = _around(first.text, products[0])
    return Found("evaluation", first, proof, how, Confidence.CERTAIN, tuple(others), details), len(exchanges)


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - _EXCERPT): at + len(needle) + _EXCERPT].strip() if at >= 0 else needle


# ---------------------------------------------------------------------- boolean
def _fill(template: str, value: str, word: str) -> str:
    return template.format(v=value, w=word, n=len(word), m=len(word) + 1)


def boolean_based(ctx: CheckContext, contexts: Iterable[BooleanContext],
                  lang: str) -> Generator[list[Attack], list[Exchange], tuple[Found | None, int]]:
    value, sent = ctx.point.value, 0
    numeric = ctx.point.kind is ValueKind.NUMBER or bool(re.fullmatch(r"-?\d+(?:\.\d+)?", value))
    other: Exchange | None = None
    for context in contexts:
        if context.numeric_only and not numeric:
            continue
        label = f"{lang}-boolean:{context.name}"
        screen, confirm = context.pairs
        word = ctx.marker(4)
        (true,) = yield [ctx.attack(_fill(screen.holds, value, word), f"{label}:true")]
        sent += 1
        if not keeps_page(ctx, true, None):
            continue
        (false,) = yield [ctx.attack(_fill(screen.fails, value, word), f"{label}:false")]
        sent += 1
        if not _false(ctx, false, true):
            continue
        word2 = ctx.marker(4)
        batch = [ctx.attack(_fill(confirm.holds, value, word2), f"{label}:confirm-true"),
                 ctx.attack(_fill(confirm.fails, value, word2), f"{label}:confirm-false")]
        if other is None:
            batch.append(ctx.attack(neutral(ctx), f"{label}:neutral"))
        answers = yield batch
        sent += len(batch)
        other = answers[2] if other is None else other
        (false_again,) = yield [ctx.attack(false.attack.payload, f"{label}:false-again")]
        (true_again,) = yield [ctx.attack(true.attack.payload, f"{label}:true-again")]
        sent += 2
        trues, falses = (true, answers[0], true_again), (false, answers[1], false_again)
        if all(keeps_page(ctx, t, other) for t in trues) and all(_false(ctx, f, true) for f in falses):
            return _boolean_found(ctx, context, trues, falses, other), sent
    return None, sent


def _false(ctx: CheckContext, exchange: Exchange, true: Exchange) -> bool:
    return usable(exchange) and differs(ctx, exchange) and differs(ctx, exchange, true) \
        and not same_as_normal(ctx, exchange)


def _boolean_found(ctx: CheckContext, context: BooleanContext, trues: tuple[Exchange, ...],
                   falses: tuple[Exchange, ...], other: Exchange) -> Found:
    true, false = trues[0], falses[0]
    proof = (f"TRUE conditions kept the normal page (status {true.status}); FALSE ones changed it "
             f"(status {false.status}, {len(false.text)} vs {len(true.text)} characters)")
    how = ("two TRUE/FALSE pairs of the same shape, built from functions of this language only, split the "
           "responses the same way, and the first pair re-sent FALSE first did too")
    details: dict[str, object] = {"context": context.name, "true_status": true.status,
                                  "false_status": false.status}
    return Found("boolean", true, proof, how, Confidence.FIRM, (*falses, *trues[1:], other), details)
