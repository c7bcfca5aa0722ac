"""Whether a browser would render a response as a document that runs script, from its headers.

Cross-site scripting needs a page that a browser *renders* in place: the same markup echoed in a
JSON, XML, plain-text or CSV answer, or in a page the browser saves as a download, runs nothing.

- ``text/html`` and ``application/xhtml+xml`` render as HTML.
- ``image/svg+xml`` renders as SVG: only ``<script>`` and event handlers on SVG elements run there
  (an HTML ``<img onerror>`` in the SVG namespace is an unknown element and never loads).
- Both XHTML and SVG are parsed as XML: a page that is not well-formed shows a parse error instead,
  and one without the XHTML or SVG namespace renders as a plain XML tree (:func:`xml_renders`).
- No ``Content-Type`` at all (or ``unknown/unknown``, ``application/unknown``, ``*/*``): the browser
  sniffs. Without ``X-Content-Type-Options: nosniff`` it renders HTML when the body opens with one
  of the HTML patterns of the WHATWG MIME Sniffing standard, §7.1 "identifying a resource with an unknown MIME type"
  (https://mimesniff.spec.whatwg.org/#identifying-a-resource-with-an-unknown-mime-type).
- Every other type (``application/json``, ``application/xml``, ``text/xml``, ``text/plain``,
  ``text/csv``, ``application/javascript``, ...) is not a document that runs injected markup; an XML
  document without the XHTML namespace renders as a tree.
- ``Content-Disposition: attachment`` (RFC 6266 §4.2) makes the browser download the body instead
  of rendering it, whatever its type.

>>> from lunge.http import Headers, Response
>>> rendering(Response(200, headers=Headers([("Content-Type", "application/json")]))).why
'application/json'
>>> rendering(Response(200, body=b"  <HTML><p>hi")).document
'html'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.parsers import expat

if TYPE_CHECKING:
    from lunge.http import Response

HTML = "html"
SVG = "svg"
XHTML_TYPE = "application/xhtml+xml"
NAMESPACES = {XHTML_TYPE: "http://www.w3.org/1999/xhtml", "image/svg+xml": "http://www.w3.org/2000/svg"}
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SVG_TYPE = "image/svg+xml"
# Types a browser treats as no type at all and sniffs (WHATWG MIME Sniffing §7, "unknown" types).
SNIFFED_TYPES = frozenset({"unknown/unknown", "application/unknown", "*/*"})
# WHATWG MIME Sniffing §7.1, the HTML rows; each must be followed by a tag-terminating byte.
SNIFFED_HTML = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font",
                b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--")
_WHITESPACE = b"\t\n\x0c\r "
# SVG 1.1/2 elements that are rendered or animate, so an event handler on them can fire.
SVG_ELEMENTS = frozenset({
    "svg", "g", "a", "rect", "circle", "ellipse", "line", "polyline", "polygon", "path", "text", "tspan",
    "textpath", "image", "use", "foreignobject", "switch", "animate", "animatetransform", "animatemotion", "set",
    "marker", "symbol", "pattern", "view",
})


@dataclass(frozen=True, slots=True)
class Rendering:
    """How a browser shows a response in place. ``document`` is :data:`HTML`, :data:`SVG` or None
    (not rendered as a document that runs injected markup); ``why`` names the response's type as
    a note says it ("application/json", "text/html served as attachment", "no Content-Type")."""

    document: str | None
    why: str


def rendering(response: Response) -> Rendering:
    """How a browser would show ``response`` if it were navigated to (see the module docstring)."""
    kind = response.content_type
    why = kind or "no Content-Type"
    if is_attachment(response.headers.get("content-disposition") or ""):
        return Rendering(None, f"{why} served as attachment")
    if kind in HTML_TYPES:
        return Rendering(HTML, kind)
    if kind == SVG_TYPE:
        return Rendering(SVG, kind)
    if kind and kind not in SNIFFED_TYPES:
        return Rendering(None, kind)
    if nosniff(response):
        return Rendering(None, f"{why} with nosniff")
    if sniffs_html(response.decoded_body()):
        return Rendering(HTML, f"{why}, sniffed as HTML")
    return Rendering(None, f"{why}, not sniffed as HTML")


def nosniff(response: Response) -> bool:
    return (response.headers.get("x-content-type-options") or "").strip().lower() == "nosniff"


def is_attachment(disposition: str) -> bool:
    """Whether a Content-Disposition value asks for a download (RFC 6266: the type comes first,
    case-insensitive).

    >>> is_attachment('Attachment; filename="a.html"'), is_attachment("inline"), is_attachment("")
    (True, False, False)
    """
    return disposition.partition(";")[0].strip().lower() == "attachment"


def sniffs_html(body: bytes) -> bool:
    """Whether a browser sniffing a body without a Content-Type would render it as HTML.

    >>> sniffs_html(b"\\n<!DOCTYPE html>"), sniffs_html(b"<p>x"), sniffs_html(b"<pre>x"), sniffs_html(b"x<p>")
    (True, True, False, False)
    """
    head = body[:512].lstrip(_WHITESPACE).lower()
    for pattern in SNIFFED_HTML:
        if head.startswith(pattern) and head[len(pattern) : len(pattern) + 1] in (b" ", b">"):
            return True
    return False


def svg_executes(tag: str, how: str) -> bool:
    """Whether an execution the HTML parser found would run in an SVG document: a script, or an
    event handler or ``javascript:`` link on an SVG element."""
    return how == "script" or (tag.lower() in SVG_ELEMENTS and how in ("event-handler", "javascript-url"))


def xml_renders(text: str, content_type: str) -> bool:
    """Whether a page of an XML-parsed type (XHTML, SVG) would render as such: it declares its
    namespace and is well-formed (any other type: True, nothing to check). Entity declarations are
    refused, so a response cannot make the parser expand an entity bomb.

    >>> ns = 'xmlns="http://www.w3.org/2000/svg"'
    >>> xml_renders(f"<svg {ns}><a onclick='f()'/></svg>", "image/svg+xml")
    True
    >>> xml_renders(f"<svg {ns}><a onclick=f()></svg>", "image/svg+xml"), xml_renders("<svg/>", "image/svg+xml")
    (False, False)
    """
    namespace = NAMESPACES.get(content_type)
    if namespace is None:
        return True
    if namespace not in text:
        return False
    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise ValueError("entity declaration")

    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(text.encode("utf-8"), True)
    except (expat.ExpatError, ValueError):
        return False
    return True
