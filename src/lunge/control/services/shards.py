"""Shards of runs, brokered by the control plane (DESIGN.md, "Work distribution"): on PostgreSQL,
with the engine's verdict handed in (:class:`~lunge.control.context.Control`), the claim that hands
a run out splits it in the same transaction, so no node death between the two can leave a run
``running`` with no shards; and the nodes on the remote store (no ``LUNGE_DB``) take, heartbeat
and complete shard jobs through the API. The job queue is pgqueuer's (:mod:`lunge.store.sql.jobqueue`),
the same queue the nodes with ``LUNGE_DB`` take from directly; the control plane dequeues on a
remote node's behalf under that node's own queue manager id.

A shard's results are committed by :meth:`~lunge.store.sql.shards.Shards.complete`, whose
compare-and-set on the shard's done mark keeps them exactly once in the findings, whichever node
(or how many) tested it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lunge.control.context import Control
from lunge.control.services import ConflictError, policies
from lunge.errors import ConfigError, LungeError, NotFoundError
from lunge.policy import BUILTIN, TestPolicy
from lunge.store.models import NewFinding, Shard, ShardDone, TestRun, TestSet
from lunge.store.projects import Node
from lunge.store.remote import wire
from lunge.store.sql.ingest import Ingest
from lunge.store.sql.shards import ranges

if TYPE_CHECKING:
    from lunge.store.sql.jobqueue import JobQueue

logger = logging.getLogger(__name__)

POLL_S = 0.5  # how often a long-polling take looks at the queue again
SWEEP_S = 15.0  # how often a queue's lost shards (queued nowhere) are queued again
# The PostgreSQL connections the broker holds at most, however many nodes long-poll: each take,
# heartbeat and completion borrows one for its few queries only.
QUEUE_CONNECTIONS = 8
REPLACED = "replaced"


def brokering(control: Control) -> bool:
    """Whether this control plane splits runs and brokers shard jobs (PostgreSQL, verdict known)."""
    return control.verdict is not None and control.store.db.dialect == "postgresql"


def queue_name(project_id: int, build_id: str | None) -> str:
    from lunge.store.sql.jobqueue import entrypoint

    return entrypoint(project_id, build_id)


@asynccontextmanager
async def _jobs(control: Control) -> AsyncIterator[JobQueue]:
    """The job queue on a connection of the server's pool (pgqueuer's driver wants an autocommit
    one), held only for the block; its tables installed by the first caller of this process."""
    from lunge.store.sql import jobqueue

    if control.job_pool is None:
        control.job_pool = jobqueue.QueuePool(control.config.db_url, QUEUE_CONNECTIONS)
    async with control.job_pool.queue() as queue:
        if not control.jobs_installed:
            await queue.install()
            control.jobs_installed = True
        yield queue


def run_policy(control: Control, project_id: int, run: TestRun) -> TestPolicy:
    """The policy the run was ordered with; the default one when it is gone (the run still ends)."""
    policy_id = (run.stats.get("order") or {}).get("policy_id")
    if policy_id is None:
        return BUILTIN.get(run.policy_name, BUILTIN["default"])
    try:
        return policies.resolve(control, project_id, int(policy_id))[0]
    except (NotFoundError, ConfigError):
        return BUILTIN["default"]


# ------------------------------------------------------------------ claiming a run
async def claim(control: Control, project_id: int, node_id: int, shard_size: int | None) -> TestRun | None:
    """The oldest created run of the node's project (and BUILD_ID), now ``running``; when brokering,
    split into shards of ``shard_size`` baselines in the claim's transaction and queued."""
    node = await asyncio.to_thread(control.projects.get_node, project_id, node_id)
    if not brokering(control) or shard_size is None:
        return await asyncio.to_thread(control.projects.claim_run, node)
    name = queue_name(project_id, node.build_id)
    run, made = await asyncio.to_thread(_claim_and_split, control, node, shard_size, name)
    if run is not None and made:
        try:
            async with _jobs(control) as queue:
                await queue.enqueue_shards(name, run.id, [(s.id, s.index) for s in made])
        except LungeError as exc:  # committed, not queued: the sweep of the next take queues them
            logger.warning("TestRun#%s split, its shards not queued yet: %s", run.label, exc)
    return run


def _claim_and_split(control: Control, node: Node, size: int, name: str) -> tuple[TestRun | None, list[Shard]]:
    """Claim and split in one transaction (a nested write joins it); a record without baselines
    ends the run at once, with the verdict on no counters."""
    with control.store.db.write():
        run = control.projects.claim_run(node)
        if run is None or run.records:  # a recording run has no baselines yet: its node tests it whole
            return run, []
        total = control.store.count_baselines(run.record_id)
        control.store.update_run(run.id, baselines_total=total, stats={"queue": name},
                                 lease_owner=None, lease_expires_at=None)  # its shards are jobs now
        made = control.store.shards.split(run.id, ranges(total, size))
        if not made:
            assert control.verdict is not None  # brokering
            changes = control.verdict(run_policy(control, node.project_id, run), [], None)
            control.store.update_run(run.id, **changes, finished_at=datetime.now(UTC))
    return control.store.get_run(run.id), made


