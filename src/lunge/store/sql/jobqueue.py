"""The job queue of API mode: pgqueuer on the control plane's PostgreSQL (DESIGN.md, "The control
plane"). One job per shard of a run; a node takes jobs of its project and BUILD_ID only (the
queue's entrypoint names both); a node that stops heartbeating has its jobs picked again by another
(pgqueuer re-picks a job whose heartbeat is older than ``STALE``).

A node with ``LUNGE_DB`` runs a pgqueuer ``QueueManager`` itself (:meth:`JobQueue.manager`); for a
node on the remote store the control plane takes, heartbeats and finishes jobs on its behalf
(:meth:`JobQueue.take`, :meth:`JobQueue.beat`, :meth:`JobQueue.finish`), with the node's own
queue manager id, so one node can neither keep alive nor finish another's jobs.

pgqueuer's tables are installed by the first node that starts (under an advisory lock, so nodes
starting together install once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
from pgqueuer.adapters.drivers.psycopg import PsycopgDriver
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.core.qm import QueueManager
from pgqueuer.domain.models import Job
from pgqueuer.domain.types import JobId, QueueEntrypoint, QueueManagerId
from pgqueuer.ports.repository import EntrypointExecutionParameter
from psycopg_pool import AsyncConnectionPool

from lunge.errors import StoreError


class _LostConnectionOneLine(logging.Filter):
    """pgqueuer logs its connection lost (PostgreSQL restarted) from several tasks, each with a
    traceback; the node reconnects (:func:`watch`), so one line each says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, psycopg.OperationalError):
            record.msg = f"{record.getMessage()}: {str(error).splitlines()[0]}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("pgqueuer").addFilter(_LostConnectionOneLine())

STALE = timedelta(seconds=10)  # a job unheard of this long is picked again (heartbeats every half of it)
APPLICATION_NAME = "lunge-broker"  # the broker's connections, as pg_stat_activity shows them
_INSTALL_LOCK = 0x6C756E6765  # "lunge": the advisory lock nodes take to install the tables once
_NODES = uuid.UUID("8f0f4d8e-2f4c-5b7e-9a51-6c756e676501")  # namespace of the nodes' queue manager ids


def entrypoint(project_id: int, build_id: str | None) -> str:
    """The queue a run's shards go to: its project's, and its BUILD_ID's (``-``: nodes without one)."""
    return f"lunge.shard.p{project_id}.{build_id or '-'}"


def dedupe_key(run_id: int, index: int) -> str:
    """One job per shard: pgqueuer refuses a second job with this key while the first is queued or taken."""
    return f"run:{run_id}:shard:{index}"


def manager_id(node_id: int) -> QueueManagerId:
    """The queue manager id the control plane takes jobs under for a remote node (stable per node)."""
    return QueueManagerId(uuid.uuid5(_NODES, f"node:{node_id}"))


def libpq_url(store_url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy's) as libpq reads it."""
    return store_url.replace("postgresql+psycopg://", "postgresql://", 1)


class JobQueue:
    """The queue on one autocommit connection (pgqueuer's psycopg driver needs one)."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection
        self.queries = Queries(PsycopgDriver(connection))

    async def install(self) -> None:
        """Create pgqueuer's tables unless they are there."""
        try:
            await self.connection.execute("SELECT pg_advisory_lock(%s)", (_INSTALL_LOCK,))
            try:
                if not await self.queries.schema_is_installed():
                    await self.queries.install()
            finally:
                await self.connection.execute("SELECT pg_advisory_unlock(%s)", (_INSTALL_LOCK,))
        except psycopg.OperationalError as exc:  # the server restarting: the node connects again
            raise StoreError(f"could not install the job queue: {exc}") from exc

    async def enqueue_shards(self, name: str, run_id: int, shards: list[tuple[int, int]]) -> int:
        """One job per ``(shard id, index)``; a shard already queued or taken is skipped. Returns how
        many jobs were added."""
        if not shards:
            return 0
        try:
            ids = await self.queries.enqueue(
                [name] * len(shards), [json.dumps({"shard_id": sid}).encode() for sid, _ in shards],
                [0] * len(shards), dedupe_key=[dedupe_key(run_id, index) for _, index in shards], on_conflict="skip")
        except psycopg.Error as exc:  # the boundary that owns the queue: callers see the store's errors
            raise StoreError(f"could not queue the shards of run_{run_id:04d}: {exc}") from exc
        return sum(1 for i in ids if i is not None)

    async def take(self, name: str, node_id: int) -> tuple[int, int] | None:
        """Take one job of ``name`` for node ``node_id`` (a queued one, or one whose heartbeat is
        older than ``STALE``: its node died): ``(job id, shard id)``, or None when there is none."""
        try:
            jobs = await self.queries.dequeue(
                batch_size=1, entrypoints={QueueEntrypoint(name): EntrypointExecutionParameter(concurrency_limit=0)},
                queue_manager_id=manager_id(node_id), global_concurrency_limit=None, heartbeat_timeout=STALE)
        except psycopg.Error as exc:
            raise StoreError(f"could not take a job of {name}: {exc}") from exc
        if not jobs:
            return None
        return int(jobs[0].id), int(json.loads(jobs[0].payload or b"{}")["shard_id"])

    async def _held(self, job_ids: list[int], node_id: int) -> list[JobId]:
        """Of ``job_ids``, those taken for node ``node_id`` and still held (not re-taken by another)."""
        if not job_ids:
            return []
        table = self.queries.qbq.qualified.queue_table
        async with self.connection.cursor() as cursor:
            await cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) AND queue_manager_id = %s "  # noqa: S608
                                 "AND status = 'picked'", (job_ids, manager_id(node_id)))
            return [JobId(int(row[0])) for row in await cursor.fetchall()]

    async def beat(self, job_ids: list[int], node_id: int) -> list[int]:
        """Refresh the heartbeat of the jobs node ``node_id`` holds (pgqueuer's ``update_heartbeat``);
        returns those it still holds."""
        try:
            held = await self._held(job_ids, node_id)
            if held:
                await self.queries.update_heartbeat(held)
        except psycopg.Error as exc:
            raise StoreError(f"could not heartbeat jobs {job_ids}: {exc}") from exc
        return [int(i) for i in held]

    async def finish(self, job_id: int, node_id: int) -> bool:
        """Mark a job node ``node_id`` holds done (pgqueuer's log of finished jobs, as its queue
        manager does); False when the node no longer holds it (re-taken by another node)."""
        try:
            held = await self._held([job_id], node_id)
            if held:
                await self.queries.driver.execute(self.queries.qbq.build_log_job_query(), held, ["successful"], [None])
        except psycopg.Error as exc:
            raise StoreError(f"could not finish job {job_id}: {exc}") from exc
        return bool(held)

    def manager(self, name: str, handle: Callable[[int], Awaitable[None]]) -> QueueManager:
        """A queue manager taking the jobs of ``name``, handing each shard id to ``handle``."""
        manager = QueueManager(self.queries)

        async def shard(job: Job) -> None:
            await handle(int(json.loads(job.payload or b"{}")["shard_id"]))

        manager.entrypoint(name)(shard)
        return manager


