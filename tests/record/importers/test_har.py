"""HAR 1.2 files (Chrome and Firefox exports) into baselines."""

from __future__ import annotations

import json

import pytest

from lunge.errors import InputFileError, SettingError
from lunge.http import parse

from .files import imported, items, skipped


def _har(*entries: dict[str, object]) -> str:
    return json.dumps({"log": {"version": "1.2", "entries": list(entries)}})


def _entry(url: str = "http://t.test/", method: str = "GET", **request: object) -> dict[str, object]:
    return {"request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": [], **request},
            "response": {"status": 200, "statusText": "OK", "headers": [], "content": {"text": "ok"}}}


# ---------------------------------------------------------------------- Chrome
def test_chrome_export_http2_request_becomes_http11() -> None:
    first = imported("har", "chrome.har")[0]
    request = first.request
    assert (request.method, request.url) == ("GET", "https://shop.example.test/search?q=running%20shoes&page=2")
    names = [name for name, _ in request.headers]
    assert names[0] == "Host" and not any(name.startswith(":") for name in names)
    assert request.headers.get("host") == "shop.example.test"
    assert request.headers.get("cookie") == "sid=9f86d081884c7d65; theme=dark"
    assert request.http_version == "HTTP/1.1"


def test_chrome_recorded_response_is_kept_decoded() -> None:
    first, second = imported("har", "chrome.har")[:2]
    assert first.response is not None and first.response.status == 200
    assert first.response.body.startswith(b"<!doctype html>")
    assert "content-encoding" not in first.response.headers  # the HAR holds the decoded body
    assert second.response is not None and second.response.status == 201
    assert json.loads(second.response.body) == {"id": 7, "sku": "TRAIL-42", "qty": 1}  # content.encoding=base64


def test_chrome_http2_cookie_fields_are_joined_and_json_body_kept() -> None:
    cart = imported("har", "chrome.har")[1].request
    assert cart.headers.get_all("cookie") == ["sid=9f86d081884c7d65; theme=dark"]
    assert json.loads(cart.body)["note"] == "gift wrap, please é"
    points = parse(cart)
    assert points.get("POST_JSON_DOC_HASH_sku_value").value == "TRAIL-42"
    cookie = points.get("HEADER_COOKIE_COOKIE_theme_value")
    assert cookie is not None and cookie.value == "dark"


def test_chrome_websocket_and_data_urls_are_skipped_with_reasons() -> None:
    reasons = {s.where: s.reason for s in skipped("har", "chrome.har")}
    assert set(reasons) == {"log.entries[2].request.url", "log.entries[3].request.url"}
    assert "wss" in reasons["log.entries[2].request.url"]
    assert "data" in reasons["log.entries[3].request.url"]


def test_blocked_request_is_imported_without_response() -> None:
    login = imported("har", "chrome.har")[2]
    assert login.where == "log.entries[4]"
    assert login.response is None
    assert login.request.body == b"user=ann%40example.test&password=s3cret%21"


# ---------------------------------------------------------------------- Firefox
def test_firefox_export() -> None:
    user, avatar, logo = imported("har", "firefox.har")
    assert user.request.url == "http://127.0.0.1:8000/api/users/5?fields=name,email"
    assert user.request.headers.get("authorization", "").startswith("Bearer ")
    assert user.response is not None and "transfer-encoding" not in user.response.headers
    assert logo.response is not None and logo.response.body == b"\x89PNG\r\n\x1a\n"
    assert avatar.response is not None and avatar.response.status == 302


def test_multipart_params_without_text_are_rebuilt_with_a_matching_boundary() -> None:
    avatar = imported("har", "firefox.har")[1]
    content_type = avatar.request.headers.get("content-type") or ""
    boundary = content_type.split("boundary=")[1]
    assert avatar.request.body.startswith(f"--{boundary}\r\n".encode())
    assert avatar.request.headers.get_all("content-type") == [content_type]
    assert "lake.png" in avatar.note
    names = {p.name for p in parse(avatar.request)}
    assert {"POST_MULTIPART_caption_value", "POST_MULTIPART_file_FILENAME_value"} <= names


# ---------------------------------------------------------------------- options and edge cases
def test_base_url_rewrites_the_origin() -> None:
    moved = imported("har", "chrome.har", base_url="http://127.0.0.1:8080")[0].request
    assert moved.url == "http://127.0.0.1:8080/search?q=running%20shoes&page=2"
    assert moved.headers.get("host") == "127.0.0.1:8080"


def test_bad_base_url_names_the_option() -> None:
    with pytest.raises(SettingError, match="--base-url"):
        items("har", "chrome.har", base_url="ftp://x")


def test_params_only_form_body() -> None:
    entry = _entry(method="POST", postData={"mimeType": "application/x-www-form-urlencoded",
                                            "params": [{"name": "a b", "value": "1&2"}, {"name": "c", "value": "é"}]})
    request = imported("har", _har(entry))[0].request
    assert request.body == b"a+b=1%262&c=%C3%A9"
    assert request.headers.get("content-type") == "application/x-www-form-urlencoded"


def test_cookies_array_is_used_when_no_cookie_header() -> None:
    entry = _entry(cookies=[{"name": "a", "value": "1"}, {"name": "b", "value": "2"}])
    assert imported("har", _har(entry))[0].request.headers.get("cookie") == "a=1; b=2"


def test_base64_post_data_and_http10() -> None:
    entry = _entry(method="PUT", httpVersion="HTTP/1.0",
                   postData={"mimeType": "application/octet-stream", "text": "AAEC", "encoding": "base64"})
    request = imported("har", _har(entry))[0].request
    assert (request.body, request.http_version) == (b"\x00\x01\x02", "HTTP/1.0")


def test_empty_log_yields_nothing() -> None:
    assert items("har", _har()) == []


@pytest.mark.parametrize(
    ("document", "where", "problem"),
    [
        ("{", "line 1 column 2", "not valid JSON"),
        ("[]", "(top level)", "expected an object"),
        ('{"x": 1}', "(top level)", "not a HAR file"),
        ('{"log": {}}', "log.entries", "is missing"),
        ('{"log": {"entries": {}}}', "log.entries", "expected an array"),
        (_har({"request": {"method": "GET"}}), "log.entries[0].request.url", "is missing"),
        (_har(_entry(url="http://[::1/")), "log.entries[0].request", "not a URL"),
        (_har(_entry(method="G T")), "log.entries[0].request", "not an HTTP method"),
        (_har(_entry(headers=[{"name": "X", "value": "a\r\nb"}])), "log.entries[0].request", "line break"),
        (_har(_entry(headers=[{"name": "a b", "value": "1"}])), "log.entries[0].request", "header name"),
        (_har(_entry(headers=[{"value": "1"}])), "log.entries[0].request.headers[0].name", "is missing"),
        (_har(_entry(postData={"text": "!!", "encoding": "base64"})), "log.entries[0].request.postData.text",
         "base64"),
    ],
)
def test_malformed_files_name_the_place(document: str, where: str, problem: str) -> None:
    with pytest.raises(InputFileError) as info:
        items("har", document, source="session.har")
    assert info.value.path == "session.har"
    assert info.value.where == where
    assert problem in info.value.problem
    assert "\n" not in str(info.value)
