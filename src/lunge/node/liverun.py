"""Recording runs of an API-mode node (FAST's first scenario, "create a test run"): a run ordered
through the control plane without a record gets a new record in state ``recording``; the node that
takes it stores the traffic proxied through it into that record and tests the baselines as they
arrive.

The proxy (:class:`LiveProxy`) is the recording proxy of ``CI_MODE=recording`` (same settings:
PROXY_PORT, LUNGE_PROXY_BIND, ALLOWED_HOSTS, the CA...), started with the node and kept for its
life, in a thread of its own with its own event loop, so the node's loops (the SQLite node's
synchronous one, the PostgreSQL node's asyncio one) stay as they are. Until the node holds a
recording run the proxy forwards every exchange and stores nothing (FAST: "Waiting for TestRun to
check..."); while it holds one, every in-scope exchange answered is stored first ("answered ⇒
stored", :mod:`lunge.record.addon`, through a :class:`~lunge.store.writer.BatchWriter`).

:func:`test_recording_run` tests the run whole on this node (a recording run is never sharded: its
baselines do not exist yet when it is claimed): the engine follows the record
(:attr:`~lunge.engine.config.RunConfig.follow`: it reads new baselines by seq until the record is
closed, knowing nothing of proxies or control planes) while this module watches why recording
should stop: the API's stop action, the order's ``inactivity_timeout`` without a new request
(capped by the node's INACTIVITY_TIMEOUT when set), an interrupt through the API, the node's
SIGTERM/SIGINT, or the run ending by itself (first failure, target gone). Then the proxy stops
storing, what it handed to the writer is committed, and the node closes the record: only this
node closes it, so no baseline answered lands in a closed record untested. Testing goes on until
every baseline recorded is tested.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from lunge.engine import lease
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.errors import LungeError
from lunge.node.settings import inactivity_cap, recording_settings, store_settings
from lunge.record.scope import Scope
from lunge.store.base import Store
from lunge.store.models import (
    RECORDING_ATTACHED,
    RECORDING_STOP,
    RecordState,
    RunState,
    TestRecord,
    TestRun,
    claim_owner,
)
from lunge.store.writer import BatchWriter

if TYPE_CHECKING:
    from lunge.node.apiclient import ApiClient
    from lunge.record.addon import Recorder
    from lunge.record.proxy import RecordingProxy

logger = logging.getLogger(__name__)

T = TypeVar("T")
WATCH_S = 0.5  # how often the run's state, the stop mark and the inactivity are looked at
FOLLOW_S = 0.5  # how often the engine looks for new baselines while the record is recorded
HEARTBEAT_S = 2.0
START_TIMEOUT_S = 60.0


class LiveProxy:
    """The node's recording proxy, in its own thread and event loop; detached from any record
    until :meth:`attach`."""

    def __init__(self, flags: Mapping[str, Any] | None = None) -> None:
        from lunge.record.ca import prepare_ca
        from lunge.record.listen import check_listen

        flags = dict(flags or {})
        self.settings = recording_settings(flags)
        self.inactivity_cap = inactivity_cap(flags)
        self.scope = Scope.from_settings(self.settings.allowed_hosts, self.settings.excluded_extensions)
        check_listen(self.settings.bind, self.settings.port)
        self.ca = prepare_ca(store_settings(flags).data_dir, self.settings.ca_cert, self.settings.ca_key)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._closing: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="lunge-proxy", daemon=True)
        self.recorder: Recorder | None = None
        self.proxy: RecordingProxy | None = None
        self.port = 0

    # ------------------------------------------------------------------ life
    def start(self) -> LiveProxy:
        """Listen (raises SettingError when the port is taken); returns self."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise LungeError(f"the recording proxy did not start within {START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            raise self._error
        logger.info("recording proxy listening on %s:%d (CA certificate: %s); Waiting for TestRun to check...",
                    self.settings.bind, self.port, self.ca.cert_pem)
        return self

    def close(self) -> None:
        if self._loop is not None and self._closing is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._closing.set)
        self._thread.join(30)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        from lunge.node.recording import proxy_config
        from lunge.record.addon import Recorder
        from lunge.record.proxy import RecordingProxy

        self._closing = asyncio.Event()
        self.recorder = Recorder(record_id=None, sink=None, scope=self.scope, dedup=self.settings.dedup,
                                 max_body=self.settings.max_body, ca=self.ca)
        self.proxy = RecordingProxy(proxy_config(self.settings, self.ca, None), self.recorder)
        try:
            await self.proxy.start()
            self.port = self.proxy.port
        except BaseException as exc:  # reported by start() in the node's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._closing.wait()
        finally:
            await self.proxy.close()

    def _call(self, work: Callable[[], T]) -> T:
        """Run ``work`` in the proxy's loop (the recorder is only touched there) and return its result."""
        assert self._loop is not None

        async def call() -> T:
            return work()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)

    # ------------------------------------------------------------------ recording
    def attach(self, record: TestRecord, writer: BatchWriter) -> None:
        """Store every in-scope exchange answered from now on into ``record``."""
        recorder = self.recorder
        assert recorder is not None
        self._call(lambda: recorder.attach(record.id, writer.submit_async, record.label))

    def detach(self, writer: BatchWriter) -> dict[str, Any]:
        """Store nothing more; commit what was handed to the writer; the record's counters."""
        recorder = self.recorder
        assert recorder is not None
        counters = self._call(lambda: recorder.detach().as_dict())
        writer.close()  # every exchange stored so far handed its baseline over before detach returned
        return counters

    def idle_for(self) -> float:
        """Seconds since the last request began, 0 while one is in flight."""
        recorder = self.recorder
        assert recorder is not None
        return self._call(lambda: 0.0 if recorder.in_flight else time.monotonic() - recorder.last_request_at)


