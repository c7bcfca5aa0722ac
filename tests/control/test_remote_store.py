"""The remote store (:mod:`lunge.store.remote`) against a real ``lunge serve`` on PostgreSQL: the
store's contract over HTTP, byte-faithful; batches applied once whatever the deliveries; another
project's ids out of reach; an invalid batch set aside; the control plane stopped and started
again, and its database connections killed, without losing or doubling a baseline."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from lunge.checks.base import Severity
from lunge.engine.lease import Lease
from lunge.errors import NotFoundError, StoreError
from lunge.http import Headers, Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline, RecordState, RunState, TestSet, TestSetStatus
from lunge.store.remote import RemoteStore, remote_url
from lunge.store.remote.http import Client
from tests.control.remote_helpers import Serve, token
from tests.store import factories

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _store(serve: Serve, tmp_path: Path, project: str = "shop", patience: float = 60) -> RemoteStore:
    return RemoteStore(serve.url, token(serve.db_url, project), tmp_path / f"spool-{project}", patience=patience)


def _odd_baseline(record_id: int) -> NewBaseline:
    """Everything the codec must keep: header case, duplicates, framing, binary bodies."""
    headers = Headers([("Host", "a.test"), ("X-Dup", "1"), ("x-dup", "2")], [(": ", ""), (":", ""), (":\t", " ")])
    request = Request("POST", "https", "a.test", 8443, "/p?q=%00\u00e9", "HTTP/1.1", headers, b"\x00\xff\x80bin")
    response = Response(201, "Created", "HTTP/1.0", Headers([("Set-Cookie", "s=1")]), bytes(range(256)))
    return NewBaseline(record_id, request, response, response_truncated=True, elapsed_ms=3.25,
                       recorded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_the_store_contract_over_http(serve: Serve, tmp_path: Path) -> None:
    store = _store(serve, tmp_path)
    try:
        record = store.create_record("nightly", build_id="b1")
        odd = _odd_baseline(record.id)
        store.add_baselines([odd, *[factories.baseline(record.id, n) for n in range(1200)]])
        closed = store.close_record(record.id, stats={"duplicates": 2})
        assert closed.state is RecordState.CLOSED and closed.baseline_count == 1201
        assert closed.stats["duplicates"] == 2
        stored = list(store.iter_baselines(record.id))  # three pages
        assert [b.seq for b in stored] == list(range(1, 1202))
        first = stored[0]
        assert (first.request, first.response, first.response_truncated, first.elapsed_ms, first.recorded_at) == (
            odd.request, odd.response, True, 3.25, odd.recorded_at)
        assert store.get_baseline(first.id) == first
        assert store.count_baselines(record.id) == 1201
        assert store.latest_record("b1") == store.get_record(record.id) and store.latest_record("zz") is None
        assert [r.id for r in store.list_records()] == [record.id]

        run = store.create_run(name="r", record_id=record.id, policy_name="default", build_id="b1")
        later = datetime.now(UTC) + timedelta(minutes=1)
        updated = store.update_run(run.id, state=RunState.RUNNING, started_at=datetime.now(UTC),
                                   lease_owner="h:1", lease_expires_at=later, stats={"a": 1})
        assert updated.state is RunState.RUNNING and updated.lease_expires_at == later
        assert store.update_run(run.id, stats={"b": 2}).stats == {"a": 1, "b": 2}
        store.add_test_sets([TestSet(run.id, b.id, TestSetStatus.PASSED, "ok", 3) for b in stored[:700]])
        found = store.add_findings([factories.finding(run.id, first.id, Severity.HIGH, 1),
                                    factories.finding(run.id, stored[1].id, Severity.LOW, 2)])
        assert [f.title for f in found] == ["SQL injection 1", "SQL injection 2"] and all(f.id for f in found)
        assert [t.baseline_id for t in store.iter_test_sets(run.id)] == [b.id for b in stored[:700]]
        assert [f.id for f in store.iter_findings(run.id)] == [f.id for f in found]
        assert store.get_finding(found[0].id).details == {"dbms": "MySQL", "n": 1}
        assert store.latest_run("b1") == store.get_run(run.id)
        assert [r.id for r in store.list_runs(state=RunState.RUNNING)] == [run.id]
        assert store.expire_leases() == []
        with pytest.raises(NotFoundError):
            store.get_record(record.id + 1000)
    finally:
        store.close()
    assert not any((tmp_path / "spool-shop").glob("*.jsonl")), "everything acknowledged leaves the spool empty"

    intruder = _store(serve, tmp_path, "intruder")
    try:
        for read in (lambda: intruder.get_record(record.id), lambda: intruder.get_run(run.id),
                     lambda: intruder.get_baseline(first.id), lambda: intruder.get_finding(found[0].id),
                     lambda: list(intruder.iter_baselines(record.id))):
            with pytest.raises(NotFoundError):
                read()
        assert intruder.latest_record() is None and intruder.list_runs() == []
    finally:
        intruder.close()


def test_a_batch_sent_twice_is_applied_once(serve: Serve, tmp_path: Path) -> None:
    secret = token(serve.db_url, "shop")
    store = RemoteStore(serve.url, secret, tmp_path / "spool")
    try:
        record = store.create_record("r")
        client = Client(serve.url, secret)
        line = json.dumps({"id": "batch-0000000001", "op": "baselines", "payload": {"items": [
            {"record_id": record.id, "request": {"method": "GET", "scheme": "http", "host": "a", "port": 80,
                                                 "target": "/", "http_version": "HTTP/1.1", "headers": [],
                                                 "body": ""},
             "response": None, "response_truncated": False, "elapsed_ms": 0.0, "recorded_at": None}]}})
        body = ('{"batches":[' + line + "," + line + "]}").encode()
        assert client.call("POST", "/v1/store/batches", body)["results"] == [{"count": 1}, {"count": 1}]
        client.call("POST", "/v1/store/batches", body)
        assert store.count_baselines(record.id) == 1
    finally:
        store.close()


def test_an_invalid_batch_is_set_aside_with_a_log_line(serve: Serve, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    victim = _store(serve, tmp_path, "victim")
    store = _store(serve, tmp_path, "shop")
    try:
        theirs = victim.create_record("theirs")
        mine = store.create_record("mine")
        with caplog.at_level(logging.ERROR):
            store.add_baselines([factories.baseline(theirs.id, 1)])  # another project's record: 404
            store.add_baselines([factories.baseline(mine.id, 2)])
            assert store.count_baselines(mine.id) == 1  # the good batch after it went through
        assert victim.count_baselines(theirs.id) == 0
        rejected = (tmp_path / "spool-shop" / "rejected.jsonl").read_text().splitlines()
        assert len(rejected) == 1 and json.loads(rejected[0])["reason"].startswith("404")
        assert "rejected a baselines batch" in caplog.text
    finally:
        store.close()
        victim.close()


def _writer(store: RemoteStore, record_id: int, count: int, answered: list[int]) -> threading.Thread:
    """Adds baselines one by one as a recorder would, noting each one add_baselines returned for."""

    def work() -> None:
        for n in range(count):
            store.add_baselines([factories.baseline(record_id, n)])
            answered.append(n)
            time.sleep(0.002)

    return threading.Thread(target=work)


def _numbers(store: RemoteStore, record_id: int) -> list[int]:
    return sorted(factories.target_number(b.request.target) for b in store.iter_baselines(record_id))


def test_the_control_plane_stopped_mid_recording_loses_and_doubles_nothing(serve: Serve, tmp_path: Path) -> None:
    store = _store(serve, tmp_path)
    try:
        record = store.create_record("outage")
        answered: list[int] = []
        writer = _writer(store, record.id, 600, answered)
        writer.start()
        while len(answered) < 100:
            time.sleep(0.01)
        serve.stop()  # mid-recording: the recorder goes on, the spool keeps what it answered
        while len(answered) < 400:
            time.sleep(0.01)
        assert list((tmp_path / "spool-shop").glob("*.jsonl"))
        serve.start()
        writer.join()
        assert _numbers(store, record.id) == list(range(600))
    finally:
        store.close()


def test_a_lease_that_lapsed_while_the_control_plane_was_down_is_renewed_not_reaped(
        pg_url: str, tmp_path: Path) -> None:
    """The control plane stopped for longer than a node's lease, then started again: the node's
    renewals, sent again until it answers, hold from when they land (the control plane's clock),
    and the reaper waits out its grace after start-up, so the live run is not ended."""
    serve = Serve(pg_url, tmp_path / "server", LUNGE_SERVE_REAP_EVERY="0.1", LUNGE_SERVE_REAP_GRACE="4")
    serve.start()
    store = _store(serve, tmp_path)
    try:
        record = store.create_record("outage")
        run = store.create_run(name="live", record_id=record.id, policy_name="default")
        store.update_run(run.id, state=RunState.RUNNING)
        with Lease(store, run.id, seconds=2, heartbeat=0.2):
            serve.stop()
            time.sleep(4)  # twice the lease: it lapsed while nobody could renew it
            serve.start()
            time.sleep(6)  # past the grace, many sweeps
            held = store.get_run(run.id)
            assert held.state is RunState.RUNNING and held.lease_expires_at is not None, held
        assert store.get_run(run.id).lease_expires_at is None  # released
    finally:
        store.close()
        serve.stop()


def test_a_node_killed_leaves_its_spool_to_the_next_one(serve: Serve, tmp_path: Path) -> None:
    """A node that ends (killed: its spool unlocked) before the control plane took its batches:
    the next node on that data directory sends them first."""
    secret = token(serve.db_url, "shop")
    spool = tmp_path / "spool"
    first = RemoteStore(serve.url, secret, spool)
    record = first.create_record("killed")
    serve.stop()
    first.add_baselines([factories.baseline(record.id, n) for n in range(50)])
    first.add_baselines([factories.baseline(record.id, n) for n in range(50, 60)])
    # As if SIGKILLed: nothing more runs in it; the kernel drops its flock with its descriptors.
    first._spool._active.handle.close()
    serve.start()
    second = RemoteStore(serve.url, secret, spool)
    try:
        assert _numbers(second, record.id) == list(range(60))
    finally:
        second.close()
    assert not [p for p in spool.glob("*.jsonl") if p.stat().st_size]


def test_the_servers_database_connections_killed_the_node_retries(serve: Serve, tmp_path: Path) -> None:
    store = _store(serve, tmp_path)
    database = serve.db_url.rsplit("/", 1)[1]
    admin = serve.db_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    try:
        record = store.create_record("pg")
        answered: list[int] = []
        writer = _writer(store, record.id, 400, answered)
        writer.start()
        with psycopg.connect(admin, autocommit=True) as conn:
            for _ in range(5):
                time.sleep(0.15)
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        writer.join()
        assert _numbers(store, record.id) == list(range(400))
    finally:
        store.close()


def test_open_store_takes_the_remote_url(serve: Serve, tmp_path: Path) -> None:
    store = open_store(remote_url(serve.url, token(serve.db_url, "shop"), tmp_path / "spool"))
    try:
        assert isinstance(store, RemoteStore) and "lunge_" not in repr(store)
        assert store.create_record("x").label == "rec_0001"
    finally:
        store.close()


def test_large_baselines_travel_in_batches_under_the_servers_limit(serve: Serve, tmp_path: Path) -> None:
    store = _store(serve, tmp_path)
    try:
        record = store.create_record("big")
        body = bytes(range(256)) * 4096  # 1 MiB: LUNGE_MAX_BODY's default, base64 on the wire
        items = [NewBaseline(record.id, factories.request(n), Response(200, "OK", "HTTP/1.1", Headers(), body))
                 for n in range(24)]  # 32 MiB as JSON: twice the server's limit for one request
        store.add_baselines(items)
        assert store.count_baselines(record.id) == 24
        assert all(b.response is not None and b.response.body == body for b in store.iter_baselines(record.id))
        assert not (tmp_path / "spool-shop" / "rejected.jsonl").exists()
    finally:
        store.close()


def test_a_bad_update_is_refused_not_retried(serve: Serve, tmp_path: Path) -> None:
    store = _store(serve, tmp_path)
    try:
        record = store.create_record("r")
        run = store.create_run(name="r", record_id=record.id, policy_name="default")
        with pytest.raises(StoreError, match="rejected the update_run batch"):
            store.update_run(run.id, colour="red")
        with pytest.raises(StoreError, match="rejected"):
            store.update_run(run.id, state="bogus")
        assert store.get_run(run.id).state is RunState.CREATED
    finally:
        store.close()
