"""Which responses a browser renders as a page that runs injected markup (issue 18)."""

from __future__ import annotations

import doctest

import pytest

from lunge.checks import rendering
from lunge.checks.rendering import HTML, SVG
from lunge.engine import results
from lunge.http import Headers, Response


def test_doctests() -> None:
    assert doctest.testmod(rendering).failed == 0
    assert doctest.testmod(results).failed == 0


@pytest.mark.parametrize(("headers", "body", "document", "why"), [
    ([("Content-Type", "text/html; charset=utf-8")], b"x", HTML, "text/html"),
    ([("Content-Type", "Application/XHTML+XML")], b"x", HTML, "application/xhtml+xml"),
    ([("Content-Type", "image/svg+xml")], b"<svg/>", SVG, "image/svg+xml"),
    ([("Content-Type", "application/xml")], b"<r/>", None, "application/xml"),
    ([("Content-Type", "text/xml")], b"<r/>", None, "text/xml"),
    ([("Content-Type", "application/json")], b"{}", None, "application/json"),
    ([("Content-Type", "text/csv")], b"a,b", None, "text/csv"),
    ([("Content-Type", "application/javascript")], b"x()", None, "application/javascript"),
    ([("Content-Type", "text/html"), ("Content-Disposition", "ATTACHMENT; filename=x.html")], b"<p>", None,
     "text/html served as attachment"),
    ([("Content-Type", "text/html"), ("Content-Disposition", "inline")], b"<p>", HTML, "text/html"),
    ([], b"\n <!DOCTYPE HTML><p>x", HTML, "no Content-Type, sniffed as HTML"),
    ([], b"<p>x", HTML, "no Content-Type, sniffed as HTML"),
    ([], b"<pre>x", None, "no Content-Type, not sniffed as HTML"),
    ([], b"hello <p>x", None, "no Content-Type, not sniffed as HTML"),
    ([("X-Content-Type-Options", "nosniff")], b"<p>x", None, "no Content-Type with nosniff"),
    ([("Content-Type", "unknown/unknown")], b"<p>x", HTML, "unknown/unknown, sniffed as HTML"),
])
def test_rendering(headers: list[tuple[str, str]], body: bytes, document: str | None, why: str) -> None:
    got = rendering.rendering(Response(200, headers=Headers(headers), body=body))
    assert (got.document, got.why) == (document, why)


def test_svg_executions() -> None:
    assert rendering.svg_executes("script", "script")
    assert rendering.svg_executes("svg", "event-handler") and rendering.svg_executes("animate", "event-handler")
    assert not rendering.svg_executes("img", "event-handler")
    assert not rendering.svg_executes("lunge-abc", "event-handler")