def start_proxy(flags: Mapping[str, Any] | None = None) -> LiveProxy:
    """The API-mode node's proxy, listening (ConfigError/SettingError for bad settings, exit 2)."""
    return LiveProxy(flags).start()


# ---------------------------------------------------------------------- one recording run
class _Recording:
    """The recording side of one run: attached at start, stopped once for the first reason."""

    def __init__(self, store: Store, run: TestRun, proxy: LiveProxy) -> None:
        self.store, self.run, self.proxy = store, run, proxy
        self.record = store.get_record(run.record_id)
        self.writer: BatchWriter | None = None
        self.started = time.monotonic()
        order = run.stats.get("order") or {}
        timeout = float(order.get("inactivity_timeout") or 1800)
        self.timeout = min(timeout, proxy.inactivity_cap) if proxy.inactivity_cap else timeout
        self.stopped_by: str | None = None if self.record.state is RecordState.RECORDING else "closed"

    def begin(self) -> None:
        if self.stopped_by is not None:
            return
        if self.run.stats.get(RECORDING_STOP):  # stopped through the API before a node took it
            self.stop("stop")
            return
        self.writer = BatchWriter(self.store, name="lunge-live-writer")
        self.proxy.attach(self.record, self.writer)
        self.store.update_run(self.run.id, stats={RECORDING_ATTACHED: True})
        logger.info("TestRun#%s takes TestRecord#%s %s: recording the traffic proxied on port %d and testing it "
                    "as it arrives (inactivity timeout %.0f s)", self.run.label, self.record.label,
                    self.record.name, self.proxy.port, self.timeout)

    def why_stop(self, run: TestRun, signalled: bool, engine_done: bool) -> str | None:
        if run.state is RunState.INTERRUPTED:
            return "interrupt"
        if run.stats.get(RECORDING_STOP):
            return "stop"
        if signalled:
            return "signal"
        if engine_done or run.state.finished:
            return "run ended"
        if self.proxy.idle_for() >= self.timeout:
            logger.info("no request for %d s (inactivity_timeout)", round(self.timeout))
            return "inactivity"
        return None

    def stop(self, reason: str) -> None:
        """Store nothing more, commit what was answered, close the record (once)."""
        if self.stopped_by is not None:
            return
        self.stopped_by = reason
        counters: dict[str, Any] = {}
        if self.writer is not None:
            counters = self.proxy.detach(self.writer)
        counters.update(stopped_by=reason, duration_s=round(time.monotonic() - self.started, 3))
        closed = self.store.close_record(self.record.id, stats=counters)
        logger.info("TestRecord#%s stops recording (%s): %d baseline(s); testing goes on", closed.label, reason,
                    closed.baseline_count)


async def test_recording_run(store: Store, run: TestRun, config: RunConfig, proxy: LiveProxy, api: ApiClient,
                             node_id: int, signalled: Callable[[], bool]) -> TestRun:
    """Record the run's record through ``proxy`` while the engine tests it as it grows; returns the
    run as it ended. ``signalled``: whether the node was asked to stop (SIGTERM/SIGINT)."""
    recording = _Recording(store, run, proxy)
    ended = "error"  # the start or the engine raised: the proxy is detached and the record closed all the same
    try:
        await asyncio.to_thread(recording.begin)
        engine = RunEngine(store, run, replace(config, follow=FOLLOW_S), Events())
        async with asyncio.TaskGroup() as group:
            testing = group.create_task(engine.execute())
            watching = group.create_task(_watch(recording, engine, testing, api, node_id, run.id, signalled))
            final = await testing
            await watching
        ended = "run ended"
        return final
    finally:
        await asyncio.to_thread(recording.stop, ended)


