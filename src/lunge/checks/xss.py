"""Cross-site scripting: reflected (``xss-reflected``) and stored (``xss-stored``).

Both run the same steps (detection.md §2); only the delivery differs. Reflected XSS reads the
attack's own response; stored XSS submits at the source point, then fetches the *sinks* (other
baselines whose pages showed a value planted at this point, found by the engine) and reads those.

1. **Probe** (1–2 requests): a random canary alone, then appended to the original value if the first
   did not come back. A point whose value is not reflected in a page a browser renders stops here
   (:mod:`~lunge.checks.rendering`: JSON, XML, text, CSV, script and downloads run no markup). When
   the canary came back only in such answers, one more request tells whether ``<markup>`` comes
   back unencoded; if so the test set notes it ("markup reflected unencoded in application/json:
   not executable here") for a later stage or a page that renders this data.
2. **Contexts**: the page is parsed (:mod:`~lunge.checks.htmlcontext`) to learn *where* each
   reflection lands: text, an attribute and its quote, a URL or event-handler attribute, a script
   string or code, a comment, a raw-text parent such as ``textarea``.
3. **Character survival** (1 request): the characters those contexts need (``<``, ``>``, the quote,
   ``</script>``, ``-->``, ...) between random separators; only breakouts whose characters come back
   intact (or entity-encoded, where the browser decodes before running) are tried.
4. **Breakouts** (at most 3): the minimal payload for the context (``data/xss_breakouts.yaml``) with
   a fresh marker; the attack response is parsed and must contain a call to the marker in an
   executable position: an event-handler attribute, a ``javascript:`` URL on a navigating attribute,
   executable script code; never inside textarea/title/comment/JSON script/template. An HTML-encoded
   echo parses as text and never counts.
5. **Confirmation** (1): the same breakout with another fresh marker must execute again.

The engine's stored-XSS pass also uses :func:`priming_marker` and :func:`find_markers` to map
sources to sinks before this check runs.
"""

from __future__ import annotations

import html
import logging
import random
import string
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lunge.checks import datafiles, htmlcontext, rendering
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.htmlcontext import Context, Execution, Reflection
from lunge.http.points import Point, ValueKind
from lunge.values import quick_init

logger = logging.getLogger(__name__)

MAX_BREAKOUTS = 3  # breakout payloads per point (ZAP tries at most 3 generic ones)
PRIMING_PREFIX = "lng"


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Breakout:
    """One row of ``data/xss_breakouts.yaml``."""

    situation: str
    name: str
    template: str
    needs: tuple[str, ...] = ()
    decoded: bool = False


@datafiles.schema
@dataclass(frozen=True, slots=True)
class BreakoutTable:
    element: str
    breakouts: tuple[Breakout, ...]


TABLE = datafiles.load("xss_breakouts.yaml", BreakoutTable)


