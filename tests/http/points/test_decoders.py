"""Which layer a value holds: the order of the detectors, and their guards."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http.points import decoders
from tests.http import strategies as gen


@pytest.mark.parametrize(
    ("value", "first_step"),
    [
        ('{"a": 1}', "JSON_DOC"),
        ("[1, 2]", "JSON_DOC"),
        ("<a>x</a>", "XML"),
        (gen.jwt({"sub": "1"}), "JWT"),
        ("Bearer " + gen.jwt({"sub": "1"}), "JWT"),
        ("{ user(id: 1) { name } }", "GRAPHQL"),
        ("query { a(x: 1) }", "GRAPHQL"),
        (quote('{"a": 1}'), "URL"),
        ("a%20b", "URL"),
        (base64.b64encode(b'{"a": 1}').decode(), "BASE64"),
        (base64.b64encode(b"user:secret").decode(), "BASE64"),
        ("\x1f\udc8b", None),
        ("", None),
        ("x", None),
        ("plain value", None),
        ("{not json", None),
        ("<not xml", None),
    ],
)
def test_the_first_detector_that_decodes_wins(value: str, first_step: str | None) -> None:
    leaves = decoders.decode(value)
    assert (leaves[0].steps[0].parser if leaves else None) == first_step


def test_json_is_preferred_to_graphql_and_base64_to_nothing() -> None:
    # '{"a": 1}' is also a (broken) GraphQL selection; JSON is tried first
    assert decoders.decode('{"a": 1}')[0].steps[0].parser == "JSON_DOC"  # type: ignore[index]


@settings(max_examples=gen.examples(300), deadline=None)
@given(st.text(max_size=40) | gen.fragments("{", "}", "[", "]", "<a>", "</a>", "%41", "eyJ", ".", "=", "query "))
def test_every_guard_only_skips_detectors_that_would_find_nothing(value: str) -> None:
    unguarded = next((leaves for _, detect in decoders.DETECTORS if (leaves := detect(value))), None) \
        if len(value) >= 2 else None
    guarded = decoders.decode(value)
    assert (guarded is None) == (unguarded is None)
    if guarded and unguarded:
        assert guarded[0].steps == unguarded[0].steps


def test_a_json_layer_inside_a_base64_layer() -> None:
    value = base64.b64encode(json.dumps({"id": 7}).encode()).decode()
    (layer,) = decoders.decode(value) or []
    assert layer.value == '{"id": 7}'
    assert [leaf.value for leaf in decoders.decode(layer.value) or []] == ["id", "7"]
