"""crlf against responders that write a header from input the way real stacks do (raw, decoding the
value twice, truncating characters to Latin-1), read back through lunge's own response parser, and
the traps: a body that reflects the break, a header that keeps it encoded, a validated value."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import quote, unquote

import pytest

from lunge.checks.base import Attack, Confidence
from lunge.checks.crlf import BREAKS, CHECKS, CRLF
from lunge.checks.testing import context, drive
from lunge.http import Request, Response, parse

URL = "http://t.test/lang?lang=en"
POINT = "GET_lang_value"


def value_of(request: Request) -> str:
    point = parse(request).get(POINT)
    return point.value if point else ""


def raw_response(header: str, body: str = "ok") -> Response:
    """A response whose head is written byte for byte (as a stack that does not check header
    values writes it), then parsed back as any client would."""
    data = body.encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{header}\r\nContent-Length: {len(data)}\r\n\r\n"
    return Response.parse(head.encode("utf-8", "surrogateescape") + data)


def latin1(text: str) -> str:
    """Each character truncated to its low byte (old Node.js, some servlet containers)."""
    return "".join(chr(ord(c) & 0xFF) for c in text)


def app(write: Callable[[str], str]) -> Callable[[Request], Response]:
    return lambda request: raw_response(f"Set-Cookie: lang={write(value_of(request))}; Path=/")


def run(responder, *, light: bool = False):
    sent: list[Attack] = []
    ctx = context(Request.from_url(URL), POINT, responder, seed=6, light=light)
    return drive(CRLF, ctx, responder, sent=sent), sent


VULNERABLE = {
    "raw": (app(lambda v: v), "crlf"),
    "cr and lf stripped from the ends only": (app(lambda v: v.strip()), "crlf"),
    "crlf removed, lf kept": (app(lambda v: v.replace("\r\n", "")), "lf"),
    "decoded twice": (app(lambda v: unquote(v.replace("\r", "").replace("\n", ""))), "double-encoded"),
    "latin-1 truncation": (app(lambda v: latin1(v.replace("\r", "").replace("\n", ""))), "unicode"),
}


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_an_injected_header_line_is_found_and_confirmed(name: str) -> None:
    responder, brk = VULNERABLE[name]
    verdicts, sent = run(responder)
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("crlf", 113, Confidence.FIRM)
    assert verdict.details["line_break"] == brk and verdict.details["carrier_header"] == "Set-Cookie"
    assert verdict.proof.lower().startswith("set-cookie: " + verdict.details["cookie"])
    assert sent[0].label == "canary"


def _validated(request: Request) -> Response:
    value = value_of(request)
    if not re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", value):
        return raw_response("X-Error: bad language", "unsupported language")
    return raw_response(f"Set-Cookie: lang={value}; Path=/")


TRAPS = {
    "validated": _validated,
    "breaks stripped everywhere": app(lambda v: re.sub(r"[\r\n]", "", v)),
    "percent-encoded in the header, raw in the body": lambda r: raw_response(
        f"Set-Cookie: lang={quote(value_of(r))}; Path=/", f"<p>{value_of(r)}</p>"),
    "escaped in the body only": lambda r: raw_response("Set-Cookie: lang=en", f"<p>{html.escape(value_of(r))}</p>"),
}


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_traps_stay_silent(name: str) -> None:
    verdicts, _ = run(TRAPS[name])
    assert verdicts == []


def test_a_value_that_reaches_no_header_costs_one_request() -> None:
    verdicts, sent = run(TRAPS["escaped in the body only"])
    assert verdicts == [] and [a.label for a in sent] == ["canary"]


def test_budget_when_the_value_reaches_a_header() -> None:
    _, full = run(TRAPS["breaks stripped everywhere"])
    _, light = run(TRAPS["breaks stripped everywhere"], light=True)
    assert (len(full), len(light)) == (1 + len(BREAKS), 2)


def test_an_injection_that_does_not_repeat_is_not_reported() -> None:
    seen = {"n": 0}

    def once(request: Request) -> Response:
        if "\n" in value_of(request):
            seen["n"] += 1
        return app(lambda v: v if seen["n"] <= 1 else v.replace("\r", "").replace("\n", ""))(request)

    verdicts, _ = run(once)
    assert verdicts == []


def test_check_metadata() -> None:
    assert CHECKS == (CRLF,)
    assert (CRLF.id, CRLF.kind, CRLF.severity.value) == ("crlf", "crlf", "medium")
