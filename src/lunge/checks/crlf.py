"""CRLF injection (``crlf``): a line break in a value reaches a response header and starts a header
line of the attacker's own.

detection.md §6. Gate (1 request): the value with a random canary appended; only when the canary
comes back in a response *header* (a ``Location``, a ``Set-Cookie``, a custom header built from
input) are line breaks worth sending. Then the value with a line break and a header line of random
name and value (``Set-Cookie: <m>=<m2>``), the break written as:

- ``crlf``, ``lf``, ``cr``: raw CR LF, bare LF, bare CR (encoded for the point, so a query carries
  ``%0D%0A`` and the server decodes it);
- ``double-encoded``: the text ``%0d%0a``, for servers that decode the value twice (a cookie or a
  redirect target decoded again);
- ``unicode``: U+560D U+560A, whose low bytes are CR and LF: stacks that write header text as
  Latin-1 by truncating each character (ZAP's and nuclei's ``%E5%98%8D%E5%98%8A``).

The oracle reads the *parsed* response headers, never the body: the marker must be a header field
of its own (a ``Set-Cookie`` whose cookie is the random pair), so a body that reflects the break,
or a header value that keeps it percent-encoded, does not count. A second random pair confirms.

Budget: 1 request for a point whose value never reaches a header, 1 + 5 when it does and no break
goes through; light mode sends only the raw CR LF after the canary.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.http.points import ValueKind


@dataclass(frozen=True, slots=True)
class LineBreak:
    """One way of writing a line break into the value."""

    name: str
    text: str


BREAKS = (
    LineBreak("crlf", "\r\n"),
    LineBreak("lf", "\n"),
    LineBreak("cr", "\r"),
    LineBreak("double-encoded", "%0d%0a"),
    LineBreak("unicode", "\u560d\u560a"),
)


def _applies(ctx: CheckContext) -> bool:
    return ctx.point.kind is not ValueKind.BINARY


def _run(ctx: CheckContext) -> Probe:
    canary = ctx.marker()
    (gate,) = yield [ctx.attack(ctx.point.value + canary, "canary")]
    carrier = _header_with(gate, canary)
    if carrier is None:
        return []
    controls: list[Exchange] = [gate]
    for brk in BREAKS[:1] if ctx.light else BREAKS:
        verdict = yield from _attempt(ctx, brk, carrier, controls)
        if verdict is not None:
            return [verdict]
    return []


def _attempt(ctx: CheckContext, brk: LineBreak, carrier: str,
             controls: list[Exchange]) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    name, value = ctx.marker(8), ctx.marker(8)
    (exchange,) = yield [ctx.attack(_payload(ctx.point.value, brk, name, value), brk.name)]
    proof = injected_cookie(exchange, name, value)
    if proof is None:
        controls.append(exchange)
        return None
    name2, value2 = ctx.marker(8), ctx.marker(8)
    (again,) = yield [ctx.attack(_payload(ctx.point.value, brk, name2, value2), "confirm")]
    if injected_cookie(again, name2, value2) is None:
        controls.extend((exchange, again))
        return None
    return CRLF.verdict(
        ctx, exchange, proof=proof, confidence=Confidence.FIRM,
        confirmation=(f"a second random cookie ({name2}={value2}) came back as a Set-Cookie header of its own, "
                      f"through the same {brk.name} line break"),
        controls=(ctx.normal, *controls, again),
        details={"line_break": brk.name, "carrier_header": carrier, "header": "Set-Cookie",
                 "cookie": f"{name}={value}", "confirm_cookie": f"{name2}={value2}"},
    )


def _payload(value: str, brk: LineBreak, name: str, cookie: str) -> str:
    return f"{value}{brk.text}Set-Cookie: {name}={cookie}"


def _header_with(exchange: Exchange, canary: str) -> str | None:
    """The name of the first response header whose value holds ``canary``."""
    if exchange.response is None:
        return None
    lowered = canary.lower()
    return next((name for name, value in exchange.response.headers if lowered in value.lower()), None)


def injected_cookie(exchange: Exchange, name: str, value: str) -> str | None:
    """The ``Set-Cookie`` header line that sets exactly ``name=value`` as its cookie, or None: a
    header field of its own, not text inside another header's value or in the body."""
    if exchange.response is None:
        return None
    for header, text in exchange.response.headers:
        if header.lower() != "set-cookie":
            continue
        cookie = text.split(";", 1)[0].strip()
        if cookie == f"{name}={value}":
            return f"{header}: {text}"
    return None


CRLF = Check(
    id="crlf",
    title="CRLF injection (HTTP response header injection)",
    kind="crlf",
    severity=Severity.MEDIUM,
    cwe=113,
    description="A value of the request is written into a response header without removing line breaks, so it "
                "can add headers of its own (cookies that fix a session, a redirect) or split the response.",
    run=_run,
    applies=_applies,
    remediation="Reject or strip CR and LF (and characters a stack may truncate to them) in anything written "
                "into a header; set cookies and redirects through the framework's APIs, which refuse them.",
)
CHECKS = (CRLF,)
