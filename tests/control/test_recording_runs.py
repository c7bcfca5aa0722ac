"""FAST's first API-mode scenario, end to end on real sockets: a run ordered without a record; the
node (a real ``lunge node`` process in API mode) records the traffic proxied through it into the
run's new record and tests the baselines as they arrive; recording stops through the API, on the
order's inactivity timeout, or when the run is interrupted; the demo shop (a vulnerable endpoint
and its safe twin) is the target. On SQLite (the node tests runs whole) and on PostgreSQL (the
sharding node, which tests a recording run whole too)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lunge.cli import main
from lunge.control.context import Control
from lunge.control.services.runs import reap_abandoned
from lunge.errors import StoreError
from lunge.store.models import RunState, TestRun
from tests.control.conftest import Tenant, tenant
from tests.fixtures.servers import free_port, wait_for_port

POLICY = "name: sqli-only\nchecks: [sqli]\npassive: false\n"
DEADLINE = 180.0  # generous: a loaded 2-core machine runs other test suites meanwhile


@dataclass
class Node:
    """A ``lunge node`` process in API mode and what it needs."""

    api: str
    token: str
    proxy_port: int
    process: subprocess.Popen[bytes]
    log: Path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.api + path, method=method, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def through_proxy(self, url: str) -> tuple[int, bytes]:
        """GET ``url`` through the node's forward proxy (absolute-form request, as a proxied client sends)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=60)
        try:
            connection.request("GET", url, headers={"Accept": "*/*"})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _until(done: Callable[[], Any], what: str, node: Node, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value:
            return value
        if node.process.poll() is not None:
            raise AssertionError(f"the node exited ({node.process.returncode}) before {what}:\n{node.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{node.output()}")
        time.sleep(0.1)


@pytest.fixture
def node_factory(server: str, db_url: str, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., Node]]:
    assert main(["token", "create", "--project", "shop", "--db", db_url, "--json"]) == 0
    secret = json.loads(capsys.readouterr().out)["token"]
    started: list[Node] = []

    def start(remote: bool = False, **settings: str) -> Node:
        """A node on the shared database, or with ``remote`` on the remote store (no LUNGE_DB)."""
        port = free_port()
        env = {k: v for k, v in os.environ.items()  # noqa: TID251  # handed to the node process
               if k not in ("CI_MODE", "BUILD_ID", "LUNGE_API_URL", "LUNGE_API_TOKEN", "INACTIVITY_TIMEOUT")}
        env.update(LUNGE_API_URL=server, LUNGE_API_TOKEN=secret, PROXY_PORT=str(port),
                   LUNGE_DATA_DIR=str(tmp_path / "node"), **settings)
        env.pop("LUNGE_DB", None)
        if not remote:
            env["LUNGE_DB"] = db_url
        log = tmp_path / f"node-{len(started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "node"], env=env, stdout=sink,
                                       stderr=subprocess.STDOUT)
        node = Node(server, secret, port, process, log)
        started.append(node)
        wait_for_port(port, timeout=60)
        return node

    yield start
    for node in started:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
            node.process.wait(timeout=60)
        assert "Traceback" not in node.output(), node.output()


def _order(node: Node, **fields: Any) -> dict[str, Any]:
    policy = node.call("POST", "/v1/test_policy", {"policy": POLICY})["id"]
    run: dict[str, Any] = node.call("POST", "/v1/test_run", {"name": "live", "policy_id": policy, **fields})
    assert (run["state"], run["recording"], run["ready_for_recording"]) == ("created", True, False)
    return run


def _ready(node: Node, run_id: int) -> dict[str, Any]:
    """FAST's integration polls until the node is recording the run (fast.md: "Poll node_active")."""
    def ready() -> dict[str, Any] | None:
        run: dict[str, Any] = node.call("GET", f"/v1/test_run/{run_id}")
        assert not run["finished"], f"the run ended before recording: {run}\n{node.output()}"
        return run if run["ready_for_recording"] else None

    return _until(ready, "the node did not take the recording run", node)  # type: ignore[no-any-return]


def _record(node: Node, record_id: int) -> dict[str, Any]:
    return node.call("GET", f"/v1/test_record/{record_id}")  # type: ignore[no-any-return]


def _urls(node: Node, record_id: int) -> list[str]:
    return [b["url"] for b in node.call("GET", f"/v1/test_record/{record_id}/baselines")["objects"]]


