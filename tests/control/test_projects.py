"""Bootstrap: the admin token creates projects and tokens; a token is shown once, stored hashed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from lunge.control.context import Control
from lunge.store.sql.schema import tokens
from tests.control.conftest import ADMIN

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def test_admin_creates_a_project_and_a_token_that_then_works(client: TestClient, control: Control) -> None:
    project = client.post("/v1/projects", json={"name": "shop"}, headers=ADMIN_HEADERS)
    assert project.status_code == 201
    again = client.post("/v1/projects", json={"name": "shop"}, headers=ADMIN_HEADERS).json()
    assert again["id"] == project.json()["id"]  # idempotent by name
    issued = client.post(f"/v1/projects/{again['id']}/tokens", json={"name": "ci"}, headers=ADMIN_HEADERS).json()
    secret = issued["token"]
    assert secret.startswith("lunge_") and issued["prefix"] in secret
    with control.store.db.read() as conn:
        stored = [dict(r) for r in conn.execute(select(tokens)).mappings()]
    assert stored and all(secret not in str(row) for row in stored)  # only its hash is kept
    listing = client.get("/v1/test_run", headers={"Authorization": f"Bearer {secret}"})
    assert listing.status_code == 200 and listing.json() == {"objects": []}
    fast_header = client.get("/v1/test_run", headers={"X-WallarmAPI-Token": secret})
    assert fast_header.status_code == 200


def test_a_project_token_cannot_administer_and_the_admin_cannot_read_projects(client: TestClient,
                                                                              control: Control) -> None:
    from tests.control.conftest import tenant

    team = tenant(control, "team")
    assert client.post("/v1/projects", json={"name": "x"}, headers=team.headers).status_code == 403
    assert client.get("/v1/test_run", headers=ADMIN_HEADERS).status_code == 403


def test_unknown_project_for_a_token_is_404(client: TestClient) -> None:
    assert client.post("/v1/projects/999/tokens", json={}, headers=ADMIN_HEADERS).status_code == 404


def test_a_revoked_token_authenticates_nothing(client: TestClient, control: Control) -> None:
    from tests.control.conftest import tenant

    team = tenant(control, "team")
    assert client.get("/v1/test_run", headers=team.headers).status_code == 200
    [listed] = client.get(f"/v1/projects/{team.project_id}/tokens", headers=ADMIN_HEADERS).json()["objects"]
    assert "token" not in listed and listed["revoked_at"] is None
    revoked = client.delete(f"/v1/projects/{team.project_id}/tokens/{listed['id']}", headers=ADMIN_HEADERS).json()
    assert revoked["revoked_at"] is not None
    assert client.get("/v1/test_run", headers=team.headers).status_code == 401
    other = tenant(control, "other")
    assert client.delete(f"/v1/projects/{other.project_id}/tokens/{listed['id']}",
                         headers=ADMIN_HEADERS).status_code == 404


def test_token_commands(control: Control, db_url: str, capsys) -> None:
    import json

    from lunge.cli import main

    assert main(["token", "create", "--project", "p", "--name", "ci", "--db", db_url]) == 0
    captured = capsys.readouterr()
    secret = captured.out.strip()
    assert secret.startswith("lunge_") and "shown once" in captured.err
    assert main(["token", "list", "--project", "p", "--db", db_url, "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["name"] == "ci" and secret not in json.dumps(listed)
    assert main(["token", "revoke", str(listed["id"]), "--project", "p", "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"] is not None
    assert main(["token", "list", "--project", "nope", "--db", db_url]) == 1
