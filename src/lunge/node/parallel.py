"""The one run path of testing mode: start the run, test its partitions, run the second-order
pass over what they planted, finish (merge the counters, decide the state once).

With ``PROCESSES=1`` the single partition is tested in this process; with more, each partition
(``seq % n == i``) is tested in a worker process with its own event loop, HTTP session and
``WORKERS`` concurrency, and an equal share of every limit of the run (the rate, the policy's
concurrency). Every worker gets the same frozen :class:`~lunge.node.settings.RunSettings` the
parent built (the store's URL included), never flags or the environment to read again. One
aiohttp process saturates one core (dependencies.md §A), so this is how a run uses more than one.

SIGTERM/SIGINT interrupt the run: the parent stops taking work and forwards the signal to its
workers, which finish what is in flight; the run ends ``interrupted`` with its results kept.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue

from lunge import aio
from lunge.checks import load
from lunge.checks.base import Check
from lunge.engine.events import BaselineTested, Event, Events, Progress, RunFinished, RunStarted
from lunge.engine.oob import OobConfig
from lunge.engine.oob_relay import Relayed
from lunge.engine.outcome import Earlier
from lunge.engine.runner import PartitionResult, RunConfig, RunEngine
from lunge.node.settings import RunSettings, TestingSettings
from lunge.policy import TestPolicy
from lunge.store import Store, open_store
from lunge.store.models import TestRun

_SPAWN = multiprocessing.get_context("spawn")  # a worker starts clean: no copy of the parent's loop or pool


def run_config(settings: TestingSettings, policy: TestPolicy, checks: tuple[Check, ...],
               earlier: Earlier | None = None) -> RunConfig:
    """The engine's configuration from the settings (and the run compared with, chosen once by
    the parent): built the same way in every process."""
    return RunConfig(policy=policy, checks=checks, workers=settings.workers, rps=settings.rps,
                     target=settings.target, verify_tls=settings.verify_tls,
                     stop_on_first_fail=settings.stop_on_first_fail, oob=_oob(settings), earlier=earlier,
                     identities=settings.identities)


def _oob(settings: TestingSettings) -> OobConfig:
    """The out-of-band listener's settings (with ``PROCESSES`` > 1 the parent runs it and each
    worker gets its share: :meth:`lunge.engine.oob.OobService.serving`)."""
    return settings.oob


@dataclass(frozen=True, slots=True)
class _Job:
    """What a worker process is handed (it pickles): the settings whole, the run, its partition.
    Checks travel by id (a check's functions may not pickle) and are loaded again."""

    settings: RunSettings
    run_id: int
    policy: TestPolicy
    check_ids: tuple[str, ...]
    index: int
    count: int
    earlier: Earlier | None
    oob: Relayed | None  # this partition's share of the parent's out-of-band listener


def execute(store: Store, run: TestRun, config: RunConfig, settings: RunSettings,
            events: Events | None = None) -> TestRun:
    """Run ``run`` to its final state in ``settings.testing.processes`` partitions."""
    engine = RunEngine(store, run, config, events)
    aio.settle_heap()
    return aio.run(_whole(engine, settings))


async def _whole(engine: RunEngine, settings: RunSettings) -> TestRun:
    processes = settings.testing.processes
    relay = _Relay(engine.events, processes) if processes > 1 else None
    # One pipe per partition for the out-of-band callbacks the parent's listener routes to it
    # (pipes, like queues, reach a worker only at its start: every worker gets all of them).
    pipes = [_SPAWN.Pipe(duplex=False) for _ in range(processes)] if relay is not None else []
    pool = (ProcessPoolExecutor(max_workers=processes, mp_context=_SPAWN, initializer=_listen_to,
                                initargs=(relay.queue, [r for r, _ in pipes])) if relay is not None else None)
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        engine.interrupt()
        if pool is not None:
            _forward(pool)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, interrupt)
    try:
        await engine.start()
        if pool is None:
            parts = [await engine.run_partition()]
        else:
            checks = tuple(c.id for c in engine.config.checks)
            async with engine.oob.serving([w for _, w in pipes]) as shares:
                jobs = [_Job(settings, engine.run.id, engine.config.policy, checks, i, processes,
                             engine.config.earlier, shares[i] if shares else None) for i in range(processes)]
                parts = list(await asyncio.gather(*(asyncio.wrap_future(pool.submit(_work, job)) for job in jobs)))
            if relay is not None:
                await asyncio.to_thread(relay.close)  # every worker event is out before the run's last ones
        await engine.second_order(parts)
        return await engine.finish(parts)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if relay is not None:
            relay.close()
        for reader, writer in pipes:
            reader.close()
            writer.close()


class _Relay:
    """The workers' events, back in the parent: a thread reads them off a queue and hands them to
    the run's subscribers, the progress summed over the partitions (one bar for the whole run)."""

    def __init__(self, events: Events, partitions: int) -> None:
        self.events = events
        self.queue: Queue[tuple[int, Event] | None] = _SPAWN.Queue()
        self._latest: dict[int, Progress] = {}
        self._thread = threading.Thread(target=self._drain, name="events", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self.queue.put(None)
            self._thread.join(timeout=10)

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            index, event = item
            if isinstance(event, BaselineTested):
                self._latest[index] = event.progress
                event = BaselineTested(event.run_id, _sum(self._latest.values()))
            self.events.emit(event)


def _sum(parts: Iterable[Progress]) -> Progress:
    parts = list(parts)
    return Progress(*(sum(getattr(p, name) for p in parts) for name in Progress.__dataclass_fields__))


_QUEUE: list[Queue[tuple[int, Event] | None]] = []  # a worker's end of the relay (set once per process)
_FEEDS: list[Connection] = []  # the partitions' out-of-band pipes, by partition index (set once per process)


def _listen_to(queue: Queue[tuple[int, Event] | None], feeds: list[Connection]) -> None:
    """A worker process's initializer: keep the relay's queue and the out-of-band pipes (they
    pass only at process start)."""
    _QUEUE.append(queue)
    _FEEDS.extend(feeds)


def _relayed(index: int) -> Events:
    """The events of partition ``index``, sent to the parent (when it listens)."""
    if not _QUEUE:
        return Events()
    queue = _QUEUE[0]

    def send(event: Event) -> None:
        if not isinstance(event, RunStarted | RunFinished):  # the parent sends those itself
            queue.put((index, event))

    return Events(send)


def _forward(pool: ProcessPoolExecutor) -> None:
    for pid in list(getattr(pool, "_processes", {}) or {}):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _work(job: _Job) -> PartitionResult:
    """One worker process: its partition of the run, with the parent's settings."""
    checks = tuple(load().select(job.check_ids))
    store = open_store(job.settings.store.url)
    try:
        run = store.get_run(job.run_id)
        config = run_config(job.settings.testing, job.policy, checks, job.earlier).for_partition(job.index, job.count)
        feed = None
        if job.oob is not None and job.index < len(_FEEDS):
            config = replace(config, oob=replace(config.oob, relayed=job.oob))
            feed = _FEEDS[job.index]
        engine = RunEngine(store, run, config, _relayed(job.index), oob_feed=feed)
        aio.settle_heap()
        return aio.run(_partition(engine))
    finally:
        store.close()


async def _partition(engine: RunEngine) -> PartitionResult:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.interrupt)
    return await engine.run_partition()


__all__ = ["execute", "run_config"]
