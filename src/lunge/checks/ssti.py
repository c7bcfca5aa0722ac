"""Server-side template injection (``ssti``).

detection.md §7. The oracle is SSTImap's render: template snippets appended to the value, each
computing something between random tags (``T1{{a*b}}T2`` must come back as ``T1<a*b>T2``, with
random ``a``, ``b`` and tags), so neither an echo (raw, URL- or HTML-encoded, stripped before
reading), nor a page full of numbers, nor a calculator that evaluates a bare ``a*b`` can satisfy it.
The renders (``data/ssti_engines.yaml``) cover ``{{ }}``, ``${ }``, ``<%= %>``, ``#{ }``, Mustache
sections, ``@( )``, Smarty ``{ }``, Velocity ``#set``, Thymeleaf ``[[ ]]`` and ``{% %}`` block tags
(Jinja2, Twig, Nunjucks, Tornado, FreeMarker, Mako, Java EL, ERB, EJS, Pug, Slim, Handlebars,
Mustache, Razor, Smarty, Velocity, Thymeleaf, Django, Liquid). Renders that do not disturb each
other's engines share a request: 4 probes in all, 1 in light mode.

A render is confirmed by the same probe with fresh operands and tags, then the engine is named by
fingerprints that only one engine of the family renders (Jinja2 repeats a string with ``*``,
Nunjucks calls a JavaScript method, FreeMarker has ``?upper_case``, ...), as SSTImap's plugins do.

Second order: when a probe is answered with a redirect (301/302/303) to the same origin, the page
it points to is fetched once, with the baseline's credentials and the cookies the redirect set, and
read as well (a form posted, then rendered on the page it redirects to).

Budget: 4 requests for a point that is not vulnerable (1 in light mode), plus 1 per probe answered
with a same-origin redirect; a confirmed render adds 1 confirmation and 0–4 fingerprints.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lunge.checks import datafiles
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.cmdi import normalise
from lunge.checks.secondorder import follow_redirect
from lunge.http.points import ValueKind
from lunge.values import quick_init


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Render:
    """A template snippet (``template``) and what it renders to (``expect``), of a ``family``."""

    family: str
    template: str
    expect: str


@datafiles.schema
@dataclass(frozen=True, slots=True)
class TemplateProbe:
    """One request's worth of renders."""

    name: str
    tier: Literal["light", "full"]
    renders: tuple[Render, ...]


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Family:
    name: str
    syntax: str
    engines: tuple[str, ...]


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Engine:
    """A template engine; ``template``/``expect`` its fingerprint (none: named without one)."""

    name: str
    title: str
    template: str = ""
    expect: str = ""


@datafiles.schema
@dataclass(frozen=True, slots=True)
class SstiTable:
    probes: tuple[TemplateProbe, ...]
    families: tuple[Family, ...]
    engines: tuple[Engine, ...]

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def engine(self, name: str) -> Engine:
        return next(e for e in self.engines if e.name == name)


TABLE = datafiles.load("ssti_engines.yaml", SstiTable)
for _probe in TABLE.probes:  # a render naming no family, or a family naming no engine, fails at import
    for _render in _probe.renders:
        for _name in TABLE.family(_render.family).engines:
            TABLE.engine(_name)

_PLACEHOLDER = re.compile(r"%(?:T[1-4]|A|B|V|X)%")


