"""Steps, point names, Point.family and Point.layers."""

from __future__ import annotations

from lunge.http import Request, parse
from lunge.http.points import Point, Role, Step, point_name
from lunge.http.points.model import step


def test_step_labels_and_point_names() -> None:
    assert Step("GET", "uid").label == "GET_uid"
    assert Step("BASE64").label == "BASE64"
    path = (Step("HEADER", "X-TOKEN"), Step("BASE64"), Step("JSON_DOC"), Step("HASH", "id"))
    assert point_name(path) == "HEADER_X-TOKEN_BASE64_JSON_DOC_HASH_id_value"
    assert point_name(path, Role.NAME) == "HEADER_X-TOKEN_BASE64_JSON_DOC_HASH_id_name"


def test_steps_compare_by_parser_and_key() -> None:
    assert Step("HASH", "a") == step("HASH", "a")
    assert step("HASH", "a") is step("HASH", "a")
    assert Step("HASH", "a") != Step("HASH", "b")
    assert repr(Step("HASH", "a")) == "Step(parser='HASH', key='a')"


def test_family_and_layers() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
    request = Request.from_url(
        "http://t.test/a/b.php?x=1", "POST",
        headers=[("Cookie", "c=eyJhIjogMX0="), ("Authorization", f"Bearer {token}"),
                 ("Content-Type", "application/json")],
        body=b'{"q": "x"}',
    )
    points = {p.name: p for p in parse(request)}
    expected = {
        "URI_value": ("URI", ()),
        "PATH_0_value": ("PATH", ()),
        "ACTION_NAME_value": ("ACTION_NAME", ()),
        "ACTION_EXT_value": ("ACTION_EXT", ()),
        "GET_x_value": ("GET", ()),
        "HEADER_COOKIE_value": ("HEADER", ()),
        "HEADER_COOKIE_COOKIE_c_BASE64_JSON_DOC_HASH_a_value": ("COOKIE", ("BASE64", "JSON_DOC")),
        "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value": ("HEADER", ("JWT",)),
        "POST_JSON_DOC_HASH_q_value": ("POST", ("JSON_DOC",)),
    }
    for name, (family, layers) in expected.items():
        assert (points[name].family, points[name].layers) == (family, layers), name


def test_points_are_values() -> None:
    a = Point("GET_a_value", (Step("GET", "a"),), "1")
    assert a == Point("GET_a_value", (Step("GET", "a"),), "1")
    assert hash(a) == hash(Point("GET_a_value", (Step("GET", "a"),), "1"))