class Survival(StrEnum):
    """How a probe character came back."""

    INTACT = "intact"
    ENCODED = "encoded"
    ESCAPED = "escaped"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Situation:
    """A breakout situation and the values of its placeholders (``q``, ``p``)."""

    name: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A breakout made concrete for one situation: placeholders other than the marker filled in."""

    breakout: Breakout
    situation: Situation
    template: str
    needs: tuple[str, ...]

    def payload(self, marker: str, prefix: str) -> str:
        return prefix + self.template.replace("{m}", marker)


@quick_init
@dataclass(frozen=True, slots=True)
class Delivered:
    """What one delivery produced: ``sent`` every exchange (the attack; or the store and the sink
    fetches), ``pages`` the exchanges whose responses are judged."""

    sent: tuple[Exchange, ...]
    pages: tuple[Exchange, ...]


Deliver = Callable[[str, str], Generator[list[Attack], list[Exchange], Delivered]]


@dataclass(slots=True)
class _Trail:
    """The exchanges and observations a verdict cites."""

    controls: list[Exchange] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- checks
def _run_reflected(ctx: CheckContext) -> Probe:
    return (yield from _pipeline(XSS_REFLECTED, ctx, _reflected(ctx)))


def _run_stored(ctx: CheckContext) -> Probe:
    return (yield from _pipeline(XSS_STORED, ctx, _stored(ctx)))


def _applies_reflected(ctx: CheckContext) -> bool:
    return ctx.point.kind is not ValueKind.BINARY


def _applies_stored(ctx: CheckContext) -> bool:
    return bool(ctx.sinks) and ctx.point.kind is not ValueKind.BINARY


_REMEDIATION = ("Encode every untrusted value for the context it is written into (HTML text, attribute, URL, "
                "JavaScript string) with the template engine's auto-escaping, never by hand; validate URLs "
                "against an allow-list of schemes; add a Content-Security-Policy without 'unsafe-inline'.")

XSS_REFLECTED = Check(
    id="xss-reflected",
    title="Reflected cross-site scripting",
    kind="xss",
    severity=Severity.MEDIUM,
    cwe=79,
    description="A value of the request is written into the HTML response so that markup or script injected "
                "through it runs in the victim's browser.",
    run=_run_reflected,
    applies=_applies_reflected,
    remediation=_REMEDIATION,
)
XSS_STORED = Check(
    id="xss-stored",
    title="Stored cross-site scripting",
    kind="xss",
    severity=Severity.HIGH,
    cwe=79,
    description="A value submitted in one request is stored and later written into another page's HTML so "
                "that markup or script injected through it runs in every visitor's browser.",
    run=_run_stored,
    applies=_applies_stored,
    remediation=_REMEDIATION,
    second_order=True,
)
CHECKS = (XSS_REFLECTED, XSS_STORED)


# ---------------------------------------------------------------------------- delivery
def _reflected(ctx: CheckContext) -> Deliver:
    def deliver(payload: str, label: str) -> Generator[list[Attack], list[Exchange], Delivered]:
        (exchange,) = yield [ctx.attack(payload, label)]
        return Delivered((exchange,), (exchange,))

    return deliver


def _stored(ctx: CheckContext) -> Deliver:
    def deliver(payload: str, label: str) -> Generator[list[Attack], list[Exchange], Delivered]:
        # Two rounds: the sinks are fetched only once the store request has been answered.
        stored = yield [ctx.attack(payload, label)]
        sinks = yield [Attack(sink, payload, f"sink-{label}") for sink in ctx.sinks]
        return Delivered((*stored, *sinks), tuple(sinks))

    return deliver


# ---------------------------------------------------------------------------- the steps
def _pipeline(check: Check, ctx: CheckContext, deliver: Deliver) -> Probe:
    trail = _Trail()
    found = yield from _probe(ctx, deliver, trail)
    if found is None:
        return []
    prefix, reflected = found
    situations = _situations(reflected)
    trail.details["contexts"] = sorted({_describe(r) for r in reflected})
    if not situations:
        return []
    candidates = _candidates(situations)
    survival = yield from _survival(ctx, deliver, candidates, prefix, trail)
    tried = 0
    for candidate in candidates:
        if tried >= MAX_BREAKOUTS:
            break
        if survival is not None and not _survives(candidate, survival):
            continue
        tried += 1
        verdict = yield from _attempt(check, ctx, deliver, candidate, prefix, trail)
        if verdict is not None:
            return [verdict]
    return []


def _probe(ctx: CheckContext, deliver: Deliver,
           trail: _Trail) -> Generator[list[Attack], list[Exchange], tuple[str, list[Reflection]] | None]:
    """The canary alone, then (full mode) appended to the original value. Returns the prefix that
    made it reflect and the reflections, or None."""
    prefixes = [""] if ctx.light or not ctx.point.value else ["", ctx.point.value]
    for prefix in prefixes:
        canary = ctx.marker()
        delivered = yield from deliver(prefix + canary, "probe")
        trail.controls.extend(delivered.sent)
        # parse only pages that hold the canary at all: most points reflect nothing
        reflected = [r for page in delivered.pages if (text := _page_text(page)) is not None
                     and canary in text.lower() for r in htmlcontext.reflections(text, canary)]
        if reflected:
            trail.details["canary"] = canary
            trail.details["appended"] = bool(prefix)
            return prefix, reflected
        unrendered = _unrendered_echo(delivered, canary)
        if unrendered and not ctx.light:
            yield from _markup_echo(ctx, deliver, prefix, unrendered)
            return None
    return None


def _unrendered_echo(delivered: Delivered, canary: str) -> list[str]:
    """Why each page that echoed the canary is not rendered ("application/json", ...)."""
    return [why for page in delivered.pages if page.response is not None and canary in page.text.lower()
            and (why := rendering.rendering(page.response).why) and _page_text(page) is None]


def _markup_echo(ctx: CheckContext, deliver: Deliver, prefix: str,
                 unrendered: list[str]) -> Generator[list[Attack], list[Exchange], None]:
    """The canary came back only in answers a browser does not render as a page (JSON, XML, text,
    a download). One request tells whether markup comes back unencoded there: not XSS here, but a
    page that renders this data later may be, so it is noted on the test set, never dropped."""
    marker = ctx.marker()
    markup = f"<{marker}>"
    delivered = yield from deliver(prefix + markup, "markup-echo")
    for page in delivered.pages:
        if page.response is not None and _page_text(page) is None and markup in page.text.lower():
            ctx.note(f"markup reflected unencoded in {rendering.rendering(page.response).why}: not executable here")
    if not ctx.notes:
        logger.debug("%s: canary echoed in %s, markup not", ctx.point.name, ", ".join(sorted(set(unrendered))))


def _survival(ctx: CheckContext, deliver: Deliver, candidates: Sequence[Candidate], prefix: str,
              trail: _Trail) -> Generator[list[Attack], list[Exchange], dict[str, Survival] | None]:
    """Send the characters the candidates need between random separators; None when the probe did
    not come back at all (blocked or dropped whole), so nothing can be ruled out."""
    chars = list(dict.fromkeys(ch for c in candidates for ch in c.needs))
    if not chars:
        return {}
    separators = _separators(ctx.marker(6), len(chars) + 1)
    value = separators[0] + "".join(ch + sep for ch, sep in zip(chars, separators[1:], strict=True))
    delivered = yield from deliver(prefix + value, "survival")
    trail.controls.extend(delivered.sent)
    texts = [t for page in delivered.pages if (t := _page_text(page)) is not None]
    survival = read_survival(texts, separators, chars)
    if survival is not None:
        trail.details["intact"] = sorted(ch for ch, s in survival.items() if s is Survival.INTACT)
        trail.details["encoded"] = sorted(ch for ch, s in survival.items() if s is Survival.ENCODED)
        trail.details["escaped"] = sorted(ch for ch, s in survival.items() if s is Survival.ESCAPED)
    return survival


def _attempt(check: Check, ctx: CheckContext, deliver: Deliver, candidate: Candidate, prefix: str,
             trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    """One breakout and, when it executes, its confirmation with a fresh marker."""
    marker = ctx.marker()
    delivered = yield from deliver(candidate.payload(marker, prefix), candidate.breakout.name)
    hit = _executed(delivered, marker)
    if hit is None:
        trail.controls.extend(delivered.sent)
        return None
    second = ctx.marker()
    again = yield from deliver(candidate.payload(second, prefix), "confirm")
    confirmed = _executed(again, second)
    if confirmed is None:
        logger.info("%s: %s executed once but not on re-send; not reported", check.id, candidate.breakout.name)
        trail.controls.extend((*delivered.sent, *again.sent))
        return None
    page, execution = hit
    where = f"{confirmed[1].tag} {confirmed[1].attribute}".strip()
    return check.verdict(
        ctx, page, proof=execution.excerpt, confidence=Confidence.FIRM,
        confirmation=(f"a second payload with a fresh marker ({second}) was also parsed as an executable "
                      f"{confirmed[1].how} ({where}) in the response"),
        controls=(*trail.controls, *(e for e in delivered.sent if e is not page), *again.sent),
        details={**trail.details, **_page_details(page), "situation": candidate.situation.name,
                 "breakout": candidate.breakout.name, "execution": execution.how, "tag": execution.tag,
                 "attribute": execution.attribute, "marker": marker, "confirm_marker": second},
    )


def _executed(delivered: Delivered, marker: str) -> tuple[Exchange, Execution] | None:
    for page in delivered.pages:
        text = _page_text(page)
        if text is None:
            continue
        found = htmlcontext.executions(text, marker)
        assert page.response is not None  # _page_text gave a text
        if found and not rendering.xml_renders(text, page.response.content_type):
            continue  # XHTML or SVG that the injection broke (or without its namespace): no page at all
        if rendering.rendering(page.response).document == rendering.SVG:
            found = [e for e in found if rendering.svg_executes(e.tag, e.how)]
        if found:
            return page, found[0]
    return None


# ---------------------------------------------------------------------------- contexts and payloads
def _situations(reflected: Iterable[Reflection]) -> list[Situation]:
    """The breakout situations of the reflections, most direct first, without repeats."""
    out: list[Situation] = []
    for reflection in reflected:
        out.extend(_situations_of(reflection))
    return list(dict.fromkeys(out))


def _situations_of(r: Reflection) -> list[Situation]:
    if r.inert:  # inside <template>: only leaving the template helps
        return [Situation("raw-text", (("p", "template"),))] if r.context is Context.TEXT else []
    simple = {Context.TEXT: "html-text", Context.TAG_NAME: "tag-name", Context.ATTRIBUTE_NAME: "attribute-name",
              Context.COMMENT: "comment"}
    if r.context in simple:
        return [Situation(simple[r.context])]
    if r.context in (Context.RAW_TEXT, Context.INERT_SCRIPT):
        return [Situation("raw-text", (("p", r.tag),))]
    if r.context is Context.SCRIPT:
        return [*_js_situations(r.script, "js"), Situation("script-close")]
    if r.context in (Context.ATTRIBUTE, Context.URL, Context.EVENT_HANDLER, Context.SRCDOC):
        return _attribute_situations(r)
    return []


def _attribute_situations(r: Reflection) -> list[Situation]:
    out: list[Situation] = []
    if r.context is Context.EVENT_HANDLER or (r.context is Context.URL and r.script):
        out.extend(_js_situations(r.script, "handler"))
    if r.context is Context.URL and r.at_start and (r.tag, r.attribute) in htmlcontext.EXECUTING_URL_SINKS:
        out.append(Situation("url-sink"))
    if r.context is Context.SRCDOC:
        out.append(Situation("srcdoc"))
    if r.quote:
        out.append(Situation("attribute-quoted", (("q", r.quote),)))
    else:
        out.append(Situation("attribute-unquoted"))
    return out


def _js_situations(position: str, where: str) -> list[Situation]:
    if position in ("'", '"'):
        return [Situation(f"{where}-string", (("q", position),))]
    if position == "`":
        template = [Situation("js-template")] if where == "js" else []
        return [*template, Situation(f"{where}-string", (("q", "`"),))]
    if position == "code":
        return [Situation(f"{where}-code")]
    return []  # inside a JavaScript comment or regex: only closing the script helps


def _candidates(situations: Sequence[Situation]) -> list[Candidate]:
    out = []
    for situation in situations:
        values = dict(situation.values)
        for breakout in TABLE.breakouts:
            if breakout.situation == situation.name:
                out.append(Candidate(breakout, situation, _fill(breakout.template, values),
                                     tuple(_fill(n, values) for n in breakout.needs)))
    return out


def _fill(template: str, values: dict[str, str]) -> str:
    text = template.replace("{element}", TABLE.element)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _survives(candidate: Candidate, survival: dict[str, Survival]) -> bool:
    usable = {Survival.INTACT, Survival.ENCODED} if candidate.breakout.decoded else {Survival.INTACT}
    return all(survival.get(ch, Survival.GONE) in usable for ch in candidate.needs)


def _separators(base: str, count: int) -> list[str]:
    # distinct letters, so no separator is a prefix of another
    return [base + string.ascii_lowercase[i % 26] * (1 + i // 26) for i in range(count)]


def read_survival(texts: Sequence[str], separators: Sequence[str], chars: Sequence[str]) -> dict[str, Survival] | None:
    """How each character came back between its two separators, best over all reflections; None
    when no separator came back at all.

    >>> read_survival(['x s1a&lt;s1b"s1c'], ["s1a", "s1b", "s1c"], ["<", '"'])
    {'<': <Survival.ENCODED: 'encoded'>, '"': <Survival.INTACT: 'intact'>}
    """
    lowered = [t.lower() for t in texts]
    if not any(separators[0].lower() in t for t in lowered):
        return None
    out: dict[str, Survival] = {}
    order = list(Survival)
    for i, ch in enumerate(chars):
        states = [_classify(between, ch) for t in lowered
                  for between in _between(t, separators[i].lower(), separators[i + 1].lower(), len(ch))]
        out[ch] = min(states, key=order.index) if states else Survival.GONE
    return out


def _between(text: str, left: str, right: str, width: int) -> Iterable[str]:
    start = text.find(left)
    while start >= 0:
        begin = start + len(left)
        end = text.find(right, begin, begin + width * 12 + 16)
        if end >= 0:
            yield text[begin:end]
        start = text.find(left, begin)


def _classify(between: str, ch: str) -> Survival:
    wanted = ch.lower()
    if between == wanted:
        return Survival.INTACT
    if html.unescape(between) == wanted:
        return Survival.ENCODED
    if between.replace("\\", "") == wanted:
        return Survival.ESCAPED
    return Survival.GONE


# ---------------------------------------------------------------------------- pages
def _page_text(exchange: Exchange) -> str | None:
    """The body of a response a browser renders in place as a document that runs markup (HTML,
    XHTML, SVG, or sniffed HTML without a type; never as a download), else None
    (:mod:`~lunge.checks.rendering`: evidence or silence)."""
    response = exchange.response
    if response is None or rendering.rendering(response).document is None:
        return None
    return response.text()


def _page_details(exchange: Exchange) -> dict[str, Any]:
    response = exchange.response
    assert response is not None
    return {"content_type": response.content_type or None,
            "content_security_policy": response.headers.get("content-security-policy"),
            "x_content_type_options": response.headers.get("x-content-type-options")}


def _describe(r: Reflection) -> str:
    parts = [r.context.value, r.tag, r.attribute, f"quote {r.quote}" if r.quote else "",
             f"js {r.script}" if r.script else "", "inert" if r.inert else ""]
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------- stored-XSS helpers
def priming_marker(point: Point, rng: random.Random) -> str:
    """A unique value to plant at ``point`` so that the pages showing it later can be found: digits
    for a numeric point (a string would be refused there), else ``lng`` and nine random lowercase
    letters and digits. Match it with :func:`find_markers`.

    >>> priming_marker(Point("GET_q_value", (), "x"), random.Random(1))
    'lngieqh524yn'
    """
    if point.kind is ValueKind.NUMBER:
        return str(rng.randint(10**11, 10**12 - 1))
    alphabet = string.ascii_lowercase + string.digits
    return PRIMING_PREFIX + "".join(rng.choice(alphabet) for _ in range(9))


def find_markers(text: str, markers: Iterable[str]) -> set[str]:
    """The markers that appear in ``text``, compared case-insensitively (some servers case-fold).

    >>> sorted(find_markers("<p>Hello LNGABC123</p>", ["lngabc123", "lngzzz999"]))
    ['lngabc123']
    """
    wanted = list(markers)
    if not wanted:
        return set()
    lowered = text.lower()
    if all(m.lower().startswith(PRIMING_PREFIX) for m in wanted) and PRIMING_PREFIX not in lowered:
        return set()
    return {m for m in wanted if m.lower() in lowered}