@quick_init
@dataclass(frozen=True, slots=True)
class Marker:
    """The random parts of one render: four tags, two operands, an undefined name, a word."""

    tags: tuple[str, str, str, str]
    a: int
    b: int
    name: str
    word: str

    def fill(self, template: str) -> str:
        """``template`` with its placeholders replaced (one pass: a value never gets re-read)."""
        values = {"%A%": str(self.a), "%B%": str(self.b), "%V%": self.name, "%X%": self.word,
                  **{f"%T{i}%": tag for i, tag in enumerate(self.tags, 1)}}
        return _PLACEHOLDER.sub(lambda m: values[m.group(0)], template)

    def expected(self, expect: str) -> str:
        """The text ``expect`` says the engine renders."""
        values = {"%P%": str(self.a * self.b), "%XU%": self.word.upper(), "%X%": self.word, "%V%": self.name,
                  "%VL%": str(len(self.name)), **{f"%T{i}%": tag for i, tag in enumerate(self.tags, 1)}}
        return re.sub(r"%(?:T[1-4]|P|XU|X|VL|V)%", lambda m: values[m.group(0)], expect)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A render found in a response: which one, its marker, the text and the exchange it was in."""

    render: Render
    marker: Marker
    text: str
    exchange: Exchange
    followed: bool


@dataclass(slots=True)
class _Trail:
    controls: list[Exchange] = field(default_factory=list)


def _applies(ctx: CheckContext) -> bool:
    return ctx.point.kind is not ValueKind.BINARY


def _run(ctx: CheckContext) -> Probe:
    trail = _Trail()
    tiers = ("light",) if ctx.light else ("light", "full")
    for probe in (p for p in TABLE.probes if p.tier in tiers):
        found = yield from _send(ctx, probe.renders, probe.name, trail)
        if found is None:
            continue
        verdict = yield from _confirm(ctx, probe, found, trail)
        if verdict is not None:
            return [verdict]
    return []


def _send(ctx: CheckContext, renders: Sequence[Render], label: str,
          trail: _Trail | None = None) -> Generator[list[Attack], list[Exchange], Rendered | None]:
    """Send ``renders`` appended to the value (and the page a redirect leads to); the first render
    found, or None."""
    markers = [_marker(ctx) for _ in renders]
    payload = ctx.point.value + "".join(m.fill(r.template) for r, m in zip(renders, markers, strict=True))
    (exchange,) = yield [ctx.attack(payload, label)]
    pages = [(exchange, False)]
    follow = follow_redirect(ctx.baseline, exchange)
    if follow is not None:
        (landed,) = yield [Attack(follow, payload, f"{label}:redirect")]
        pages.append((landed, True))
    expected = [m.expected(r.expect) for r, m in zip(renders, markers, strict=True)]
    for page, followed in pages:
        found = _rendered(page, expected, payload)
        if found is not None:
            return Rendered(renders[found], markers[found], expected[found], page, followed)
    if trail is not None:
        trail.controls.extend(page for page, _ in pages)
    return None


def _confirm(ctx: CheckContext, probe: TemplateProbe, hit: Rendered,
             trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    again = yield from _send(ctx, [hit.render], "confirm")
    if again is None:
        trail.controls.append(hit.exchange)
        return None
    family = TABLE.family(hit.render.family)
    named, fingerprints = yield from _fingerprint(ctx, family)
    engine = named.title if named else f"an engine with {family.syntax} ({_titles(family)})"
    how = "on the page the response redirected to" if hit.followed else "in the response"
    return SSTI.verdict(
        ctx, hit.exchange, proof=hit.text, confidence=Confidence.FIRM,
        confirmation=(f"{hit.marker.fill(hit.render.template)!r} rendered as {hit.text!r} {how}; a second render "
                      f"with fresh operands ({again.marker.a}*{again.marker.b}) and tags rendered as well"
                      + (f"; the fingerprint of {named.title} rendered" if named and named.template else "")),
        controls=(ctx.normal, *trail.controls, again.exchange, *fingerprints),
        details={"engine": named.name if named else None, "engine_title": engine, "family": family.name,
                 "syntax": family.syntax, "probe": probe.name, "operands": [hit.marker.a, hit.marker.b],
                 "expected": hit.text, "confirm_operands": [again.marker.a, again.marker.b],
                 "second_order": hit.followed, "fingerprint_requests": len(fingerprints)},
    )


def _fingerprint(ctx: CheckContext, family: Family) -> Generator[list[Attack], list[Exchange],
                                                                  tuple[Engine | None, list[Exchange]]]:
    """The engine of ``family`` whose fingerprint renders (or the first without one), and the
    fingerprint exchanges sent."""
    sent: list[Exchange] = []
    for engine in (TABLE.engine(name) for name in family.engines):
        if not engine.template:
            return engine, sent
        found = yield from _send(ctx, [Render(family.name, engine.template, engine.expect)], f"engine-{engine.name}")
        if found is not None:
            sent.append(found.exchange)
            return engine, sent
    return None, sent


def _rendered(exchange: Exchange, expected: Sequence[str], payload: str) -> int | None:
    """The index of the first ``expected`` text found in the response (as is, or once the payload's
    echo is removed and entities and percent-escapes decoded), or None."""
    if exchange.response is None:
        return None
    text = exchange.text
    for i, wanted in enumerate(expected):
        if wanted in text:
            return i
    if "&" not in text and "%" not in text:
        return None  # nothing escaped: decoding would find nothing new (the payload's echo holds none)
    plain = normalise(text, payload)
    return next((i for i, wanted in enumerate(expected) if wanted in plain), None)


def _titles(family: Family) -> str:
    titles = [TABLE.engine(name).title for name in family.engines]
    return ", ".join(titles[:-1]) + " or " + titles[-1] if len(titles) > 1 else titles[0]


def _marker(ctx: CheckContext) -> Marker:
    tags = (ctx.marker(6), ctx.marker(6), ctx.marker(6), ctx.marker(6))
    return Marker(tags, ctx.number(1000, 9999), ctx.number(1000, 9999), "lng" + ctx.marker(6), ctx.marker(7))


SSTI = Check(
    id="ssti",
    title="Server-side template injection",
    kind="ssti",
    severity=Severity.HIGH,
    cwe=1336,
    description="A value of the request becomes part of a server-side template's source, so template syntax in it "
                "is evaluated: usually a way to read the application's data and run code on the server.",
    run=_run,
    applies=_applies,
    remediation="Never build template source from input: pass input to a fixed template as data (a context "
                "variable), or render user-editable templates in a logic-less or sandboxed engine.",
)
CHECKS = (SSTI,)
