"""Nodes: register, heartbeat, take runs (each run by one node; BUILD_ID respected); without BUILD_ID
the newest node of a token takes over."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lunge.control.context import Control
from tests.control.conftest import seed_record, tenant


def test_nodes_take_each_run_once_within_their_build(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    order = {"name": "r", "record": record.id}
    first = client.post("/v1/test_run", json={**order, "build_id": "b1"}, headers=team.headers).json()
    second = client.post("/v1/test_run", json={**order, "build_id": "b2"}, headers=team.headers).json()
    b2 = client.post("/v1/nodes", json={"name": "n2", "build_id": "b2"}, headers=team.headers).json()
    anyone = client.post("/v1/nodes", json={"name": "n"}, headers=team.headers).json()
    taken = client.post(f"/v1/nodes/{b2['id']}/claim", headers=team.headers).json()
    assert (taken["id"], taken["state"]) == (second["id"], "running")
    assert client.post(f"/v1/nodes/{b2['id']}/claim", headers=team.headers).status_code == 204
    assert client.post(f"/v1/nodes/{anyone['id']}/claim", headers=team.headers).json()["id"] == first["id"]
    assert client.post(f"/v1/nodes/{anyone['id']}/claim", headers=team.headers).status_code == 204
    node = client.get(f"/v1/nodes/{b2['id']}", headers=team.headers).json()
    assert (node["state"], node["run_id"]) == ("testing", second["id"])
    assert {n["name"] for n in client.get("/v1/nodes", headers=team.headers).json()["objects"]} == {"n", "n2"}


def test_a_heartbeat_tells_the_node_its_run_was_interrupted(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    run = client.post("/v1/test_run", json={"name": "r", "record": record.id}, headers=team.headers).json()
    node = client.post("/v1/nodes", json={"name": "n"}, headers=team.headers).json()
    client.post(f"/v1/nodes/{node['id']}/claim", headers=team.headers)
    beat = {"state": "testing", "run_id": run["id"]}
    assert client.post(f"/v1/nodes/{node['id']}/heartbeat", json=beat, headers=team.headers).json()["run_state"] == \
        "running"
    client.post(f"/v1/test_run/{run['id']}/action/interrupt", headers=team.headers)
    answer = client.post(f"/v1/nodes/{node['id']}/heartbeat", json=beat, headers=team.headers).json()
    assert answer["run_state"] == "interrupted"
    other = tenant(control, "other")
    foreign = client.post("/v1/nodes", json={"name": "x"}, headers=other.headers).json()
    assert client.post(f"/v1/nodes/{foreign['id']}/heartbeat", json=beat, headers=other.headers).status_code == 404


def test_the_newest_node_of_a_token_takes_over_through_the_api(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    run = client.post("/v1/test_run", json={"name": "r", "record": record.id}, headers=team.headers).json()
    old = client.post("/v1/nodes", json={"name": "old"}, headers=team.headers).json()
    pipeline = client.post("/v1/nodes", json={"name": "ci", "build_id": "b1"}, headers=team.headers).json()
    assert client.post(f"/v1/nodes/{old['id']}/claim", headers=team.headers).json()["id"] == run["id"]
    new = client.post("/v1/nodes", json={"name": "new"}, headers=team.headers).json()
    assert new["project_id"] == team.project_id
    beat = client.post(f"/v1/nodes/{old['id']}/heartbeat", json={"state": "testing", "run_id": run["id"]},
                       headers=team.headers).json()
    assert (beat["state"], beat["run_state"]) == ("replaced", "interrupted")  # the older node is told to stop
    assert client.get(f"/v1/test_run/{run['id']}", headers=team.headers).json()["state"] == "interrupted"
    states = {n["name"]: n["state"] for n in client.get("/v1/nodes", headers=team.headers).json()["objects"]}
    assert states == {"old": "replaced", "ci": "idle", "new": "idle"}  # a node with BUILD_ID is not replaced
    assert pipeline["build_id"] == "b1"
