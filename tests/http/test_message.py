"""Request and Response: parsing raw HTTP/1.x byte-faithfully, serialising, building from a URL."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.errors import MessageError
from lunge.http import Headers, Request, Response
from tests.http import strategies as gen

SETTINGS = settings(max_examples=gen.examples(100), deadline=None)


# ---------------------------------------------------------------------- requests
def test_a_request_keeps_everything_as_written() -> None:
    raw = (b"POST /a%2Fb/c?x=1&y=%7e HTTP/1.1\r\nHost: t.test:8080\r\nX-Dup: 1\r\nx-dup: 2\r\n"
           b"X-Space:   padded  \r\nContent-Length: 5\r\n\r\nhello")
    request = Request.parse(raw)
    assert (request.method, request.scheme, request.host, request.port) == ("POST", "http", "t.test", 8080)
    assert (request.target, request.path, request.query) == ("/a%2Fb/c?x=1&y=%7e", "/a%2Fb/c", "x=1&y=%7e")
    assert request.headers.get_all("X-DUP") == ["1", "2"]
    assert request.headers.get("x-space") == "padded"
    assert request.body == b"hello"
    assert request.to_bytes() == raw
    assert request.url == "http://t.test:8080/a%2Fb/c?x=1&y=%7e"


@SETTINGS
@given(gen.requests())
def test_serialising_and_parsing_are_inverse(request: Request) -> None:
    wire = request.to_bytes()
    again = Request.parse(wire, scheme=request.scheme)
    assert again.to_bytes() == wire
    assert (again.method, again.target, again.body) == (request.method, request.target, request.body)
    assert [(k, v) for k, v in again.headers if k != "Content-Length"] == list(request.headers)


@given(st.sampled_from([": ", ":", ":\t", ":  "]), st.sampled_from(["", " ", "\t "]), gen.words)
def test_header_framing_is_kept(separator: str, trailing: str, value: str) -> None:
    value = value.strip()
    raw = f"GET / HTTP/1.1\r\nHost: t.test\r\nX-A{separator}{value}{trailing}\r\n\r\n".encode()
    request = Request.parse(raw)
    assert request.headers.get("x-a") == value
    assert request.to_bytes() == raw


def test_bare_lf_line_endings_are_read_and_written_as_crlf() -> None:
    request = Request.parse(b"POST /x HTTP/1.1\nHost: t.test\nContent-Length: 8\n\nab\r\n\r\ncd")
    assert request.body == b"ab\r\n\r\ncd"  # the blank line is the first one, whatever its line ending
    assert request.to_bytes() == b"POST /x HTTP/1.1\r\nHost: t.test\r\nContent-Length: 8\r\n\r\nab\r\n\r\ncd"


def test_obs_fold_continuation_lines_stay_in_the_value() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: t.test\r\nX-Folded: a\r\n  b\r\n\tc\r\nX-B: 1\r\n\r\n"
    request = Request.parse(raw)
    assert request.headers.get("x-folded") == "a\r\n  b\r\n\tc"
    assert request.to_bytes() == raw


def test_chunked_bodies_are_dechunked_and_sent_as_one_chunk() -> None:
    raw = (b"POST /u HTTP/1.1\r\nHost: t.test\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n")
    request = Request.parse(raw)
    assert request.body == b"Wikipedia"
    assert request.headers.get("transfer-encoding") == "chunked"
    assert request.to_bytes() == (b"POST /u HTTP/1.1\r\nHost: t.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"9\r\nWikipedia\r\n0\r\n\r\n")
    assert request.with_body(b"").to_bytes().endswith(b"\r\n\r\n0\r\n\r\n")
    assert "content-length" not in Request.parse(request.to_bytes()).headers


@pytest.mark.parametrize(
    "chunks", [b"x\r\nab\r\n0\r\n\r\n", b"-5\r\nabc\r\n0\r\n\r\n", b"0x3\r\nabc\r\n0\r\n\r\n", b"5\r\nab", b"3\r\nabc"]
)
def test_broken_chunked_bodies_are_message_errors(chunks: bytes) -> None:
    with pytest.raises(MessageError):
        Request.parse(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)


def test_content_length_is_recomputed_when_the_body_changes() -> None:
    request = Request.parse(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nX: y\r\n\r\nabc")
    expected = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"
    assert request.with_body(b"hello").to_bytes() == expected
    added = Request.from_url("http://t/", "POST", body=b"ab").to_bytes()
    assert added == b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab"
    assert b"Content-Length" not in Request.from_url("http://t/").to_bytes()
    duplicated = Request.parse(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc")
    assert duplicated.to_bytes().count(b"ontent-") == 2  # untouched: as recorded
    assert duplicated.with_body(b"x").to_bytes().count(b"ontent-") == 1


def test_the_body_ends_at_content_length() -> None:
    request = Request.parse(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nabcdef")
    assert request.body == b"ab"


def test_absolute_form_targets_give_the_destination() -> None:
    request = Request.parse(b"GET https://Api.Test:8443/v1/x?y=1#f HTTP/1.1\r\nHost: other\r\n\r\n")
    assert (request.scheme, request.host, request.port, request.target) == ("https", "api.test", 8443, "/v1/x?y=1")
    assert Request.parse(b"GET http://api.test HTTP/1.1\r\n\r\n").target == "/"


def test_destination_from_arguments_then_host_header() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"
    assert (Request.parse(raw).host, Request.parse(raw).port) == ("::1", 8080)
    assert Request.parse(raw).origin == "http://[::1]:8080"
    given_host = Request.parse(raw, scheme="https", host="127.0.0.1", port=9443)
    assert (given_host.scheme, given_host.host, given_host.port) == ("https", "127.0.0.1", 9443)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\r\n", b"GET /\r\n\r\n", b"GET / HTTP/1.1", b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
     b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n",
     b"GET http://[::1/x HTTP/1.1\r\n\r\n", b"GET ftp://a/x HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n : x\r\n\r\n",
     b"G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n"],
)
def test_what_is_not_a_request_is_a_message_error(raw: bytes) -> None:
    with pytest.raises(MessageError):
        Request.parse(raw)


@settings(max_examples=gen.examples(300), deadline=None)
@given(st.binary(max_size=200) | gen.fragments("GET ", "POST ", "/", " HTTP/1.1", "\r\n", "\n", "Host: ", "a:1",
                                                "Content-Length: ", "Transfer-Encoding: chunked", "0", "5", "\xb2",
                                                "http://", "[::1", ":99999", "https://a").map(
                                                    lambda t: t.encode("utf-8", "surrogateescape")))
def test_arbitrary_bytes_raise_only_message_errors(raw: bytes) -> None:
    try:
        request = Request.parse(raw)
    except MessageError:
        return
    assert Request.parse(request.to_bytes(), scheme=request.scheme, host=request.host,
                         port=request.port).to_bytes() == request.to_bytes()


# ---------------------------------------------------------------------- building
def test_from_url() -> None:
    request = Request.from_url("https://user:pw@Shop.Test/a b/é?q=1 2&x=%41#frag", "post", body=b"x")
    assert (request.method, request.scheme, request.host, request.port) == ("POST", "https", "shop.test", 443)
    assert request.target == "/a%20b/%C3%A9?q=1%202&x=%41"
    assert request.headers.fields[0] == ("Host", "Shop.Test")
    assert Request.from_url("http://t:81").target == "/"
    assert Request.from_url("http://t", headers=[("host", "other")]).headers.fields == (("host", "other"),)


@pytest.mark.parametrize("url", ["ftp://t/x", "http:///x", "http://t:99999/", "http://[::1/", "/relative"])
def test_from_url_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(MessageError):
        Request.from_url(url)


def test_with_origin_moves_the_request_and_its_host_header() -> None:
    request = Request.from_url("http://old.test:8000/a?b=1")
    moved = request.with_origin("https", "new.test", 443)
    assert moved.url == "https://new.test/a?b=1"
    assert moved.headers.get("host") == "new.test"
    assert request.with_origin("http", "10.0.0.1", 8080).headers.get("host") == "10.0.0.1:8080"
    bare = Request("GET", "http", "a", 80, "/", "HTTP/1.1", Headers(), b"")
    assert "host" not in bare.with_origin("http", "b", 80).headers


def test_characters_beyond_latin1_are_sent_as_utf8() -> None:
    request = Request("GET", "http", "t", 80, "/\u4e2d", "HTTP/1.1", Headers([("X-A", "\u4e2d")]))
    assert request.to_bytes() == "GET /\u4e2d HTTP/1.1\r\nX-A: \u4e2d\r\n\r\n".encode()


# ---------------------------------------------------------------------- responses
def test_a_response_round_trips() -> None:
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\nnope"
    response = Response.parse(raw)
    assert (response.status, response.reason, response.body) == (404, "Not Found", b"nope")
    assert response.to_bytes() == raw
    assert Response.parse(b"HTTP/1.0 204\r\n\r\n").reason == ""
    assert b"Content-Length" not in Response(200, "OK", body=b"x").to_bytes()


@pytest.mark.parametrize(
    ("encoding", "data"),
    [("gzip", gzip.compress(b"hello")), ("x-gzip", gzip.compress(b"hello")), ("deflate", zlib.compress(b"hello")),
     ("deflate", zlib.compress(b"hello")[2:-4]), ("br", brotli.compress(b"hello")), ("identity", b"hello"),
     ("gzip, br", brotli.compress(gzip.compress(b"hello"))), ("GZIP", gzip.compress(b"hello"))],
)
def test_content_encodings_are_decoded_for_reading(encoding: str, data: bytes) -> None:
    response = Response(200, "OK", headers=Headers([("Content-Encoding", encoding)]), body=data)
    assert response.decoded_body() == b"hello"
    assert response.body == data  # still encoded as sent


@pytest.mark.parametrize(("encoding", "data"), [("gzip", b"not gzip"), ("zstd", b"whatever"), ("br", b"\x00\x01")])
def test_bodies_that_do_not_decode_are_returned_as_they_are(encoding: str, data: bytes) -> None:
    assert Response(200, headers=Headers([("Content-Encoding", encoding)]), body=data).decoded_body() == data


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [("text/html; charset=ISO-8859-1", b"caf\xe9", "café"), ('text/html; charset="utf-8"', "café".encode(), "café"),
     ("text/html", "café".encode(), "café"), ("text/html; charset=nonexistent", "café".encode(), "café"),
     ("text/html; charset=idna", "café".encode(), "café"), ("text/plain; charset=utf-8", b"a\xffb", "a\ufffdb"),
     ("text/plain; charset=utf-16", "hi".encode("utf-16"), "hi")],
)
def test_text_uses_the_charset(content_type: str, body: bytes, text: str) -> None:
    assert Response(200, headers=Headers([("Content-Type", content_type)]), body=body).text() == text


def test_text_decodes_the_content_encoding_first() -> None:
    headers = Headers([("Content-Encoding", "gzip"), ("Content-Type", "text/plain; charset=latin-1")])
    assert Response(200, headers=headers, body=gzip.compress(b"\xe9t\xe9")).text() == "été"


@settings(max_examples=gen.examples(200), deadline=None)
@given(st.binary(max_size=120) | gen.fragments("HTTP/1.1 ", "200", " OK", "\r\n", "Content-Length: 3", "x: y",
                                                "Transfer-Encoding: chunked", "3\r\nabc", "0\r\n\r\n").map(str.encode))
def test_arbitrary_bytes_are_responses_or_message_errors(raw: bytes) -> None:
    try:
        response = Response.parse(raw)
    except MessageError:
        return
    assert Response.parse(response.to_bytes()).to_bytes() == response.to_bytes()
