"""Layers that wrap other values: BASE64 (standard, URL-safe, padded or not), URL, JWT, GZIP.

A layer is recognised by decoding: base64 must decode to ASCII text or a JSON document, URL
escapes to UTF-8, a JWT's first two parts to JSON objects, gzip to anything. Layers nest to any
depth (MAX_DEPTH nodes), and a replaced value is re-encoded through every layer around it.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import Headers, Request, parse
from lunge.http.points import encoded
from lunge.http.points.tree import MAX_DEPTH
from tests.http import strategies as gen
from tests.http.points.support import body_request, check_replace, expected_value, names, reparse

SETTINGS = settings(max_examples=gen.examples(80), deadline=None)


def _cookie_request(cookie: str) -> Request:
    return Request("GET", "http", "t.test", 80, "/", "HTTP/1.1", Headers([("Host", "t.test"), ("Cookie", cookie)]))


@SETTINGS
@given(gen.wrapped_json(), gen.hostile_text)
def test_json_inside_layers_inside_a_cookie_round_trips(wrapped: tuple[str, list[str], dict[str, Any]],
                                                         value: str) -> None:
    text, layers, obj = wrapped
    points = parse(_cookie_request(f"sid=1; state={text}"))
    inner = [p for p in points if p.family == "COOKIE" and p.path[-1].parser == "HASH" and p.role.value == "value"
             and "HEADER" not in [s.parser for s in p.path[1:]]]  # not the JWT's own header
    assert len(inner) == len(obj)
    for p in inner:
        assert [s for s in p.layers if s != "JSON_DOC"] == layers
        check_replace(points, p, value, expected_value(p, value))


@SETTINGS
@given(gen.wrapped_json())
def test_layer_names_follow_the_nesting(wrapped: tuple[str, list[str], dict[str, Any]]) -> None:
    text, layers, obj = wrapped
    points = parse(_cookie_request(f"state={text}"))
    key = next(iter(obj))
    expected = "HEADER_COOKIE_COOKIE_state_" + "_".join(
        "JWT_PAYLOAD" if layer == "JWT" else layer for layer in layers
    ) + ("" if layers[-1] == "JWT" else "_JSON_DOC") + f"_HASH_{key}_value"
    assert points.get(expected) is not None, names(points)


@pytest.mark.parametrize(
    ("value", "layer", "decoded"),
    [
        ("eyJpZCI6IDF9", "BASE64", '{"id": 1}'),
        (base64.b64encode(b"user:pass").decode(), "BASE64", "user:pass"),
        (base64.urlsafe_b64encode(b'{"a":"\xff\xfe"}'.decode("latin-1").encode()).decode(), "BASE64",
         '{"a":"\u00ff\u00fe"}'),
        ("%7B%22a%22%3A1%7D", "URL", '{"a":1}'),
        ("a%20b", "URL", "a b"),
    ],
)
def test_layers_found_by_decoding(value: str, layer: str, decoded: str) -> None:
    leaves = encoded.base64_layer(value) if layer == "BASE64" else encoded.url_layer(value)
    assert leaves is not None and leaves[0].steps[0].parser == layer and leaves[0].value == decoded


@pytest.mark.parametrize(
    "value",
    ["username", "12345678", "password1", "I0000I00", "SKU-1000", "abc", "a b c d e f", "dGVzdA", "%zz", "100%",
     "%C3%28", "eyJhbGciOi.eyJzdWIi.sig", "bm90IGpzb24=\x00"],
)
def test_ordinary_values_are_not_layers(value: str) -> None:
    from lunge.http.points import decoders

    leaves = decoders.decode(value)
    assert leaves is None or leaves[0].steps[0].parser not in ("BASE64", "URL", "JWT"), leaves


@pytest.mark.parametrize(("urlsafe", "padded"), [(False, True), (False, False), (True, True), (True, False)])
def test_base64_alphabet_and_padding_are_kept(urlsafe: bool, padded: bool) -> None:
    original = gen.b64(json.dumps({"k": "??>>", "n": 12}), urlsafe=urlsafe, padded=padded)  # needs padding
    points = parse(_cookie_request(f"c={original}"))
    request = points.replace("HEADER_COOKIE_COOKIE_c_BASE64_JSON_DOC_HASH_k_value", "??>>>")
    new = request.headers.get("cookie")[2:]  # type: ignore[index]
    assert new == gen.b64(json.dumps({"k": "??>>>", "n": 12}), urlsafe=urlsafe, padded=padded)


def test_jwt_claims_are_points_and_the_signature_is_kept() -> None:
    token = gen.jwt({"sub": "42", "admin": False}, signature="S1gN4tUr3")
    points = parse(Request.from_url("http://t.test/", headers=[("Authorization", f"Bearer {token}")]))
    assert [n for n in names(points) if "JWT" in n] == [
        "HEADER_AUTHORIZATION_JWT_value",
        "HEADER_AUTHORIZATION_JWT_HEADER_HASH_alg_name", "HEADER_AUTHORIZATION_JWT_HEADER_HASH_alg_value",
        "HEADER_AUTHORIZATION_JWT_HEADER_HASH_typ_name", "HEADER_AUTHORIZATION_JWT_HEADER_HASH_typ_value",
        "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_name", "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value",
        "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_admin_name", "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_admin_value",
    ]
    request = points.replace("HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_admin_value", "true")
    header, payload, signature = request.headers.get("authorization")[7:].split(".")  # type: ignore[index]
    assert signature == "S1gN4tUr3"
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {"sub": "42", "admin": True}
    none_alg = points.replace("HEADER_AUTHORIZATION_JWT_HEADER_HASH_alg_value", "none")
    assert reparse(none_alg).get("HEADER_AUTHORIZATION_JWT_HEADER_HASH_alg_value").value == "none"  # type: ignore[union-attr]


@SETTINGS
@given(gen.json_objects, gen.hostile_text)
def test_jwt_claims_round_trip(claims: dict[str, Any], value: str) -> None:
    points = parse(_cookie_request(f"token={gen.jwt(claims)}"))
    for p in points:
        if "PAYLOAD" in [s.parser for s in p.path]:
            check_replace(points, p, value, expected_value(p, value))


def test_a_jwt_with_an_empty_signature_and_spaces_in_json() -> None:
    token = gen.b64('{ "alg": "none" }', urlsafe=True, padded=False) + "." + gen.b64("{}", urlsafe=True, padded=False)
    leaves = encoded.jwt_layer(token + ".")
    assert leaves is not None and [c.value for c in leaves[0].children or []] == ['{ "alg": "none" }', "{}"]


@SETTINGS
@given(gen.json_documents(), gen.hostile_text)
def test_gzip_body_round_trips(document: tuple[str, Any], value: str) -> None:
    text, _ = document
    request = body_request(gzip.compress(text.encode()), "application/json", Content_Encoding="gzip")
    points = parse(request)
    inside = [p for p in points if p.family == "POST" and p.layers[:2] == ("GZIP", "JSON_DOC")]
    assert inside or not json.loads(text) or points.get("POST_GZIP_value") is not None
    for p in inside[:6]:
        new = check_replace(points, p, value, value if len(p.path) <= 8 else None)
        assert gzip.decompress(new.request.body)


def test_gzip_without_content_encoding_is_found_by_its_magic() -> None:
    request = body_request(gzip.compress(b"a=1&b=2"), "application/x-www-form-urlencoded")
    points = parse(request)
    assert [n for n in names(points) if n.startswith("POST")] == [
        "POST_GZIP_FORM_URLENCODED_a_value", "POST_GZIP_FORM_URLENCODED_b_value",
    ]


def test_a_gzip_body_that_does_not_decompress_is_a_raw_point() -> None:
    broken = gzip.compress(b'{"a": 1}')[:-6]
    points = parse(body_request(broken, "application/json", Content_Encoding="gzip"))
    assert [(p.name, p.kind.value) for p in points if p.family == "POST"] == [("POST_value", "binary")]


def test_url_encoded_json_in_a_cookie() -> None:
    cookie = "prefs=" + quote(json.dumps({"theme": "dark"}), safe="")
    points = parse(_cookie_request(cookie))
    p = points.get("HEADER_COOKIE_COOKIE_prefs_URL_JSON_DOC_HASH_theme_value")
    assert p is not None and p.value == "dark"
    check_replace(points, p, "x;y\"z", "x;y\"z")


def test_a_url_layer_that_no_longer_needs_escapes_is_gone_after_a_replacement() -> None:
    # base64 padding URL-encoded: the new base64 has no padding, so nothing is escaped any more
    points = parse(_cookie_request("s=" + quote(gen.b64('{"A": 0}'), safe="")))
    assert points.get("HEADER_COOKIE_COOKIE_s_value").value == "eyJBIjogMH0%3D"  # type: ignore[union-attr]
    request = points.replace("HEADER_COOKIE_COOKIE_s_URL_BASE64_JSON_DOC_HASH_A_value", "")
    assert request.headers.get("cookie") == "s=eyJBIjogIiJ9"
    again = reparse(request)
    assert again.get("HEADER_COOKIE_COOKIE_s_URL_BASE64_JSON_DOC_HASH_A_value") is None
    assert again.get("HEADER_COOKIE_COOKIE_s_BASE64_JSON_DOC_HASH_A_value").value == ""  # type: ignore[union-attr]


def test_nesting_stops_at_max_depth() -> None:
    value = "x" * 20
    for _ in range(MAX_DEPTH + 4):
        value = base64.b64encode(value.encode()).decode()
    points = parse(_cookie_request(f"deep={value}"))
    deepest = max(len(p.path) for p in points)
    assert deepest <= MAX_DEPTH + 1
    assert all(points.replace(p, p.value).to_bytes() == points.request.to_bytes() for p in points)


@settings(max_examples=gen.examples(200), deadline=None)
@given(st.text(alphabet=st.sampled_from("eyJ.-_=+/%0aAzZ9") | st.characters(), max_size=40))
def test_arbitrary_values_never_raise(value: str) -> None:
    for detect in (encoded.base64_layer, encoded.url_layer, encoded.jwt_layer, encoded.gzip_layer):
        detect(value)


@settings(max_examples=gen.examples(100), deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_gzip_like_bytes_never_raise(data: bytes) -> None:
    encoded.gzip_layer((b"\x1f\x8b" + data).decode("utf-8", "surrogateescape"))


def test_basic_credentials_are_a_base64_layer_after_the_scheme() -> None:
    points = parse(Request.from_url("http://t.test/", headers=[("Authorization", "Basic dXNlcjpwYXNz")]))
    p = points.get("HEADER_AUTHORIZATION_BASE64_value")
    assert p is not None and p.value == "user:pass"
    request = check_replace(points, p, "admin' --:x", "admin' --:x").request
    assert request.headers.get("authorization") == "Basic " + base64.b64encode(b"admin' --:x").decode()
    assert encoded.base64_layer("Digest dXNlcjpwYXNz") is None
