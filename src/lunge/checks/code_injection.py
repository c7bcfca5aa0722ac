"""Code injection (``code-injection``): input evaluated as code by the application's own language.

detection.md §3's computed marker, in each language's syntax (``data/code_injection.yaml``): the
payload evaluates to ``T1<a*b>T2`` only if an interpreter ran it, because the product of random
operands is turned into text and joined to random tags with the language's own string operators
(Python and Ruby ``'T1%dT2'%(a*b)``, JavaScript ``'T1'+(a*b)+'T2'``, PHP ``'T1'.(a*b).'T2'``). An echo
of the payload, an HTML-escaped echo and an arithmetic-only calculator (which cannot build strings)
never produce it. Forms replace the value (``eval(value)``) or close the single- or double-quoted string
it sits in. A match is confirmed by the same form with fresh operands and tags.

Time-based next, only where warranted (an interpreter's error message in a probe's answer that normal
answers do not show, or a parameter named like code: ``expr``, ``formula``, ``code``, ...): language
sleeps (``time.sleep``, PHP/Ruby ``sleep``, ``Atomics.wait``) judged by
:func:`lunge.checks.timing.confirm_delay` in the quiet lane (two delays twice each, a zero-delay
control, regression on the observed times), so an endpoint that is slow at random stays silent.

Budget: 6 output requests for a point that is not vulnerable (1 in light mode), plus 1 per time form
when warranted: the 3 bare forms for a name, its language's forms (2 or 3) for an error. Each time
probe is screened outside the quiet lane first; only one that looks delayed goes on in the lane.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lunge.checks import datafiles, pointnames, timing
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.cmdi import normalise
from lunge.http.points import ValueKind


@datafiles.schema
@dataclass(frozen=True, slots=True)
class CodeForm:
    """A payload template: ``replace`` puts it instead of the value (else ``{value}`` keeps it)."""

    name: str
    languages: tuple[str, ...]
    template: str
    tier: Literal["light", "full"] = "full"
    replace: bool = False
    hinted: bool = False  # time forms: only when an interpreter's error named one of its languages


@datafiles.schema
@dataclass(frozen=True, slots=True)
class CodeTable:
    output: tuple[CodeForm, ...]
    time: tuple[CodeForm, ...]
    errors: dict[str, tuple[str, ...]]
    name_words: frozenset[str]


TABLE = datafiles.load("code_injection.yaml", CodeTable)
# Nearly every time probe is negative: screen each outside the quiet lane first (as sqli does), so
# the host is drained only for a probe that already looked delayed.
RULES = timing.TimingRules(screen=True)
ERRORS = {language: datafiles.pattern("code_injection.yaml", "|".join(f"(?:{e})" for e in patterns))
          for language, patterns in TABLE.errors.items()}
for _form in (*TABLE.output, *TABLE.time):  # a form naming an unknown language is a broken table
    for _language in _form.languages:
        if _language not in ERRORS:
            raise ValueError(f"code_injection.yaml: form {_form.name}: no error patterns for {_language}")


@dataclass(frozen=True, slots=True)
class _Marker:
    t1: str
    t2: str
    a: int
    b: int

    @property
    def expected(self) -> str:
        return f"{self.t1}{self.a * self.b}{self.t2}"


@dataclass(slots=True)
class _Trail:
    controls: list[Exchange] = field(default_factory=list)
    languages: set[str] = field(default_factory=set)  # interpreters whose errors the probes provoked


def _applies(ctx: CheckContext) -> bool:
    return ctx.point.kind is not ValueKind.BINARY


def _run(ctx: CheckContext) -> Probe:
    trail = _Trail()
    tiers = ("light",) if ctx.light else ("light", "full")
    verdict = yield from _output_based(ctx, [f for f in TABLE.output if f.tier in tiers], trail)
    if verdict is not None:
        return [verdict]
    if ctx.light:
        if not trail.languages:
            return []
        verdict = yield from _output_based(ctx, [f for f in TABLE.output if f.tier == "full"], trail)
        if verdict is not None:
            return [verdict]
    elif not (trail.languages or named_like_code(ctx)):
        return []
    return (yield from _time_based(ctx, trail))


# ---------------------------------------------------------------------------- output-based
def _output_based(ctx: CheckContext, forms: Sequence[CodeForm],
                  trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    for form in forms:
        marker = _marker(ctx)
        payload = _fill(form, ctx.point.value, marker)
        (exchange,) = yield [ctx.attack(payload, form.name)]
        if not _computed(exchange, marker, payload):
            trail.languages |= _errors(ctx, exchange)
            trail.controls.append(exchange)
            continue
        fresh = _marker(ctx)
        again_payload = _fill(form, ctx.point.value, fresh)
        (again,) = yield [ctx.attack(again_payload, "confirm")]
        if not _computed(again, fresh, again_payload):
            trail.controls.extend((exchange, again))
            continue
        return CODE_INJECTION.verdict(
            ctx, exchange, proof=marker.expected, confidence=Confidence.FIRM,
            confirmation=(f"a second payload with fresh operands ({fresh.a}*{fresh.b}) and tags evaluated to "
                          f"{fresh.expected!r} as well"),
            controls=(ctx.normal, *trail.controls, again),
            details={"technique": "output", "form": form.name, "languages": list(form.languages),
                     "operands": [marker.a, marker.b], "expected": marker.expected,
                     "confirm_operands": [fresh.a, fresh.b]},
        )
    return None


def _computed(exchange: Exchange, marker: _Marker, payload: str) -> bool:
    if exchange.response is None:
        return False
    text = exchange.text
    if str(marker.a * marker.b) not in text and "&#" not in text and "%3" not in text:
        return False  # the product's digits are nowhere, not even escaped: the usual case, decided cheaply
    return marker.expected in text or marker.expected in normalise(text, payload)


def _errors(ctx: CheckContext, exchange: Exchange) -> set[str]:
    """The languages whose interpreter errors the probe's answer shows and normal answers do not."""
    if exchange.response is None:
        return set()
    text = exchange.text
    normal = [r.text for r in ctx.replays if r.response is not None]
    return {language for language, pattern in ERRORS.items()
            if pattern.search(text) and not any(pattern.search(n) for n in normal)}


