"""A run tested by many nodes (API mode on PostgreSQL): split into shards, each shard tested by
whichever node takes its job, its results committed with its done mark in one transaction.

- Splitting: a shard is ``SHARD_SIZE`` consecutive baselines (by ``seq``), so recorded order holds
  within a shard; the engine replays the setup prefix recorded before a shard's first baseline
  (:meth:`~lunge.engine.keeper.StateKeeper.prime`) before testing it.
- Testing: the engine runs the shard as a slice of the run (``RunConfig.for_slice``) against a
  store that keeps the shard's test sets and findings in memory (:class:`ShardBuffer`); nothing
  of an unfinished shard reaches the run, so a node killed mid-shard leaves nothing behind.
  :func:`test_slice` is shared by the node with ``LUNGE_DB`` (which commits in SQL,
  :func:`test_shard`) and the node on the remote store (which commits through the control plane,
  :mod:`lunge.node.remoteshards`); :func:`conclude` is the control plane's verdict too.
- Committing: :meth:`~lunge.store.sql.shards.Shards.complete` stores the results and the done mark
  under the run's lock, sums the run's counters, and the last shard decides the final state with
  :func:`~lunge.engine.outcome.decide` over the summed counters. A shard done already is not
  stored again (a node thought dead that finishes late, a job picked twice).
- Pause, resume and interrupt ordered through the API reach the engine through the run's state,
  read every ``WATCH_S``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any, cast

from lunge.engine.events import Events
from lunge.engine.outcome import Stop, decide
from lunge.engine.results import Counters
from lunge.engine.runner import PartitionResult, RunConfig, RunEngine, first_stop
from lunge.errors import LungeError, StoreError
from lunge.policy import BUILTIN, TestPolicy
from lunge.store import Store
from lunge.store.models import Finding, NewFinding, RunState, Shard, ShardDone, TestRun, TestSet
from lunge.store.sql import SqlStore
from lunge.store.sql.shards import ranges

logger = logging.getLogger(__name__)

WATCH_S = 0.5


def split(store: SqlStore, run: TestRun, size: int, queue: str, policy: TestPolicy) -> list[Shard]:
    """Mark the run started (with the queue its shards go to) and create its shards (once: a
    second call returns the same shards). A record without baselines ends the run at once."""
    total = store.count_baselines(run.record_id)
    # The claim's lease is released: the shards are jobs now, each with its own recovery.
    store.update_run(run.id, baselines_total=total, started_at=run.started_at or datetime.now(UTC),
                     stats={"queue": queue}, lease_owner=None, lease_expires_at=None)
    made = store.shards.split(run.id, ranges(total, size))
    if not made:
        outcome = decide(Counters(), policy)
        store.update_run(run.id, state=outcome.state, error=outcome.error, finished_at=datetime.now(UTC))
    return made


class ShardBuffer:
    """The store as the engine sees it while testing a shard: reads go to the store, the test sets
    and findings stay here until the shard is committed whole."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.test_sets: list[TestSet] = []
        self.findings: list[NewFinding] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def add_test_sets(self, test_sets: list[TestSet]) -> None:
        self.test_sets.extend(test_sets)

    def add_findings(self, findings: list[NewFinding]) -> list[Finding]:
        self.findings.extend(findings)
        now = datetime.now(UTC)
        values = [{f.name: getattr(item, f.name) for f in dataclasses.fields(NewFinding)} for item in findings]
        return [Finding(**v, id=0, created_at=now) for v in values]


def encode(counters: Counters, stop: Stop | None) -> dict[str, Any]:
    """A shard's counters as kept on its row (and the reason it stopped early, if it did)."""
    out = dataclasses.asdict(counters)
    out["stop"] = None if stop is None else {"state": stop.state.value, "reason": stop.reason}
    return out


def decode(row: dict[str, Any]) -> tuple[Counters, Stop | None]:
    names = {f.name for f in dataclasses.fields(Counters)}
    counters = Counters(**{k: v for k, v in row.items() if k in names})
    stop = row.get("stop")
    return counters, (None if not stop else Stop(RunState(stop["state"]), stop.get("reason")))


def conclude(policy: TestPolicy, shards: list[dict[str, Any]], compared_with: str | None = None) -> dict[str, Any]:
    """The run's final state from its shards' counters, summed (:func:`decide`, as for one node);
    each shard counted its failing findings against the run ``compared_with`` (its label; fail_on: new)."""
    total, stops = Counters(), []
    for row in shards:
        counters, stop = decode(row)
        total.merge(counters)
        stops.append(stop)
    outcome = decide(total, policy, first_stop(stops))
    stats = {**total.stats(), "policy": policy.summary(), "shards": len(shards)}
    if compared_with is not None and policy.fail_on_new:  # as a run tested whole says it (RunEngine.finish)
        stats["fail_on_new"] = {"compared_with": compared_with, "new_failing_findings": total.failing_findings}
    return {"state": outcome.state, "error": outcome.error, "stats": stats}


