"""NoSQL injection (``nosqli``, CWE-943): MongoDB operators where a plain value was expected,
JavaScript ``$where`` breakouts, and the errors of MongoDB, CouchDB and Elasticsearch.

detection.md §9, sqlmap's ``_detectMongo``. Three techniques:

1. **Error** (:func:`lunge.checks.querylang.error_based` over ``data/nosql.yaml``): a JS/JSON
   breaker against a neutral value; a second breaker confirms.
2. **Operators, boolean with matched shapes**: the value becomes an operator object. A JSON value
   is replaced by the object itself (``{"$ne": w}``, not a string of it); a query or form value
   gets the bracket syntax that Express's ``qs``, PHP and Rails parse into one (``k[$ne]=w``).
   Always-true ``$ne w`` against never-true ``$in [w]``, then ``$regex .*`` against ``$regex ^w$``
   (``w`` random): both TRUE pages must agree, both FALSE pages must agree with a neutral value's
   page, TRUE must differ from FALSE, and the first pair re-sent FALSE first must too. An
   application that rejects or stringifies objects answers both sides alike (the validation-error
   trap of §9 carries the same bracket shape on both sides).
3. **Time** (``$where`` string breakout, through :mod:`lunge.checks.timing` and the quiet lane):
   ``v' && sleep(ms) || '``: the sleep runs only for documents the original condition matches,
   never once per document of the collection.

Budget for a point that is not vulnerable: 2 (error) + 3 (operators) + 2 (time screens, text
values only) = 7 requests; 2 in light mode.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from urllib.parse import quote, unquote_plus

from lunge.checks import querylang, timing
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity
from lunge.checks.sqli_context import differs, same_as_normal, usable
from lunge.http import Request
from lunge.http.points import ValueKind

# (TRUE, FALSE) operator objects of the same shape; "{w}" is a random word.
OPERATOR_PAIRS: tuple[tuple[dict[str, object], dict[str, object]], ...] = (
    ({"$ne": "{w}"}, {"$in": ["{w}"]}),
    ({"$regex": ".*"}, {"$regex": "^{w}$"}),
)
WHERE_BREAKOUTS = ("'", '"')
RULES = timing.TimingRules(screen=True)


def run(ctx: CheckContext) -> Probe:
    spent = 0
    found, sent = yield from querylang.error_based(ctx, querylang.language("nosql"))
    spent += sent
    if found is not None and found.confidence is not Confidence.TENTATIVE:
        return [querylang.verdict(NOSQLI, ctx, found, spent)]
    if ctx.light and found is None:
        return []
    tentative = found
    if _operator_place(ctx) is not None:
        operators, sent = yield from operator_based(ctx)
        spent += sent
        if operators is not None:
            return [querylang.verdict(NOSQLI, ctx, operators, spent)]
    if ctx.point.kind is ValueKind.STRING:
        timed, sent = yield from where_time(ctx)
        spent += sent
        if timed is not None:
            return [querylang.verdict(NOSQLI, ctx, timed, spent)]
    return [querylang.verdict(NOSQLI, ctx, tentative, spent)] if tentative is not None else []


# ---------------------------------------------------------------------- operators
def _operator_place(ctx: CheckContext) -> str | None:
    """``json`` (a JSON value, replaced by an object), ``query`` or ``form`` (a top-level parameter,
    renamed with brackets), or None where no framework would parse an operator."""
    path = ctx.point.path
    parsers = [s.parser for s in path]
    if "JSON_DOC" in parsers and parsers[-1] == "HASH" and "BASE64" not in parsers and "JWT" not in parsers:
        return "json"
    if len(path) == 1 and parsers[0] == "GET":
        return "query"
    if parsers == ["POST", "FORM_URLENCODED"]:
        return "form"
    return None


def _fill(template: object, word: str) -> object:
    if isinstance(template, dict):
        return {k: _fill(v, word) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, word) for v in template]
    return str(template).replace("{w}", word)


def _pair(pair: tuple[dict[str, object], dict[str, object]], word: str) -> tuple[dict[str, object],
                                                                                dict[str, object]]:
    true, false = (_fill(side, word) for side in pair)
    assert isinstance(true, dict) and isinstance(false, dict)
    return true, false


def _bracketed(operator: dict[str, object]) -> list[tuple[str, str]]:
    """``{"$in": ["w"]}`` as bracket-syntax suffixes and values: ``[("[$in][]", "w")]``."""
    (name, value), = operator.items()
    if isinstance(value, list):
        return [(f"[{name}][]", str(v)) for v in value]
    return [(f"[{name}]", str(value))]


def _with_operator(ctx: CheckContext, operator: dict[str, object], label: str) -> Attack:
    place = _operator_place(ctx)
    shown = json.dumps(operator)
    if place == "json":
        return Attack(ctx.inject(shown, raw=True), shown, label)
    key = ctx.point.path[-1].key or ""
    pairs = "&".join(f"{quote(key)}{suffix}={quote(v, safe='')}" for suffix, v in _bracketed(operator))
    request = _renamed(ctx.baseline, key, pairs, place == "query")
    return Attack(request, pairs, label)


def _renamed(request: Request, key: str, replacement: str, in_query: bool) -> Request:
    """The request with the first ``key=...`` pair of its query (or form body) replaced."""
    if in_query:
        path, _, query = request.target.partition("?")
        return request.with_target(f"{path}?{_replace_pair(query, key, replacement)}")
    body = request.body.decode("utf-8", "surrogateescape")
    return request.with_body(_replace_pair(body, key, replacement).encode("utf-8", "surrogateescape"))


def _replace_pair(text: str, key: str, replacement: str) -> str:
    """>>> _replace_pair("a=1&b=2", "b", "b[$ne]=x")
    'a=1&b[$ne]=x'
    """
    parts = text.split("&")
    for i, part in enumerate(parts):
        if unquote_plus(part.partition("=")[0]) == key:
            parts[i] = replacement
            break
    return "&".join(parts)


def operator_based(ctx: CheckContext) -> Generator[list[Attack], list[Exchange],
                                                      tuple[querylang.Found | None, int]]:
    (holds, fails), (holds2, fails2) = (_pair(pair, ctx.marker(6)) for pair in OPERATOR_PAIRS)
    neutral, true, false = yield [ctx.attack(querylang.neutral(ctx), "nosqli-operator:neutral"),
                                  _with_operator(ctx, holds, "nosqli-operator:true"),
                                  _with_operator(ctx, fails, "nosqli-operator:false")]
    if not _split(ctx, true, false, neutral):
        return None, 3
    true2, false2 = yield [_with_operator(ctx, holds2, "nosqli-operator:regex-true"),
                           _with_operator(ctx, fails2, "nosqli-operator:regex-false")]
    (false3,) = yield [Attack(false.attack.request, false.attack.payload, "nosqli-operator:false-again")]
    (true3,) = yield [Attack(true.attack.request, true.attack.payload, "nosqli-operator:true-again")]
    agree = all(_split(ctx, t, f, neutral) and not differs(ctx, t, true) and not differs(ctx, f, false)
                for t, f in ((true2, false2), (true3, false3)))
    if not agree:
        return None, 7
    proof = (f"TRUE operators answered status {true.status} ({len(true.text)} characters); FALSE operators and a "
             f"neutral value answered status {false.status} ({len(false.text)} characters)")
    how = ("always-true and never-true operator objects of the same shape ($ne/$in, then $regex) split the "
           "responses alike, FALSE like a neutral value; the first pair re-sent FALSE first did too")
    details: dict[str, object] = {"place": _operator_place(ctx), "true_status": true.status,
                                  "false_status": false.status, "true_is_normal": same_as_normal(ctx, true)}
    return querylang.Found("operator", true, proof, how, Confidence.FIRM,
                           (false, true2, false2, false3, true3, neutral), details), 7


def _split(ctx: CheckContext, true: Exchange, false: Exchange, neutral: Exchange) -> bool:
    """TRUE differs from FALSE and from the neutral value's page, FALSE is like it; all answers."""
    if not (usable(true) and usable(false) and usable(neutral)):
        return False
    return differs(ctx, true, false) and differs(ctx, true, neutral) and not differs(ctx, false, neutral)


