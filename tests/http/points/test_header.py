"""Header values (HEADER_<NAME>) and cookies (HEADER_COOKIE_COOKIE_<name>).

A header cannot carry CR or LF (they would end it): a new value has them percent-encoded. Spaces
and tabs at either end are not part of a field value (RFC 9110 OWS), so a server never sees them.
A cookie cannot carry ';' either (it would end the cookie): it is percent-encoded too.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import Headers, Request, parse
from lunge.http.points import header
from lunge.http.points.tree import to_latin1
from tests.http import strategies as gen
from tests.http.points.support import check_replace, names, reparse

SETTINGS = settings(max_examples=gen.examples(80), deadline=None)


def _request(*pairs: tuple[str, str]) -> Request:
    """A request with these headers, their values sent as UTF-8 (Headers hold latin-1 views)."""
    fields = [("Host", "t.test"), *((k, to_latin1(v)) for k, v in pairs)]
    return Request("GET", "http", "t.test", 80, "/", "HTTP/1.1", Headers(fields))


def header_carry(value: str) -> str:
    return header.encode_header_value(value).strip(" \t")


def cookie_carry(value: str) -> str:
    return header.encode_cookie_value(value).strip(" \t")


def test_names_of_headers() -> None:
    points = parse(_request(("X-Api-Key", "k1"), ("Accept", "a"), ("accept", "b"), ("Content-Length", "0"),
                            ("Connection", "close"), ("Transfer-Encoding", "identity")))
    assert names(points)[1:] == ["HEADER_HOST_value", "HEADER_X-API-KEY_value", "HEADER_ACCEPT_ARRAY_0_value",
                                 "HEADER_ACCEPT_ARRAY_1_value"]


def test_names_of_cookies() -> None:
    points = parse(_request(("Cookie", "sid=abc; theme=dark; a=1; a=2; bad; =x")))
    cookies = [(p.name, p.value, p.family) for p in points if p.name.startswith("HEADER_COOKIE_COOKIE")]
    assert cookies == [
        ("HEADER_COOKIE_COOKIE_sid_value", "abc", "COOKIE"),
        ("HEADER_COOKIE_COOKIE_theme_value", "dark", "COOKIE"),
        ("HEADER_COOKIE_COOKIE_a_ARRAY_0_value", "1", "COOKIE"),
        ("HEADER_COOKIE_COOKIE_a_ARRAY_1_value", "2", "COOKIE"),
    ]
    assert points.get("HEADER_COOKIE_value").family == "HEADER"  # type: ignore[union-attr]


def test_cookies_in_two_cookie_headers() -> None:
    points = parse(_request(("Cookie", "a=1"), ("Cookie", "b=2")))
    assert [(p.name, p.family) for p in points if p.family == "COOKIE"] == [
        ("HEADER_COOKIE_ARRAY_0_COOKIE_a_value", "COOKIE"), ("HEADER_COOKIE_ARRAY_1_COOKIE_b_value", "COOKIE"),
    ]


@SETTINGS
@given(gen.hostile_text)
def test_header_values_round_trip_what_a_header_can_carry(value: str) -> None:
    points = parse(_request(("X-A", "1"), ("User-Agent", "ua/1 (x)"), ("X-A", "2"), ("Referer", "http://r.test/")))
    for p in points:
        if p.family == "HEADER" and p.name != "HEADER_HOST_value" and len(p.path) == 1 + (p.path[-1].parser == "ARRAY"):
            check_replace(points, p, value, header_carry(value))


@SETTINGS
@given(gen.cookie_headers(), gen.hostile_text)
def test_cookie_values_round_trip_what_a_cookie_can_carry(cookie: tuple[str, list[tuple[str, str]]],
                                                          value: str) -> None:
    text, pairs = cookie
    points = parse(_request(("Cookie", text)))
    found = [p for p in points if p.family == "COOKIE" and p.path[-1].parser in ("COOKIE", "ARRAY")]
    assert [p.value for p in found] == [v for _, v in pairs]
    for p in found:
        check_replace(points, p, value, cookie_carry(value))


def test_crlf_cannot_split_a_header() -> None:
    points = parse(_request(("X-A", "1")))
    request = points.replace("HEADER_X-A_value", "x\r\nSet-Cookie: evil=1")
    assert request.headers.get("x-a") == "x%0D%0ASet-Cookie: evil=1"
    assert "set-cookie" not in reparse(request).request.headers


def test_raw_replacement_may_split_a_header_on_purpose() -> None:
    points = parse(_request(("X-A", "1")))
    raw = points.replace("HEADER_X-A_value", "x\r\nX-Injected: 1", raw=True)
    assert reparse(raw).request.headers.get("x-injected") == "1"


def test_a_semicolon_cannot_add_a_cookie() -> None:
    points = parse(_request(("Cookie", "sid=abc; t=1")))
    request = points.replace("HEADER_COOKIE_COOKIE_sid_value", "x; admin=1")
    assert request.headers.get("cookie") == "sid=x%3B admin=1; t=1"


def test_unicode_header_values_travel_as_utf8() -> None:
    points = parse(_request(("X-Name", "ann")))
    request = points.replace("HEADER_X-NAME_value", "\u00e9\u4e2d")
    assert b"X-Name: \xc3\xa9\xe4\xb8\xad\r\n" in request.to_bytes()
    assert reparse(request).get("HEADER_X-NAME_value").value == "\u00e9\u4e2d"  # type: ignore[union-attr]


def test_latin1_bytes_in_a_recorded_header_are_kept() -> None:
    request = Request.parse(b"GET / HTTP/1.1\r\nHost: t.test\r\nX-A: caf\xe9\r\nX-B: 1\r\n\r\n")
    points = parse(request)
    assert points.get("HEADER_X-A_value").value == "caf\udce9"  # type: ignore[union-attr]
    assert points.replace("HEADER_X-B_value", "2").to_bytes() == request.to_bytes().replace(b"X-B: 1", b"X-B: 2")


def test_header_framing_is_kept_around_a_new_value() -> None:
    request = Request.parse(b"GET / HTTP/1.1\r\nHost: t.test\r\nX-A:\t1  \r\n\r\n")
    rebuilt = parse(request).replace("HEADER_X-A_value", "2")
    assert b"X-A:\t2  \r\n" in rebuilt.to_bytes()


@settings(max_examples=gen.examples(200), deadline=None)
@given(st.text())
def test_arbitrary_cookie_text_never_raises(text: str) -> None:
    for leaf in header.parse_cookies(text):
        start, end = leaf.span
        assert text[start:end] == leaf.value
