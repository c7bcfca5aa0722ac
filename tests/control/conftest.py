"""Fixtures of the control plane's tests: the API on SQLite (a file in tmp_path) and on the
machine's PostgreSQL (a fresh database per test), driven through FastAPI's TestClient."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lunge.checks.base import Severity
from lunge.control.app import create_app
from lunge.control.config import ControlConfig
from lunge.control.context import Control, open_control
from lunge.control.services.tenancy import issue_token
from lunge.http import Headers, Request
from lunge.node.shards import conclude
from lunge.store.models import NewBaseline, TestRecord, TestRun
from tests.control.remote_helpers import Serve, wait_ready
from tests.fixtures.servers import free_port, wait_for_port
from tests.store import factories

ADMIN = "admin-token-for-tests-0123456789"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Tenant:
    project_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'control.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def config(db_url: str) -> ControlConfig:
    return ControlConfig(db_url=db_url, admin_token=ADMIN, auth_failures=1000)


@pytest.fixture
def control(config: ControlConfig) -> Iterator[Control]:
    """The control plane as ``lunge serve`` opens it: with the engine's verdict (on PostgreSQL it
    splits the runs it hands out with a shard size and brokers shard jobs)."""
    opened = open_control(config, verdict=conclude)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def client(control: Control) -> Iterator[TestClient]:
    with TestClient(create_app(control)) as test_client:
        yield test_client


def tenant(control: Control, name: str) -> Tenant:
    project = control.projects.ensure_project(name)
    return Tenant(project.id, issue_token(control, project, "test").secret)


def seed_record(control: Control, project_id: int | None, count: int = 3, build_id: str | None = None,
                close: bool = True) -> TestRecord:
    """A record of ``count`` baselines owned by ``project_id`` (None: a local record)."""
    store = control.store
    record = store.create_record(f"rec of {project_id}", build_id=build_id)
    items = [factories.baseline(record.id, n) for n in range(count)]
    secret = Headers([("Host", "app.test"), ("Authorization", "Bearer s3cr3t-value-abcdef")])
    items.append(NewBaseline(record.id, Request("POST", "http", "app.test", 80, "/login?password=hunter2",
                                                "HTTP/1.1", secret, b'{"password": "hunter2"}'), None))
    store.add_baselines(items)
    if close:
        store.close_record(record.id)
    if project_id is not None:
        control.projects.assign_record(record.id, project_id)
    return store.get_record(record.id)


def seed_run_with_finding(control: Control, project_id: int, record: TestRecord) -> TestRun:
    """A finished, failed run with one finding (as a node would leave it)."""
    store = control.store
    run = store.create_run(name=f"run of {project_id}", record_id=record.id, policy_name="default")
    control.projects.assign_run(run.id, project_id)
    baseline = next(iter(store.iter_baselines(record.id)))
    store.add_findings([factories.finding(run.id, baseline.id, Severity.HIGH)])
    return store.update_run(run.id, state="failed", findings_count=1, baselines_total=record.baseline_count)


SERVER_ADMIN = "e2e-admin-token-0123456789abcdef"


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """``lunge serve`` (real uvicorn) in its own process on a free loopback port; its URL."""
    port = free_port()
    env = {**os.environ, "LUNGE_DB": db_url, "LUNGE_SERVE_PORT": str(port), "LUNGE_ADMIN_TOKEN": SERVER_ADMIN,
           "LUNGE_DATA_DIR": str(tmp_path / "data"), "LUNGE_SERVE_REAP_GRACE": "0"}  # sweeps from the start
    process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "serve"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode(errors="replace")
        # uvicorn shuts down gracefully, then raises the signal again so the parent sees it (-15).
        assert process.returncode in (0, -15) and "Traceback" not in output, output


@pytest.fixture
def serve(pg_url: str, tmp_path: Path) -> Iterator[Serve]:
    """``lunge serve`` on the test's PostgreSQL database, stoppable and startable again (remote mode)."""
    server = Serve(pg_url, tmp_path / "server")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shop() -> Iterator[str]:
    """The demo shop (``python -m lunge.demo serve``) in its own process on a free loopback port; its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "lunge.demo", "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
