"""OpenAPI 3.0 (YAML) and 3.1 (JSON) documents into one baseline per operation."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml

from lunge.errors import InputFileError
from lunge.http import Request, parse
from lunge.record.importers import PLACEHOLDER

from .files import imported, items


def _doc(paths: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
                       "servers": [{"url": "http://api.test/v1"}], "paths": paths, **extra})


def _one(paths: dict[str, Any], **extra: Any) -> Request:
    [item] = imported("openapi", _doc(paths, **extra))
    return item.request


# ---------------------------------------------------------------------- Petstore 3.0 YAML
def test_petstore_has_one_baseline_per_operation_in_document_order() -> None:
    found = [(i.request.method, i.request.path) for i in imported("openapi", "petstore.yaml")]
    assert found == [
        ("PUT", "/api/v3/pet"), ("POST", "/api/v3/pet"), ("GET", "/api/v3/pet/findByStatus"),
        ("GET", "/api/v3/pet/findByTags"), ("GET", "/api/v3/pet/10"), ("POST", "/api/v3/pet/10"),
        ("DELETE", "/api/v3/pet/10"), ("POST", "/api/v3/pet/10/uploadImage"), ("POST", "/api/v3/store/order"),
        ("GET", "/api/v3/store/order/1"),
    ]


def test_server_variables_take_defaults_or_var() -> None:
    first = imported("openapi", "petstore.yaml")[0].request
    assert first.origin == "https://petstore.example.test:8443"
    moved = imported("openapi", "petstore.yaml", variables={"scheme": "http", "port": "8080"})[0].request
    assert moved.origin == "http://petstore.example.test:8080"


def test_petstore_json_body_from_refs_and_examples() -> None:
    put = imported("openapi", "petstore.yaml")[0]
    body = json.loads(put.request.body)
    assert body["name"] == "doggie" and body["category"] == {"id": 1, "name": "Dogs"}
    assert "id" not in body  # readOnly
    assert body["photoUrls"] == ["https://example.com/"] and body["status"] == "available"
    assert body["owner"]["email"] == "user@example.com" and body["owner"]["pets"] == []  # recursion stops
    assert put.request.headers.get("content-type") == "application/json"
    assert put.request.headers.get("authorization") == f"Bearer {PLACEHOLDER}"
    assert "petstore_auth" in put.note and PLACEHOLDER in put.note
    assert parse(put.request).get("POST_JSON_DOC_HASH_category_HASH_name_value").value == "Dogs"


def test_petstore_parameters() -> None:
    by_id = {i.where: i.request for i in imported("openapi", "petstore.yaml")}
    assert by_id["paths./pet/findByStatus.get"].query == "status=available"
    assert by_id["paths./pet/findByTags.get"].query == "tags=small,brown"  # explode: false
    assert by_id["paths./pet/{petId}.get"].headers.get("api_key") == PLACEHOLDER
    assert by_id["paths./pet/{petId}.delete"].headers.get("api_key") == "lunge"
    order = by_id["paths./store/order/{orderId}.get"]
    assert order.path == "/api/v3/store/order/1"  # minimum 1, maximum 10
    assert order.headers.get("cookie") == "trace=3fa85f64-5717-4562-b3fc-2c963f66afa6"


def test_petstore_form_multipart_and_xml_bodies() -> None:
    by_id = {i.where: i.request for i in imported("openapi", "petstore.yaml")}
    form = by_id["paths./pet/{petId}.post"]
    assert dict(parse_qsl(form.body.decode())) == {"name": "doggie", "status": "available"}
    upload = by_id["paths./pet/{petId}/uploadImage.post"]
    assert b'name="file"; filename="file.bin"' in upload.body
    assert b'name="caption"\r\n\r\nlun\r\n' in upload.body  # maxLength 3
    names = {p.name for p in parse(upload)}
    assert {"POST_MULTIPART_file_FILENAME_value", "GET_additionalMetadata_value"} <= names
    xml = by_id["paths./store/order.post"]
    assert xml.headers.get("content-type") == "application/xml"
    assert xml.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><order><id>10</id>')
    assert any(p.name.startswith("POST_XML") for p in parse(xml))


# ---------------------------------------------------------------------- 3.1 JSON
def test_relative_server_needs_base_url() -> None:
    with pytest.raises(InputFileError) as info:
        items("openapi", "inventory-3.1.json", source="inventory.json")
    assert info.value.where == "servers[0].url" and "--base-url" in info.value.problem


def test_base_url_origin_keeps_the_server_path_and_a_path_replaces_it() -> None:
    kept = imported("openapi", "inventory-3.1.json", base_url="http://127.0.0.1:9000")[0].request
    assert kept.url.startswith("http://127.0.0.1:9000/inventory/v2/items?")
    replaced = imported("openapi", "inventory-3.1.json", base_url="http://127.0.0.1:9000/")[0].request
    assert replaced.url.startswith("http://127.0.0.1:9000/items?")
    absolute = imported("openapi", "petstore.yaml", base_url="http://127.0.0.1:9000/v9")[0].request
    assert absolute.url == "http://127.0.0.1:9000/v9/pet"


def test_inventory_query_styles_and_headers() -> None:
    listing = imported("openapi", "inventory-3.1.json", base_url="http://h.test")[0].request
    assert listing.query == "limit=20&sort=name&filter%5Bwarehouse%5D=BER-1&filter%5BinStock%5D=true"
    assert listing.headers.get("x-request-id") == "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert listing.headers.get("accept") == "application/json"  # from the response, not the ignored parameter
    assert listing.headers.get("authorization") == f"Bearer {PLACEHOLDER}"


def test_inventory_all_of_one_of_and_discriminator() -> None:
    create = imported("openapi", "inventory-3.1.json", base_url="http://h.test")[1].request
    assert create.headers.get("content-type") == "application/vnd.inventory+json"
    body = json.loads(create.body)
    assert len(body["name"]) >= 8
    assert body["price"] == {"amount": 1.5, "currency": "EUR"}
    assert body["tags"] == ["lunge", "lunge"]  # type [array, null], minItems 2
    assert body["supplier"] == {"type": "company", "vatId": "lunge"}
    assert body["contact"] == "user@example.com"  # anyOf: the non-null branch


def test_inventory_security_overrides() -> None:
    by_id = {i.where: i for i in imported("openapi", "inventory-3.1.json", base_url="http://h.test")}
    get_item = by_id["paths./items/{itemId}.get"].request
    assert get_item.query == f"api_key={PLACEHOLDER}" and "authorization" not in get_item.headers
    patch = by_id["paths./items/{itemId}.patch"]
    assert "authorization" not in patch.request.headers and patch.note == ""  # security: []
    assert json.loads(patch.request.body) == {"kind": "restock", "delta": 25, "reason": "delivery"}  # examples $ref
    report = by_id["paths./reports/{year}/{format}.get"].request
    assert report.path == "/inventory/v2/reports/2001/.csv"  # exclusiveMinimum 2000, label style, const
    expected = base64.b64encode(f"{PLACEHOLDER}:{PLACEHOLDER}".encode()).decode()
    assert report.headers.get("authorization") == f"Basic {expected}"


def test_credentials_from_var() -> None:
    by_id = {i.where: i for i in imported("openapi", "inventory-3.1.json", base_url="http://h.test",
                                          variables={"bearerAuth": "tok", "basicAuth": "ann:pw"})}
    listing = by_id["paths./items.get"]
    assert listing.request.headers.get("authorization") == "Bearer tok" and PLACEHOLDER not in listing.note
    report = by_id["paths./reports/{year}/{format}.get"].request
    assert report.headers.get("authorization") == "Basic " + base64.b64encode(b"ann:pw").decode()


def test_recursive_schema_terminates() -> None:
    tree = imported("openapi", "inventory-3.1.json", base_url="http://h.test")[-1].request
    assert json.loads(tree.body) == {"name": "lunge", "children": []}


def test_yaml_and_json_give_the_same_requests() -> None:
    document = yaml.safe_load(_doc({"/a": {"get": {"parameters": [{"name": "q", "in": "query",
                                                                    "schema": {"type": "string"}}]}}}))
    from_yaml = imported("openapi", yaml.safe_dump(document))[0].request
    from_json = imported("openapi", json.dumps(document))[0].request
    assert from_yaml == from_json and from_yaml.url == "http://api.test/v1/a?q=lunge"


# ---------------------------------------------------------------------- smaller documents
def test_path_level_parameters_are_overridden_by_operation_ones() -> None:
    request = _one({"/u/{id}": {"parameters": [{"name": "id", "in": "path", "required": True, "example": 1}],
                                "get": {"parameters": [{"name": "id", "in": "path", "required": True,
                                                        "example": "me"}]}}})
    assert request.path == "/v1/u/me"


def test_undeclared_path_template_gets_a_value_and_a_note() -> None:
    [item] = imported("openapi", _doc({"/u/{id}/x": {"get": {}}}))
    assert item.request.path == "/v1/u/1/x" and "id" in item.note


def test_parameter_examples_map_and_content() -> None:
    request = _one({"/s": {"get": {"parameters": [
        {"name": "a", "in": "query", "examples": {"one": {"value": "x y"}}, "schema": {"type": "string"}},
        {"name": "f", "in": "query", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"n": {"type": "integer"}}}}}},
    ]}}})
    assert request.query == "a=x%20y&f=%7B%22n%22%3A%201%7D"


def test_string_formats_and_bounds() -> None:
    schema = {"type": "object", "properties": {
        "d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "date-time"},
        "ip": {"type": "string", "format": "ipv4"}, "u": {"type": "string", "format": "uri"},
        "n": {"type": "number", "maximum": 0}, "i": {"type": "integer", "minimum": 5, "multipleOf": 4},
        "b": {"type": "boolean"}, "z": {"type": "null"}, "e": {"enum": [None, "x"]},
        "m": {"additionalProperties": {"type": "integer"}}}}
    request = _one({"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}})
    assert json.loads(request.body) == {"d": "2024-01-15", "t": "2024-01-15T10:30:00Z", "ip": "192.0.2.1",
                                        "u": "https://example.com/", "n": 0, "i": 8, "b": True, "z": None,
                                        "e": "x", "m": {"key": 1}}


def test_yaml_dates_in_examples_become_text() -> None:
    document = ("openapi: 3.0.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://a.test'}]\n"
                "paths:\n  /x:\n    post:\n      requestBody:\n        content:\n          application/json:\n"
                "            example: {when: 2024-03-01, raw: !!binary aGk=}\n")
    assert json.loads(imported("openapi", document)[0].request.body) == {"when": "2024-03-01", "raw": "aGk="}


def test_text_plain_and_unknown_media_types() -> None:
    request = _one({"/t": {"post": {"requestBody": {"content": {"text/plain": {"example": "hello"}}}}}})
    assert (request.body, request.headers.get("content-type")) == (b"hello", "text/plain")
    [item] = imported("openapi", _doc({"/t": {"post": {"requestBody": {"content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}}}))
    assert item.request.body == b"lunge" and "application/octet-stream" in item.note


def test_no_servers_needs_base_url() -> None:
    document = json.dumps({"openapi": "3.0.3", "info": {}, "paths": {"/a": {"get": {}}}})
    with pytest.raises(InputFileError, match="--base-url"):
        items("openapi", document)
    assert imported("openapi", document, base_url="http://b.test:81")[0].request.url == "http://b.test:81/a"


@pytest.mark.parametrize(
    ("document", "where", "problem"),
    [
        ("openapi: 3.0.0\npaths: {a: [}\ninfo: {}\n", "line 2", "not valid YAML"),
        ('{"openapi": ', "line 1 column 13", "not valid JSON"),
        ("- a\n- b\n", "(top level)", "not an OpenAPI document"),
        ("swagger: '2.0'\npaths: {}\n", "swagger", "Swagger 2.0 is not supported"),
        ("info: {}\n", "(top level)", 'no "openapi" field'),
        ("openapi: 2.5\n", "openapi", "not supported"),
        (_doc({"x": {}}), "paths.x", "must start with '/'"),
        (_doc({"/a": {"get": {"parameters": [{"$ref": "other.yaml#/P"}]}}}),
         "paths./a.get.parameters[0].$ref", "external $ref"),
        (_doc({"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}}),
         "paths./a.get.parameters[0].$ref", "points to nothing"),
        (_doc({"/a": {"$ref": "#/paths/~1b"}, "/b": {"$ref": "#/paths/~1a"}}), "paths./a", "circular $ref"),
        (_doc({"/a": {"get": {"parameters": [{"name": "q", "in": "body"}]}}}),
         "paths./a.get.parameters[0].in", "not a parameter location"),
        (_doc({"/a": {"get": {"parameters": [{"in": "query"}]}}}), "paths./a.get.parameters[0].name", "is missing"),
        (_doc({"/a": {"get": {"security": [{"nope": []}]}}}), "paths./a.get.security[0].nope", "not defined"),
        (_doc({"/a": {"get": {}}}, servers=[{"url": "{proto}://x.test"}]), "servers[0].url", "--var proto="),
        (_doc({"/a": {"get": {}}}, servers=[{"url": "ftp://x.test"}]), "servers[0].url", "not http or https"),
        ("openapi: 3.0.0\nx: 2020-13-45\n", "", "not valid YAML"),
    ],
)
def test_malformed_documents_name_the_place(document: str, where: str, problem: str) -> None:
    with pytest.raises(InputFileError) as info:
        items("openapi", document, source="api.yaml")
    assert info.value.where == where or (where.startswith("line ") and info.value.where.startswith(where + " "))
    assert problem in info.value.problem
    assert "\n" not in str(info.value)


def test_self_referencing_yaml_example_is_an_error_not_a_crash() -> None:
    document = ("openapi: 3.0.0\ninfo: {}\nservers: [{url: 'http://a.test'}]\npaths:\n  /x:\n    post:\n"
                "      requestBody:\n        content:\n          application/json:\n            example: &a [*a]\n")
    with pytest.raises(InputFileError, match="refers to itself"):
        items("openapi", document)


@pytest.mark.parametrize(("server", "expected"), [("//api.test/v1", "http://b.test/v1/a"),
                                                  ("https://h.test/v3/", "http://b.test/v3/a"),
                                                  ("", "http://b.test/a")])
def test_base_url_keeps_the_path_of_any_server_form(server: str, expected: str) -> None:
    document = _doc({"/a": {"get": {}}}, servers=[{"url": server}])
    assert imported("openapi", document, base_url="http://b.test")[0].request.url == expected


def test_protocol_relative_server_defaults_to_https() -> None:
    document = _doc({"/a": {"get": {}}}, servers=[{"url": "//api.test/v1"}])
    assert imported("openapi", document)[0].request.url == "https://api.test/v1/a"


def test_bad_server_url_with_base_url_is_an_input_error() -> None:
    with pytest.raises(InputFileError, match="not a URL"):
        items("openapi", _doc({"/a": {"get": {}}}, servers=[{"url": "http://[x/v2"}]), base_url="http://b.test")
