"""The control plane brokering shard jobs for nodes on the remote store (in process, both backends):
the claim splits the run (PostgreSQL), a node takes at most the jobs there are, keeps only its own
jobs alive, commits a shard once, and never reaches another project's shard. On SQLite there is
no job queue: runs are claimed whole."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from lunge.bench.scale import _sql
from lunge.checks.base import Severity
from lunge.control.context import Control
from lunge.engine.results import Counters
from lunge.node.shards import encode
from lunge.store.models import TestSet, TestSetStatus
from lunge.store.remote import wire
from tests.control.conftest import seed_record, tenant
from tests.store import factories


def _results(run_id: int, baseline_id: int, n: int) -> dict[str, object]:
    """One failed test set and one high finding, as a node sends a shard's results."""
    test_set = TestSet(run_id, baseline_id, TestSetStatus.FAILED, "", 1, 1, 1)
    return {"test_sets": [wire.test_set_to(test_set)],
            "findings": [wire.new_finding_to(factories.finding(run_id, baseline_id, Severity.HIGH, n))],
            "counters": encode(Counters(done=1, replay_ok=1, tested=1, attack_requests=3, failing_findings=1), None)}


def test_the_control_plane_brokers_shard_jobs_within_the_project(client: TestClient, control: Control,
                                                                 db_url: str) -> None:
    team, other = tenant(control, "team"), tenant(control, "other")
    record = seed_record(control, team.project_id, count=5)  # 6 baselines
    order = {"name": "r", "record": record.id, "build_id": "b1"}
    run_id = client.post("/v1/test_run", json=order, headers=team.headers).json()["id"]
    node = client.post("/v1/nodes", json={"name": "n", "build_id": "b1"}, headers=team.headers).json()
    claimed = client.post(f"/v1/nodes/{node['id']}/claim", json={"shard_size": 4}, headers=team.headers)
    assert claimed.status_code == 200 and claimed.json()["id"] == run_id and claimed.json()["state"] == "running"
    made = control.store.shards.of_run(run_id)
    take = f"/v1/nodes/{node['id']}/shards/take"
    if db_url.startswith("sqlite"):  # no job queue: the node tests the run whole
        assert made == [] and node["job_queue"] is False
        assert client.post(take, json={"wait_s": 0}, headers=team.headers).status_code == 409
        return
    assert node["job_queue"] is True and [(s.first_seq, s.index) for s in made] == [(1, 0), (5, 1)]
    first = client.post(take, json={"wait_s": 0}, headers=team.headers).json()
    second = client.post(take, json={"wait_s": 0}, headers=team.headers).json()
    assert {first["shard"]["id"], second["shard"]["id"]} == {s.id for s in made}
    assert first["run"]["id"] == run_id
    assert client.post(take, json={"wait_s": 0.6}, headers=team.headers).status_code == 204  # none left
    jobs = sorted([first["job_id"], second["job_id"]])

    # BUILD_ID: nodes of one token that share work (without it, the newest would replace the others)
    peer = client.post("/v1/nodes", json={"name": "peer", "build_id": "b1"}, headers=team.headers).json()
    assert client.post(f"/v1/nodes/{peer['id']}/shards/heartbeat", json={"jobs": jobs},
                       headers=team.headers).json() == {"jobs": []}  # not its jobs: not kept alive by it
    assert client.post(f"/v1/nodes/{node['id']}/shards/heartbeat", json={"jobs": jobs},
                       headers=team.headers).json() == {"jobs": jobs}

    baselines = [b.id for b in control.store.iter_baselines(record.id)]
    shard = first["shard"]["id"]
    intruder = client.post("/v1/nodes", json={"name": "i"}, headers=other.headers).json()
    stolen = client.post(f"/v1/shards/{shard}/complete", json={"node_id": intruder["id"], **_results(run_id, 1, 0)},
                         headers=other.headers)
    assert stolen.status_code == 404  # another project's shard, with its own node
    foreign = client.post(f"/v1/shards/{shard}/complete",
                          json={"node_id": node["id"], **_results(run_id + 1000, baselines[0], 0)},
                          headers=team.headers)
    assert foreign.status_code == 400  # results of another run
    theirs = next(iter(control.store.iter_baselines(seed_record(control, other.project_id).id))).id
    misplaced = client.post(f"/v1/shards/{shard}/complete", json={"node_id": node["id"], **_results(run_id, theirs, 0)},
                            headers=team.headers)
    assert misplaced.status_code == 404  # another project's baseline

    body = {"node_id": node["id"], "job_id": first["job_id"], **_results(run_id, baselines[0], 1)}
    done = client.post(f"/v1/shards/{shard}/complete", json=body, headers=team.headers).json()
    assert done["stored"] and done["remaining"] == 1 and done["run"]["state"] == "running"
    assert _sql(db_url, "SELECT count(*) FROM pgqueuer WHERE id = %s", first["job_id"])[0][0] == 0  # job done
    again = {"node_id": node["id"], **_results(run_id, baselines[0], 2)}
    assert not client.post(f"/v1/shards/{shard}/complete", json=again, headers=team.headers).json()["stored"]
    last = {"node_id": node["id"], "job_id": second["job_id"], **_results(run_id, baselines[4], 3)}
    ended = client.post(f"/v1/shards/{second['shard']['id']}/complete", json=last, headers=team.headers).json()
    assert ended["remaining"] == 0 and ended["run"]["state"] == "failed"  # the verdict over both shards
    assert sorted(f.fingerprint for f in control.store.iter_findings(run_id)) == ["fp-1", "fp-3"]  # once each
    assert ended["run"]["baselines_tested"] == 2


