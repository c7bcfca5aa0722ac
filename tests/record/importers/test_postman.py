"""Postman collections v2.1 into baselines: folders, variables, auth, bodies."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from lunge.errors import InputFileError
from lunge.http import parse
from lunge.record.importers.postman import Variables

from .files import imported, items, skipped


def _collection(*item: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/"
                                                     "collection.json"}, "item": list(item), **extra})


def _request(url: Any, **request: Any) -> dict[str, Any]:
    return {"name": "r", "request": {"method": "GET", "header": [], "url": url, **request}}


# ---------------------------------------------------------------------- the fixture collection
def test_folders_are_walked_in_order() -> None:
    collection = imported("postman", "team-api.postman_collection.json")
    found = [(i.where, i.request.method, i.request.path) for i in collection]
    assert found == [
        ("item[0].item[0]", "POST", "/api/auth/login"),
        ("item[0].item[1]", "POST", "/api/auth/form-login"),
        ("item[1].item[0]", "GET", "/api/users/42"),
        ("item[1].item[1]", "POST", "/api/users/42/avatar"),
        ("item[1].item[2]", "POST", "/api/graphql"),
        ("item[2]", "GET", "/export"),
        ("item[3]", "DELETE", "/api/legacy/sessions"),
    ]


def test_variables_resolve_in_url_headers_and_raw_json_body() -> None:
    login = imported("postman", "team-api.postman_collection.json")[0].request
    assert login.url == "http://127.0.0.1:8000/api/auth/login"
    assert json.loads(login.body) == {"username": "qa@example.test", "password": "correct horse"}
    assert login.headers.get("content-type") == "application/json"  # options.raw.language json
    assert "x-debug" not in login.headers  # disabled
    assert "authorization" not in login.headers  # noauth overrides the collection's bearer
    assert parse(login).get("POST_JSON_DOC_HASH_username_value").value == "qa@example.test"


def test_var_overrides_collection_variables() -> None:
    login = imported("postman", "team-api.postman_collection.json",
                     variables={"baseUrl": "https://staging.test/v2", "username": "bob"})[0].request
    assert login.url == "https://staging.test/v2/auth/login"
    assert json.loads(login.body)["username"] == "bob"


def test_urlencoded_body_skips_disabled_fields() -> None:
    form = imported("postman", "team-api.postman_collection.json")[1].request
    assert form.body == b"username=qa%40example.test&password=correct+horse"
    assert form.headers.get("content-type") == "application/x-www-form-urlencoded"


def test_path_variables_query_and_folder_api_key() -> None:
    user = imported("postman", "team-api.postman_collection.json")[2].request
    assert user.target == "/api/users/42?expand=teams"  # the disabled debug=true is left out
    assert user.headers.get("x-api-key") == "k-3b1f"  # the folder's auth, inherited


def test_formdata_file_field_is_empty_with_a_note() -> None:
    upload = imported("postman", "team-api.postman_collection.json")[3]
    assert b'name="caption"\r\n\r\nprofile 1700000000\r\n' in upload.request.body  # {{$timestamp}}
    assert b'name="avatar"; filename="avatar.png"' in upload.request.body
    assert "avatar" in upload.note
    content_type = upload.request.headers.get("content-type") or ""
    assert content_type.startswith("multipart/form-data; boundary=")


def test_graphql_body_and_request_level_bearer() -> None:
    search = imported("postman", "team-api.postman_collection.json", variables={"token": "abc"})[4].request
    assert json.loads(search.body) == {"query": "query Search($q: String!) {\n  users(filter: $q) { id name }\n}",
                                       "variables": {"q": "ann"}}
    assert search.headers.get("authorization") == "Bearer abc"


def test_structured_url_with_protocol_port_and_collection_bearer() -> None:
    export = imported("postman", "team-api.postman_collection.json", variables={"token": "abc"})[5]
    assert export.request.url == "https://reports.example.test:8443/export?format=csv"
    assert export.request.headers.get("authorization") == "Bearer abc"


def test_basic_auth() -> None:
    legacy = imported("postman", "team-api.postman_collection.json")[6].request
    assert legacy.headers.get("authorization") == "Basic " + base64.b64encode(b"qa@example.test:correct horse").decode()


def test_unresolved_variable_is_kept_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    document = _collection(_request("http://h.test/{{a}}", header=[{"key": "X", "value": "{{a}}-{{b}}"}]),
                           _request("http://h.test/{{a}}"))
    with caplog.at_level(logging.WARNING, logger="lunge.record.importers.postman"):
        first, second = imported("postman", document)
    assert first.request.path == "/{{a}}" and first.request.headers.get("x") == "{{a}}-{{b}}"
    assert "{{a}}" in first.note and "{{b}}" in first.note and "{{a}}" in second.note
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2 and all("--var" in m for m in warned)


def test_unresolved_host_is_an_error_unless_base_url() -> None:
    document = _collection(_request({"raw": "{{host}}/users?x=1", "host": ["{{host}}"], "path": ["users"],
                                     "query": [{"key": "x", "value": "1"}]}))
    with pytest.raises(InputFileError) as info:
        items("postman", document)
    assert info.value.where == "item[0].request.url" and "{{host}}" in info.value.problem
    assert "--var" in info.value.problem and "--base-url" in info.value.problem
    request = imported("postman", document, base_url="http://127.0.0.1:5000")[0].request
    assert request.url == "http://127.0.0.1:5000/users?x=1"


def test_request_as_string_and_url_without_scheme() -> None:
    document = _collection({"name": "s", "request": "api.test/ping?x=1"})
    assert imported("postman", document)[0].request.url == "http://api.test/ping?x=1"


def test_apikey_in_query_and_v20_auth_dicts() -> None:
    query_key = {"type": "apikey", "apikey": [{"key": "key", "value": "k"}, {"key": "value", "value": "v"},
                                              {"key": "in", "value": "query"}]}
    v20 = {"type": "bearer", "bearer": {"token": "t20"}}
    document = _collection(_request("http://h.test/a", auth=query_key), _request("http://h.test/b", auth=v20))
    first, second = imported("postman", document)
    assert first.request.target == "/a?k=v"
    assert second.request.headers.get("authorization") == "Bearer t20"


def test_unsupported_auth_and_body_modes_are_noted() -> None:
    document = _collection(_request("http://h.test/a", method="POST", auth={"type": "awsv4", "awsv4": []},
                                    body={"mode": "file", "file": {"src": "x.bin"}}))
    [item] = imported("postman", document)
    assert "awsv4" in item.note and "file" in item.note and item.request.body == b""


def test_non_http_urls_and_empty_items_are_skipped() -> None:
    document = _collection(_request("ws://h.test/live"), {"name": "nothing"})
    assert [s.where for s in skipped("postman", document)] == ["item[0].request.url", "item[1]"]


def test_variables_resolve_through_each_other_and_stop_on_cycles() -> None:
    variables = Variables({"a": "{{b}}", "b": "{{a}}", "c": "x{{d}}", "d": "y"}, "c.json")
    assert variables.resolve("{{c}}") == ("xy", [])
    text, missing = variables.resolve("{{a}}")
    assert text in ("{{a}}", "{{b}}") and missing


@pytest.mark.parametrize(
    ("document", "where", "problem"),
    [
        ("not json", "line 1 column 1", "not valid JSON"),
        ('{"item": []}', "(top level)", "not a Postman collection"),
        ('{"id": "x", "requests": [], "order": []}', "(top level)", "v1"),
        (json.dumps({"info": {"schema": "https://schema.getpostman.com/json/collection/v1.0.0/"}}),
         "info.schema", "v1"),
        (_collection({"name": "x", "request": {"method": "GET"}}), "item[0].request.url", "is missing"),
        (_collection(_request(7)), "item[0].request.url", "expected a URL string or an object, found a number"),
        (_collection(_request("http://h.test/", header=[{"key": "X", "value": "a\nb"}])), "item[0].request",
         "line break"),
        (_collection(_request({"raw": "/only/a/path"})), "item[0].request.url", "no host"),
        (_collection(_request("http://h.test/", auth="bearer")), "item[0].request.auth", "expected an object"),
    ],
)
def test_malformed_collections_name_the_place(document: str, where: str, problem: str) -> None:
    with pytest.raises(InputFileError) as info:
        items("postman", document, source="c.json")
    assert info.value.where == where
    assert problem in info.value.problem


def test_self_expanding_variables_stop(caplog: pytest.LogCaptureFixture) -> None:
    document = _collection(_request("http://h.test/{{a}}"), variable=[{"key": "a", "value": "{{a}}{{a}}" * 40}])
    with caplog.at_level(logging.WARNING, logger="lunge.record.importers.postman"):
        [item] = imported("postman", document)
    assert len(item.request.target) < 2 << 20
    assert "refers to itself" in caplog.text


def test_deep_folders_are_an_error_not_a_crash() -> None:
    node: dict[str, Any] = {"request": "http://h.test/"}
    for _ in range(200):
        node = {"item": [node]}
    with pytest.raises(InputFileError, match="nested too deeply"):
        items("postman", _collection(node))
