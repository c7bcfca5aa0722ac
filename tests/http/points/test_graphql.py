"""GraphQL documents: inline argument literals (GRAPHQL_FIELD_<f>..._ARG_<a>), over POST (JSON or
application/graphql) and GET; variables are JSON points of the ``variables`` member."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings

from lunge.http import Request, parse
from lunge.http.points import ValueKind, graphql
from tests.http import strategies as gen
from tests.http.points.support import body_request, check_replace, expected_value, names, reparse

SETTINGS = settings(max_examples=gen.examples(40), deadline=None)
QUERY = 'query User($id: ID!, $n: Int = 5) { user(id: $id) { name posts(first: 10, tag: "a\\"b", order: {by: DATE, desc: true}, in: [1, 2]) { title } } }'  # noqa: E501


def test_names_of_a_graphql_post() -> None:
    body = json.dumps({"query": QUERY, "variables": {"id": "42"}, "operationName": "User"})
    points = parse(body_request(body, "application/json"))
    assert [(p.name, p.value) for p in points if p.family == "POST"] == [
        ("POST_JSON_DOC_HASH_query_name", "query"),
        ("POST_JSON_DOC_HASH_query_value", QUERY),
        ("POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_user_FIELD_posts_ARG_first_value", "10"),
        ("POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_user_FIELD_posts_ARG_tag_value", 'a"b'),
        ("POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_user_FIELD_posts_ARG_order_HASH_by_value", "DATE"),
        ("POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_user_FIELD_posts_ARG_order_HASH_desc_value", "true"),
        ("POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_user_FIELD_posts_ARG_in_ARRAY_0_value", "1"),
        ("POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_user_FIELD_posts_ARG_in_ARRAY_1_value", "2"),
        ("POST_JSON_DOC_HASH_variables_name", "variables"),
        ("POST_JSON_DOC_HASH_variables_HASH_id_name", "id"),
        ("POST_JSON_DOC_HASH_variables_HASH_id_value", "42"),
        ("POST_JSON_DOC_HASH_operationName_name", "operationName"),
        ("POST_JSON_DOC_HASH_operationName_value", "User"),
    ]


def test_names_of_a_graphql_get() -> None:
    url = "http://t.test/graphql?query=" + quote('{ user(id: 5) { name } }') + "&variables=" + quote('{"x": 1}')
    points = parse(Request.from_url(url))
    assert [n for n in names(points) if n.startswith("GET")] == [
        "GET_query_value", "GET_query_GRAPHQL_FIELD_user_ARG_id_value",
        "GET_variables_value", "GET_variables_JSON_DOC_HASH_x_name", "GET_variables_JSON_DOC_HASH_x_value",
    ]
    request = points.replace("GET_query_GRAPHQL_FIELD_user_ARG_id_value", "5 OR 1=1")
    assert reparse(request).get("GET_query_GRAPHQL_FIELD_user_ARG_id_value").value == "5 OR 1=1"  # type: ignore[union-attr]
    assert "%22" in request.target  # it became a string literal


def test_application_graphql_body() -> None:
    points = parse(body_request('mutation { login(user: "ann", pass: """s3"cr"et""") { token } }',
                                "application/graphql"))
    assert [(p.name, p.value) for p in points if p.family == "POST"] == [
        ("POST_GRAPHQL_FIELD_login_ARG_user_value", "ann"),
        ("POST_GRAPHQL_FIELD_login_ARG_pass_value", 's3"cr"et'),
    ]


def test_aliases_keep_two_calls_of_one_field_apart() -> None:
    leaves = graphql.parse('{ a: user(id: 1) { n } b: user(id: 2) { n } }')
    assert [("_".join(s.label for s in leaf.steps), leaf.value) for leaf in leaves or []] == [
        ("GRAPHQL_FIELD_a_ARG_id", "1"), ("GRAPHQL_FIELD_b_ARG_id", "2"),
    ]


@pytest.mark.parametrize(
    ("literal", "new", "written", "kind"),
    [("5", "6", "6", ValueKind.NUMBER), ("5", "5 OR 1", '"5 OR 1"', ValueKind.NUMBER),
     ("ASC", "DESC", "DESC", ValueKind.STRING), ("ASC", "x y", '"x y"', ValueKind.STRING),
     ('"a"', 'b"\n', '"b\\"\\n"', ValueKind.STRING), ('"""a"""', 'b"', '"b\\""', ValueKind.STRING)],
)
def test_values_are_written_as_literals_of_their_place(literal: str, new: str, written: str, kind: ValueKind) -> None:
    points = parse(body_request(f"{{ f(x: {literal}) {{ id }} }}", "application/graphql"))
    p = points.get("POST_GRAPHQL_FIELD_f_ARG_x_value")
    assert p is not None and p.kind is kind
    request = points.replace(p, new)
    assert request.body.decode() == f"{{ f(x: {written}) {{ id }} }}"
    assert reparse(request).get(p.name).value == new  # type: ignore[union-attr]


@SETTINGS
@given(gen.graphql_documents(), gen.hostile_text)
def test_argument_values_round_trip_over_post(document: str, value: str) -> None:
    points = parse(body_request(json.dumps({"query": document}), "application/json"))
    for p in points:
        if "GRAPHQL" in p.layers:
            check_replace(points, p, value, expected_value(p, value))


@SETTINGS
@given(gen.graphql_documents(), gen.hostile_text)
def test_argument_values_round_trip_over_get(document: str, value: str) -> None:
    points = parse(Request.from_url("http://t.test/graphql?query=" + quote(document)))
    for p in points:
        if "GRAPHQL" in p.layers:
            check_replace(points, p, value, expected_value(p, value))


@pytest.mark.parametrize(
    "text", ["{", "{ a(x: ) }", "{ a(x: 1 }", "query", "{ a(x: \"unterminated) }", "{" * 3000 + "}" * 3000,
             "{ a(x: [" + "[" * 3000 + "]" * 3000 + "]) }", "{ a(x: \"\\q\") }"],
)
def test_malformed_documents_have_no_points(text: str) -> None:
    assert not graphql.parse(text)


@settings(max_examples=gen.examples(200), deadline=None)
@given(gen.fragments("{", "}", "(", ")", "a", ": ", "$v", '"s"', '"""b"""', "1", "[", "]", "query ", "...", "@d", "on"))
def test_arbitrary_text_never_raises(text: str) -> None:
    for leaf in graphql.parse(text) or []:
        assert 0 <= leaf.span[0] <= leaf.span[1] <= len(text)
