"""lunge.http.curl: curl command lines (as browsers copy them) into requests."""

from __future__ import annotations

import base64
import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.errors import MessageError
from lunge.http import Request, curl
from lunge.http.curl import FormPart, ascii_url, encode_multipart, parse_curl, parse_curl_command, split_command


def test_doctests() -> None:
    assert doctest.testmod(curl).failed == 0


# ---------------------------------------------------------------------- word splitting
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("curl 'a b' \"c d\"", ["curl", "a b", "c d"]),
        ("curl a\\ b", ["curl", "a b"]),
        ('curl "x\\"y" "\\$HOME" "a\\nb"', ["curl", 'x"y', "$HOME", "a\\nb"]),
        ("curl $'it\\'s\\t\\x41\\u00e9\\101'", ["curl", "it's\tAéA"]),
        ("curl 'a'\"b\"c", ["curl", "abc"]),
        ("curl ''", ["curl", ""]),
        ("curl a \\\n  b \\\r\n c", ["curl", "a", "b", "c"]),
        ("curl a # comment 'unclosed\n b", ["curl", "a", "b"]),
        ("curl a#b", ["curl", "a#b"]),
    ],
)
def test_split_command_follows_bash(text: str, words: list[str]) -> None:
    assert split_command(text) == words


@pytest.mark.parametrize("text", ["curl 'open", 'curl "open', "curl $'open"])
def test_unbalanced_quotes_are_refused(text: str) -> None:
    with pytest.raises(MessageError, match="unbalanced quote"):
        split_command(text)


def test_windows_cmd_quoting_is_refused_with_advice() -> None:
    with pytest.raises(MessageError, match=r"cURL \(bash\)"):
        parse_curl('curl ^"https://t.test/^" ^\n  -H ^"accept: */*^"')


def test_ansi_c_hex_escapes_are_bytes() -> None:
    request = parse_curl("curl http://t.test/ --data-binary $'\\xff\\x00\\xc3\\xa9'")
    assert request.body == b"\xff\x00\xc3\xa9"


# ---------------------------------------------------------------------- requests
def test_chrome_copy_as_curl() -> None:
    command = (
        "curl 'https://shop.test/api/cart?x=1' \\\n"
        "  -H 'accept: application/json' \\\n"
        "  -H 'content-type: application/json' \\\n"
        "  -b 'sid=abc; theme=dark' \\\n"
        "  --data-raw $'{\"note\":\"it\\'s\"}' \\\n"
        "  --compressed"
    )
    request = parse_curl(command)
    assert (request.method, request.scheme, request.host, request.port) == ("POST", "https", "shop.test", 443)
    assert request.target == "/api/cart?x=1"
    assert request.headers.get("cookie") == "sid=abc; theme=dark"
    assert request.body == b'{"note":"it\'s"}'
    assert request.headers.get("content-type") == "application/json"


def test_method_defaults() -> None:
    assert parse_curl("curl http://t.test/").method == "GET"
    assert parse_curl("curl -d a=1 http://t.test/").method == "POST"
    assert parse_curl("curl -I http://t.test/").method == "HEAD"
    assert parse_curl("curl -XDELETE http://t.test/").method == "DELETE"
    assert parse_curl("curl --request=PATCH http://t.test/").method == "PATCH"
    assert parse_curl("curl -T x.bin http://t.test/").method == "PUT"


def test_short_option_clusters_take_their_value() -> None:
    request = parse_curl("curl -sSLkXPUT -HX-A:1 http://t.test/a")
    assert request.method == "PUT"
    assert request.headers.get("x-a") == "1"
    request = parse_curl("curl -sX POST http://t.test/a")
    assert (request.method, request.target) == ("POST", "/a")


def test_data_forms() -> None:
    request = parse_curl("curl http://t.test/ -d a=1 --data-raw '@b' --data-urlencode 'c=x y&z' --data-urlencode =q")
    assert request.body == b"a=1&@b&c=x%20y%26z&q"
    assert request.headers.get("content-type") == "application/x-www-form-urlencoded"


def test_get_moves_data_to_the_query() -> None:
    request = parse_curl("curl -G http://t.test/s?a=1 -d q=x --url-query 'r=a b'")
    assert (request.method, request.target, request.body) == ("GET", "/s?a=1&q=x&r=a%20b", b"")


def test_json_option_sets_both_headers() -> None:
    request = parse_curl("curl --json '{\"a\":1}' http://t.test/")
    assert request.headers.get("content-type") == "application/json"
    assert request.headers.get("accept") == "application/json"


def test_files_are_not_read_and_a_note_says_so() -> None:
    parsed = parse_curl_command("curl -d @body.json http://t.test/ -F 'f=@/tmp/a b.png;type=image/png' -F n=1")
    assert any("body.json" in note for note in parsed.notes)
    assert any("a b.png" in note for note in parsed.notes)
    body = parsed.request.body
    assert b'name="f"; filename="a b.png"\r\nContent-Type: image/png\r\n\r\n\r\n' in body
    assert b'name="n"\r\n\r\n1\r\n' in body


