"""A run claimed through the control plane is ``running`` already (the claim's compare-and-set set
it); an interrupt ordered through the API after the node read it must survive the engine's start:
writing ``running`` again would lose it, and the run would be tested to the end and pass."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.policy import BUILTIN
from lunge.store import open_store
from lunge.store.models import RunState


def test_the_start_of_a_claimed_run_keeps_an_interrupt_ordered_meanwhile(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'claimed.db'}")
    try:
        record = store.create_record("rec")
        created = store.create_run(name="run", record_id=record.id, policy_name="default")
        claimed = store.update_run(created.id, state=RunState.RUNNING)  # the node's claim: what it read
        store.update_run(created.id, state=RunState.INTERRUPTED)  # the API's interrupt, just after
        engine = RunEngine(store, claimed, RunConfig(policy=BUILTIN["default"], checks=()), Events())
        asyncio.run(engine.start())
        assert store.get_run(created.id).state is RunState.INTERRUPTED
        assert engine.run.state is RunState.INTERRUPTED  # the engine's watcher sees it too
    finally:
        store.close()


def test_a_run_started_by_its_own_process_becomes_running(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ci.db'}")
    try:
        record = store.create_record("rec")
        created = store.create_run(name="run", record_id=record.id, policy_name="default")
        engine = RunEngine(store, created, RunConfig(policy=BUILTIN["default"], checks=()), Events())
        asyncio.run(engine.start())
        started = store.get_run(created.id)
        assert started.state is RunState.RUNNING and started.started_at is not None
    finally:
        store.close()