@pytest.mark.slow
def test_a_run_records_tests_as_it_arrives_and_ends_failed_after_stop(
        node_factory: Callable[..., Node], shop: str, capsys: pytest.CaptureFixture[str]) -> None:
    node = node_factory()
    _until(lambda: node.call("GET", "/v1/nodes")["objects"], "the node did not register", node)
    # Before any run is taken: forwarded as it is, stored nowhere (FAST: "Waiting for TestRun to check").
    status, body = node.through_proxy(f"{shop}/products?id=2")
    assert status == 200 and body
    run = _order(node)
    record_id = run["test_record_id"]
    assert _record(node, record_id)["state"] == "recording" and _urls(node, record_id) == []
    _ready(node, run["id"])

    for path in ("/products?id=1", "/safe/products?id=1"):
        status, _ = node.through_proxy(shop + path)
        assert status == 200
    assert sorted(_urls(node, record_id)) == sorted([f"{shop}/products?id=1", f"{shop}/safe/products?id=1"])

    # A finding while the record is still recording: the baselines are tested as they arrive.
    _until(lambda: node.call("GET", f"/v1/test_run/{run['id']}/findings")["objects"],
           "no finding while recording", node)
    assert _record(node, record_id)["state"] == "recording"
    assert node.call("GET", f"/v1/test_run/{run['id']}")["recording"] is True

    stopped = node.call("POST", f"/v1/test_run/{run['id']}/action/stop")
    assert (stopped["recording"], stopped["test_record_id"]) == (False, record_id)
    api = ["--api-url", node.api, "--token", node.token]
    assert main(["runs", "wait", str(run["id"]), "--interval", "0.2", "--timeout", str(DEADLINE), "--json",
                 *api]) == 1
    done = json.loads(capsys.readouterr().out)
    assert (done["state"], done["baselines_total"], done["baselines_tested"]) == ("failed", 2, 2)
    record = _record(node, record_id)
    assert record["state"] == "closed" and record["stats"]["stopped_by"] == "stop"
    findings = node.call("GET", f"/v1/test_run/{run['id']}/findings")["objects"]
    urls = {f["url"] for f in findings}
    assert urls and all("/products?id=1" in u and "/safe/" not in u for u in urls)
    # The record is closed: it can be copied now, and the copy is tested like any recorded record.
    copy = node.call("POST", f"/v1/test_run/{run['id']}/copy", {"name": "again"})
    assert (copy["record_id"], copy["recording"]) == (record_id, False)


@pytest.mark.slow
def test_a_node_on_the_remote_store_records_too(node_factory: Callable[..., Node], shop: str) -> None:
    node = node_factory(remote=True)
    run = _order(node)
    _ready(node, run["id"])
    for path in ("/products?id=1", "/safe/products?id=1"):
        status, _ = node.through_proxy(shop + path)
        assert status == 200
    node.call("POST", f"/v1/test_record/{run['test_record_id']}/action/stop")  # FAST's Rails example stops the record
    done = _until(lambda: (r := node.call("GET", f"/v1/test_run/{run['id']}"))["finished"] and r,
                  "the run did not end", node)
    assert (done["state"], done["baselines_tested"], done["exit_code"]) == ("failed", 2, 1)
    record = _record(node, run["test_record_id"])
    assert (record["state"], record["stats"]["stopped_by"], record["stats"]["recorded"]) == ("closed", "stop", 2)


@pytest.mark.slow
def test_inactivity_ends_the_recording(node_factory: Callable[..., Node], shop: str) -> None:
    node = node_factory(INACTIVITY_TIMEOUT="5")  # the node's cap under the order's 300 s (room for a loaded machine)
    run = _order(node, inactivity_timeout=300)
    _ready(node, run["id"])
    status, _ = node.through_proxy(f"{shop}/safe/products?id=1")
    assert status == 200
    done = _until(lambda: (r := node.call("GET", f"/v1/test_run/{run['id']}"))["finished"] and r,
                  "the run did not end after the inactivity timeout", node)
    assert (done["state"], done["baselines_tested"], done["recording"]) == ("passed", 1, False)
    record = _record(node, run["test_record_id"])
    assert (record["state"], record["stats"]["stopped_by"], record["baseline_count"]) == ("closed", "inactivity", 1)


