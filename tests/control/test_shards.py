"""A run split into shards across nodes (API mode on PostgreSQL): the shards sum into the run, a
shard committed twice is stored once, the last shard decides the state once; a shard honours pause
and interrupt; the newest node of a token takes over; a node SIGKILLed mid-shard leaves its shards
to another node, and no finding is stored twice."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lunge.bench.scale import _call, _child_env, _registered, _serve, _setup, _shards, _sql, _state, _until
from lunge.checks import load
from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.control.services.tenancy import issue_token
from lunge.engine.runner import RunConfig
from lunge.http import Headers, Request, Response
from lunge.node import shards
from lunge.policy import parse_policy
from lunge.store import open_store
from lunge.store.models import Confidence, NewBaseline, NewFinding, RunState, Severity, TestSet, TestSetStatus
from lunge.store.sql import SqlStore

pytestmark = pytest.mark.postgres
POLICY = "name: xss\nchecks: [xss-reflected]\npassive: false\n"


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlStore]:
    opened = open_store(pg_url)
    assert isinstance(opened, SqlStore)
    yield opened
    opened.close()


def _record(store: SqlStore, origin: str, count: int) -> int:
    record = store.create_record("shards")
    batch = []
    for i in range(count):
        target = f"/search?q=item{i}" if i % 5 == 0 else f"/safe/search?q=item{i}"
        with urllib.request.urlopen(origin + target, timeout=5) as answer:
            response = Response(answer.status, answer.reason, "HTTP/1.1", Headers(list(answer.headers.items())),
                                answer.read())
        host, port = origin.removeprefix("http://").split(":")
        request = Request("GET", "http", host, int(port), target, "HTTP/1.1",
                          Headers([("Host", f"{host}:{port}")]), b"")
        batch.append(NewBaseline(record.id, request, response, recorded_at=datetime.now(UTC)))
    store.add_baselines(batch)
    store.close_record(record.id)
    return record.id


def _config() -> RunConfig:
    registry = load()
    policy = parse_policy(POLICY, "test", set(registry.checks) | registry.kinds)
    return RunConfig(policy=policy, checks=tuple(registry.select(policy.checks)), workers=4)


def _finding(run_id: int, baseline_id: int, fingerprint: str) -> NewFinding:
    return NewFinding(run_id=run_id, baseline_id=baseline_id, check_id="xss-reflected", title="t",
                      severity=Severity.HIGH, cwe=79, confidence=Confidence.FIRM, method="GET", url="http://a/",
                      point="GET_q_value", payload="p", attack_request="GET /", response_status=200,
                      response_excerpt="x", proof="x", confirmation="c", fingerprint=fingerprint)


def test_shards_split_sum_and_a_second_commit_stores_nothing(store: SqlStore) -> None:
    record = store.create_record("r")
    store.add_baselines([NewBaseline(record.id, Request("GET", "http", "a", 80, f"/{i}", "HTTP/1.1", Headers([])), None)
                         for i in range(3)])
    ids = [b.id for b in store.iter_baselines(record.id)]
    run = store.create_run(name="r", record_id=record.id, policy_name="default")
    made = store.shards.split(run.id, shards.ranges(250, 100))
    assert [(s.first_seq, s.last_seq) for s in made] == [(1, 100), (101, 200), (201, 2**31 - 1)]
    assert store.shards.split(run.id, shards.ranges(250, 7)) == made  # split once
    decided: list[int] = []

    def conclude(rows: list[dict[str, object]]) -> dict[str, object]:
        decided.append(len(rows))
        return {"state": RunState.FAILED}

    counters = {"tested": 10, "not_tested": 2, "requests_sent": 100, "done": 12}
    for shard in made:
        sets = [TestSet(run.id, ids[shard.index], TestSetStatus.FAILED, "", 1, 1, 1)]
        done = store.shards.complete(shard.id, sets, [_finding(run.id, ids[shard.index], "same")], counters, conclude)
        assert done.stored
    again = store.shards.complete(made[0].id, [], [_finding(run.id, ids[0], "other")], counters, conclude)
    assert not again.stored and again.remaining == 0
    final = store.get_run(run.id)
    assert final.state is RunState.FAILED and decided == [3]  # decided once, by the last shard
    assert (final.baselines_tested, final.baselines_not_tested, final.requests_sent) == (30, 6, 300)
    assert [f.fingerprint for f in store.iter_findings(run.id)] == ["same"]  # one per fingerprint, none from the rerun


def test_a_shard_tests_its_slice_and_honours_pause_and_interrupt(store: SqlStore, shop: str) -> None:
    record_id = _record(store, shop, 30)
    run = store.create_run(name="r", record_id=record_id, policy_name="xss")
    store.update_run(run.id, state=RunState.RUNNING)
    config = _config()
    made = shards.split(store, store.get_run(run.id), 10, "q", config.policy)
    assert len(made) == 3
    assert [s.id for s in store.shards.unfinished("q")] == [s.id for s in made]

    async def scenario() -> None:
        done = await shards.test_shard(store, made[1].id, config, None)  # seq 11..20: one /search (seq 16)
        assert done is not None and done.stored and done.remaining == 2
        sets = list(store.iter_test_sets(run.id))
        assert len(sets) == 10
        assert [f.point for f in store.iter_findings(run.id)] == ["GET_q_value"]
        assert await shards.test_shard(store, made[1].id, config, None) is None  # done: not tested again
        store.update_run(run.id, state=RunState.PAUSED)
        paused = asyncio.create_task(shards.test_shard(store, made[0].id, config, None))
        await asyncio.sleep(1.5)
        assert not paused.done() and len(list(store.iter_test_sets(run.id))) == 10  # nothing while paused
        store.update_run(run.id, state=RunState.RUNNING)
        first = await asyncio.wait_for(paused, 60)
        assert first is not None and first.remaining == 1 and len(list(store.iter_test_sets(run.id))) == 20
        store.update_run(run.id, state=RunState.INTERRUPTED, finished_at=datetime.now(UTC))
        last = await shards.test_shard(store, made[2].id, config, None)
        assert last is not None and last.remaining == 0 and last.run.state is RunState.INTERRUPTED
        assert len(list(store.iter_test_sets(run.id))) == 20  # the interrupted run's last shard: closed untested

    asyncio.run(scenario())
    assert store.shards.unfinished("q") == []  # the run is finished: nothing to sweep
    final = store.get_run(run.id)
    assert final.baselines_tested + final.baselines_not_tested == 20


def test_the_newest_node_of_a_token_takes_over(pg_url: str) -> None:
    control = open_control(ControlConfig(db_url=pg_url))
    try:
        project = control.projects.ensure_project("p")
        token = issue_token(control, project, "t").token
        other = issue_token(control, project, "u").token
        record = control.store.create_record("r")
        control.projects.assign_record(record.id, project.id)
        run = control.store.create_run(name="r", record_id=record.id, policy_name="default")
        control.projects.assign_run(run.id, project.id)
        old = control.projects.register_node(project.id, "old", None, token.id)
        with_build = control.projects.register_node(project.id, "ci", "b1", token.id)
        of_other_token = control.projects.register_node(project.id, "other", None, other.id)
        assert control.projects.claim_run(old) is not None
        new = control.projects.register_node(project.id, "new", None, token.id)
        assert control.projects.get_node(project.id, old.id).state == "replaced"
        assert control.store.get_run(run.id).state is RunState.INTERRUPTED
        assert "newer node" in (control.store.get_run(run.id).error or "")
        assert control.projects.heartbeat(project.id, old.id, "testing", None).state == "replaced"  # stays
        assert control.projects.claim_run(control.projects.get_node(project.id, old.id)) is None
        for kept in (with_build, of_other_token, new):  # BUILD_ID nodes and other tokens' nodes: untouched
            assert control.projects.get_node(project.id, kept.id).state == "idle"
    finally:
        control.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_node_sigkilled_mid_shard_leaves_its_shards_to_another_node(pg_url: str, shop: str,
                                                                      tmp_path: Path) -> None:
    token, record_id = _setup(pg_url, shop, 120)
    with _serve(pg_url) as api:
        policy = _call(api, token, "POST", "/v1/test_policy", {"policy": POLICY})["id"]
        env = _child_env(LUNGE_API_URL=api, LUNGE_API_TOKEN=token, LUNGE_DB=pg_url, LUNGE_SHARD_SIZE="10",
                         LUNGE_DATA_DIR=str(tmp_path), BUILD_ID="k1")
        first = subprocess.Popen([sys.executable, "-m", "lunge.cli", "node"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        second = None
        try:
            _until(lambda: _registered(pg_url) == 1, 60, "the first node did not register")
            run_id = int(_call(api, token, "POST", "/v1/test_run",
                               {"name": "k", "record": record_id, "policy": policy, "build_id": "k1",
                                "rps": 20})["id"])  # slow enough to be killed while holding shards
            _until(lambda: _shards(pg_url, run_id)[1] >= 1 and _held(pg_url), 120, "no shard was taken")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            held = _held(pg_url)  # the shards the killed node had taken and not finished
            assert held
            second = subprocess.Popen([sys.executable, "-m", "lunge.cli", "node"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _until(lambda: _state(pg_url, run_id).finished, 180, "the run did not finish")
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=20)
    store = open_store(pg_url)
    try:
        assert isinstance(store, SqlStore)
        survivor = max(int(r[0]) for r in _sql(pg_url, "SELECT id FROM nodes"))
        by_id = {s.id: s for s in store.shards.of_run(run_id)}
        assert all(s.done for s in by_id.values())  # none lost
        assert {by_id[shard].node_id for shard in held} == {survivor}  # finished by the other node
        run = store.get_run(run_id)
        assert run.state is RunState.FAILED and run.baselines_tested + run.baselines_not_tested == 120
        assert len(list(store.iter_test_sets(run_id))) == 120
        prints = [f.fingerprint for f in store.iter_findings(run_id)]
        assert len(prints) == len(set(prints)) == run.findings_count >= 1  # nothing stored twice
    finally:
        store.close()


def _held(url: str) -> set[int]:
    """Shards whose job is taken (``picked``) in pgqueuer's table right now."""
    if _sql(url, "SELECT to_regclass('pgqueuer')")[0][0] is None:
        return set()
    rows = _sql(url, "SELECT payload FROM pgqueuer WHERE status = 'picked'")
    held = {int(json.loads(bytes(r[0]))["shard_id"]) for r in rows}
    done = {int(r[0]) for r in _sql(url, "SELECT id FROM test_run_shards WHERE state = 'done'")}
    return held - done


def test_a_shard_that_cannot_be_tested_ends_its_run_in_error_at_once(store: SqlStore) -> None:
    record = store.create_record("r")
    store.add_baselines([NewBaseline(record.id, Request("GET", "http", "a", 80, f"/{i}", "HTTP/1.1", Headers([])),
                                     None) for i in range(30)])
    run = store.create_run(name="r", record_id=record.id, policy_name="gone")
    made = shards.split(store, run, 10, "q", _config().policy)
    done = shards.fail(store, made[0].id, "the run's policy: no policy 9", None)
    assert done.remaining == 2 and done.run.state is RunState.ERROR  # decided now, not at the last shard
    assert done.run.error == "the run's policy: no policy 9"
    assert asyncio.run(shards.test_shard(store, made[1].id, _config(), None)) is not None  # closed untested
    assert list(store.iter_test_sets(run.id)) == [] and store.get_run(run.id).state is RunState.ERROR