async def _watch(recording: _Recording, engine: RunEngine, testing: asyncio.Task[TestRun], api: ApiClient,
                 node_id: int, run_id: int, signalled: Callable[[], bool]) -> None:
    """Until the engine ends: stop recording for the first reason; pass pause, resume and interrupt
    ordered through the API on to the engine; heartbeat the control plane (the run's lease)."""
    beat_at = 0.0
    while not testing.done():
        try:
            run = await asyncio.to_thread(current, recording.store, run_id, node_id)
            if recording.stopped_by is None:
                reason = await asyncio.to_thread(recording.why_stop, run, signalled(), testing.done())
                if reason is not None:
                    await asyncio.to_thread(recording.stop, reason)
            if run.state is RunState.INTERRUPTED:
                engine.interrupt()
            elif run.state is RunState.PAUSED and not engine.paused:
                engine.pause()
            elif run.state is RunState.RUNNING and engine.paused:
                engine.resume()
            if time.monotonic() - beat_at >= HEARTBEAT_S:
                beat_at = time.monotonic()
                await asyncio.to_thread(api.call, "POST", f"/v1/nodes/{node_id}/heartbeat",
                                        {"state": "testing", "run_id": run_id})
        except LungeError as exc:  # the control plane or the database is restarting: keep going
            logger.warning("TestRun#run_%04d: %s", run_id, exc)
        await _until_done(testing, WATCH_S)


def current(store: Store, run_id: int, node_id: int) -> TestRun:
    """The run as stored now, for the node ``node_id`` that claimed or holds it. After an outage
    of the control plane longer than the lease, the node's own lease (its claim's, or this
    process's) reads as lapsed, the run ``interrupted``, until its delayed renewal lands: renew it
    here first, then read again. The store renews only a run not ended, so a run the reaper or the
    API really interrupted still reads ``interrupted``."""
    run = store.get_run(run_id)
    ours = (lease.owner_id(), claim_owner(node_id))
    if run.state is RunState.INTERRUPTED and run.lease_expires_at is not None and run.lease_owner in ours:
        store.renew_lease(run_id, run.lease_owner, lease.LEASE_SECONDS)
        run = store.get_run(run_id)
    return run


async def _until_done(task: asyncio.Task[TestRun], seconds: float) -> None:
    await asyncio.wait([task], timeout=seconds)



class Signalled:
    """Whether the node got SIGTERM or SIGINT while it recorded a run (it then ends after the run)."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


async def test_claimed(store: Store, run: TestRun, config: RunConfig, proxy: LiveProxy | None, api: ApiClient,
                       node_id: int, signalled: Callable[[], bool]) -> TestRun:
    """A recording run this node claimed: recorded and tested here, whole."""
    if proxy is None:
        raise LungeError(f"TestRun#{run.label} records through the node's proxy, and this node has none")
    run = await asyncio.to_thread(current, store, run.id, node_id)
    if run.state.finished:  # interrupted through the API between the claim and now
        logger.info("TestRun#%s was %s before recording started", run.label, run.state.value)
        if store.get_record(run.record_id).state is RecordState.RECORDING:
            await asyncio.to_thread(store.close_record, run.record_id, {"stopped_by": run.state.value})
        return run
    async with lease.held(store, run.id):  # a node killed while it records leaves the run interrupted
        return await test_recording_run(store, run, config, proxy, api, node_id, signalled)


def abandon(store: Store, run: TestRun, error: str) -> None:
    """A run this node cannot test (its policy is gone): the run ends in error; a record it was to
    record is closed empty."""
    logger.error("TestRun#%s error: %s", run.label, error)
    store.update_run(run.id, state=RunState.ERROR, error=error, finished_at=datetime.now(UTC))
    if store.get_record(run.record_id).state is RecordState.RECORDING:
        store.close_record(run.record_id, {"stopped_by": "error"})


async def test_claimed_with_signals(store: Store, run: TestRun, config: RunConfig, proxy: LiveProxy | None,
                                   api: ApiClient, node_id: int, signalled: Signalled | None) -> TestRun:
    """:func:`test_claimed` with SIGTERM and SIGINT stopping the recording (the node that has no
    handlers of its own: the SQLite one); ``signalled`` keeps that they came."""
    import signal

    flag = signalled or Signalled()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, flag.set)
    try:
        return await test_claimed(store, run, config, proxy, api, node_id, flag.is_set)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
