"""Health, readiness, the OpenAPI document and the docs page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lunge.control.context import Control
from lunge.store.sql.engine import connect
from lunge.store.sql.projects import Projects


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readiness_fails_when_the_database_is_gone(client: TestClient, control: Control) -> None:
    # A database nobody listens for (port 1 on loopback refuses at once): readiness says so.
    control.projects = Projects(connect("postgresql+psycopg://postgres@127.0.0.1:1/gone"))
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "unavailable"


def test_openapi_document_and_docs_page(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()
    assert {"/v1/test_run", "/v1/test_policy", "/v1/test_record", "/v1/projects"} <= set(document["paths"])
    assert "swagger" in client.get("/v1/docs").text.lower()