def test_credentials() -> None:
    assert parse_curl("curl -u ann:pw http://t.test/").headers.get("authorization") == \
        "Basic " + base64.b64encode(b"ann:pw").decode()
    request = parse_curl("curl http://ann:p%40ss@t.test:8080/")
    assert request.headers.get("authorization") == "Basic " + base64.b64encode(b"ann:p@ss").decode()
    assert request.headers.get("host") == "t.test:8080"
    assert parse_curl("curl --oauth2-bearer T http://t.test/").headers.get("authorization") == "Bearer T"


def test_header_forms() -> None:
    request = parse_curl("curl http://t.test/ -H 'X-Empty;' -H 'Accept:' -H 'X-A:  1 '")
    assert request.headers.get("x-empty") == ""
    assert "accept" not in request.headers
    assert request.headers.get("x-a") == "1"
    with pytest.raises(MessageError, match="not a header"):
        parse_curl("curl http://t.test/ -H 'no colon'")
    with pytest.raises(MessageError, match="not a header name"):
        parse_curl("curl http://t.test/ -H 'bad name: 1'")


def test_non_ascii_values_are_sent_as_utf8() -> None:
    request = parse_curl("curl 'http://bücher.test/straße?q=é' -H 'X-Name: José'")
    assert request.host == "xn--bcher-kva.test"
    assert request.target == "/stra%C3%9Fe?q=%C3%A9"
    assert request.headers.get("x-name") == "José".encode().decode("latin-1")
    assert b"X-Name: Jos\xc3\xa9\r\n" in request.to_bytes()


def test_ignored_options_do_not_become_the_url() -> None:
    request = parse_curl("curl --max-time 5 -o out.txt --retry 3 -x http://proxy:3128 http://t.test/real")
    assert request.host == "t.test"
    parsed = parse_curl_command("curl http://a.test/ http://b.test/")
    assert parsed.request.host == "a.test" and parsed.notes


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("wget http://t.test/", "must start with 'curl'"),
        ("curl -H", "needs a value"),
        ("curl -s", "no URL"),
        ("curl ftp://t.test/", "unsupported URL scheme"),
        ("curl http://[::1/", "not a URL"),
        ("curl -X 'GE T' http://t.test/", "not an HTTP method"),
    ],
)
def test_bad_commands(command: str, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        parse_curl(command)


def test_prompt_is_tolerated() -> None:
    assert parse_curl("$ curl http://t.test/x").target == "/x"


# ---------------------------------------------------------------------- shared builders
def test_multipart_boundary_changes_when_content_contains_it() -> None:
    clash = b"------lungeFormBoundary7MA4YWxkTrZu0gW"
    body, content_type = encode_multipart([FormPart("a", clash)])
    boundary = content_type.split("boundary=")[1]
    assert boundary != clash.decode()[2:] and body.count(f"--{boundary}".encode()) == 2


def test_multipart_names_cannot_break_the_part_header() -> None:
    body, _ = encode_multipart([FormPart('a"\r\nX: y', b"1", 'f"\n.txt')])
    assert b"\r\nX: y" not in body
    assert b'name="a%22%0D%0AX: y"; filename="f%22%0A.txt"' in body


def test_ascii_url() -> None:
    assert ascii_url("http://t.test/a b/%20?x=ü#frag") == "http://t.test/a%20b/%20?x=%C3%BC"
    assert ascii_url("http://[::1]:8080/") == "http://[::1]:8080/"


# ---------------------------------------------------------------------- fuzz
_TOKENS = st.sampled_from([
    "curl", "-H", "-d", "-X", "-F", "-b", "-u", "-G", "-I", "--data-urlencode", "--json", "--url", "-T",
    "http://t.test/a?b=1", "https://x.test", "'", '"', "$'", "\\", "\\\n", "a=b", "X: y", "=z", "@f", "-sSX",
    "--data-raw", "--url-query", "+a", "#", "\n", " ", "^", "é", "\x00", "[", "]", ":", ";type=a/b",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=14).map(" ".join))
def test_fuzz_token_soup_parses_or_raises_message_error(command: str) -> None:
    try:
        request = parse_curl_command(command).request
    except MessageError:
        return
    again = Request.parse(request.to_bytes(), scheme=request.scheme, host=request.host, port=request.port)
    assert (again.method, again.target, again.body) == (request.method, request.target, request.body)
    assert [f for f in again.headers.fields if f[0] != "Content-Length"] == list(request.headers.fields)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text: str) -> None:
    try:
        parse_curl("curl " + text).to_bytes()
    except MessageError:
        pass
