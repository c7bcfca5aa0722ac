"""Fuzzing every importer: whatever the input, a reader yields items or raises InputFileError,
with a one-line message; nothing else ever reaches the user.

Three kinds of input per format: arbitrary text, arbitrary JSON/YAML-like structures whose keys
and values come from the format's own vocabulary (so the readers get past the first checks), and
the valid fixture files with a few random parts replaced, deleted or garbled.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lunge.errors import InputFileError
from lunge.http import Request
from lunge.record.importers import FORMATS, Imported, Skipped, read

from .files import FIXTURES, text

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_COMMON_KEYS = ["name", "value", "type", "url", "key", "disabled", "headers", "header", "content", "schema",
                "example", "examples", "mode", "raw", "text", "encoding", "$ref", "in", "items", "default"]
_KEYS = {
    "har": ["log", "entries", "request", "response", "method", "httpVersion", "postData", "params", "mimeType",
            "status", "statusText", "cookies", "fileName", "contentType", "queryString"],
    "openapi": ["openapi", "paths", "servers", "variables", "get", "post", "put", "parameters", "style", "explode",
                "properties", "required", "allOf", "oneOf", "anyOf", "requestBody", "application/json",
                "multipart/form-data", "application/xml", "application/x-www-form-urlencoded", "components",
                "schemas", "securitySchemes", "security", "enum", "format", "responses", "200", "xml",
                "discriminator", "propertyName", "mapping", "additionalProperties", "prefixItems", "minimum",
                "maxLength", "minItems", "readOnly", "scheme", "/a/{id}", "/b", "swagger"],
    "postman": ["info", "item", "request", "variable", "host", "path", "query", "protocol", "port", "body",
                "urlencoded", "formdata", "graphql", "auth", "bearer", "basic", "apikey", "options", "language",
                "src", "token", "username", "password", "schema", "requests"],
}
_VALUES = ["http://a.test/x?y=1", "https://b.test:8443/", "{{v}}", "{{v}}/p/:id", "ws://a.test", "3.0.3", "3.1.0",
           "string", "integer", "number", "boolean", "array", "object", "null", "query", "path", "header",
           "cookie", "GET", "POST", "base64", "json", "raw", "file", "text", "urlencoded", "formdata", "graphql",
           "bearer", "basic", "apikey", "oauth2", "http", "apiKey", "#/components/schemas/A", "#/paths/~1b",
           "#/x", "other.yaml#/A", "binary", "email", "date-time", "uuid", "form", "deepObject", "matrix",
           "label", "pipeDelimited", "/a/{id}", "{id}", "application/json", "multipart/form-data",
           "multipart/form-data; boundary=x", "a\r\nb", "\x00", "é", "", " ", "HTTP/2", "h2", ":authority",
           "{\"a\": {{v}}}", "AAEC", "!!", "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"]


def _scalars() -> st.SearchStrategy[Any]:
    return (st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=12)
            | st.sampled_from(_VALUES))


def _structures(fmt: str) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(_KEYS.get(fmt, []) + _COMMON_KEYS) | st.text(max_size=6)
    return st.recursive(_scalars(), lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(keys, children, max_size=6), max_leaves=40)


def check(fmt: str, document: str, **options: Any) -> None:
    """Read ``document``: either every item is usable or the error is an InputFileError on one line."""
    try:
        found = list(read(fmt, document, "fuzz.txt", **options))
    except InputFileError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith("fuzz.txt")
        return
    for item in found:
        assert isinstance(item, Imported | Skipped)
        if isinstance(item, Imported):
            request = item.request
            parsed = Request.parse(request.to_bytes(), scheme=request.scheme, host=request.host, port=request.port)
            assert (parsed.method, parsed.target, parsed.body) == (request.method, request.target, request.body)
            assert _unframed(parsed) == _unframed(request)  # what is stored is what goes on the wire
            if item.response is not None:
                item.response.to_bytes()


def _unframed(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.headers.fields if k.lower() != "content-length"]


# ---------------------------------------------------------------------- arbitrary text
@FUZZ
@given(fmt=st.sampled_from(FORMATS), document=st.text(max_size=300))
def test_arbitrary_text(fmt: str, document: str) -> None:
    check(fmt, document)


@FUZZ
@given(fmt=st.sampled_from(FORMATS), document=st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_bytes_as_text(fmt: str, document: str) -> None:
    check(fmt, document)


_YAML_LINES = ["openapi: 3.0.0", "openapi: 3.1.0", "info: {}", "servers: [{url: 'http://a.test'}]", "paths:",
               "  /a/{id}:", "    get:", "    post:", "      parameters:", "        - name: id", "          in: path",
               "          schema: {type: integer}", "      requestBody:", "        content:",
               "          application/json:", "            example: &x [*x]", "            schema: {$ref: '#/x'}",
               "x: &a [*a, *a]", "y: !!binary aGk=", "z: 2020-13-45", "- [", "{", "key: !!python/object:os.system",
               "  ", "\t", "? [a]", ": b", "--- ", "...", "%YAML 1.1", "w: .nan", "v: !!set {a, b}"]


@FUZZ
@given(st.lists(st.sampled_from(_YAML_LINES), max_size=16).map("\n".join))
def test_yaml_line_soup(document: str) -> None:
    check("openapi", document)


_CURL_TOKENS = ["curl", "-H", "'X: 1'", "-d", "a=1", "-F", "f=@x", "-X", "POST", "-u", "a:b", "-G", "--json", "'",
                '"', "$'\\x41", "\\", "\\\n", "\n", "\n\n", "#", "# c\n", "http://a.test/p?q=1", "https://[::1]:8/",
                "--url", "-b", "c=1", "-T", "f", "^\"", "--data-urlencode", "=z", "@f", "é", "-sSLk", "--oauth2-bearer"]


@FUZZ
@given(st.lists(st.sampled_from(_CURL_TOKENS), max_size=24).map(" ".join))
def test_curl_token_soup(document: str) -> None:
    check("curl", document)
    check("curl", document, base_url="http://127.0.0.1:9")


# ---------------------------------------------------------------------- structures
@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["har", "openapi", "postman"]))
def test_arbitrary_structures(data: st.DataObject, fmt: str) -> None:
    value = data.draw(_structures(fmt))
    check(fmt, json.dumps(value))
    if fmt == "openapi":
        check(fmt, yaml.safe_dump(value), base_url="http://127.0.0.1:9")


def _har_entry() -> st.SearchStrategy[Any]:
    request = st.fixed_dictionaries(
        {"method": st.sampled_from(["GET", "POST", "G T", ""]) | _scalars(),
         "url": st.sampled_from(["http://a.test/x", "https://b.test/y?z=1", "ws://c", "data:x", "http://[x"])},
        optional={"headers": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", ":path", "Cookie", "a b"]),
                                                             "value": _scalars()}), max_size=3),
                  "postData": _structures("har"), "httpVersion": _scalars(), "cookies": _structures("har")})
    return st.fixed_dictionaries({"request": request}, optional={"response": _structures("har")})


@FUZZ
@given(st.lists(_har_entry(), max_size=4))
def test_har_shaped(entries: list[Any]) -> None:
    check("har", json.dumps({"log": {"entries": entries}}))


def _schema() -> st.SearchStrategy[Any]:
    return _structures("openapi") | st.sampled_from([
        {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
        {"allOf": [{"$ref": "#/components/schemas/A"}, {"type": "object"}]},
        {"oneOf": [], "discriminator": {"propertyName": "t"}}, {"type": "array"}, {"$ref": "#/components/schemas/A"},
    ])


@FUZZ
@given(params=st.lists(st.fixed_dictionaries({"name": _scalars(), "in": st.sampled_from(
    ["path", "query", "header", "cookie", "body"])}, optional={"schema": _schema(), "style": _scalars(),
                                                                "explode": _scalars(), "example": _scalars(),
                                                                "content": _structures("openapi")}), max_size=3),
       body=_schema(), component=_schema(), media=st.sampled_from(
           ["application/json", "application/xml", "multipart/form-data", "application/x-www-form-urlencoded",
            "text/plain", "*/*", "image/png"]),
       servers=st.lists(st.fixed_dictionaries(
           {"url": st.sampled_from(["http://a.test/v1", "//a.test/", "/rel", "", "{s}://a.test", "http://[x/",
                                    "ftp://a", "https://a.test:99999/"]) | _scalars()},
           optional={"variables": _structures("openapi")}), max_size=2),
       base_url=st.sampled_from([None, "http://127.0.0.1:9", "http://127.0.0.1:9/x/"]))
def test_openapi_shaped(params: list[Any], body: Any, component: Any, media: str, servers: list[Any],
                        base_url: str | None) -> None:
    document = {"openapi": "3.1.0", "servers": servers, "components": {"schemas": {"A": component}},
                "paths": {"/a/{id}": {"post": {"parameters": params,
                                               "requestBody": {"content": {media: {"schema": body}}}}}}}
    check("openapi", json.dumps(document), base_url=base_url)


@FUZZ
@given(item=_structures("postman"), url=st.sampled_from(_VALUES) | _structures("postman"),
       variables=st.dictionaries(st.sampled_from(["v", "id", "x"]), st.text(max_size=8), max_size=3))
def test_postman_shaped(item: Any, url: Any, variables: dict[str, str]) -> None:
    request = item if isinstance(item, dict) else {}
    document = {"info": {"schema": "v2.1.0"}, "variable": [{"key": "v", "value": "http://v.test"}],
                "item": [{"name": "f", "item": [{"request": {**request, "url": url}}]}]}
    check("postman", json.dumps(document), variables=variables)
    check("postman", json.dumps(document), base_url="http://127.0.0.1:9")


# ---------------------------------------------------------------------- mutated fixtures
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@functools.cache
def _parsed(name: str) -> Any:
    return json.loads(text(name)) if name.endswith((".json", ".har")) else yaml.safe_load(text(name))


def _mutate(data: st.DataObject, document: Any, fmt: str) -> Any:
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        path = data.draw(st.sampled_from(_paths(document)), label="path")
        if not path:
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans(), label="delete"):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_structures(fmt), label="value")
    return document


@pytest.mark.parametrize(("fmt", "name"), [(f, n) for f in ("har", "openapi", "postman") for n in FIXTURES[f]])
@FUZZ
@given(data=st.data())
def test_mutated_fixtures(fmt: str, name: str, data: st.DataObject) -> None:
    mutated = _mutate(data, _parsed(name), fmt)
    check(fmt, json.dumps(mutated), base_url=data.draw(st.sampled_from([None, "http://127.0.0.1:9"])))


@pytest.mark.parametrize(("fmt", "name"), [(f, n) for f in FORMATS for n in FIXTURES[f]])
@FUZZ
@given(data=st.data())
def test_garbled_fixture_text(fmt: str, name: str, data: st.DataObject) -> None:
    document = text(name)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.integers(0, len(document)), label="at")
        cut = data.draw(st.integers(0, 20), label="cut")
        insert = data.draw(st.text(max_size=4) | st.sampled_from(["'", '"', "\\", "{", "}", "\n", "$ref", "{{"]))
        document = document[:at] + insert + document[at + cut :]
    check(fmt, document)


# ---------------------------------------------------------------------- deep nesting
_DEEP_KEYS = ["oneOf", "anyOf", "allOf", "items", "properties", "schema", "item", "not", "additionalProperties"]


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 420), keys=st.lists(st.sampled_from(_DEEP_KEYS), min_size=1, max_size=3),
       leaf=_scalars())
def test_deep_nesting_never_overflows_the_stack(depth: int, keys: list[str], leaf: Any) -> None:
    node: Any = {"type": "string"} if leaf is None else leaf
    for level in range(depth):
        key = keys[level % len(keys)]
        node = {key: [node] if key.endswith("Of") or key == "item" else node}
    openapi = {"openapi": "3.1.0", "servers": [{"url": "http://a.test"}], "paths": {"/a": {"post": {
        "parameters": [{"name": "q", "in": "query", "schema": node}],
        "requestBody": {"content": {"application/xml": {"schema": node}}}}}}}
    check("openapi", json.dumps(openapi))
    check("postman", json.dumps({"info": {}, "item": [node]}))
    check("har", json.dumps({"log": {"entries": [{"request": {"method": "GET", "url": "http://a.test/",
                                                              "postData": node}}]}}))
