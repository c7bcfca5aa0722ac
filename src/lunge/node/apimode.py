"""``lunge node`` in API mode (``LUNGE_API_URL`` set, no ``CI_MODE``): register with the control
plane, take the runs ordered for this token (and BUILD_ID), test them against the shared database
(``LUNGE_DB``, the control plane's) or, without ``LUNGE_DB``, through the remote store
(:mod:`lunge.store.remote`), and honour pause and interrupt ordered through the API.

On PostgreSQL a run is tested by every node of its project and BUILD_ID at once: the control plane
splits the run it hands out (the claim, compare-and-set in the store) into shards and queues one
pgqueuer job per shard (:mod:`lunge.store.sql.jobqueue`); every node takes shard jobs and tests them
(:mod:`.shards`): a node with ``LUNGE_DB`` from the queue itself, a node on the remote store
through the control plane (:mod:`.remoteshards`). On SQLite (one user, one node) the node that
claims a run tests it whole.

Without BUILD_ID the newest node of a token takes over (FAST's rule): a node told by its heartbeat
that it was ``replaced`` stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lunge import aio
from lunge.checks import load
from lunge.engine.lease import Lease
from lunge.engine.outcome import Earlier
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.errors import ConfigError, LungeError, NotFoundError, StoreError
from lunge.node import liverun, reporting, shards
from lunge.node.apiclient import ApiClient
from lunge.node.settings import TestingSettings, api_settings, shard_size, store_settings, testing_settings
from lunge.policy import BUILTIN, TestPolicy, parse_policy
from lunge.store import Store, open_store
from lunge.store.models import RunState, TestRun
from lunge.store.sql import SqlStore

if TYPE_CHECKING:
    from pgqueuer.core.qm import QueueManager

    from lunge.store.sql import jobqueue

logger = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
MAX_BACKOFF_S = 30.0
SWEEP_S = 15.0


def run_api_node(flags: Mapping[str, Any] | None = None, *, once: bool = False, poll_s: float = 2.0) -> int:
    """Serve runs until stopped (SIGINT), or, with ``once``, test the first run waiting (none: exit 0).
    Returns the exit code of the last run tested (0 when none)."""
    flags = dict(flags or {})
    api = ApiClient(api_settings(flags))
    settings = testing_settings(flags)
    store_url = store_settings(flags).url
    size = shard_size(flags)
    live = liverun.start_proxy(flags)  # recording runs (ordered without a record) store what it proxies
    try:
        node = api.call("POST", "/v1/nodes", {"name": socket.gethostname(), "build_id": settings.build_id})
        logger.info("node %s registered with %s%s; waiting for test runs", node["id"], api.base,
                    f" for BUILD_ID {settings.build_id}" if settings.build_id else "")
        if store_url.startswith("postgresql"):
            try:
                from lunge.store.sql import jobqueue
            except ImportError as exc:  # pgqueuer comes with the postgres extra
                raise ConfigError(f"LUNGE_DB is PostgreSQL but the job queue is missing ({exc}): "
                                  "install lunge[postgres]") from None
            node_run = _ShardingNode(api, node, settings, store_url, size, poll_s, jobqueue.entrypoint)
            node_run.live = live
            return aio.run(node_run.serve(once))
        if node.get("job_queue"):  # the remote store, and a control plane that brokers shard jobs
            from lunge.node.remoteshards import RemoteShardingNode

            remote = RemoteShardingNode(api, node, store_url, size, poll_s, _configure(api, settings), live)
            return aio.run(remote.serve(once))
        return _whole_runs(api, node, settings, store_url, once, poll_s, live=live)
    finally:
        live.close()


def _configure(api: ApiClient, settings: TestingSettings) -> Callable[[Store, TestRun], RunConfig]:
    """How a node on the remote store configures a run: its policy fetched through the API, the
    findings of the run it is compared with (fail_on: new) read from ``store``."""

    def configure(store: Store, run: TestRun) -> RunConfig:
        registry = load()
        policy = _policy(api, run, set(registry.checks) | registry.kinds)
        return _run_config(run, policy, registry, settings, _earlier(store, run))

    return configure


def _whole_runs(api: ApiClient, node: dict[str, Any], settings: TestingSettings, store_url: str, once: bool,
                poll_s: float, *, live: liverun.LiveProxy | None = None) -> int:
    """SQLite: one node tests each run it claims, whole."""
    code, backoff = 0, poll_s
    signalled = liverun.Signalled()
    while not signalled.is_set():
        try:
            claimed = api.call("POST", f"/v1/nodes/{node['id']}/claim")
        except ConfigError:
            raise  # refused (token revoked, node gone): waiting will not fix it
        except LungeError as exc:  # the control plane is down or restarting: wait longer each time
            if once:
                raise
            logger.warning("%s; trying again in %.0f s", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = poll_s
        if claimed:
            code = _test(api, node["id"], int(claimed["id"]), store_url, settings, live, signalled)
            api.call("POST", f"/v1/nodes/{node['id']}/heartbeat", {"state": "idle"})
        if once:
            return code
        if not claimed:
            time.sleep(poll_s)
    return code  # SIGTERM or SIGINT while recording a run: recording stopped, the run tested, the node ends


class _ShardingNode:
    """PostgreSQL: claim runs and split them; take shard jobs of the node's project and BUILD_ID."""

    def __init__(self, api: ApiClient, node: dict[str, Any], settings: TestingSettings, store_url: str,
                 size: int, poll_s: float, entrypoint: Callable[[int, str | None], str]) -> None:
        self.api, self.node, self.settings, self.store_url = api, node, settings, store_url
        self.size, self.poll_s = size, poll_s
        self.name = entrypoint(int(node["project_id"]), settings.build_id)
        self.configs: dict[int, RunConfig] = {}  # run id -> its configuration (policy fetched once)
        self.current: int | None = None  # the run this node works on (claimed or shard taken)
        self.unqueued: set[int] = set()  # runs claimed whose shards are not queued yet
        self.live: liverun.LiveProxy | None = None  # the proxy recording runs record through
        self.waiting: int | None = None  # with once: the run claimed, whose end ends the node
        self.manager: QueueManager | None = None  # the job queue's (a new one after a reconnect)
        self.stopping = asyncio.Event()
        self.code = 0

    async def serve(self, once: bool) -> int:
        store = open_store(self.store_url)
        assert isinstance(store, SqlStore)  # a postgresql URL opens the SQL store
        self.store = store
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # stop taking shards; finish those held
            loop.add_signal_handler(sig, self._stop)
        try:
            backoff = self.poll_s
            while True:
                reason = None
                try:
                    await self._session(once)
                except* StoreError as lost:  # PostgreSQL restarted, or unreachable
                    reason = str(lost.exceptions[0]).splitlines()[0]
                if reason is None or self.stopping.is_set():
                    return self.code
                logger.warning("the job queue's connection failed (%s); reconnecting in %.0f s", reason, backoff)
                try:  # SIGTERM meanwhile: stop now
                    await asyncio.wait_for(self.stopping.wait(), backoff)
                    return self.code
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        except BaseExceptionGroup as group:  # the task group's other errors: the cause, one line (exit 2 if refused)
            raise aio.first_cause(group) from None
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            store.close()

    def _stop(self) -> None:
        self.stopping.set()
        if self.manager is not None:
            self.manager.shutdown.set()

    async def _session(self, once: bool) -> None:
        """Take and queue shards on two connections of the job queue until stopped (``once``: until
        the first run claimed ends); StoreError or psycopg's OperationalError when they are lost."""
        from lunge.store.sql import jobqueue

        async with jobqueue.connect(self.store_url) as queue, jobqueue.connect(self.store_url) as taking:
            await queue.install()
            manager = self.manager = taking.manager(self.name, self._take)
            if self.stopping.is_set():
                manager.shutdown.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(jobqueue.run_manager(manager))
                group.create_task(self._beat(manager))
                group.create_task(self._sweep(queue, manager))
                group.create_task(jobqueue.watch((queue, taking), manager.shutdown))
                await self._claim_loop(queue, once, manager)
                manager.shutdown.set()

    async def _claim_loop(self, queue: jobqueue.JobQueue, once: bool, manager: QueueManager) -> None:
        """Claim created runs and queue their shards; with ``once``, until the first run claimed ends."""
        backoff = self.poll_s
        while not manager.shutdown.is_set():
            try:
                claimed = await asyncio.to_thread(self.api.call, "POST", f"/v1/nodes/{self.node['id']}/claim",
                                                  {"shard_size": self.size})  # the control plane splits it
            except ConfigError:
                manager.shutdown.set()
                raise
            except LungeError as exc:
                logger.warning("%s; trying again in %.0f s", exc, backoff)
                await _idle(manager, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = self.poll_s
            if claimed:
                run_id = int(claimed["id"])
                self.waiting = self.waiting or run_id
                self.current = run_id
                self.unqueued.add(run_id)
            # Claimed here: starting it (splitting it, or recording and testing it) is this node's job
            # until done; a start that met the database restarting is tried again on the next turn
            # (the set outlives the job queue's session).
            for run_id in sorted(self.unqueued):
                try:
                    if (await asyncio.to_thread(self.store.get_run, run_id)).records:
                        await self._record(run_id, manager)  # recorded and tested whole here: never sharded
                    else:
                        await self._queue(queue, run_id)
                    self.unqueued.discard(run_id)
                except NotFoundError:  # deleted meanwhile: nothing to start
                    self.unqueued.discard(run_id)
                except ConfigError as exc:  # its stored policy is gone or invalid: no node could test it
                    run = await asyncio.to_thread(self.store.get_run, run_id)
                    await asyncio.to_thread(liverun.abandon, self.store, run, f"the run's policy: {exc}")
                    self.unqueued.discard(run_id)
                    self.code = 1
                except LungeError as exc:  # the database is restarting: start it on the next turn
                    logger.warning("TestRun#run_%04d not started yet: %s", run_id, exc)
            if once:
                if self.waiting is None:
                    return
                try:
                    run = await asyncio.to_thread(self.store.get_run, self.waiting)
                except LungeError as exc:  # the database is restarting: look again on the next turn
                    logger.warning("could not read TestRun#run_%04d: %s", self.waiting, exc)
                else:
                    if run.state.finished:
                        self.code = 0 if run.state is RunState.PASSED else 1
                        return
            await _idle(manager, self.poll_s if not once else 0.2)

    async def _record(self, run_id: int, manager: QueueManager) -> None:
        """A recording run: recorded and tested whole by this node (shard jobs held meanwhile go on)."""
        self.current = run_id
        run = await asyncio.to_thread(self.store.get_run, run_id)
        config = await self._config(run_id)  # ConfigError: the run is abandoned by the caller
        final = await liverun.test_claimed(self.store, run, config, self.live, self.api, int(self.node["id"]),
                                           manager.shutdown.is_set)
        logger.info("TestRun#%s %s: %d findings", final.label, final.state.value, final.findings_count)
        self.code = 0 if final.state is RunState.PASSED else 1

    async def _queue(self, queue: jobqueue.JobQueue, run_id: int) -> None:
        run = await asyncio.to_thread(self.store.get_run, run_id)
        config = await self._config(run_id)
        made = await asyncio.to_thread(shards.split, self.store, run, self.size, self.name, config.policy)
        added = await queue.enqueue_shards(self.name, run_id, [(s.id, s.index) for s in made if not s.done])
        logger.info("TestRun#%s taken: %d shard(s) of at most %d baselines queued", run.label, added, self.size)

    async def _sweep(self, queue: jobqueue.JobQueue, manager: QueueManager) -> None:
        """Queue again the shards whose job is gone (the node that claimed the run died between
        creating the shards and queueing them; a job that failed): pgqueuer skips a shard whose
        job is still queued or taken (its dedupe key), so this never doubles one."""
        while not manager.shutdown.is_set():
            await _idle(manager, SWEEP_S)
            try:
                left = await asyncio.to_thread(self.store.shards.unfinished, self.name)
                added = 0
                for run_id in sorted({s.run_id for s in left}):
                    mine = [(s.id, s.index) for s in left if s.run_id == run_id]
                    added += await queue.enqueue_shards(self.name, run_id, mine)
                if added:
                    logger.warning("%d shard(s) had lost their job: queued again", added)
            except LungeError as exc:  # the database is restarting: the next sweep may work
                logger.warning("sweeping for lost shards failed: %s", exc)

    async def _take(self, shard_id: int) -> None:
        """A shard job: test the shard with the run's configuration and commit it."""
        try:
            shard = await asyncio.to_thread(self.store.shards.get, shard_id)
        except LungeError as exc:  # the database is restarting: the job (or the sweep) brings it back
            logger.warning("shard %d not taken: %s", shard_id, exc)
            return
        self.current = shard.run_id
        try:
            config = await self._config(shard.run_id)
        except ConfigError as exc:  # its stored policy is gone or invalid: no node could test the run
            failed = await asyncio.to_thread(shards.fail, self.store, shard_id, f"the run's policy: {exc}",
                                             int(self.node["id"]))
            logger.error("TestRun#%s error: the run's policy: %s", failed.run.label, exc)
            return
        except LungeError as exc:  # the control plane or the database restarting: the sweep brings the shard back
            logger.warning("shard %d not taken: %s", shard_id, exc)
            return
        try:
            done = await shards.test_shard(self.store, shard_id, config, int(self.node["id"]))
        except LungeError as exc:  # not committed (the database restarting): taken again, from its job or the sweep
            logger.warning("shard %d not committed: %s; it will be tested again", shard_id, exc)
            return
        if done is not None and done.run.state.finished:
            logger.info("TestRun#%s %s: %d findings", done.run.label, done.run.state.value, done.run.findings_count)
            self.code = 0 if done.run.state is RunState.PASSED else 1

    async def _config(self, run_id: int) -> RunConfig:
        config = self.configs.get(run_id)
        if config is None:
            run = await asyncio.to_thread(self.store.get_run, run_id)
            registry = load()
            policy = await asyncio.to_thread(_policy, self.api, run, set(registry.checks) | registry.kinds)
            earlier = await asyncio.to_thread(_earlier, self.store, run)
            config = self.configs[run_id] = _run_config(run, policy, registry, self.settings, earlier)
        return config

    async def _beat(self, manager: QueueManager) -> None:
        """Heartbeat the control plane; a node replaced by a newer one of its token stops."""
        while not manager.shutdown.is_set():
            await _idle(manager, HEARTBEAT_S)
            body = {"state": "testing" if self.current else "idle", "run_id": self.current}
            try:
                answer = await asyncio.to_thread(self.api.call, "POST", f"/v1/nodes/{self.node['id']}/heartbeat", body)
            except LungeError as exc:
                logger.warning("heartbeat failed: %s", exc)
                continue
            if answer.get("state") == "replaced":
                logger.info("node %s replaced by a newer node of the same token: stopping", self.node["id"])
                manager.shutdown.set()
                return
            if answer.get("run_state") in {s.value for s in RunState if s.finished}:
                self.current = None


async def _idle(manager: QueueManager, seconds: float) -> None:
    """Wait ``seconds``, or less when the node is stopping."""
    try:
        await asyncio.wait_for(manager.shutdown.wait(), seconds)
    except TimeoutError:
        pass


def _run_config(run: TestRun, policy: TestPolicy, registry: Any, settings: TestingSettings,
                earlier: Earlier | None) -> RunConfig:
    order = run.stats.get("order") or {}
    return RunConfig(policy=policy, checks=tuple(registry.select(policy.checks)), workers=settings.workers,
                     rps=order.get("rps"), target=run.target, verify_tls=settings.verify_tls,
                     stop_on_first_fail=bool(order.get("stop_on_first_fail")), identities=settings.identities,
                     earlier=earlier)


def _earlier(store: Store, run: TestRun) -> Earlier | None:
    """The run ``run`` is compared with (fail_on: new), as the control plane chose it when the run
    was ordered (``stats.order.compare_to``, a run of the same project)."""
    compare_to = (run.stats.get("order") or {}).get("compare_to")
    return reporting.earlier_of(store, store.get_run(int(compare_to))) if compare_to is not None else None


def _test(api: ApiClient, node_id: int, run_id: int, store_url: str, settings: TestingSettings,
          live: liverun.LiveProxy | None = None, signalled: liverun.Signalled | None = None) -> int:
    store = open_store(store_url)
    try:
        run = liverun.current(store, run_id, node_id)
        if run.state.finished and not run.records:  # interrupted through the API between the claim and now
            logger.info("TestRun#%s was %s before testing started", run.label, run.state.value)
            return 1
        registry = load()
        policy = _policy(api, run, set(registry.checks) | registry.kinds)
        config = _run_config(run, policy, registry, settings, _earlier(store, run))
        if run.records:
            final = aio.run(liverun.test_claimed_with_signals(store, run, config, live, api, node_id, signalled))
        else:
            logger.info("TestRun#%s taken: testing record rec_%04d", run.label, run.record_id)
            engine = RunEngine(store, run, config, Events())
            with Lease(store, run_id):  # a node killed while it tests leaves the run interrupted
                final = aio.run(_watched(engine, api, node_id, run_id, store))
        logger.info("TestRun#%s %s: %d findings", final.label, final.state.value, final.findings_count)
        return 0 if final.state.value == "passed" else 1
    finally:
        store.close()


def _policy(api: ApiClient, run: TestRun, known: set[str]) -> TestPolicy:
    """The run's policy: the project's stored one (fetched from the API), else the built-in of its name."""
    policy_id = (run.stats.get("order") or {}).get("policy_id")
    if policy_id is None:
        return BUILTIN.get(run.policy_name, BUILTIN["default"])
    stored = api.call("GET", f"/v1/test_policy/{policy_id}")
    return parse_policy(stored["source"], f"policy {policy_id}", known)


async def _watched(engine: RunEngine, api: ApiClient, node_id: int, run_id: int, store: Store) -> TestRun:
    """Run the engine while heartbeating; pause, resume and interrupt ordered through the API reach
    it. An ``interrupted`` answer is checked first (:func:`liverun.current`): after an outage the
    heartbeat can land before the delayed renewal of this node's lease, which then reads lapsed."""

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                answer = await asyncio.to_thread(api.call, "POST", f"/v1/nodes/{node_id}/heartbeat",
                                                 {"state": "testing", "run_id": run_id})
            except LungeError as exc:  # the control plane is down: keep testing, try again
                logger.warning("heartbeat failed: %s", exc)
                continue
            state = answer.get("run_state")
            if state == "interrupted":
                try:
                    state = (await asyncio.to_thread(liverun.current, store, run_id, node_id)).state.value
                except LungeError as exc:  # believe the control plane's answer
                    logger.warning("TestRun#run_%04d: %s", run_id, exc)
            if state == "interrupted":
                logger.info("TestRun#run_%04d interrupted through the control plane", run_id)
                engine.interrupt()
                return
            if state == "paused" and not engine.paused:
                logger.info("TestRun#run_%04d paused through the control plane", run_id)
                engine.pause()
            elif state == "running" and engine.paused:
                engine.resume()

    async with asyncio.TaskGroup() as group:
        beating = group.create_task(heartbeat())
        try:
            return await engine.execute()
        finally:
            beating.cancel()