async def test_shard(store: SqlStore, shard_id: int, config: RunConfig, node_id: int | None) -> ShardDone | None:
    """Test one shard and commit it; None when it was done already (nothing tested). StoreError when
    the database went away meanwhile: nothing of the shard is stored, its job brings it back."""
    shard = await asyncio.to_thread(store.shards.get, shard_id)
    if shard.done:
        return None
    tested = await test_slice(cast(Store, store), shard, config)
    done = await asyncio.to_thread(store.shards.complete, shard.id, tested.buffer.test_sets, tested.buffer.findings,
                                   tested.counters, lambda rows: conclude(config.policy, rows, compared_label(config)),
                                   node_id, tested.final)
    if not done.stored:
        logger.info("shard %d of TestRun#%s was done by another node: nothing stored", shard.index, done.run.label)
    return done


@dataclasses.dataclass(frozen=True, slots=True)
class TestedSlice:
    """A shard tested, not yet committed: its results in memory, its counters as its row keeps them,
    and whether it stopped the run (a first failure, the target gone)."""

    __test__ = False  # not a pytest class

    buffer: ShardBuffer
    counters: dict[str, Any]
    final: bool


async def test_slice(store: Store, shard: Shard, config: RunConfig) -> TestedSlice:
    """Test a shard's slice against ``store`` (the SQL store, or the remote one), keeping its
    results in memory; the caller commits them (here in SQL, or through the control plane)."""
    run = await _unpaused(store, shard.run_id)
    buffer = ShardBuffer(store)
    counters, stop = Counters(), None
    if not run.state.finished:  # a shard of a run interrupted through the API is closed untested
        engine = RunEngine(cast(Store, buffer), run, config.for_slice(shard.first_seq, shard.last_seq), Events())
        try:
            part: PartitionResult | None = await _watched(store, run.id, engine)
        except StoreError:  # the database went away (restarting): the shard is taken again, not the run failed
            raise
        except Exception as exc:  # a shard's top level (as the node's): the run ends in error, with the reason
            logger.exception("shard %d of TestRun#%s failed", shard.index, run.label)
            part, stop = None, Stop(RunState.ERROR, f"a node failed testing shard {shard.index}: {exc}")
        if part is not None:
            counters.merge(part.counters)
            counters.merge(engine.counters)
            stop = first_stop([part.stop, stop])
    final = stop is not None and stop.state in (RunState.FAILED, RunState.ERROR)
    return TestedSlice(buffer, encode(counters, stop), final)


def compared_label(config: RunConfig) -> str | None:
    """The label of the run ``config`` compares findings with (fail_on: new), if any."""
    return config.earlier.label if config.earlier is not None else None


def fail(store: SqlStore, shard_id: int, reason: str, node_id: int | None) -> ShardDone:
    """Close a shard untested, ending its run in ``error`` with ``reason`` (now, not at its last shard)."""
    stop = Stop(RunState.ERROR, reason)
    return store.shards.complete(shard_id, [], [], encode(Counters(), stop),
                                 lambda rows: conclude(BUILTIN["default"], rows), node_id, final=True)


async def _watched(store: Store, run_id: int, engine: RunEngine) -> PartitionResult:
    async with asyncio.TaskGroup() as group:
        watcher = group.create_task(_watch(store, run_id, engine))
        try:
            part = await engine.run_partition()
            await engine.second_order([part])  # second-order pairs within the shard
            return part
        finally:
            watcher.cancel()


async def _unpaused(store: Store, run_id: int) -> TestRun:
    """The run once it is not paused (a shard of a paused run waits; its job keeps heartbeating)."""
    while True:
        run = await asyncio.to_thread(store.get_run, run_id)
        if run.state is not RunState.PAUSED:
            return run
        await asyncio.sleep(WATCH_S)


async def _watch(store: Store, run_id: int, engine: RunEngine) -> None:
    """Pause, resume and interrupt ordered through the API, honoured by the running shard."""
    while True:
        await asyncio.sleep(WATCH_S)
        try:
            state = (await asyncio.to_thread(store.get_run, run_id)).state
        except LungeError as exc:  # the database is restarting: the next look may work
            logger.warning("could not read the run's state: %s", exc)
            continue
        if state.finished:
            engine.interrupt()
            return
        if state is RunState.PAUSED and not engine.paused:
            logger.info("TestRun#run_%04d paused through the control plane", run_id)
            engine.pause()
        elif state is RunState.RUNNING and engine.paused:
            logger.info("TestRun#run_%04d resumed", run_id)
            engine.resume()


__all__ = ["ShardBuffer", "TestedSlice", "conclude", "decode", "encode", "fail", "ranges", "split", "test_shard",
           "test_slice"]
