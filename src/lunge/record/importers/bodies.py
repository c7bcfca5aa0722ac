"""Request bodies of an OpenAPI operation: choosing a media type and writing a value in it.

JSON (``application/json`` and any ``+json``), ``application/x-www-form-urlencoded``,
``multipart/form-data`` (``format: binary`` fields become file parts), XML (elements from object
properties; the root named by ``xml.name`` or the schema's name) and ``text/*`` are written; any
other media type gets the value as text, with a note.

>>> encode_body("application/x-www-form-urlencoded", {"q": "a b", "tags": ["x", "y"]}, "item")
(b'q=a+b&tags=x&tags=y', 'application/x-www-form-urlencoded', '')
>>> encode_body("application/xml", {"id": 1, "tags": ["a", "b"]}, "pet")[0]
b'<?xml version="1.0" encoding="UTF-8"?><pet><id>1</id><tags>a</tags><tags>b</tags></pet>'
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from lunge.http.curl import FormPart, encode_multipart
from lunge.record.importers.build import utf8
from lunge.record.importers.schema import FileValue
from lunge.record.importers.styles import text

_XML_NAME = re.compile(r"^[A-Za-z_][\w.-]*\Z")


def media_rank(media_type: str) -> int:
    """How much lunge prefers a media type for a baseline (lower is better): JSON, forms, XML, text."""
    media = media_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json") or media in ("*/*", "application/*"):
        return 0
    if media == "application/x-www-form-urlencoded":
        return 1
    if media == "multipart/form-data":
        return 2
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return 3
    if media.startswith("text/"):
        return 4
    return 5


def encode_body(media_type: str, value: Any, root_name: str) -> tuple[bytes, str, str]:
    """(body, Content-Type, note) for ``value`` written as ``media_type``."""
    media = media_type.split(";")[0].strip().lower()
    rank = media_rank(media_type)
    if rank == 0:
        content_type = "application/json" if "*" in media else media_type
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"), content_type, ""
    if rank == 1:
        return _urlencoded(value), media_type, ""
    if rank == 2:
        body, content_type = encode_multipart(_parts(value))
        return body, content_type, ""
    if rank == 3:
        return _xml(value, root_name), media_type, ""
    note = "" if rank == 4 else f"the {media} body is written as text"
    return utf8(text(value)), media_type, note


def _urlencoded(value: Any) -> bytes:
    if not isinstance(value, dict):
        return quote_plus(utf8(text(value))).encode("ascii")
    pairs: list[str] = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            pairs.append(f"{quote_plus(utf8(key))}={quote_plus(utf8(text(one)))}")
    return "&".join(pairs).encode("ascii")


def _parts(value: Any) -> list[FormPart]:
    if not isinstance(value, dict):
        return [FormPart("value", utf8(text(value)))]
    parts: list[FormPart] = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            parts.append(_part(key, one))
    return parts


def _part(name: str, value: Any) -> FormPart:
    if isinstance(value, FileValue):
        return FormPart(name, utf8(value), f"{name}.bin", "application/octet-stream")
    if isinstance(value, dict | list):
        return FormPart(name, utf8(text(value)), content_type="application/json")
    return FormPart(name, utf8(text(value)))


def _xml(value: Any, root_name: str) -> bytes:
    root = root_name if _XML_NAME.match(root_name) else "root"
    return ('<?xml version="1.0" encoding="UTF-8"?>' + _element(root, value, 0)).encode("utf-8", "surrogatepass")


def _element(name: str, value: Any, depth: int) -> str:
    tag = name if _XML_NAME.match(name) and not name.lower().startswith("xml") else "item"
    if isinstance(value, dict) and depth < 32:
        inner = "".join(_children(k, v, depth + 1) for k, v in value.items())
    elif isinstance(value, list) and depth < 32:
        inner = "".join(_element("item", v, depth + 1) for v in value)
    else:
        inner = escape(_xml_text(text(value)))
    return f"<{tag}>{inner}</{tag}>"


def _children(name: str, value: Any, depth: int) -> str:
    """A property: a list becomes repeated elements with the property's name (unwrapped, as
    OpenAPI's XML object says by default)."""
    if isinstance(value, list):
        return "".join(_element(name, v, depth) for v in value)
    return _element(name, value, depth)


def _xml_text(value: str) -> str:
    # Characters XML 1.0 cannot hold at all; an example with them would make the body unreadable.
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "", value)