# ------------------------------------------------------------------ remote nodes' shard jobs
async def take(control: Control, project_id: int, node_id: int, wait_s: float) -> dict[str, Any] | None:
    """One shard job for the node: ``{"job_id", "shard", "run"}``, or None when none came within
    ``wait_s`` (a long poll). A job whose node stopped heartbeating for ``STALE`` is taken again."""
    node = await asyncio.to_thread(control.projects.get_node, project_id, node_id)  # another project's: 404
    if not brokering(control):
        raise ConflictError("this control plane does not broker shards (it is not on PostgreSQL): test runs whole")
    if node.state == REPLACED:
        return None
    name = queue_name(project_id, node.build_id)
    deadline = time.monotonic() + wait_s
    while True:
        async with _jobs(control) as queue:  # a connection only while looking, not while waiting
            await _sweep(control, queue, name)
            taken = await _take_one(control, queue, name, node.id)
        if taken is not None:
            return taken
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_S)


async def _take_one(control: Control, queue: JobQueue, name: str, node_id: int) -> dict[str, Any] | None:
    """The next job of the queue with its shard and run; None when the queue has none for now."""
    while (taken := await queue.take(name, node_id)) is not None:
        job_id, shard_id = taken
        shard = await asyncio.to_thread(control.store.shards.get, shard_id)
        if shard.done:  # committed by a node whose job mark was lost: nothing to test
            await queue.finish(job_id, node_id)
            continue
        run = await asyncio.to_thread(control.store.get_run, shard.run_id)
        return {"job_id": job_id, "shard": shard_view(shard), "run": wire.run_to(run)}
    return None


async def _sweep(control: Control, queue: JobQueue, name: str) -> None:
    """Queue again, every ``SWEEP_S``, the unfinished shards of the queue's live runs that have no
    job (the split committed and the enqueue failed; a job that failed): pgqueuer's dedupe key
    skips a shard whose job is still queued or taken."""
    now = time.monotonic()
    if now - control.swept.get(name, 0.0) < SWEEP_S:
        return
    control.swept[name] = now
    left = await asyncio.to_thread(control.store.shards.unfinished, name)
    added = 0
    for run_id in sorted({s.run_id for s in left}):
        added += await queue.enqueue_shards(name, run_id, [(s.id, s.index) for s in left if s.run_id == run_id])
    if added:
        logger.warning("%d shard(s) of %s had lost their job: queued again", added, name)


async def beat(control: Control, project_id: int, node_id: int, job_ids: list[int]) -> list[int]:
    """Refresh the heartbeat of the jobs the node holds; returns those it still holds."""
    await asyncio.to_thread(control.projects.get_node, project_id, node_id)
    if not brokering(control) or not job_ids:
        return []
    async with _jobs(control) as queue:
        return await queue.beat(job_ids, node_id)


async def complete(control: Control, project_id: int, shard_id: int, node_id: int, job_id: int | None,
                   body: dict[str, Any]) -> ShardDone:
    """Commit a shard's results (once: a shard done already is left alone), then mark its job done."""
    await asyncio.to_thread(control.projects.get_node, project_id, node_id)  # another project's: 404
    shard = await asyncio.to_thread(_own_shard, control, project_id, shard_id)
    if not brokering(control):
        raise ConflictError("this control plane does not broker shards (it is not on PostgreSQL)")
    test_sets, findings = await asyncio.to_thread(_results, shard, body)  # up to 16 MiB to decode: off the loop
    await asyncio.to_thread(_own_baselines, control, project_id, [t.baseline_id for t in test_sets]
                            + [f.baseline_id for f in findings])
    run = await asyncio.to_thread(control.store.get_run, shard.run_id)
    policy = await asyncio.to_thread(run_policy, control, project_id, run)
    verdict = control.verdict
    assert verdict is not None  # brokering
    compare_to = (run.stats.get("order") or {}).get("compare_to")  # chosen when the run was ordered
    compared = None if compare_to is None else (await asyncio.to_thread(control.store.get_run, int(compare_to))).label
    done = await asyncio.to_thread(control.store.shards.complete, shard.id, test_sets, findings,
                                   dict(body.get("counters") or {}), lambda rows: verdict(policy, rows, compared),
                                   node_id, bool(body.get("final")))
    if job_id is not None:
        try:
            async with _jobs(control) as queue:
                await queue.finish(job_id, node_id)
        except LungeError as exc:  # the shard is committed: a job taken again is closed as done at take
            logger.warning("shard %d committed, its job %d not marked done: %s", shard.index, job_id, exc)
    return done


def _own_shard(control: Control, project_id: int, shard_id: int) -> Shard:
    shard = control.store.shards.get(shard_id)
    if control.projects.run_owner(shard.run_id) != project_id:
        raise NotFoundError(f"no shard {shard_id}")
    return shard


def _own_baselines(control: Control, project_id: int, baseline_ids: list[int]) -> None:
    """Results only of the project's baselines (another project's id reads as unknown)."""
    missing = set(baseline_ids) - Ingest(control.store.db).owned_baselines(project_id, baseline_ids)
    if missing:
        raise NotFoundError(f"no baseline {min(missing)}")


def _results(shard: Shard, body: dict[str, Any]) -> tuple[list[TestSet], list[NewFinding]]:
    """The shard's test sets and findings off the wire; each must be of the shard's run."""
    try:
        test_sets = [wire.test_set_from(t) for t in body.get("test_sets") or []]
        findings = [wire.new_finding_from(f) for f in body.get("findings") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"shard {shard.id}: malformed results: {exc}") from None
    if any(t.run_id != shard.run_id for t in test_sets) or any(f.run_id != shard.run_id for f in findings):
        raise ConfigError(f"shard {shard.id}: results of another run")
    return test_sets, findings


def shard_view(shard: Shard) -> dict[str, Any]:
    return {"id": shard.id, "run_id": shard.run_id, "index": shard.index, "first_seq": shard.first_seq,
            "last_seq": shard.last_seq, "state": shard.state}