# ---------------------------------------------------------------------- $where time
def _milliseconds(delay: float) -> str:
    return str(round(delay * 1000))


def where_time(ctx: CheckContext) -> Generator[list[Attack], list[Exchange], tuple[querylang.Found | None, int]]:
    value, spent = ctx.point.value, 0
    model: timing.LatencyModel | None = None
    for quote_ in WHERE_BREAKOUTS:
        def payload(delay: float, q: str = quote_) -> str:
            return f"{value}{q} && sleep({_milliseconds(delay)}) || {q}"

        result = yield from timing.confirm_delay(ctx, payload, f"nosqli-time:where{quote_}", model=model,
                                                 rules=RULES)
        model, spent = result.model, spent + result.requests + result.calibration
        if result.decision is timing.TimingDecision.LAGGING:
            return None, spent
        if result.confirmed:
            details = {"context": f"$where {quote_}", **result.details}
            return querylang.Found("time", result.exchange, result.proof, result.confirmation, Confidence.FIRM,
                                   result.controls, details), spent
    return None, spent


NOSQLI = Check(
    id="nosqli",
    title="NoSQL injection",
    kind="nosqli",
    severity=Severity.HIGH,
    cwe=943,
    description="The value reaches a NoSQL query as an operator object or inside server-side JavaScript: an "
    "attacker can match any document (bypassing logins and lookups) or run code in the database.",
    run=run,
    applies=querylang.applies,
    remediation="Accept only scalars where a scalar is expected (reject objects, or cast to string), never "
    "pass request objects to the query as they are, and disable server-side JavaScript ($where).",
)

CHECKS = (NOSQLI,)
