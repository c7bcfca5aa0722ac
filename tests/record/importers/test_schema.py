"""Values from OpenAPI schemas, parameter styles and body encodings."""

from __future__ import annotations

import doctest
from types import ModuleType
from typing import Any

import pytest

from lunge.errors import InputFileError
from lunge.record.importers import bodies, build, curl, doc, postman, schema, styles
from lunge.record.importers.doc import Node
from lunge.record.importers.schema import FileValue, Resolver, Sampler
from lunge.record.importers.styles import cookie_pairs, header_value, path_value, query_pairs


@pytest.mark.parametrize("module", [bodies, build, curl, doc, postman, schema, styles], ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


def _sample(value: dict[str, Any], components: dict[str, Any] | None = None, *, writing: bool = True) -> Any:
    root = Node({"components": {"schemas": components or {}}}, "", "api.yaml")
    return Sampler(Resolver(root), writing=writing).value(Node(value, "s", "api.yaml"))


def test_given_values_win_in_order() -> None:
    assert _sample({"type": "integer", "example": 7, "default": 3}) == 7
    assert _sample({"type": "integer", "default": 3, "enum": [5]}) == 3
    assert _sample({"type": "string", "examples": ["x", "y"]}) == "x"
    assert _sample({"const": "c"}) == "c"
    assert _sample({"enum": [None, 2]}) == 2


def test_read_only_and_write_only() -> None:
    obj = {"properties": {"id": {"type": "integer", "readOnly": True}, "pw": {"type": "string", "writeOnly": True}}}
    assert _sample(obj) == {"pw": "lunge"}
    assert _sample(obj, writing=False) == {"id": 1}


def test_all_of_merges_properties_and_required() -> None:
    components = {"Base": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}}
    value = _sample({"allOf": [{"$ref": "#/components/schemas/Base"},
                               {"properties": {"b": {"type": "boolean"}}}]}, components)
    assert value == {"a": 1, "b": True}


def test_recursion_stops_and_required_recursive_property_is_null() -> None:
    node = {"type": "object", "required": ["next"],
            "properties": {"next": {"$ref": "#/components/schemas/N"}, "v": {"type": "integer"}}}
    components = {"N": node}
    assert _sample({"$ref": "#/components/schemas/N"}, components) == {"next": None, "v": 1}


def test_deep_nesting_is_cut() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(30):
        deep = {"type": "object", "properties": {"x": deep}}
    value = _sample(deep)
    depth = 0
    while isinstance(value, dict) and value:
        value, depth = value["x"], depth + 1
    assert depth <= 8


@pytest.mark.parametrize(
    ("schema_value", "expected"),
    [
        ({"type": "integer", "minimum": 10}, 10),
        ({"type": "integer", "maximum": -3}, -3),
        ({"type": "integer", "exclusiveMinimum": True, "minimum": 1}, 2),
        ({"type": "integer", "exclusiveMaximum": 1}, 0),
        ({"type": "integer", "minimum": 3, "multipleOf": 5}, 5),
        ({"type": "integer", "minimum": "x"}, 1),
        ({"type": "integer", "minimum": 1e308}, 1),
        ({"type": "number", "minimum": 2}, 2),
        ({"type": "string", "minLength": 8}, "lungexxx"),
        ({"type": "string", "maxLength": 2}, "lu"),
        ({"type": "string", "format": "uuid"}, "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        ({"type": ["null", "boolean"]}, True),
        ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}, [1, "lunge"]),
        ({"type": "array", "items": {"type": "integer"}, "maxItems": 0}, []),
        (True, "lunge"),
        ({}, "lunge"),
    ],
)
def test_typed_values(schema_value: Any, expected: Any) -> None:
    root = Node({}, "", "a")
    assert Sampler(Resolver(root)).value(Node(schema_value, "s", "a")) == expected


def test_binary_strings_are_file_values() -> None:
    assert isinstance(_sample({"type": "string", "format": "binary"}), FileValue)


def test_resolver_errors() -> None:
    resolver = Resolver(Node({"a": [{"b": 1}]}, "", "f"))
    assert resolver.deref(Node({"$ref": "#/a/0/b"}, "x", "f")).value == 1
    with pytest.raises(InputFileError, match="points to nothing"):
        resolver.deref(Node({"$ref": "#/a/5"}, "x", "f"))
    with pytest.raises(InputFileError, match="not a JSON pointer"):
        resolver.deref(Node({"$ref": "#a"}, "x", "f"))


@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        ("simple", False, [1, 2], "1,2"),
        ("simple", True, {"a": 1, "b": 2}, "a=1,b=2"),
        ("simple", False, {"a": 1, "b": 2}, "a,1,b,2"),
        ("label", False, [1, 2], ".1,2"),
        ("label", True, [1, 2], ".1.2"),
        ("matrix", False, [1, 2], ";id=1,2"),
        ("matrix", True, [1, 2], ";id=1;id=2"),
        ("matrix", False, "a/b", ";id=a%2Fb"),
        ("simple", False, "../x y", "..%2Fx%20y"),
    ],
)
def test_path_styles(style: str, explode: bool, value: Any, expected: str) -> None:
    assert path_value("id", value, style, explode) == expected


def test_query_header_and_cookie_styles() -> None:
    assert query_pairs("a", [1, 2], "spaceDelimited", False) == ["a=1%202"]
    assert query_pairs("a", [1, 2], "pipeDelimited", False) == ["a=1|2"]
    assert query_pairs("a", {"x": 1}, "form", True) == ["x=1"]
    assert query_pairs("a", {"x": 1}, "form", False) == ["a=x,1"]
    assert query_pairs("a", "x/y?", "form", True, reserved=True) == ["a=x/y?"]
    assert query_pairs("a b", "&", "form", True) == ["a%20b=%26"]
    assert header_value([1, "b"], False) == "1,b"
    assert header_value({"x": 1}, True) == "x=1"
    assert cookie_pairs("c", [1, 2], False) == ["c=1,2"]
    assert cookie_pairs("c", {"x": "a;b"}, True) == ["x=a%3Bb"]


@pytest.mark.parametrize("key", ["oneOf", "anyOf", "allOf"])
def test_deeply_nested_combinators_end(key: str) -> None:
    nested: dict[str, Any] = {"type": "integer"}
    for _ in range(400):
        nested = {key: [nested]}
    assert _sample(nested) in (1, None, "lunge")  # it ends; how much of the chain counts is a limit

