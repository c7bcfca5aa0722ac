"""Policies: CRUD, validated as lunge policy validate validates files."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lunge.control.context import Control
from tests.control.conftest import tenant

YAML = "name: quick\ndescription: sqli only\nchecks: [sqli]\n"


def test_policy_crud_in_yaml_and_json(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    created = client.post("/v1/test_policy", json={"policy": YAML}, headers=team.headers)
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["summary"]["checks"] == ["sqli"] and policy["source"] == YAML
    read = client.get(f"/v1/test_policy/{policy['id']}", headers=team.headers).json()
    assert read["name"] == "quick"
    as_json = {"name": "quick", "checks": ["xss"], "points": {"include": ["GET_.*"]}}
    updated = client.put(f"/v1/test_policy/{policy['id']}", json={"policy": as_json}, headers=team.headers)
    assert updated.status_code == 200 and updated.json()["summary"]["checks"] == ["xss"]
    listed = client.get("/v1/test_policy", headers=team.headers).json()["objects"]
    assert [p["id"] for p in listed] == [policy["id"]]
    assert client.delete(f"/v1/test_policy/{policy['id']}", headers=team.headers).status_code == 204
    assert client.get(f"/v1/test_policy/{policy['id']}", headers=team.headers).status_code == 404


def test_an_invalid_policy_is_refused_with_its_line(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    answer = client.post("/v1/test_policy", json={"policy": "name: bad\nchecks: [nope]\n"}, headers=team.headers)
    assert answer.status_code == 400
    assert "policy:2" in answer.json()["detail"] and "unknown check 'nope'" in answer.json()["detail"]
    broken = client.post("/v1/test_policy", json={"policy": "name: [unclosed\n"}, headers=team.headers)
    assert broken.status_code == 400 and "not valid YAML" in broken.json()["detail"]


def test_policy_names_are_unique_per_project_only(client: TestClient, control: Control) -> None:
    one, two = tenant(control, "one"), tenant(control, "two")
    assert client.post("/v1/test_policy", json={"policy": YAML}, headers=one.headers).status_code == 201
    assert client.post("/v1/test_policy", json={"policy": YAML}, headers=one.headers).status_code == 409
    assert client.post("/v1/test_policy", json={"policy": YAML}, headers=two.headers).status_code == 201
    builtin = client.post("/v1/test_policy", json={"policy": "name: default\n"}, headers=two.headers)
    assert builtin.status_code == 409
