"""The request target: URI, PATH_<i>, ACTION_NAME, ACTION_EXT (and the query, in test_query)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import Request, parse
from lunge.http.points import uri
from tests.http import strategies as gen
from tests.http.points.support import check_replace, reparse

SETTINGS = settings(max_examples=gen.examples(80), deadline=None)


def _labels(target: str) -> list[tuple[str, str]]:
    return [("_".join(s.label for s in leaf.steps), leaf.value) for leaf in uri.parse_target(target)]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", [("URI", "/")]),
        ("/index.php", [("URI", "/index.php"), ("ACTION_NAME", "index"), ("ACTION_EXT", "php")]),
        ("/a/b/", [("URI", "/a/b/"), ("PATH_0", "a"), ("PATH_1", "b")]),
        ("/a//b.tar.gz", [("URI", "/a//b.tar.gz"), ("PATH_0", "a"), ("PATH_1", ""), ("ACTION_NAME", "b"),
                          ("ACTION_EXT", "tar.gz")]),
        ("/x%2Fy/z%20w", [("URI", "/x%2Fy/z%20w"), ("PATH_0", "x/y"), ("ACTION_NAME", "z w")]),
        ("/.env", [("URI", "/.env"), ("ACTION_NAME", ""), ("ACTION_EXT", "env")]),
        ("*", [("URI", "*")]),
        ("/u?id=1", [("URI", "/u?id=1"), ("ACTION_NAME", "u"), ("GET_id", "1")]),
    ],
)
def test_names_of_a_target(target: str, expected: list[tuple[str, str]]) -> None:
    assert _labels(target) == expected


@SETTINGS
@given(st.lists(gen.names, max_size=4), st.sampled_from(["", "x", "a.b", "f.tar.gz", ".hidden"]), gen.hostile_text)
def test_path_values_round_trip_any_text(segments: list[str], action: str, value: str) -> None:
    points = parse(Request.from_url("http://t.test/" + "/".join([*segments, action]) + "?q=1"))
    for p in points:
        if len(p.path) > 1:
            continue  # a layer found inside a segment: see test_encoded
        if p.family in ("PATH", "ACTION_EXT") or (p.family == "ACTION_NAME" and value):
            check_replace(points, p, value, value)


@SETTINGS
@given(gen.hostile_text)
def test_uri_is_replaced_as_written_made_transmittable(value: str) -> None:
    points = parse(Request.from_url("http://t.test/a/b?c=1"))
    request = points.replace("URI_value", value)
    assert request.target == uri.encode_uri(value)
    assert reparse(request).get("URI_value").value == uri.encode_uri(value)  # type: ignore[union-attr]


def test_uri_keeps_delimiters_and_escapes() -> None:
    points = parse(Request.from_url("http://t.test/a"))
    assert points.replace("URI_value", "/x/../y?a=%27&b=<s>").target == "/x/../y?a=%27&b=%3Cs%3E"
    assert points.replace("URI_value", "etc/passwd").target == "/etc/passwd"


def test_a_dot_in_a_new_action_name_is_escaped() -> None:
    points = parse(Request.from_url("http://t.test/dir/file.txt"))
    request = points.replace("ACTION_NAME_value", "../../etc/passwd")
    assert request.target == "/dir/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.txt"
    assert reparse(request).get("ACTION_NAME_value").value == "../../etc/passwd"  # type: ignore[union-attr]


def test_path_segments_keep_sub_delimiters_and_escape_the_rest() -> None:
    points = parse(Request.from_url("http://t.test/a/b"))
    assert points.replace("PATH_0_value", "x;y=1/?#%").target == "/x;y=1%2F%3F%23%25/b"


def test_non_utf8_bytes_in_a_path_survive() -> None:
    request = Request.parse(b"GET /caf\xe9/\xc3\xa9t\xc3\xa9 HTTP/1.1\r\nHost: t.test\r\n\r\n")
    points = parse(request)
    assert points.get("PATH_0_value").value == "caf\udce9"  # type: ignore[union-attr]
    assert points.get("ACTION_NAME_value").value == "\u00e9t\u00e9"  # type: ignore[union-attr]
    rebuilt = points.replace("ACTION_NAME_value", "x")
    assert rebuilt.to_bytes().startswith(b"GET /caf\xe9/x HTTP/1.1")


@settings(max_examples=gen.examples(200), deadline=None)
@given(st.text())
def test_arbitrary_targets_never_raise(target: str) -> None:
    leaves = uri.parse_target(target)
    assert leaves[0].value == target
