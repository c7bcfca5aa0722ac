"""The request body: which parser reads it (Content-Type, else sniffing), raw and binary bodies."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import Headers, parse
from lunge.http.points import ValueKind, body
from tests.http import strategies as gen
from tests.http.points.support import body_request, names


def _post(text: str, content_type: str | None, **headers: str) -> list[str]:
    return [n for n in names(parse(body_request(text, content_type, **headers))) if n.startswith("POST")]


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        ('{"a": 1}', "application/json", ["POST_JSON_DOC_HASH_a_name", "POST_JSON_DOC_HASH_a_value"]),
        ('{"a": 1}', "application/vnd.api+json; charset=utf-8",
         ["POST_JSON_DOC_HASH_a_name", "POST_JSON_DOC_HASH_a_value"]),
        ('{"a": 1}', None, ["POST_JSON_DOC_HASH_a_name", "POST_JSON_DOC_HASH_a_value"]),
        ('{"a": 1}', "text/plain", ["POST_JSON_DOC_HASH_a_name", "POST_JSON_DOC_HASH_a_value"]),
        ("a=1&b=2", "application/x-www-form-urlencoded",
         ["POST_FORM_URLENCODED_a_value", "POST_FORM_URLENCODED_b_value"]),
        ("a=1&b=2", None, ["POST_FORM_URLENCODED_a_value", "POST_FORM_URLENCODED_b_value"]),
        ("<a>1</a>", "application/soap+xml", ["POST_XML_XML_DTD_value", "POST_XML_XML_TAG_a_value"]),
        ("<a>1</a>", None, ["POST_XML_XML_DTD_value", "POST_XML_XML_TAG_a_value"]),
        ("{ a(x: 1) }", "application/graphql", ["POST_GRAPHQL_FIELD_a_ARG_x_value"]),
        ("hello world", "text/plain", ["POST_value"]),
        ("a=1&b=2", "application/json", ["POST_value"]),
        # declared a form: read as a server does, a bare key
        ("not a form", "application/x-www-form-urlencoded", ["POST_FORM_URLENCODED_not a form_value"]),
        ("eyJhIjogMX0=", "text/plain", ["POST_value", "POST_BASE64_value", "POST_BASE64_JSON_DOC_HASH_a_name",
                                        "POST_BASE64_JSON_DOC_HASH_a_value"]),
    ],
)
def test_the_parser_is_chosen_by_content_type_then_by_sniffing(text: str, content_type: str | None,
                                                               expected: list[str]) -> None:
    assert _post(text, content_type) == expected


def test_a_binary_body_is_one_binary_point() -> None:
    data = bytes(range(256))
    points = parse(body_request(data, "application/octet-stream"))
    (post,) = [p for p in points if p.family == "POST"]
    assert post.kind is ValueKind.BINARY
    assert points.replace(post, post.value).body == data
    assert points.replace(post, "x").body == b"x"


def test_gzip_is_tried_before_the_content_type() -> None:
    # compressed bytes could contain '&' and '=' and be read as a form
    data = gzip.compress(b"&".join([b"a=1&b=2"] * 20))
    points = parse(body_request(data, "application/x-www-form-urlencoded", Content_Encoding="gzip"))
    assert [n for n in names(points) if n.startswith("POST")][:2] == [
        "POST_GZIP_FORM_URLENCODED_a_ARRAY_0_value", "POST_GZIP_FORM_URLENCODED_b_ARRAY_0_value",
    ]


def test_no_body_no_post_points() -> None:
    assert _post("", "application/json") == []


@settings(max_examples=gen.examples(150), deadline=None)
@given(st.binary(max_size=200), st.sampled_from([
    "application/json", "application/xml", "multipart/form-data; boundary=b", "application/x-www-form-urlencoded",
    "application/graphql", "", "text/plain",
]))
def test_arbitrary_bodies_never_raise_and_rebuild_identically(data: bytes, content_type: str) -> None:
    leaves = body.parse_body(data.decode("utf-8", "surrogateescape"), Headers([("Content-Type", content_type)]))
    assert leaves
    points = parse(body_request(data, content_type or None))
    for p in points:
        assert points.replace(p, p.value).body == data
