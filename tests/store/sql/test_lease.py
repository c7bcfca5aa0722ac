"""A run's lease, on both backends: a run whose node stopped renewing it reads ``interrupted`` for
every reader, and :func:`lunge.engine.lease.reap` writes that down."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

from lunge.engine import lease
from lunge.engine.lease import Lease, reap
from lunge.errors import NotFoundError
from lunge.store import Store, open_store
from lunge.store.models import RunState
from lunge.store.sql import engine, projects, runs
from tests.fixtures.postgres import pg_database, url_of
from tests.store.factories import baseline


def _running(store: Store, **lease: object) -> int:
    record = store.create_record("r")
    store.add_baselines([baseline(record.id, 0)])
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    store.update_run(run.id, state=RunState.RUNNING, **lease)
    return run.id


def test_an_expired_lease_reads_interrupted_everywhere(store: Store) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    run_id = _running(store, lease_owner="elsewhere:1", lease_expires_at=past)
    for seen in (store.get_run(run_id), store.latest_run(), store.list_runs()[0]):
        assert seen.state is RunState.INTERRUPTED
        assert seen.error and seen.error.startswith("interrupted: the node running it (elsewhere:1) stopped")
    assert store.expire_leases() == [run_id]
    assert store.expire_leases() == []  # written down once
    stored = store.get_run(run_id)
    assert stored.state is RunState.INTERRUPTED and stored.lease_expires_at is None and stored.finished_at


def test_a_held_lease_and_a_finished_run_are_left_alone(store: Store) -> None:
    live = _running(store, lease_owner="elsewhere:1", lease_expires_at=datetime.now(UTC) + timedelta(seconds=30))
    done = _running(store, lease_expires_at=datetime.now(UTC) - timedelta(seconds=30))
    store.update_run(done, state=RunState.PASSED)
    assert store.get_run(live).state is RunState.RUNNING
    assert store.get_run(done).state is RunState.PASSED
    assert reap(store) == []


def test_a_dead_process_of_this_host_is_reaped_at_once(store: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_id = _running(store, lease_owner=f"{socket.gethostname()}:{dead.pid}",
                      lease_expires_at=datetime.now(UTC) + timedelta(seconds=30))
    assert store.get_run(run_id).state is RunState.RUNNING  # the lease still holds ...
    assert reap(store) == [run_id]  # ... but its owner is gone
    assert store.get_run(run_id).state is RunState.INTERRUPTED


def test_the_lease_is_renewed_while_held_and_released_after(store: Store) -> None:
    run_id = _running(store)
    with Lease(store, run_id, seconds=0.5, heartbeat=0.05) as lease:
        first = store.get_run(run_id).lease_expires_at
        time.sleep(0.7)  # longer than the lease: only the heartbeat keeps the run alive
        held = store.get_run(run_id)
        assert held.state is RunState.RUNNING and held.lease_owner == lease.owner
        assert first is not None and held.lease_expires_at is not None and held.lease_expires_at > first
    assert store.get_run(run_id).lease_expires_at is None


def test_a_renewal_extends_only_a_run_not_ended(store: Store) -> None:
    live, ended = _running(store), _running(store)
    store.update_run(ended, state=RunState.INTERRUPTED)
    assert store.renew_lease(live, "node:1", 30) is True
    assert store.renew_lease(ended, "node:1", 30) is False  # the reaper or the API ended it: it stays ended
    assert store.get_run(live).lease_owner == "node:1" and store.get_run(ended).lease_owner is None
    with pytest.raises(NotFoundError):
        store.renew_lease(10**6, "node:1", 30)


class _Behind(datetime):
    """This machine's clock, ten minutes behind (the database's is right)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) - timedelta(minutes=10)


@pytest.mark.postgres
def test_a_node_whose_clock_is_behind_holds_its_lease_by_the_databases_clock(
        migrated_pg_template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leases go by PostgreSQL's clock: a node ten minutes behind renews a lease that holds for
    its full length (not one already past), and sees its live run running, not abandoned."""
    for module in (lease, engine, runs, projects):
        monkeypatch.setattr(module, "datetime", _Behind)
    with pg_database(template=migrated_pg_template) as name:
        store = open_store(url_of(name))
        try:
            run_id = _running(store)
            with Lease(store, run_id, seconds=30, heartbeat=60):
                held = store.get_run(run_id)
                assert held.state is RunState.RUNNING and held.lease_expires_at is not None
                left = (held.lease_expires_at - datetime.now(UTC)).total_seconds()
                assert 25 < left <= 31, left
                assert store.expire_leases() == [] and reap(store) == []
        finally:
            store.close()
