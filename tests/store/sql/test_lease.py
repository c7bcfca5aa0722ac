"""A run's lease, on both backends: a run whose node stopped renewing it reads ``interrupted`` for
every reader, and :func:`lunge.engine.lease.reap` writes that down."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from lunge.engine.lease import Lease, reap
from lunge.store import Store
from lunge.store.models import RunState
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