async def run_manager(manager: QueueManager) -> None:
    """Take jobs until ``manager.shutdown`` is set: at most two shards held, and tested side by side,
    at once (pgqueuer's cap on a worker's jobs is at least twice its batch of one), heartbeats every
    ``STALE / 2``."""
    try:
        await manager.run(dequeue_timeout=timedelta(seconds=1), batch_size=1, max_concurrent_tasks=2,
                          heartbeat_timeout=STALE, log_aggregation_interval=timedelta(0))
    except psycopg.Error as exc:  # its connection lost: the node connects again
        raise StoreError(f"the job queue failed: {exc}") from exc


async def watch(queues: tuple[JobQueue, ...], shutdown: asyncio.Event, every: float = 1.0) -> None:
    """Raise StoreError once a queue's connection is lost (PostgreSQL restarted): pgqueuer does not
    reconnect, and a manager on a dead connection takes no job; the node then connects again.
    A broken connection says so (pgqueuer's LISTEN noticed); an idle one is asked ``SELECT 1``."""
    probed = queues[0]  # the caller's own: pgqueuer's connection may be waiting on LISTEN
    while not shutdown.is_set():
        try:
            await asyncio.wait_for(shutdown.wait(), every)
            return
        except TimeoutError:
            pass
        if any(q.connection.broken or q.connection.closed for q in queues):
            raise StoreError("the job queue's connection was lost")
        try:
            await asyncio.wait_for(probed.connection.execute("SELECT 1"), 10 * every)
        except (psycopg.Error, TimeoutError) as exc:
            raise StoreError(f"the job queue's connection was lost: {exc}") from exc


class QueuePool:
    """The job queue for a server brokering for many nodes: at most ``size`` PostgreSQL
    connections however many nodes long-poll (psycopg_pool's pool; each connection is checked
    before it is lent, so a PostgreSQL restart costs a reconnect, not a failed request). Opened
    lazily in the running event loop, which its connections belong to."""

    def __init__(self, store_url: str, size: int, wait_s: float = 10.0) -> None:
        self.store_url, self.size, self.wait_s = store_url, size, wait_s
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _opened(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:  # a pool's connections live in one loop
            if self._pool is not None and self._loop is not None and self._loop.is_running():
                asyncio.run_coroutine_threadsafe(self._pool.close(), self._loop)  # closed in its own loop
            self._pool = AsyncConnectionPool(
                libpq_url(self.store_url), min_size=1, max_size=self.size, open=False, timeout=self.wait_s,
                kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
                check=AsyncConnectionPool.check_connection, name="lunge-jobs")
            self._loop = loop
            await self._pool.open(wait=False)
        return self._pool

    @asynccontextmanager
    async def queue(self) -> AsyncIterator[JobQueue]:
        """A connection of the pool as a :class:`JobQueue`, for the ``with`` block."""
        pool = await self._opened()
        try:
            connection = await pool.getconn()
        except psycopg.Error as exc:  # PoolTimeout: PostgreSQL unreachable, or every connection busy
            raise StoreError(f"could not connect to the job queue: {exc}") from exc
        try:
            yield JobQueue(connection)
        finally:
            await pool.putconn(connection)

    async def close(self) -> None:
        if self._pool is not None and self._loop is asyncio.get_running_loop():
            await self._pool.close()
        self._pool = None


@asynccontextmanager
async def connect(store_url: str) -> AsyncIterator[JobQueue]:
    try:
        connection = await psycopg.AsyncConnection.connect(libpq_url(store_url), autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"could not connect to the job queue: {exc}") from exc
    try:
        yield JobQueue(connection)
    finally:
        await connection.close()


__all__ = ["STALE", "JobQueue", "QueuePool", "connect", "dedupe_key", "entrypoint", "libpq_url", "manager_id",
           "run_manager", "watch"]
