"""JSONP callback injection (``xss-jsonp``): a parameter becomes the function name of a JavaScript
response, so any page that loads it with ``<script src>`` runs whatever that name contains.

detection.md §2's JSONP note: HTML evidence in a JavaScript body is inert, so the reflected-XSS check
never reports it; this check reads the body as JavaScript instead. Gate (no request): the normal
response is a script that starts with the point's value called as a function (``cb({...})``,
``/**/cb({...})``). Then the value is replaced by an expression calling a random name (``m();cb``,
``m()//``, ``(m(),cb)``: with the original name kept where the syntax allows, the script still
runs its callback) and the answer is tokenised (:mod:`~lunge.checks.jscontext`): the random name
must be the first thing the script calls, in code (not in a string or a comment). A JavaScript
content type (or none) makes the finding firm; a JSON or text type without ``nosniff`` tentative
(older browsers run it); anything else is not reported. A second random name confirms.

Budget: 0 requests for a point that is not a JSONP callback; at most 3 + 1 for one that is.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from lunge.checks import jscontext
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.jscontext import JsKind
from lunge.http import Response
from lunge.http.points import ValueKind

SCRIPT_TYPES = frozenset({
    "application/javascript", "text/javascript", "application/x-javascript", "application/ecmascript",
    "text/ecmascript", "application/x-ecmascript", "text/jscript", "text/x-javascript",
})
# Run by browsers that sniff, unless the response says nosniff.
SNIFFED_TYPES = frozenset({"application/json", "text/plain", "text/x-json", "application/x-json", ""})
FORMS = (("semicolon", "{m}();{value}"), ("comment", "{m}()//"), ("comma", "({m}(),{value})"))
_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*\Z")
_PREAMBLE = re.compile(r"^(?:\ufeff|\s|/\*\*/|/\*[^*]*\*/|;)*")


def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    return point.kind is ValueKind.STRING and bool(_NAME.match(point.value)) and _calls_first(ctx.normal, point.value,
                                                                                               bare=True)


def _run(ctx: CheckContext) -> Probe:
    controls: list[Exchange] = []
    for form, template in FORMS:
        verdict = yield from _attempt(ctx, form, template, controls)
        if verdict is not None:
            return [verdict]
    return []


def _attempt(ctx: CheckContext, form: str, template: str,
             controls: list[Exchange]) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    name = ctx.marker()
    (exchange,) = yield [ctx.attack(template.format(m=name, value=ctx.point.value), form)]
    confidence = _runs_as_script(exchange.response)
    if confidence is None or not _calls_first(exchange, name):
        controls.append(exchange)
        return None
    second = ctx.marker()
    (again,) = yield [ctx.attack(template.format(m=second, value=ctx.point.value), "confirm")]
    if not _calls_first(again, second):
        controls.extend((exchange, again))
        return None
    response = exchange.response
    assert response is not None  # _runs_as_script said it is a script
    return XSS_JSONP.verdict(
        ctx, exchange, proof=_opening(exchange.text, name), confidence=confidence,
        confirmation=f"a second random name ({second}) was called first by the script as well",
        controls=(ctx.normal, *controls, again),
        details={"form": form, "content_type": response.content_type, "marker": name,
                 "nosniff": _nosniff(response), "callback": ctx.point.value},
    )


def _calls_first(exchange: Exchange, name: str, *, bare: bool = False) -> bool:
    """Whether the response body, read as JavaScript, starts by calling ``name`` (after a preamble
    of comments, semicolons and opening parentheses). Unless ``bare`` (the callback of a normal
    answer, called with its data), the call is ``name()`` and what follows it must let the script
    parse: an operator or punctuator, a line break, or the end (``m()cb(...)`` is a syntax error and
    runs nothing)."""
    if exchange.response is None:
        return False
    code = _PREAMBLE.sub("", exchange.text, count=1)[:4096]
    if not code.lstrip("( \t\r\n").startswith(name.split(".", 1)[0].split("[", 1)[0]):
        return False  # the usual case (a page, a JSON document): no need to tokenise it
    tokens = [t for t in jscontext.tokenize(code) if t.kind is not JsKind.COMMENT]
    while tokens and tokens[0].text == "(":
        tokens.pop(0)
    expected = [*(t for t in re.split(r"(\.|\[|\])", name) if t), "("]
    if bare:
        head = tokens[: len(expected)]
        return [t.text for t in head] == expected and all(t.kind is JsKind.CODE for t in head)
    expected.append(")")
    head = tokens[: len(expected)]
    if [t.text for t in head] != expected or not all(t.kind is JsKind.CODE for t in head):
        return False
    rest = tokens[len(expected):]
    if not rest:
        return True
    after = rest[0]
    if "\n" in code[head[-1].end:after.start]:
        return True  # automatic semicolon insertion ends the statement at the line break
    return after.kind is JsKind.CODE and not (after.text[:1].isalnum() or after.text[:1] in "_$")


def _runs_as_script(response: Response | None) -> Confidence | None:
    """How sure a browser runs this response loaded by ``<script src>``: firm for JavaScript types,
    tentative for types older browsers sniff, None otherwise."""
    if response is None:
        return None
    kind = response.content_type
    if kind in SCRIPT_TYPES:
        return Confidence.FIRM
    if kind in SNIFFED_TYPES and not _nosniff(response):
        return Confidence.FIRM if kind == "" else Confidence.TENTATIVE
    return None


def _nosniff(response: Response) -> bool:
    return (response.headers.get("x-content-type-options") or "").strip().lower() == "nosniff"


def _opening(text: str, name: str) -> str:
    start = text.find(name)
    return text[max(0, start - 8): start + len(name) + 40] if start >= 0 else text[:60]


XSS_JSONP = Check(
    id="xss-jsonp",
    title="Cross-site scripting through a JSONP callback",
    kind="xss",
    severity=Severity.MEDIUM,
    cwe=79,
    description="A JSONP endpoint writes the callback parameter as the function name of its JavaScript answer "
                "without checking it, so a page loading it with <script src> runs any expression put there.",
    run=_run,
    applies=_applies,
    remediation="Accept only callback names matching ^[A-Za-z_$][A-Za-z0-9_$.]*$ (or a fixed list), prefix the "
                "answer with /**/, send X-Content-Type-Options: nosniff, and prefer CORS over JSONP.",
)
CHECKS = (XSS_JSONP,)
