"""JSON documents: every scalar and key found, values replaced in place, formatting kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import parse
from lunge.http.points import Role, Step, ValueKind, jsondoc, point_name
from tests.http import strategies as gen
from tests.http.points.support import body_request, check_all, check_replace, expected_value, reparse

SETTINGS = settings(max_examples=gen.examples(80), deadline=None)


def _model(doc: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str, Any]]:
    """(path, role, value) of every key and scalar of ``doc``, in document order."""
    out: list[tuple[tuple[str, ...], str, Any]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append(((*path, f"HASH_{key}"), "name", key))
            out += _model(value, (*path, f"HASH_{key}"))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _model(value, (*path, f"ARRAY_{i}"))
    else:
        out.append((path, "value", doc))
    return out


def _same_scalar(found: str, kind: ValueKind, expected: Any) -> bool:
    if expected is None:
        return kind is ValueKind.NULL and found == "null"
    if isinstance(expected, bool):
        return kind is ValueKind.BOOLEAN and found == json.dumps(expected)
    if isinstance(expected, int | float):
        return kind is ValueKind.NUMBER and float(found) == expected
    return kind is ValueKind.STRING and found == expected


@SETTINGS
@given(gen.json_documents())
def test_every_key_and_scalar_is_found_in_order(document: tuple[str, Any]) -> None:
    text, doc = document
    leaves = jsondoc.parse(text)
    assert leaves is not None
    model = _model(doc)
    assert len(leaves) == len(model)
    for leaf, (path, role, expected) in zip(leaves, model, strict=True):
        assert tuple(s.label for s in leaf.steps) == ("JSON_DOC", *path)
        assert leaf.role.value == role
        if leaf.role is Role.NAME:
            assert leaf.value == expected
        else:
            assert _same_scalar(leaf.value, leaf.kind, expected), (leaf.value, expected)
        start, end = leaf.span
        assert json.loads(text[start:end]) == (json.loads(leaf.value) if leaf.kind is not ValueKind.STRING
                                                 else leaf.value)


@SETTINGS
@given(gen.json_documents(), gen.hostile_text)
def test_replace_then_reparse(document: tuple[str, Any], value: str) -> None:
    text, _ = document
    points = parse(body_request(text, "application/json"))
    for p in points:
        if p.family != "POST":
            continue
        if p.role is Role.NAME:
            siblings = {q.value for q in points if q.role is Role.NAME and q.path[:-1] == p.path[:-1]}
            if value in siblings - {p.value}:
                continue
        new = check_replace(points, p, value, expected_value(p, value))
        if p.name != "POST_value":
            json.loads(new.request.body)  # still a JSON document


@SETTINGS
@given(gen.json_documents())
def test_a_replaced_value_changes_only_its_literal(document: tuple[str, Any]) -> None:
    text, _ = document
    points = parse(body_request(text, "application/json"))
    leaves = jsondoc.parse(text)
    assert leaves is not None
    for leaf in leaves:
        p = points.get(point_name((Step("POST"), *leaf.steps), leaf.role))
        assert p is not None
        start, end = leaf.span
        expected = text[:start] + leaf.encode("zz") + text[end:]
        assert points.replace(p, "zz").body.decode() == expected


@pytest.mark.parametrize(
    ("recorded", "new", "literal", "kind"),
    [
        ("5", "6", "6", ValueKind.NUMBER),
        ("5", "-1.5e3", "-1.5e3", ValueKind.NUMBER),
        ("5", "1 OR 1=1", '"1 OR 1=1"', ValueKind.STRING),
        ("5", "01", '"01"', ValueKind.STRING),
        ("5", "", '""', ValueKind.STRING),
        ("true", "false", "false", ValueKind.BOOLEAN),
        ("true", "null", "null", ValueKind.NULL),
        ("null", "x'", '"x\'"', ValueKind.STRING),
        ('"s"', "7", '"7"', ValueKind.STRING),
    ],
)
def test_numbers_stay_numbers_and_other_values_become_strings(
    recorded: str, new: str, literal: str, kind: ValueKind
) -> None:
    points = parse(body_request(f'{{"id": {recorded}}}', "application/json"))
    request = points.replace("POST_JSON_DOC_HASH_id_value", new)
    assert request.body == f'{{"id": {literal}}}'.encode()
    again = reparse(request).get("POST_JSON_DOC_HASH_id_value")
    assert again is not None and again.value == new and again.kind is kind


@SETTINGS
@given(st.integers() | st.floats(allow_nan=False, allow_infinity=False), gen.hostile_text)
def test_number_points_hold_numbers_or_strings(number: int | float, other: str) -> None:
    points = parse(body_request(json.dumps({"n": number}), "application/json"))
    p = points.get("POST_JSON_DOC_HASH_n_value")
    assert p is not None and p.kind is ValueKind.NUMBER
    for value in (repr(number), other):
        doc = json.loads(points.replace(p, value).body)
        if jsondoc.is_number(value):
            assert doc["n"] == json.loads(value)
        else:
            assert doc["n"] == value


def test_a_key_is_a_point_and_renaming_it_renames_the_member() -> None:
    points = parse(body_request('{"user": {"name": "ann"}}', "application/json"))
    key = points.get("POST_JSON_DOC_HASH_user_name")
    assert key is not None and key.role is Role.NAME
    again = reparse(points.replace(key, "admin"))
    assert again.get("POST_JSON_DOC_HASH_admin_HASH_name_value").value == "ann"  # type: ignore[union-attr]


def test_a_duplicate_key_keeps_the_first_member_as_the_point() -> None:
    points = parse(body_request('{"a": 1, "a": 2}', "application/json"))
    assert [p.value for p in points if p.name == "POST_JSON_DOC_HASH_a_value"] == ["1"]
    assert points.replace("POST_JSON_DOC_HASH_a_value", "9").body == b'{"a": 9, "a": 2}'


def test_raw_replacement_puts_json_where_a_string_was() -> None:
    points = parse(body_request('{"q": "x"}', "application/json"))
    assert points.replace("POST_JSON_DOC_HASH_q_value", '{"$ne": null}', raw=True).body == b'{"q": {"$ne": null}}'


@pytest.mark.parametrize(
    "text",
    ['{"a": 1', '{"a": NaN}', '{"a": Infinity}', "[1, 2,]", '{"a" 1}', "{'a': 1}", "[", '{"a": "\\ud800"',
     '{"a": "\x01"}', '{"a": 1}}'],
)
def test_malformed_json_has_no_points_and_the_raw_body_stays_one(text: str) -> None:
    assert jsondoc.parse(text) is None
    points = parse(body_request(text, "application/json"))
    assert [(p.name, p.value) for p in points if p.family == "POST"] == [("POST_value", text)]


def test_very_deep_json_is_opaque_not_an_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert jsondoc.parse(deep) is None
    assert parse(body_request(deep, "application/json")).get("POST_value") is not None


@settings(max_examples=gen.examples(200), deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    leaves = jsondoc.parse(text)
    if leaves is not None:
        json.loads(text)


def test_escapes_of_untouched_values_survive() -> None:
    text = '{"a": "\\u00e9\\n", "b": "x"}'
    points = parse(body_request(text, "application/json"))
    assert points.get("POST_JSON_DOC_HASH_a_value").value == "\u00e9\n"  # type: ignore[union-attr]
    assert points.replace("POST_JSON_DOC_HASH_b_value", "y").body == b'{"a": "\\u00e9\\n", "b": "y"}'


def test_control_characters_are_escaped_so_the_text_stays_printable() -> None:
    assert jsondoc.encode_string("a\x00\x85\u2028") == '"a\\u0000\\u0085\\u2028"'


def test_every_point_of_a_realistic_document_round_trips() -> None:
    text = json.dumps({"user": {"name": "ann", "tags": ["a", {"k": [1, 2.5, None, True]}], "age": 31}, "q": ""})
    check_all(parse(body_request(text, "application/json")), "it's <x> & \"y\"; \u4e2d\n")
