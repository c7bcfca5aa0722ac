"""Query strings (GET) and form bodies (FORM_URLENCODED): repeated keys, brackets, bare keys."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import Request, parse
from lunge.http.points import query
from tests.http import strategies as gen
from tests.http.points.support import body_request, check_replace, expected_value, names

SETTINGS = settings(max_examples=gen.examples(80), deadline=None)


def _labels(text: str, parser: str = "GET") -> list[tuple[str, str]]:
    return [("_".join(s.label for s in leaf.steps), leaf.value) for leaf in query.parse(text, parser)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id=1&q=a+b%20c", [("GET_id", "1"), ("GET_q", "a b c")]),
        ("a=1&a=2", [("GET_a_ARRAY_0", "1"), ("GET_a_ARRAY_1", "2")]),
        ("a[]=1&a[]=2", [("GET_a_ARRAY_0", "1"), ("GET_a_ARRAY_1", "2")]),
        ("a=1&a=2&a[]=3", [("GET_a_ARRAY_0", "1"), ("GET_a_ARRAY_1", "2"), ("GET_a_ARRAY_2", "3")]),
        ("u[name]=x&u[tags][]=p&u[tags][]=q",
         [("GET_u_HASH_name", "x"), ("GET_u_HASH_tags_ARRAY_0", "p"), ("GET_u_HASH_tags_ARRAY_1", "q")]),
        ("flag&x=", [("GET_flag", ""), ("GET_x", "")]),
        ("%61=1&a=2", [("GET_a_ARRAY_0", "1"), ("GET_a_ARRAY_1", "2")]),
        ("a=%FF", [("GET_a", "\udcff")]),
        ("&&a=1&", [("GET_a", "1")]),
        ("", []),
    ],
)
def test_names_of_query_values(text: str, expected: list[tuple[str, str]]) -> None:
    assert _labels(text) == expected


@settings(max_examples=gen.examples(120), deadline=None)
@given(gen.query_strings())
def test_every_value_is_found_decoded(pairs: gen.Pairs) -> None:
    found = [leaf.value for leaf in query.parse(pairs.text, "GET")]
    assert found == [value or "" for _, value in pairs.pairs]


@SETTINGS
@given(gen.query_strings(), gen.hostile_text)
def test_query_values_round_trip_any_text(pairs: gen.Pairs, value: str) -> None:
    points = parse(Request.from_url("http://t.test/p?" + pairs.text))
    for p in points:
        if p.family == "GET":
            check_replace(points, p, value, expected_value(p, value))


@SETTINGS
@given(gen.query_strings(min_size=1), gen.hostile_text)
def test_form_values_round_trip_any_text(pairs: gen.Pairs, value: str) -> None:
    points = parse(body_request(pairs.text, "application/x-www-form-urlencoded"))
    form = [p for p in points if p.family == "POST"]
    assert all(p.path[1].parser == "FORM_URLENCODED" for p in form)
    for p in form:
        check_replace(points, p, value, expected_value(p, value))


def test_a_bare_key_gets_an_equals_sign_only_when_it_gets_a_value() -> None:
    points = parse(Request.from_url("http://t.test/p?debug&x=1"))
    assert points.replace("GET_debug_value", "1").target == "/p?debug=1&x=1"
    assert points.replace("GET_debug_value", "").target == "/p?debug&x=1"


def test_separators_in_a_value_are_escaped() -> None:
    points = parse(Request.from_url("http://t.test/p?a=1&b=2"))
    assert points.replace("GET_a_value", "x&b=3#;+ %").target == "/p?a=x%26b%3D3%23%3B%2B%20%25&b=2"


def test_untouched_values_keep_their_encoding() -> None:
    points = parse(Request.from_url("http://t.test/p?a=%7e+x&b=2"))
    assert points.replace("GET_b_value", "3").target == "/p?a=%7e+x&b=3"


@settings(max_examples=gen.examples(200), deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    for leaf in query.parse(text, "GET"):
        start, end = leaf.span
        assert leaf.value == unquote_plus(text[start:end], errors="surrogateescape")


def test_names_of_a_form_post() -> None:
    points = parse(body_request("user=ann&pass=s3cr%21t&remember", "application/x-www-form-urlencoded"))
    assert [n for n in names(points) if n.startswith("POST")] == [
        "POST_FORM_URLENCODED_user_value", "POST_FORM_URLENCODED_pass_value", "POST_FORM_URLENCODED_remember_value",
    ]