@pytest.mark.slow
def test_interrupting_a_recording_run_stops_recording(node_factory: Callable[..., Node], shop: str) -> None:
    node = node_factory()
    run = _order(node)
    _ready(node, run["id"])
    status, _ = node.through_proxy(f"{shop}/safe/products?id=1")
    assert status == 200
    node.call("POST", f"/v1/test_run/{run['id']}/action/interrupt")
    _until(lambda: _record(node, run["test_record_id"])["state"] == "closed", "the record was not closed", node)
    record = _record(node, run["test_record_id"])
    assert (record["stats"]["stopped_by"], record["baseline_count"]) == ("interrupt", 1)
    assert node.call("GET", f"/v1/test_run/{run['id']}")["state"] == "interrupted"
    # The node is free again: forwarding, storing nothing, ready for the next run.
    status, _ = node.through_proxy(f"{shop}/products?id=3")
    assert status == 200 and _record(node, run["test_record_id"])["baseline_count"] == 1


@pytest.mark.slow
def test_sigterm_closes_the_record_with_everything_answered(node_factory: Callable[..., Node], shop: str) -> None:
    node = node_factory()
    run = _order(node)
    _ready(node, run["id"])
    for path in ("/safe/products?id=1", "/products?id=1", "/safe/products?id=2"):
        status, _ = node.through_proxy(shop + path)
        assert status == 200
    node.process.send_signal(signal.SIGTERM)
    assert node.process.wait(timeout=DEADLINE) in (0, 1), node.output()
    record = _record(node, run["test_record_id"])
    assert (record["state"], record["stats"]["stopped_by"]) == ("closed", "signal")
    assert record["baseline_count"] == 2  # every one answered; de-duplication keeps one per endpoint and names
    assert node.call("GET", f"/v1/test_run/{run['id']}")["finished"] is True


def test_ordering_without_a_record_records_one(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    bad = client.post("/v1/test_run", json={"name": "x", "inactivity_timeout": 10}, headers=team.headers)
    assert bad.status_code == 422 and "inactivity_timeout" in bad.text and "300" in bad.text
    run = client.post("/v1/test_run", json={"name": "nightly", "test_record_name": "suite", "BUILD_ID": "b3"},
                      headers=team.headers).json()
    assert (run["recording"], run["ready_for_recording"], run["inactivity_timeout"]) == (True, False, 1800)
    record = client.get(f"/v1/test_record/{run['test_record_id']}", headers=team.headers).json()
    assert (record["name"], record["state"], record["build_id"]) == ("suite", "recording", "b3")
    refused = client.post(f"/v1/test_run/{run['id']}/copy", json={}, headers=team.headers)
    assert refused.status_code == 409 and "still recording" in refused.json()["detail"]
    # Stopped before any node took it, then interrupted: the record is closed, nothing holds it.
    stopped = client.post(f"/v1/test_record/{run['test_record_id']}/action/stop", headers=team.headers)
    assert stopped.status_code == 200
    assert client.get(f"/v1/test_run/{run['id']}", headers=team.headers).json()["recording"] is False
    client.post(f"/v1/test_run/{run['id']}/action/interrupt", headers=team.headers)
    record = client.get(f"/v1/test_record/{run['test_record_id']}", headers=team.headers).json()
    assert record["state"] == "closed"
    plain = client.post("/v1/test_run", json={"name": "x", "record": "latest"}, headers=team.headers)
    assert plain.status_code == 409  # no record with baselines yet
    not_recording = client.post(f"/v1/test_run/{run['id']}/action/stop", headers=team.headers)
    assert not_recording.status_code == 200  # stopping again: nothing left to stop, no error


def test_a_bad_record_is_refused_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["runs", "create", "--name", "x", "--record", "yesterday", "--api-url", "http://127.0.0.1:9",
                 "--token", "t"])
    err = capsys.readouterr().err
    assert code == 2 and "'latest'" in err and "Traceback" not in err