def test_a_claimed_run_without_baselines_ends_at_once(client: TestClient, control: Control, db_url: str) -> None:
    team = tenant(control, "team")
    record = control.store.create_record("empty")
    control.store.close_record(record.id)
    control.projects.assign_record(record.id, team.project_id)
    run_id = client.post("/v1/test_run", json={"name": "r", "record": record.id}, headers=team.headers).json()["id"]
    node = client.post("/v1/nodes", json={"name": "n"}, headers=team.headers).json()
    claimed = client.post(f"/v1/nodes/{node['id']}/claim", json={"shard_size": 4}, headers=team.headers).json()
    assert claimed["id"] == run_id
    if db_url.startswith("sqlite"):  # handed out whole: its node finds it empty
        assert claimed["state"] == "running"
        return
    assert claimed["state"] == "error" and claimed["error"] == "the test record has no baselines to test"


def test_a_shard_commit_decodes_its_results_off_the_event_loop(client: TestClient, control: Control, db_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit carries up to 16 MiB of test sets and findings (their evidence base64): decoding them
    on the event loop would hold every other request of the control plane meanwhile."""
    if db_url.startswith("sqlite"):
        pytest.skip("no job queue on SQLite")
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, count=1)
    run_id = client.post("/v1/test_run", json={"name": "r", "record": record.id}, headers=team.headers).json()["id"]
    node = client.post("/v1/nodes", json={"name": "n"}, headers=team.headers).json()
    client.post(f"/v1/nodes/{node['id']}/claim", json={"shard_size": 10}, headers=team.headers)
    taken = client.post(f"/v1/nodes/{node['id']}/shards/take", json={"wait_s": 0}, headers=team.headers).json()
    decoded_on_loop: list[bool] = []
    test_set_from = wire.test_set_from

    def watched(data: dict[str, object]) -> TestSet:
        try:
            asyncio.get_running_loop()
            decoded_on_loop.append(True)
        except RuntimeError:  # a worker thread: no loop runs here
            decoded_on_loop.append(False)
        return test_set_from(data)

    monkeypatch.setattr(wire, "test_set_from", watched)
    baseline = next(iter(control.store.iter_baselines(record.id))).id
    done = client.post(f"/v1/shards/{taken['shard']['id']}/complete",
                       json={"node_id": node["id"], "job_id": taken["job_id"], **_results(run_id, baseline, 0)},
                       headers=team.headers)
    assert done.status_code == 200 and done.json()["stored"]
    assert decoded_on_loop == [False]


def test_many_long_polling_nodes_share_a_few_database_connections(client: TestClient, control: Control,
                                                                  db_url: str) -> None:
    """Each take borrows a pooled connection for its few queries, not for its whole long poll: 24
    nodes waiting at once hold no more than QUEUE_CONNECTIONS of PostgreSQL's connections."""
    if db_url.startswith("sqlite"):
        pytest.skip("no job queue on SQLite")
    import threading

    import psycopg

    from lunge.control.services.shards import QUEUE_CONNECTIONS
    from lunge.store.sql.jobqueue import APPLICATION_NAME, libpq_url

    team = tenant(control, "team")
    nodes = [client.post("/v1/nodes", json={"name": f"n{i}", "build_id": "b1"}, headers=team.headers).json()
             for i in range(24)]
    answers: list[int] = []

    def poll(node_id: int) -> None:
        answer = client.post(f"/v1/nodes/{node_id}/shards/take", json={"wait_s": 3}, headers=team.headers)
        answers.append(answer.status_code)

    threads = [threading.Thread(target=poll, args=(n["id"],)) for n in nodes]
    for thread in threads:
        thread.start()
    seen = 0
    with psycopg.connect(libpq_url(db_url), autocommit=True) as watcher:
        while any(t.is_alive() for t in threads):
            row = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                  (APPLICATION_NAME,)).fetchone()
            seen = max(seen, row[0] if row else 0)
    for thread in threads:
        thread.join()
    assert answers == [204] * 24  # every one waited its 3 s and found nothing
    assert 1 <= seen <= QUEUE_CONNECTIONS