# ---------------------------------------------------------------------------- time-based
def _time_based(ctx: CheckContext, trail: _Trail) -> Probe:
    if trail.languages:
        forms = [f for f in TABLE.time if trail.languages & set(f.languages)]
    else:  # only the name says code: the bare forms, one per language
        forms = [f for f in TABLE.time if not f.hinted]
    model: timing.LatencyModel | None = None
    for form in forms:
        result = yield from timing.confirm_delay(ctx, _sleeper(form, ctx.point.value), f"time-{form.name}",
                                                 model=model, rules=RULES)
        model = result.model
        if result.confirmed:
            return [CODE_INJECTION.verdict(
                ctx, result.exchange, proof=result.proof, confirmation=result.confirmation,
                confidence=Confidence.FIRM, controls=(*result.controls, *trail.controls[:3]),
                details={"technique": "time", "form": form.name, "languages": list(form.languages),
                         "error_languages": sorted(trail.languages), **result.details},
            )]
        if result.decision is timing.TimingDecision.LAGGING:
            break  # too jittery for any delay we may ask for: another form will not help
    return []


def _sleeper(form: CodeForm, value: str) -> Callable[[float], str]:
    def payload(seconds: float) -> str:
        text = form.template.replace("{seconds}", timing.seconds(seconds)).replace("{ms}", str(round(seconds * 1000)))
        return text if form.replace else text.replace("{value}", value)

    return payload


# ---------------------------------------------------------------------------- helpers
def named_like_code(ctx: CheckContext) -> bool:
    """Whether the innermost key of the point reads like code (``expr``, ``formula``, ...)."""
    return pointnames.named_like(ctx.point, TABLE.name_words)


def _marker(ctx: CheckContext) -> _Marker:
    return _Marker(ctx.marker(6), ctx.marker(6), ctx.number(1000, 9999), ctx.number(1000, 9999))


_FIELDS = re.compile(r"\{(?:value|t1|t2|a|b)\}")


def _fill(form: CodeForm, value: str, marker: _Marker) -> str:
    values = {"{value}": value, "{t1}": marker.t1, "{t2}": marker.t2, "{a}": str(marker.a), "{b}": str(marker.b)}
    return _FIELDS.sub(lambda m: values[m.group(0)], form.template)


CODE_INJECTION = Check(
    id="code-injection",
    title="Code injection",
    kind="rce",
    severity=Severity.CRITICAL,
    cwe=94,
    description="A value of the request is evaluated as code by the application's own interpreter (eval, exec, "
                "assert, Function), so code in it runs on the server with the application's rights.",
    run=_run,
    applies=_applies,
    remediation="Never evaluate input as code: parse the few forms you accept (numbers, a small expression "
                "grammar evaluated over an AST) and reject everything else; drop eval/exec/assert/Function "
                "on request data.",
)
CHECKS = (CODE_INJECTION,)