def test_interrupting_a_run_a_node_just_took_leaves_its_record_to_the_node(
        client: TestClient, control: Control, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run was read ``created``; a node claims it (and starts recording) before the interrupt's
    compare-and-set: the record is the node's to close, once what it answered is stored."""
    team = tenant(control, "team")
    run = client.post("/v1/test_run", json={"name": "live"}, headers=team.headers).json()
    node = control.projects.register_node(team.project_id, "node-1", None)
    transition = control.projects.transition_run

    def claimed_first(run_id: int, allowed_from: Any, to: Any) -> Any:
        monkeypatch.setattr(control.projects, "transition_run", transition)
        assert control.projects.claim_run(node) is not None  # the node's claim wins the race
        return transition(run_id, allowed_from, to)

    monkeypatch.setattr(control.projects, "transition_run", claimed_first)
    interrupted = client.post(f"/v1/test_run/{run['id']}/action/interrupt", headers=team.headers)
    assert interrupted.status_code == 200 and interrupted.json()["state"] == "interrupted"
    record = client.get(f"/v1/test_record/{run['test_record_id']}", headers=team.headers).json()
    assert record["state"] == "recording"  # the node's watcher sees the interrupt and closes it


def test_a_run_claimed_by_a_node_that_never_starts_it_reads_interrupted(
        client: TestClient, control: Control, monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim leases the run to its node; a node killed before its own heartbeat takes over
    leaves a run that ends ``interrupted`` (not ``running`` for ever) once the claim's lease passes."""
    from datetime import timedelta

    from lunge.store.sql import projects

    team = tenant(control, "team")
    run = client.post("/v1/test_run", json={"name": "live"}, headers=team.headers).json()
    node = control.projects.register_node(team.project_id, "node-1", None)
    claimed = control.projects.claim_run(node)
    assert claimed is not None and claimed.lease_owner == f"node {node.id}"
    assert claimed.lease_expires_at is not None and claimed.started_at is not None
    leased = claimed.lease_expires_at - claimed.started_at
    assert abs(leased - projects.CLAIM_LEASE) < timedelta(seconds=1)
    assert client.get(f"/v1/test_run/{run['id']}", headers=team.headers).json()["state"] == "running"
    control.store.update_run(claimed.id, lease_expires_at=claimed.started_at)  # as if the lease had passed
    seen = client.get(f"/v1/test_run/{run['id']}", headers=team.headers).json()
    assert seen["state"] == "interrupted" and f"node {node.id}" in seen["error"]
    # The control plane's reaper writes it down and closes the record the lost node was recording.
    record = f"/v1/test_record/{run['test_record_id']}"
    assert client.get(record, headers=team.headers).json()["state"] == "recording"
    assert reap_abandoned(control) == [claimed.id]
    closed = client.get(record, headers=team.headers).json()
    assert (closed["state"], closed["stats"]["stopped_by"]) == ("closed", "node lost")
    assert control.store.get_run(claimed.id).lease_expires_at is None and reap_abandoned(control) == []


def _reaping(control: Control, every: float, grace: float) -> Control:
    """``control`` with the reaper's timing of ``LUNGE_SERVE_REAP_EVERY`` and ``..._GRACE``."""
    control.config = replace(control.config, reap_every_s=every, reap_grace_s=grace)
    return control


def _abandoned_run(control: Control, client: TestClient, team: Tenant) -> tuple[dict[str, Any], TestRun]:
    """A recording run claimed by a node whose lease has passed."""
    run = client.post("/v1/test_run", json={"name": "live"}, headers=team.headers).json()
    claimed = control.projects.claim_run(control.projects.register_node(team.project_id, "node-1", None))
    assert claimed is not None and claimed.started_at is not None
    control.store.update_run(claimed.id, lease_expires_at=claimed.started_at)
    return run, claimed


def _until_reaped(control: Control, run: dict[str, Any]) -> None:
    """Until the server's reaper closed the record of ``run`` (30 s at most)."""
    deadline = time.monotonic() + 30
    while control.store.get_record(run["test_record_id"]).state.value == "recording":
        assert time.monotonic() < deadline, "the server did not reap the abandoned run"
        time.sleep(0.05)


def test_the_server_reaps_abandoned_runs_on_its_own(control: Control) -> None:
    from lunge.control import app as control_app

    team = tenant(control, "team")
    with TestClient(control_app.create_app(_reaping(control, every=0.05, grace=0))) as client:
        run, claimed = _abandoned_run(control, client, team)
        _until_reaped(control, run)
    assert control.store.get_run(claimed.id).lease_expires_at is None


def test_the_reaper_waits_out_its_grace_after_start_up_and_after_a_failed_sweep(
        control: Control, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lease that lapsed while the server was down (or while its database was) is not taken for
    a dead node: the nodes could not reach it to renew. The reaper sweeps once the grace passed."""
    from lunge.control import app as control_app

    sweeps: list[float] = []
    failing = [True]

    def sweep(ctl: Control) -> list[int]:
        sweeps.append(time.monotonic())
        if failing[0]:
            failing[0] = False
            raise StoreError("database unreachable")
        return reap_abandoned(ctl)

    monkeypatch.setattr(control_app, "reap_abandoned", sweep)
    team = tenant(control, "team")
    started = time.monotonic()
    with TestClient(control_app.create_app(_reaping(control, every=0.05, grace=1.0))) as client:
        run, claimed = _abandoned_run(control, client, team)
        _until_reaped(control, run)
    assert len(sweeps) >= 2, sweeps
    assert sweeps[0] - started >= 1.0  # the grace after start-up
    assert sweeps[1] - sweeps[0] >= 1.0  # and after the failed sweep
    assert control.store.get_run(claimed.id).state is RunState.INTERRUPTED


def test_the_store_api_writes_nothing_down_during_the_grace(control: Control) -> None:
    """``lunge runs`` or ``lunge test`` on the remote store asks the control plane to write down
    lapsed leases: during the reaper's grace it writes nothing (the nodes have not renewed yet)."""
    from lunge.control import app as control_app

    team = tenant(control, "team")
    with TestClient(control_app.create_app(_reaping(control, every=3600, grace=3600))) as client:
        run, claimed = _abandoned_run(control, client, team)
        answer = client.post("/v1/store/runs/expire_leases", headers=team.headers)
        assert answer.status_code == 200 and answer.json() == {"ids": []}
        assert control.store.lapsed_leases() == [claimed.id]  # still only read as interrupted
        control.reap_quiet_until = 0.0  # the grace is over
        assert client.post("/v1/store/runs/expire_leases", headers=team.headers).json() == {"ids": [claimed.id]}
    assert control.store.get_record(run["test_record_id"]).state.value == "closed"


def test_the_nodes_heartbeat_keeps_the_runs_it_claimed_and_has_not_started(
        client: TestClient, control: Control) -> None:
    """A node that claimed a run and waits out an outage to start it heartbeats meanwhile: its
    claim's lease is extended by each heartbeat (by the database's clock), not reaped."""
    from datetime import timedelta

    from lunge.store.sql import projects

    team = tenant(control, "team")
    client.post("/v1/test_run", json={"name": "live"}, headers=team.headers)
    node = control.projects.register_node(team.project_id, "node-1", None)
    claimed = control.projects.claim_run(node)
    assert claimed is not None
    soon = control.store.db.now() + timedelta(seconds=1)
    control.store.update_run(claimed.id, lease_expires_at=soon)
    beat = client.post(f"/v1/nodes/{node.id}/heartbeat", json={"state": "testing", "run_id": claimed.id},
                       headers=team.headers)
    assert beat.status_code == 200, beat.text
    renewed = control.store.get_run(claimed.id).lease_expires_at
    assert renewed is not None and renewed - control.store.db.now() > projects.CLAIM_LEASE - timedelta(seconds=5)
    # Once the node's own lease took over (host:pid), its heartbeat leaves the run's lease alone.
    control.store.renew_lease(claimed.id, "host:1", 2)
    client.post(f"/v1/nodes/{node.id}/heartbeat", json={"state": "testing"}, headers=team.headers)
    held = control.store.get_run(claimed.id)
    assert held.lease_owner == "host:1" and held.lease_expires_at is not None
    assert held.lease_expires_at - control.store.db.now() < timedelta(seconds=3)


@pytest.mark.slow
def test_a_node_killed_while_it_records_leaves_the_run_interrupted(
        node_factory: Callable[..., Node], shop: str, db_url: str) -> None:
    """The node holds the run's lease (host:pid, renewed) while it records; SIGKILLed, it renews
    no more: once the lease passes (made to pass here rather than waited for), the server's reaper
    ends the run ``interrupted`` with the reason and closes the record the node was recording."""
    from datetime import timedelta

    from lunge.engine import lease
    from lunge.store import open_store

    node = node_factory()
    run = _order(node)
    _ready(node, run["id"])
    status, _ = node.through_proxy(f"{shop}/safe/products?id=1")
    assert status == 200
    store = open_store(db_url)
    try:
        held = _until(lambda: (r := store.get_run(run["id"])).lease_owner == f"{lease.owner_id().split(':')[0]}:"
                      f"{node.process.pid}" and r, "the node did not take the run's lease", node)
        assert held.lease_expires_at is not None
        node.process.kill()
        node.process.wait(timeout=60)
        store.update_run(run["id"], lease_expires_at=held.lease_expires_at - timedelta(seconds=60))
        seen = node.call("GET", f"/v1/test_run/{run['id']}")
        assert seen["state"] == "interrupted" and "stopped before the end" in seen["error"], seen
        deadline = time.monotonic() + 60  # the server reaps every 10 s
        while (record := _record(node, run["test_record_id"]))["state"] == "recording":
            assert time.monotonic() < deadline, "the server did not close the lost node's record"
            time.sleep(0.2)
        assert (record["stats"]["stopped_by"], record["baseline_count"]) == ("node lost", 1)
        assert store.get_run(run["id"]).lease_expires_at is None  # written down for good
    finally:
        store.close()
