"""The heuristic probe that opens the sqli check and routes the rest (sqlmap's
``heuristicCheckSqlInjection``).

One request carries the value followed by a random string of ``"'),(.`` (one of each quote): a
DBMS error or a cast error absent from normal responses, a crash, or a page that differs from the
one a harmless value of the same shape gives, says the value reaches a parser that cares about
quotes. A number also gets the expression pair (ZAP): ``(v+k)-k`` must give the normal page and
``(v+k+1)-k`` another one when the value is evaluated as arithmetic. In light mode these 2-3
requests are all that is sent unless one of them shows such a signal.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

from lunge.checks.base import Attack, CheckContext, Exchange
from lunge.checks.sqli_context import SINGLE, differs, is_numeric, keeps_page
from lunge.checks.sqli_errors import ErrorMatch, Signatures, neutral_value
from lunge.values import quick_init

_ALPHABET = ")(,."  # with one ' and one " added: sqlmap's HEURISTIC_CHECK_ALPHABET
_PROBE_LENGTH = 10


@quick_init
@dataclass(frozen=True, slots=True)
class Heuristic:
    """What the heuristic requests showed.

    - ``error``: a DBMS error in the probe's response that no normal response shows;
    - ``cast``: a type-conversion error instead (the value reached a typed parser);
    - ``changed``: the probe's page differs from the normal one;
    - ``quote_sensitive``: the probe's page differs from the neutral control's (quotes matter);
    - ``evaluated``: the expression pair behaved like arithmetic (numbers only);
    - ``crashed``: the probe got a 5xx where normal responses do not;
    - ``value_matters``: a harmless other value (the neutral control, the arithmetic pair) changes
      the page;
    - ``true_normal``: (light mode, text) a balanced TRUE condition kept the normal page while the
      neutral value did not.
    """

    probe: Exchange
    neutral: Exchange | None
    expression: tuple[Exchange, Exchange] | None
    error: ErrorMatch | None
    cast: ErrorMatch | None
    changed: bool
    quote_sensitive: bool
    evaluated: bool
    crashed: bool
    value_matters: bool
    true_normal: bool = False
    requests: int = 0

    @property
    def signal(self) -> bool:
        """Worth the full check in light mode: something SQL-like reacted."""
        return bool(self.error) or self.quote_sensitive or self.evaluated or self.crashed or self.true_normal

    @property
    def other(self) -> Exchange | None:
        """Another value's page: the neutral control, or the value plus one."""
        return self.neutral if self.neutral is not None else (self.expression[1] if self.expression else None)

    @property
    def blind(self) -> bool:
        """The page never changes with the value (nothing for a boolean oracle to see)."""
        return not (self.error or self.changed or self.value_matters or self.crashed)


def breaking_string(ctx: CheckContext) -> str:
    """Ten random characters of ``)(,.`` with exactly one ``'`` and one ``"`` among them."""
    # One draw for all of it (a draw per character cost more than the probe's own request):
    # 2 bits per character, then 8 bits for each quote's position.
    bits = ctx.rng.getrandbits(2 * (_PROBE_LENGTH - 2) + 16)
    chars = []
    for _ in range(_PROBE_LENGTH - 2):
        bits, index = divmod(bits, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    for quote in ("'", '"'):
        bits, position = divmod(bits, 256)
        chars.insert(position % (len(chars) + 1), quote)
    return "".join(chars)


def expression_pair(value: str, k: int) -> tuple[str, str]:
    """Two arithmetic variants of an integer: one equal to it, one equal to it plus one.

    >>> expression_pair("5", 37)
    ('42-37', '43-37')
    """
    number = int(value)
    return f"{number + k}-{k}", f"{number + k + 1}-{k}"


def heuristic(ctx: CheckContext, table: Signatures,
              normal: frozenset[str]) -> Generator[list[Attack], list[Exchange], Heuristic]:
    """Send the probe with its controls in one batch and read the signals (2-3 requests)."""
    value = ctx.point.value
    batch = [ctx.attack(value + breaking_string(ctx), "sqli:heuristic")]
    integer = is_numeric(ctx) and value.lstrip("-").isdigit()
    if integer:
        equal, plus_one = expression_pair(value, ctx.number(11, 99))
        batch += [ctx.attack(equal, "sqli:expression-equal"), ctx.attack(plus_one, "sqli:expression-plus-one")]
    else:
        batch.append(ctx.attack(neutral_value(ctx), "sqli:neutral"))
    exchanges = yield batch
    probe = exchanges[0]
    neutral = None if integer else exchanges[1]
    pair = (exchanges[1], exchanges[2]) if integer else None
    result = _read(ctx, table, normal, probe, neutral, pair, len(batch))
    if ctx.light and not result.signal and neutral is not None and differs(ctx, neutral):
        word = ctx.marker(4)
        n = ctx.number()
        (true,) = yield [ctx.attack(SINGLE.condition(value, f"{n}={n}", word), "sqli:light-true")]
        if keeps_page(ctx, true, neutral):
            return replace(result, true_normal=True, requests=result.requests + 1)
        return replace(result, requests=result.requests + 1)
    return result


def _read(ctx: CheckContext, table: Signatures, normal: frozenset[str], probe: Exchange, neutral: Exchange | None,
          pair: tuple[Exchange, Exchange] | None, requests: int) -> Heuristic:
    text = probe.text
    error = table.search(text, exclude=normal) if probe.ok else None
    if error is not None and neutral is not None and table.search(neutral.text, exclude=normal) is not None:
        error = None  # the neutral control shows it too: any change breaks this page
    cast = table.search(text, kind="cast", exclude=normal) if probe.ok else None
    crashed = probe.ok and probe.status >= 500 and ctx.noise.status < 500
    evaluated = pair is not None and keeps_page(ctx, pair[0], pair[1]) and differs(ctx, pair[1])
    sensitive = _quote_sensitive(ctx, probe, neutral, crashed)
    matters = any(differs(ctx, x) for x in (neutral, *(pair or ())) if x is not None)
    return Heuristic(probe, neutral, pair, error, cast, differs(ctx, probe) or crashed, sensitive, evaluated,
                     crashed, matters, requests=requests)


def _quote_sensitive(ctx: CheckContext, probe: Exchange, neutral: Exchange | None, crashed: bool) -> bool:
    """A crash on the probe alone, or another page of the same status than the neutral value's.
    A 4xx for the probe alone is input validation refusing quotes: a sign of care, not of a parser
    breaking."""
    if neutral is None or not neutral.ok or neutral.status >= 500:
        return False
    if crashed:
        return True
    return probe.ok and probe.status == neutral.status and differs(ctx, probe, neutral)
