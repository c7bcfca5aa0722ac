"""``PROCESSES``: several worker processes sharing one test run.

Each process tests the baselines whose ``seq`` falls in its partition (``seq % n == i``) with its
own event loop, HTTP session and ``WORKERS`` concurrency, and an equal share of ``TEST_RUN_RPS``;
all write their outcomes and findings into the same store. The parent then runs the stored-XSS
pass over every partition's markers, merges the counters and decides the run's state.

One aiohttp process saturates one core (dependencies.md §A), so this is how a run uses more than
one. A first failure stops only its own process early (``TEST_RUN_STOP_ON_FIRST_FAIL``); the run is
marked failed all the same.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from lunge import aio
from lunge.checks import load
from lunge.engine.runner import PartitionResult, RunConfig, RunEngine
from lunge.policy import TestPolicy
from lunge.store import Store, open_store
from lunge.store.models import TestRun


@dataclass(frozen=True, slots=True)
class _Job:
    store_url: str
    run_id: int
    policy: TestPolicy
    check_ids: tuple[str, ...]
    workers: int
    rps: int | None
    target: str | None
    verify_tls: bool
    stop_on_first_fail: bool
    partition: tuple[int, int]


def run_in_processes(store: Store, run: TestRun, config: RunConfig, processes: int, *, store_url: str) -> TestRun:
    """Run ``run`` in ``processes`` worker processes; returns the final run."""
    rps = max(1, config.rps // processes) if config.rps else None
    jobs = [_Job(store_url, run.id, config.policy, tuple(c.id for c in config.checks), config.workers, rps,
                 config.target, config.verify_tls, config.stop_on_first_fail, (i, processes))
            for i in range(processes)]
    parent = RunEngine(store, run, replace(config, stored_pass=True))
    aio.run(parent.start())
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        previous = signal.signal(signal.SIGTERM, lambda *_: _forward(pool))
        try:
            parts = list(pool.map(_work, jobs))
        finally:
            signal.signal(signal.SIGTERM, previous)
    parent.merge(parts)
    return aio.run(_finish(parent, parts))


async def _finish(parent: RunEngine, parts: list[PartitionResult]) -> TestRun:
    if not parent.stopping():
        await parent.run_stored_pass(parts)
    await parent.results.flush()
    return await parent.finish()


def _forward(pool: ProcessPoolExecutor) -> None:
    for pid in list(getattr(pool, "_processes", {}) or {}):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _work(job: _Job) -> PartitionResult:
    registry = load()
    checks = tuple(registry.select(job.check_ids))
    store = open_store(job.store_url)
    try:
        run = store.get_run(job.run_id)
        config = RunConfig(policy=job.policy, checks=checks, workers=job.workers, rps=job.rps, target=job.target,
                           verify_tls=job.verify_tls, stop_on_first_fail=job.stop_on_first_fail,
                           partition=job.partition, stored_pass=False)
        engine = RunEngine(store, run, config)
        aio.settle_heap()
        return aio.run(_partition(engine))
    finally:
        store.close()


async def _partition(engine: RunEngine) -> PartitionResult:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.interrupt)
    return await engine.execute_partition()
