"""A recording run's start that fails half way (the database restarting as the node marks the run
attached) still detaches the node's proxy and closes the record: otherwise the proxy goes on
storing every exchange into a record no engine tests, and its writer thread is never stopped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from lunge.engine import lease
from lunge.engine.runner import RunConfig
from lunge.errors import StoreError
from lunge.node import liverun
from lunge.node.apiclient import ApiClient
from lunge.policy import BUILTIN
from lunge.store import open_store
from lunge.store.models import RECORDING_ATTACHED, RecordState, RunState, TestRun, claim_owner


def test_a_failed_start_detaches_the_proxy_and_closes_the_record(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'live.db'}")
    proxy = liverun.start_proxy({"port": 0, "data_dir": str(tmp_path / "data")})
    try:
        record = store.create_record("live")
        run = store.create_run(name="live", record_id=record.id, policy_name="default")
        update_run = store.update_run

        def restarting(run_id: int, **changes: Any) -> TestRun:
            if RECORDING_ATTACHED in (changes.get("stats") or {}):
                raise StoreError("database restarting")
            return update_run(run_id, **changes)

        monkeypatch.setattr(store, "update_run", restarting)
        config = RunConfig(policy=BUILTIN["default"], checks=())
        with pytest.raises(StoreError, match="restarting"):
            asyncio.run(liverun.test_recording_run(store, run, config, proxy, cast(ApiClient, None), 1,
                                                   lambda: False))
        assert proxy.recorder is not None and proxy.recorder.record_id is None  # stores nothing more
        assert store.get_record(record.id).state is RecordState.CLOSED
    finally:
        proxy.close()
        store.close()


async def test_a_remote_node_starts_a_claimed_run_after_an_outage() -> None:
    """The claim succeeded, then the control plane went away: the node keeps the run and starts it
    on a later turn (a recording run left unstarted would stay running with its record open)."""
    from datetime import UTC, datetime

    from lunge.errors import LungeError
    from lunge.node.remoteshards import RemoteShardingNode
    from lunge.store.models import RunState, TestRun

    recording = TestRun(id=7, name="live", description="", record_id=3, policy_name="default",
                        state=RunState.RUNNING, created_at=datetime.now(UTC), stats={"order": {"recording": True}})

    class FlakyStore:
        reads = 0

        def get_run(self, run_id: int) -> TestRun:
            FlakyStore.reads += 1
            if FlakyStore.reads == 1:
                raise LungeError("control plane unreachable")
            return recording

    node = RemoteShardingNode.__new__(RemoteShardingNode)
    node.store, node.unstarted, node.recording = FlakyStore(), {7}, None  # type: ignore[assignment]
    recorded: list[int] = []

    async def record(run: TestRun) -> None:
        recorded.append(run.id)

    node._record = record  # type: ignore[method-assign]
    assert await node._start_claimed() is False and node.unstarted == {7}  # kept, not crashed
    assert await node._start_claimed() is True and node.unstarted == set() and recorded == [7]


def test_this_nodes_lapsed_lease_is_renewed_before_the_run_reads_interrupted(tmp_path: Path) -> None:
    """After an outage longer than the lease, the node's own run reads ``interrupted`` until the
    delayed renewal lands: the watcher renews first and goes on; a run the reaper wrote down, or
    another node's lapsed lease, still reads ``interrupted``."""
    store = open_store(f"sqlite:///{tmp_path / 'live.db'}")
    try:
        record = store.create_record("live")
        past = datetime.now(UTC) - timedelta(seconds=5)

        def running(owner: str) -> int:
            run = store.create_run(name=owner, record_id=record.id, policy_name="default")
            store.update_run(run.id, state=RunState.RUNNING, lease_owner=owner, lease_expires_at=past)
            return run.id

        ours, theirs, reaped = running(lease.owner_id()), running("elsewhere:1"), running(lease.owner_id())
        claimed = running(claim_owner(7))  # claimed by this node (7), not started yet
        assert store.get_run(ours).state is RunState.INTERRUPTED  # as every reader sees it before the renewal
        store.update_run(reaped, state=RunState.INTERRUPTED, finished_at=past, lease_expires_at=None)
        for run_id in (ours, claimed):
            kept = liverun.current(store, run_id, 7)
            assert kept.state is RunState.RUNNING
            assert kept.lease_expires_at and kept.lease_expires_at > datetime.now(UTC)
        assert liverun.current(store, theirs, 7).state is RunState.INTERRUPTED
        assert liverun.current(store, reaped, 7).state is RunState.INTERRUPTED
    finally:
        store.close()
