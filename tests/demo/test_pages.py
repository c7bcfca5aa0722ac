"""Shared page helpers: escaping, JSON that is never markup, cookies read as frameworks read them."""

from __future__ import annotations

import json

from aiohttp.test_utils import make_mocked_request

from lunge.demo.pages import cookies, dumps, escape, layout


def test_escape_covers_text_and_quoted_attributes() -> None:
    assert escape("<a href='x' title=\"y\">&") == "&lt;a href=&#x27;x&#x27; title=&quot;y&quot;&gt;&amp;"


def test_json_never_carries_markup_characters() -> None:
    text = dumps({"detail": "<svg onload=alert(1)> & more"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"detail": "<svg onload=alert(1)> & more"}


def test_cookies_split_at_semicolons_only_and_are_percent_decoded() -> None:
    request = make_mocked_request("GET", "/", headers={
        "Cookie": "prefs=eyJsYW5nIjogImVuIn0; session=tok' AND '1'='1; theme=light; a=x%3By; session=second"})
    assert cookies(request) == {"prefs": "eyJsYW5nIjogImVuIn0", "session": "tok' AND '1'='1", "theme": "light",
                                "a": "x;y"}


def test_the_layout_escapes_the_title() -> None:
    page = layout("<b>", "<p>body</p>")
    assert "<title>&lt;b&gt; - lunge demo shop</title>" in page and "<p>body</p>" in page
