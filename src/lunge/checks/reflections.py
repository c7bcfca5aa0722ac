"""Removing reflected values: a value the target echoes (the point's recorded value, a payload)
is taken out of a response in every form it may be echoed in, so an echo never passes for a
difference (sqlmap's ``removeReflectiveValues``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def strip_reflections(text: str, values: Iterable[str]) -> str:
    """``text`` with each value removed in its raw, URL-encoded, HTML-encoded and JSON-escaped
    forms, longest first (sqlmap's ``removeReflectiveValues``).

    >>> strip_reflections("you searched for a&lt;b", ["a<b"])
    'you searched for '
    >>> strip_reflections('{"q": "it\\'s \\\\"x\\\\""}', ['it\\'s "x"'])
    '{"q": ""}'
    """
    # Every encoding here keeps letters and digits as they are, so a value whose longest run of
    # them is not in the text has no form in it either: most attack responses never reflect the
    # payload, and this spares computing its nine encodings.
    present = tuple(v for v in values if _may_appear(v, text))
    if not present:
        return text
    for form in _removal_order(present):
        if form in text:
            text = text.replace(form, "")
    return text


def _may_appear(value: str, text: str) -> bool:
    anchor = _anchor(value)
    return anchor is None or anchor in text


@lru_cache(maxsize=4096)
def _anchor(value: str) -> str | None:
    """The value's longest run of ASCII letters and digits (3 or more), which every encoded form
    contains; None when it has none (then only the forms themselves can tell)."""
    runs = _ALNUM_RUN.findall(value)
    longest = max(runs, key=len, default="")
    return longest if len(longest) >= 3 else None


@lru_cache(maxsize=2048)
def _removal_order(values: tuple[str, ...]) -> tuple[str, ...]:
    """Every encoded form of ``values`` (two characters or more), longest first."""
    forms: set[str] = set()
    for value in values:
        if value:
            forms.update(_encoded_forms(value))
    return tuple(sorted((f for f in forms if len(f) >= 2), key=len, reverse=True))


def _encoded_forms(value: str) -> set[str]:
    markup = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
              .replace("'", "&#39;").replace('"', "&#34;"))  # markupsafe/Jinja2's escaping
    return {value, quote(value, safe=""), quote(value), quote_plus(value), html.escape(value),
            html.escape(value, quote=False), markup, json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1]}


__all__ = ["strip_reflections"]
