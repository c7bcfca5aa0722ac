"""OpenAPI parameter serialization: a value written in a parameter's ``style`` and ``explode``.

Defaults follow the specification: ``simple`` for path and header parameters, ``form`` for query
and cookie parameters, ``explode`` true for ``form`` only. Every piece is percent-encoded on its
own, so separators stay separators (``ids=1,2``) and values cannot break out of their place.

>>> query_pairs("id", [3, 4], "form", True), query_pairs("id", [3, 4], "form", False)
(['id=3', 'id=4'], ['id=3,4'])
>>> path_value("id", {"a": 1, "b": "x y"}, "matrix", True)
';a=1;b=x%20y'
>>> query_pairs("filter", {"role": "admin"}, "deepObject", True)
['filter%5Brole%5D=admin']
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

DEFAULT_STYLES = {"path": "simple", "header": "simple", "query": "form", "cookie": "form"}
_RESERVED = ":/?#[]@!$&'()*+,;="


def text(value: Any) -> str:
    """A primitive as a parameter writes it; arrays and objects nested inside become JSON.

    >>> text(True), text(None), text(1.5), text({"a": 1})
    ('true', '', '1.5', '{"a": 1}')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _enc(value: Any, reserved: bool = False) -> str:
    return quote(text(value), safe=_RESERVED if reserved else "", errors="surrogatepass")


def _object_items(value: dict[str, Any], reserved: bool = False) -> list[tuple[str, str]]:
    return [(_enc(k, reserved), _enc(v, reserved)) for k, v in value.items()]


def path_value(name: str, value: Any, style: str, explode: bool) -> str:
    """The text that replaces ``{name}`` in a path (styles simple, label, matrix)."""
    prefix = {"label": ".", "matrix": ";"}.get(style, "")
    if isinstance(value, list):
        pieces = [_enc(v) for v in value]
        if style == "matrix":
            return "".join(f";{name}={p}" for p in pieces) if explode else f";{name}=" + ",".join(pieces)
        return prefix + (prefix if explode and style == "label" else ",").join(pieces)
    if isinstance(value, dict):
        items = _object_items(value)
        if explode:
            joiner = ";" if style == "matrix" else "." if style == "label" else ","
            return prefix + joiner.join(f"{k}={v}" for k, v in items)
        flat = ",".join(f"{k},{v}" for k, v in items)
        return f";{name}={flat}" if style == "matrix" else prefix + flat
    return f";{name}={_enc(value)}" if style == "matrix" else prefix + _enc(value)


def query_pairs(name: str, value: Any, style: str, explode: bool, reserved: bool = False) -> list[str]:
    """``key=value`` pieces of a query string for one parameter (styles form, spaceDelimited,
    pipeDelimited, deepObject); ``reserved`` is the parameter's ``allowReserved``."""
    key = _enc(name)
    if isinstance(value, dict):
        items = _object_items(value, reserved)
        if style == "deepObject":
            return [f"{key}{quote('[')}{k}{quote(']')}={v}" for k, v in items]
        if explode:
            return [f"{k}={v}" for k, v in items]
        return [f"{key}=" + ",".join(f"{k},{v}" for k, v in items)]
    if isinstance(value, list):
        pieces = [_enc(v, reserved) for v in value]
        if explode and style == "form":
            return [f"{key}={p}" for p in pieces]
        separator = {"spaceDelimited": "%20", "pipeDelimited": "|"}.get(style, ",")
        return [f"{key}=" + separator.join(pieces)]
    return [f"{key}={_enc(value, reserved)}"]


def header_value(value: Any, explode: bool) -> str:
    """A header parameter's value (style simple); not percent-encoded, a header holds text."""
    if isinstance(value, list):
        return ",".join(text(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return ",".join(f"{k}={text(v)}" for k, v in value.items())
        return ",".join(f"{k},{text(v)}" for k, v in value.items())
    return text(value)


def cookie_pairs(name: str, value: Any, explode: bool) -> list[str]:
    """``name=value`` cookies for one cookie parameter (style form)."""
    if isinstance(value, dict):
        items = _object_items(value)
        if explode:
            return [f"{k}={v}" for k, v in items]
        return [f"{_enc(name)}=" + ",".join(f"{k},{v}" for k, v in items)]
    if isinstance(value, list):
        pieces = [_enc(v) for v in value]
        return [f"{_enc(name)}={p}" for p in pieces] if explode else [f"{_enc(name)}=" + ",".join(pieces)]
    return [f"{_enc(name)}={_enc(value)}"]
