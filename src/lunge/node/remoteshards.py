"""A node on the remote store (``LUNGE_API_URL`` and ``LUNGE_API_TOKEN``, no ``LUNGE_DB``) testing
runs shard by shard, beside the nodes with ``LUNGE_DB`` (DESIGN.md, "Work distribution").

The control plane splits the run it hands out (the claim) and brokers the job queue: this node
takes shard jobs through ``POST /v1/nodes/{id}/shards/take`` (at most ``HELD`` at a time, tested
side by side, as a node with ``LUNGE_DB`` does), keeps them alive with
``POST /v1/nodes/{id}/shards/heartbeat`` every ``HEARTBEAT_S`` (a node that stops has its jobs taken
again by another node after pgqueuer's stale timeout), tests each against the remote store
(:func:`lunge.node.shards.test_slice`: reads through the API, results kept in memory) and commits
it whole with ``POST /v1/shards/{id}/complete`` (exactly once: a shard already done is left alone).
Pause, resume and interrupt reach a shard through its run's state, read every half second.
SIGTERM: no new shard is taken; those held are finished.

A recording run (ordered without a record) is not split: the node that claims it records it
through its proxy and tests it whole (:mod:`lunge.node.liverun`), while its shard jobs go on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from lunge.aio import first_cause
from lunge.engine.outcome import Stop
from lunge.engine.results import Counters
from lunge.engine.runner import RunConfig
from lunge.errors import ConfigError, LungeError, NotFoundError
from lunge.node import liverun, shards
from lunge.node.apiclient import ApiClient
from lunge.store import Store, open_store
from lunge.store.models import RunState, Shard, TestRun
from lunge.store.remote import wire

logger = logging.getLogger(__name__)

HELD = 2  # shards held at once, as pgqueuer's cap on a LUNGE_DB node (twice its batch of one)
HEARTBEAT_S = 2.0  # well inside the jobs' stale timeout (10 s)
TAKE_WAIT_S = 5.0  # the take's long poll
COMMIT_PATIENCE_S = 120.0  # how long a tested shard's commit is retried while the control plane is away
MAX_BACKOFF_S = 30.0

# The run's configuration (its policy fetched once through the API), given the store and the run.
Configure = Callable[[Store, TestRun], RunConfig]


class RemoteShardingNode:
    """Claim runs (the control plane splits them), take their shard jobs, test and complete them."""

    def __init__(self, api: ApiClient, node: dict[str, Any], store_url: str, size: int, poll_s: float,
                 configure: Configure, live: liverun.LiveProxy | None = None) -> None:
        self.api, self.node, self.store_url, self.size, self.poll_s = api, node, store_url, size, poll_s
        self.configure, self.live = configure, live
        self.node_id = int(node["id"])
        self.configs: dict[int, RunConfig] = {}  # run id -> its configuration
        self.held: dict[int, int] = {}  # job id -> run id, of the shards being tested here
        self.stop = asyncio.Event()  # SIGTERM or replaced: take nothing new
        self.recording: int | None = None  # the recording run this node records and tests
        self.unstarted: set[int] = set()  # runs claimed here whose start met an outage
        self.code = 0

    async def serve(self, once: bool) -> int:
        """Until stopped (SIGTERM, SIGINT, replaced), or, with ``once``, until the first run
        claimed ends (none waiting: at once)."""
        self.store: Store = open_store(self.store_url)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # stop taking shards; finish those held
            loop.add_signal_handler(sig, self.stop.set)
        try:
            async with asyncio.TaskGroup() as group:
                takers = [group.create_task(self._take_loop()) for _ in range(HELD)]
                beating = group.create_task(self._beat())
                await self._claim_loop(once)
                self.stop.set()
                await asyncio.gather(*takers)
                beating.cancel()
            return self.code
        except BaseExceptionGroup as group:  # the task group's: the cause, one line at the top (exit 2 if refused)
            raise first_cause(group) from None
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self.store.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.api.call, method, path, body)

    async def _claim_loop(self, once: bool) -> None:
        """Claim created runs (split and queued by the control plane); with ``once``, until the
        first run claimed ends."""
        backoff, waiting = self.poll_s, None
        while not self.stop.is_set():
            try:
                claimed = await self._call("POST", f"/v1/nodes/{self.node_id}/claim", {"shard_size": self.size})
                if once and waiting is not None:
                    run = await asyncio.to_thread(self.store.get_run, waiting)
                    if run.state.finished:
                        self.code = 0 if run.state is RunState.PASSED else 1
                        return
            except ConfigError:
                self.stop.set()
                raise
            except LungeError as exc:
                logger.warning("%s; trying again in %.0f s", exc, backoff)
                await self._idle(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = self.poll_s
            if claimed:
                waiting = waiting or int(claimed["id"])
                self.unstarted.add(int(claimed["id"]))
            if await self._start_claimed() and once:
                return
            if once and waiting is None:
                return
            await self._idle(self.poll_s if not once else 0.2)

    async def _start_claimed(self) -> bool:
        """Start the runs claimed here: a sharded one is the control plane's to split (nothing to do
        here), a recording one is recorded and tested here. A run whose start meets an outage of the
        control plane stays claimed by this node and is started on the next turn (no other node can
        claim it). Whether a recording run was tested."""
        recorded = False
        for run_id in sorted(self.unstarted):
            try:
                run = await asyncio.to_thread(self.store.get_run, run_id)
                if run.records:
                    await self._record(run)  # recorded and tested whole here: never sharded
                    recorded = True
                else:
                    logger.info("TestRun#%s taken: its shards are queued", run.label)
                self.unstarted.discard(run_id)
            except NotFoundError:  # deleted meanwhile: nothing to start
                self.unstarted.discard(run_id)
            except ConfigError:
                raise
            except LungeError as exc:
                logger.warning("TestRun#run_%04d not started yet: %s; trying again", run_id, exc)
        return recorded

    async def _record(self, run: TestRun) -> None:
        """A recording run: recorded through the node's proxy and tested whole here."""
        try:
            config = await asyncio.to_thread(self.configure, self.store, run)
        except ConfigError as exc:  # its stored policy is gone or invalid: no node could test the run
            await asyncio.to_thread(liverun.abandon, self.store, run, f"the run's policy: {exc}")
            self.code = 1
            return
        self.recording = run.id
        try:
            final = await liverun.test_claimed(self.store, run, config, self.live, self.api, self.node_id,
                                               self.stop.is_set)
        finally:
            self.recording = None
        logger.info("TestRun#%s %s: %d findings", final.label, final.state.value, final.findings_count)
        self.code = 0 if final.state is RunState.PASSED else 1

    async def _idle(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _take_loop(self) -> None:
        """Take one shard job at a time (a long poll), test it, complete it; until stopped."""
        backoff = self.poll_s
        while not self.stop.is_set():
            try:
                taken = await self._call("POST", f"/v1/nodes/{self.node_id}/shards/take", {"wait_s": TAKE_WAIT_S})
            except LungeError as exc:  # also a ConfigError: a control plane that stopped brokering
                logger.warning("taking a shard failed: %s; trying again in %.0f s", exc, backoff)
                await self._idle(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = self.poll_s
            if taken:  # taken even if SIGTERM came meanwhile: held, so finished
                await self._test(int(taken["job_id"]), _shard(taken["shard"]), wire.run_from(taken["run"]))

    async def _test(self, job_id: int, shard: Shard, run: TestRun) -> None:
        self.held[job_id] = run.id
        try:
            try:
                config = self.configs.get(run.id)
                if config is None:
                    config = self.configs[run.id] = await asyncio.to_thread(self.configure, self.store, run)
            except ConfigError as exc:  # its stored policy is gone or invalid: no node could test the run
                logger.error("TestRun#%s error: the run's policy: %s", run.label, exc)
                stop = Stop(RunState.ERROR, f"the run's policy: {exc}")
                await self._complete(job_id, shard, [], [], shards.encode(Counters(), stop), True)
                return
            except LungeError as exc:  # the control plane is away: the job, no longer kept alive, comes back
                logger.warning("shard %d of TestRun#%s left to its job: %s", shard.index, run.label, exc)
                return
            try:
                tested = await shards.test_slice(self.store, shard, config)
            except LungeError as exc:  # the store went away mid-shard: nothing of it is kept, its job comes back
                logger.warning("shard %d of TestRun#%s left to its job: %s", shard.index, run.label, exc)
                return
            await self._complete(job_id, shard, [wire.test_set_to(t) for t in tested.buffer.test_sets],
                                 [wire.new_finding_to(f) for f in tested.buffer.findings], tested.counters,
                                 tested.final)
        finally:
            self.held.pop(job_id, None)

    async def _complete(self, job_id: int, shard: Shard, test_sets: list[dict[str, Any]],
                        findings: list[dict[str, Any]], counters: dict[str, Any], final: bool) -> None:
        """Commit the shard through the control plane, retried while it is away (the job is kept
        alive meanwhile); given up after ``COMMIT_PATIENCE_S``: the job goes stale and another node
        tests the shard again."""
        body = {"node_id": self.node_id, "job_id": job_id, "test_sets": test_sets, "findings": findings,
                "counters": counters, "final": final}
        deadline, backoff = time.monotonic() + COMMIT_PATIENCE_S, 1.0
        while True:
            try:
                done = await self._call("POST", f"/v1/shards/{shard.id}/complete", body)
                break
            except ConfigError as exc:  # refused: retrying will not help
                logger.error("shard %d of run_%04d refused: %s", shard.index, shard.run_id, exc)
                return
            except LungeError as exc:
                if time.monotonic() > deadline:
                    logger.error("shard %d of run_%04d not committed: %s", shard.index, shard.run_id, exc)
                    return
                logger.warning("committing shard %d failed: %s; trying again", shard.index, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        run = done["run"]
        if not done["stored"]:
            logger.info("shard %d of TestRun#%s was done by another node: nothing stored", shard.index, run["label"])
        elif run["finished"]:
            logger.info("TestRun#%s %s: %d findings", run["label"], run["state"], run["findings_count"])
            self.code = 0 if run["state"] == RunState.PASSED.value else 1

    async def _beat(self) -> None:
        """Heartbeat the node and the jobs it holds; a node replaced by a newer one of its token
        takes nothing new."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            runs = sorted(set(self.held.values()) | ({self.recording} if self.recording else set()))
            body = {"state": "testing" if runs else "idle", "run_id": runs[0] if runs else None}
            try:
                if self.held:
                    await self._call("POST", f"/v1/nodes/{self.node_id}/shards/heartbeat", {"jobs": sorted(self.held)})
                answer = await self._call("POST", f"/v1/nodes/{self.node_id}/heartbeat", body)
            except LungeError as exc:
                logger.warning("heartbeat failed: %s", exc)
                continue
            if answer.get("state") == "replaced" and not self.stop.is_set():
                logger.info("node %s replaced by a newer node of the same token: stopping", self.node_id)
                self.stop.set()


def _shard(data: dict[str, Any]) -> Shard:
    return Shard(id=int(data["id"]), run_id=int(data["run_id"]), index=int(data["index"]),
                 first_seq=int(data["first_seq"]), last_seq=int(data["last_seq"]), state=str(data["state"]),
                 counters={}, node_id=None, done_at=None)


__all__ = ["RemoteShardingNode"]
