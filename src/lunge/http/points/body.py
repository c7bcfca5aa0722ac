"""The request body (``POST``): which parser reads it, chosen by Content-Type, else by sniffing.

The raw body is a point (``POST_value``) only when no parser finds structure in it; a JSON or form
body is attacked through its fields, not by replacing the whole document.
"""

from __future__ import annotations

import re

from lunge.http.headers import Headers
from lunge.http.points import encoded, graphql, jsondoc, multipart, query, xmldoc
from lunge.http.points.model import Leaf, Step, ValueKind

_GZIP = "\x1f\udc8b"  # the gzip magic bytes 1f 8b, surrogate-escaped
_FORM = re.compile(r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=?[^&\s]*)*")


def parse_body(text: str, headers: Headers) -> list[Leaf]:
    """The ``POST`` leaf of a body (surrogate-escaped text), with its structure as children."""
    content_type = headers.get("content-type") or ""
    media = content_type.partition(";")[0].strip().lower()
    coding = (headers.get("content-encoding") or "").lower()
    # gzip first: compressed bytes must not be read as a form or sniffed as anything else.
    inner = _gzipped(text, media, content_type) if "gzip" in coding or text.startswith(_GZIP) else None
    if inner is None:
        inner = _structured(text, media, content_type)
    if inner:
        return [Leaf((Step("POST"),), (0, len(text)), text, point=False, nested=False, children=inner)]
    kind = ValueKind.BINARY if _binary(text) else ValueKind.STRING
    return [Leaf((Step("POST"),), (0, len(text)), text, kind=kind, nested=kind is ValueKind.STRING)]


def _gzipped(text: str, media: str, content_type: str) -> list[Leaf] | None:
    layer = encoded.gzip_layer(text)
    if not layer:
        return None
    gz = layer[0]
    gz.children = _structured(gz.value, media, content_type) or None
    # like the body itself: attacked through its fields when it has structure, else as a whole
    gz.point = gz.children is None
    gz.nested = gz.children is None and gz.kind is not ValueKind.BINARY
    return layer


def _structured(text: str, media: str, content_type: str) -> list[Leaf] | None:
    if media == "application/x-www-form-urlencoded":
        return query.parse(text, "FORM_URLENCODED") or None
    if media.startswith("multipart/"):
        return multipart.parse(text, content_type)
    if media == "application/json" or media.endswith("+json"):
        return jsondoc.parse(text)
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return xmldoc.parse(text)
    if media == "application/graphql":
        return graphql.parse(text)
    return _sniff(text)


def _sniff(text: str) -> list[Leaf] | None:
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        return jsondoc.parse(text) or graphql.parse(text)
    if stripped[0] == "<":
        return xmldoc.parse(text)
    if _FORM.fullmatch(text) and ("&" in text or not text.endswith("=")):
        # a lone "word=" is more likely base64 padding than a form with one empty field
        return query.parse(text, "FORM_URLENCODED")
    return None


def _binary(text: str) -> bool:
    return "\x00" in text or any("\udc80" <= ch <= "\udcff" for ch in text[:4096])
