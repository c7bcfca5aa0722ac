"""Whole-request properties of lunge.http.points.tree: parse, replace, replace_many, rebuild."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lunge.errors import MessageError
from lunge.http import Headers, Request, parse, replace
from lunge.http.points import Point, Role, ValueKind
from lunge.http.points.tree import to_latin1, utf8_bytes, wire_text
from tests.http import strategies as gen
from tests.http.points.support import SKIP, check_replace, expected_value, related

FAST = settings(max_examples=gen.examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(gen.requests())
def test_no_op_replace_is_byte_identical(request: Request) -> None:
    points = parse(request)
    original = request.to_bytes()
    for p in points:
        assert points.replace(p, p.value).to_bytes() == original, p.name


@FAST
@given(gen.requests(), gen.hostile_text, st.data())
def test_replacing_one_point_changes_only_that_point(request: Request, value: str, data: st.DataObject) -> None:
    points = parse(request)
    for p in data.draw(st.lists(st.sampled_from(list(points)), min_size=1, max_size=8, unique=True)):
        if p.role is Role.NAME and p.path[-1].parser == "HASH":
            siblings = {q.path[-1].key for q in points if q.path[:-1] == p.path[:-1] and q.role is Role.NAME}
            if value in siblings - {p.value}:
                continue  # two members with one key: a different document shape, see test_jsondoc
        expected = expected_value(p, value)
        if expected is SKIP:
            continue
        check_replace(points, p, value, expected)


def _same_base64_layer(p: Point, q: Point) -> bool:
    """Both inside one base64 value. Replacing them one by one re-parses in between, and unpadded
    base64 whose new length is a multiple of 4 no longer shows it was unpadded: the second
    re-encoding may pad where replace_many (which still knows the recorded form) does not."""
    for i, step in enumerate(p.path):
        if step.parser == "BASE64" and p.path[: i + 1] == q.path[: i + 1]:
            return True
    return False


@FAST
@given(gen.requests(), st.data())
def test_replace_many_equals_successive_replaces_of_disjoint_points(request: Request, data: st.DataObject) -> None:
    points = parse(request)
    chosen: list = []
    for p in data.draw(st.permutations(list(points))):
        if (len(chosen) < 4 and p.role is Role.VALUE and not any(related(p, q) for q in chosen)
                and not any(_same_base64_layer(p, q) for q in chosen)
                # XML_DTD holds raw markup: arbitrary text there unmakes the document around it
                and p.path[-1].parser != "XML_DTD"):
            chosen.append(p)
    # XML 1.0 cannot hold every character (see test_xmldoc): a NUL would unmake the document
    values = {p: data.draw(gen.xml_text if "XML" in [s.parser for s in p.path] else gen.hostile_text) for p in chosen}
    together = points.replace_many(values)
    one_by_one = request
    for p, value in values.items():
        one_by_one = parse(one_by_one).replace(p.name, value)
    assert together.to_bytes() == one_by_one.to_bytes()


@settings(max_examples=gen.examples(150), deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=60), st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)),
                                                                  max_size=5))
def test_parse_never_raises_on_arbitrary_requests(body: bytes, target: bytes, headers: list[tuple[str, str]]) -> None:
    fields = [("Content-Type", "application/json"), *headers, ("Cookie", target.decode("latin-1"))]
    request = Request("POST", "http", "t.test", 80, target.decode("latin-1"), "HTTP/1.1", Headers(fields), body)
    points = parse(request)
    original = request.to_bytes()
    for p in points:
        assert points.replace(p, p.value).to_bytes() == original
        points.replace(p, "'\"<x>\x00\u4e2d")


def test_overlapping_points_cannot_be_replaced_together() -> None:
    points = parse(Request.from_url("http://t.test/a?x=1&y=2", headers=[("Cookie", "a=1; b=2")]))
    with pytest.raises(ValueError, match="overlap"):
        points.replace_many({"URI_value": "/", "GET_x_value": "2"})
    with pytest.raises(ValueError, match="overlap"):
        points.replace_many({"HEADER_COOKIE_value": "z=1", "HEADER_COOKIE_COOKIE_a_value": "2"})
    assert points.replace_many({"GET_x_value": "a", "GET_y_value": "b"}).target == "/a?x=a&y=b"
    assert points.replace_many({}).to_bytes() == points.request.to_bytes()


def test_an_unknown_point_is_a_key_error() -> None:
    points = parse(Request.from_url("http://t.test/a?x=1"))
    with pytest.raises(KeyError, match="GET_nope_value"):
        points.replace("GET_nope_value", "1")


def test_replace_returns_a_new_request_and_accepts_a_point() -> None:
    request = Request.from_url("http://t.test/a?x=1")
    points = parse(request)
    point = points.get("GET_x_value")
    assert point is not None
    new = points.replace(point, "2")
    assert new is not request and request.target == "/a?x=1" and new.target == "/a?x=2"
    assert replace(request, "GET_x_value", "3").target == "/a?x=3"


def test_raw_replacement_skips_only_the_points_own_encoding() -> None:
    token = base64.b64encode(json.dumps({"q": "x"}).encode()).decode()
    points = parse(Request.from_url("http://t.test/a?x=1", headers=[("X-T", token)]))
    assert points.replace("GET_x_value", "a b&c", raw=True).target == "/a?x=a b&c"
    raw = points.replace("HEADER_X-T_BASE64_JSON_DOC_HASH_q_value", "[1]", raw=True)
    assert base64.b64decode(raw.headers.get("x-t") or "") == b'{"q": [1]}'


def test_points_is_a_sequence_of_points() -> None:
    points = parse(Request.from_url("http://t.test/a?x=1&y=2"))
    assert len(points) == len(list(points)) == 5
    assert points[0].name == "URI_value" and points[-1].name == "HEADER_HOST_value"
    assert points.get("nope") is None


def test_a_point_found_twice_keeps_the_first() -> None:
    points = parse(Request.from_url("http://t.test/a?u[x]=1&u[x]=2"))
    assert [(p.name, p.value) for p in points if p.family == "GET"] == [("GET_u_HASH_x_value", "1")]
    assert points.replace("GET_u_HASH_x_value", "9").target == "/a?u[x]=9&u[x]=2"


@given(st.text())
def test_wire_text_and_latin1_views_are_inverse(text: str) -> None:
    latin1 = to_latin1(text)
    assert all(ord(c) <= 0xFF for c in latin1)
    assert wire_text(latin1) == text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogateescape") or \
        not text.isascii()
    assert utf8_bytes(wire_text(latin1)) == latin1.encode("latin-1")


@given(st.binary())
def test_any_wire_bytes_survive_the_text_view(data: bytes) -> None:
    assert utf8_bytes(wire_text(data.decode("latin-1"))) == data


def test_kinds_are_reported() -> None:
    points = parse(Request.from_url("http://t.test/a", "POST", [("Content-Type", "application/json")],
                                    b'{"n": 1, "b": true, "z": null, "s": "x"}'))
    assert {p.name: p.kind for p in points if p.family == "POST" and p.role is Role.VALUE} == {
        "POST_JSON_DOC_HASH_n_value": ValueKind.NUMBER, "POST_JSON_DOC_HASH_b_value": ValueKind.BOOLEAN,
        "POST_JSON_DOC_HASH_z_value": ValueKind.NULL, "POST_JSON_DOC_HASH_s_value": ValueKind.STRING,
    }


@settings(max_examples=gen.examples(150), deadline=None)
@given(gen.fragments("POST /a?x=1&y[]=2 HTTP/1.1\r\n", "Host: t\r\n", "Cookie: a=eyJhIjoxfQ==; b=%7B%7D\r\n",
                     "Content-Type: application/json\r\n", "Content-Type: multipart/form-data; boundary=b\r\n",
                     "Content-Type: application/xml\r\n", "Content-Encoding: gzip\r\n", "\r\n", '{"a": [1, "x"]}',
                     "<a b='1'>t</a>", "--b\r\n", 'Content-Disposition: form-data; name="f"\r\n', "\x1f\x8b"))
def test_parse_never_raises_on_requests_read_from_arbitrary_bytes(text: str) -> None:
    try:
        request = Request.parse(text.encode("utf-8", "surrogateescape"))
    except MessageError:
        return
    points = parse(request)
    for p in points:
        assert points.replace(p, p.value).to_bytes() == request.to_bytes()


def test_requests_and_points_pickle() -> None:
    import pickle

    request = Request.from_url("http://t.test/a?x=1", headers=[("Cookie", "a=1")])
    assert pickle.loads(pickle.dumps(request)) == request
    assert [pickle.loads(pickle.dumps(p)) for p in parse(request)] == list(parse(request))
