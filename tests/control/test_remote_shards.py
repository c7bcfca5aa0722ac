"""Nodes on the remote store (no ``LUNGE_DB``) test runs shard by shard through the control plane,
which splits a run when it hands it out and brokers pgqueuer's jobs: two remote nodes (or one
remote and one with ``LUNGE_DB``) share a run and store what one node would, once; a remote node
SIGKILLed mid-shard leaves its shards to the other; a node that dies right after claiming a run
leaves it split and queued, so another node finishes it. Real ``lunge serve``, real nodes, real
PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lunge.bench.scale import _call, _child_env, _free_port, _registered, _setup, _shards, _sql, _state, _until
from lunge.store.models import RunState
from tests.control.remote_helpers import wait_ready

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
POLICY = "name: xss\nchecks: [xss-reflected]\npassive: false\n"


@contextmanager
def _serve(pg_url: str, tmp_path: Path) -> Iterator[str]:
    """``lunge serve`` on the test's database; no traceback in its output when it stops."""
    port, log = _free_port(), tmp_path / "serve.log"
    env = _child_env(LUNGE_DB=pg_url, LUNGE_SERVE_PORT=str(port), LUNGE_DATA_DIR=str(tmp_path / "server"))
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")


class Nodes:
    """``lunge node`` processes of one control plane: on the remote store, or with ``LUNGE_DB``."""

    def __init__(self, api: str, token: str, pg_url: str, tmp_path: Path) -> None:
        self.api, self.token, self.pg_url, self.tmp_path = api, token, pg_url, tmp_path
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, kind: str) -> subprocess.Popen[bytes]:
        number = len(self.started)
        settings = {"LUNGE_API_URL": self.api, "LUNGE_API_TOKEN": self.token, "LUNGE_SHARD_SIZE": "10",
                    "LUNGE_DATA_DIR": str(self.tmp_path / f"node{number}"), "BUILD_ID": "k1"}
        if kind == "db":
            settings["LUNGE_DB"] = self.pg_url
        env = _child_env(**settings)
        if kind == "remote":
            env.pop("LUNGE_DB", None)  # the remote store: everything through the API
        log = (self.tmp_path / f"node{number}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "node"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        self.started.append(process)
        _until(lambda: _registered(self.pg_url) == len(self.started), 60, f"node {number} did not register")
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return (self.tmp_path / f"node{self.started.index(process)}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            process.wait(timeout=30)


@pytest.fixture
def cluster(pg_url: str, shop: str, tmp_path: Path) -> Iterator[tuple[str, str, int, Nodes]]:
    """The control plane, the project's token, a record of 60 baselines and the nodes to start."""
    token, record_id = _setup(pg_url, shop, 60)
    with _serve(pg_url, tmp_path) as api:
        nodes = Nodes(api, token, pg_url, tmp_path)
        try:
            yield api, token, record_id, nodes
        finally:
            nodes.stop()


def _order(api: str, token: str, record_id: int, rps: int | None = None) -> int:
    """A run of the record with the xss policy (stored once per project)."""
    found = [p["id"] for p in _call(api, token, "GET", "/v1/test_policy")["objects"] if p["name"] == "xss"]
    policy = found[0] if found else _call(api, token, "POST", "/v1/test_policy", {"policy": POLICY})["id"]
    body = {"name": "k", "record": record_id, "policy": policy, "build_id": "k1", "rps": rps}
    return int(_call(api, token, "POST", "/v1/test_run", body)["id"])


def _run(pg_url: str, run_id: int) -> tuple[str, int, list[str]]:
    """The run's state, the baselines it tested, its findings' fingerprints (sorted, doubles kept)."""
    state, tested = _sql(pg_url, "SELECT state, baselines_tested + baselines_not_tested FROM test_runs "
                                 "WHERE id = %s", run_id)[0]
    prints = sorted(str(r[0]) for r in _sql(pg_url, "SELECT fingerprint FROM findings WHERE run_id = %s", run_id))
    return str(state), int(tested), prints


def _testers(pg_url: str, run_id: int) -> set[int]:
    """The nodes that committed the run's shards."""
    return {int(r[0]) for r in _sql(pg_url, "SELECT node_id FROM test_run_shards WHERE run_id = %s", run_id)}


def _held(pg_url: str, run_id: int) -> set[int]:
    """The run's shards whose job is taken (``picked``) and not done."""
    if _sql(pg_url, "SELECT to_regclass('pgqueuer')")[0][0] is None:
        return set()
    held = {int(json.loads(bytes(r[0]))["shard_id"])
            for r in _sql(pg_url, "SELECT payload FROM pgqueuer WHERE status = 'picked'")}
    undone = {int(r[0]) for r in _sql(pg_url, "SELECT id FROM test_run_shards WHERE run_id = %s AND state <> 'done'",
                                      run_id)}
    return held & undone


@pytest.mark.timeout(300)
@pytest.mark.parametrize("pair", [("remote", "remote"), ("db", "remote")])
def test_two_nodes_share_a_run_and_store_what_one_node_would(
        cluster: tuple[str, str, int, Nodes], pg_url: str, pair: tuple[str, str]) -> None:
    api, token, record_id, nodes = cluster
    first, second = nodes.start(pair[0]), nodes.start(pair[1])
    shared = _order(api, token, record_id, rps=40)  # slow enough that both nodes take shards
    _until(lambda: _state(pg_url, shared).finished, 240, "the shared run did not finish")
    assert _shards(pg_url, shared) == (6, 6)
    assert len(_testers(pg_url, shared)) == 2, nodes.log(second)  # both nodes tested shards
    second.terminate()  # SIGTERM: the node stops once it holds no shard (1: the last run it ended failed)
    assert second.wait(timeout=30) in (0, 1) and "Traceback" not in nodes.log(second)
    alone = _order(api, token, record_id)  # the same record, tested by one node
    _until(lambda: _state(pg_url, alone).finished, 240, "the one-node run did not finish")
    state, tested, prints = _run(pg_url, shared)
    assert (state, tested) == ("failed", 60) and prints  # xss-reflected on /search: the build fails
    assert len(prints) == len(set(prints))  # nothing stored twice
    assert _run(pg_url, alone) == (state, tested, prints)  # what one node finds
    assert len(_testers(pg_url, alone)) == 1 and first.poll() is None


@pytest.mark.timeout(300)
def test_a_remote_node_sigkilled_mid_shard_leaves_its_shards_to_the_other(
        cluster: tuple[str, str, int, Nodes], pg_url: str) -> None:
    api, token, record_id, nodes = cluster
    doomed = nodes.start("remote")
    run_id = _order(api, token, record_id, rps=20)  # slow enough to be killed while holding shards
    _until(lambda: bool(_held(pg_url, run_id)), 120, "no shard was taken")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    held = _held(pg_url, run_id)  # the shards the killed node had taken and not finished
    assert held
    nodes.start("remote")
    survivor = max(int(r[0]) for r in _sql(pg_url, "SELECT id FROM nodes"))
    _until(lambda: _state(pg_url, run_id).finished, 240, "the run did not finish")
    by_id = {int(r[0]): (str(r[1]), r[2]) for r in _sql(pg_url, "SELECT id, state, node_id FROM test_run_shards "
                                                                "WHERE run_id = %s", run_id)}
    assert all(state == "done" for state, _ in by_id.values())  # none lost
    assert {by_id[shard][1] for shard in held} == {survivor}  # finished by the other node, after the stale timeout
    state, tested, prints = _run(pg_url, run_id)
    assert (state, tested) == ("failed", 60)
    assert len(prints) == len(set(prints)) >= 1  # nothing stored twice
    assert len(_sql(pg_url, "SELECT 1 FROM test_sets WHERE run_id = %s", run_id)) == 60


@pytest.mark.timeout(300)
def test_a_node_dying_right_after_its_claim_leaves_the_run_to_another(
        cluster: tuple[str, str, int, Nodes], pg_url: str) -> None:
    api, token, record_id, nodes = cluster
    run_id = _order(api, token, record_id)
    node = _call(api, token, "POST", "/v1/nodes", {"name": "dies", "build_id": "k1"})
    claimed = _call(api, token, "POST", f"/v1/nodes/{node['id']}/claim", {"shard_size": 10})
    assert int(claimed["id"]) == run_id and claimed["state"] == "running"
    # The claim split the run and queued its shards: the claiming node has nothing left to do before
    # testing, so its death here (it never calls again) cannot leave the run running with no shards.
    assert _shards(pg_url, run_id) == (6, 0)
    assert _sql(pg_url, "SELECT count(*) FROM pgqueuer WHERE status = 'queued'")[0][0] == 6
    nodes.start("remote")
    _until(lambda: _state(pg_url, run_id).finished, 240, "the claimed run did not finish")
    assert _state(pg_url, run_id) is RunState.FAILED and _shards(pg_url, run_id) == (6, 6)


@pytest.mark.timeout(300)
def test_sigterm_to_a_remote_node_finishes_the_shards_it_holds(
        cluster: tuple[str, str, int, Nodes], pg_url: str) -> None:
    api, token, record_id, nodes = cluster
    leaving = nodes.start("remote")
    run_id = _order(api, token, record_id, rps=20)  # slow enough to be stopped while holding shards
    _until(lambda: bool(_held(pg_url, run_id)), 120, "no shard was taken")
    held = _held(pg_url, run_id)
    leaving.terminate()
    assert leaving.wait(timeout=120) in (0, 1) and "Traceback" not in nodes.log(leaving)
    rows = {int(r[0]): (str(r[1]), r[2]) for r in _sql(pg_url, "SELECT id, state, node_id FROM test_run_shards "
                                                               "WHERE run_id = %s", run_id)}
    leaver = rows[next(iter(held))][1]
    assert all(rows[shard] == ("done", leaver) for shard in held)  # finished by it before it left
    assert _held(pg_url, run_id) == set()  # nothing left taken: a take answered after SIGTERM is tested too
    nodes.start("remote")
    _until(lambda: _state(pg_url, run_id).finished, 240, "the run did not finish")
    state, tested, prints = _run(pg_url, run_id)
    assert (state, tested) == ("failed", 60) and len(prints) == len(set(prints)) >= 1
