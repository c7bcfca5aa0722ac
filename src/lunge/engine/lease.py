"""A test run's lease: while a node runs a test run it renews the run's ``lease_expires_at`` every
few seconds (a heartbeat, from a thread, so a busy event loop or a parent waiting for its worker
processes never misses one). The expiry is the store's clock plus the lease, when the renewal
lands (:meth:`~lunge.store.base.Store.renew_lease`). A node that is SIGKILLed, or whose machine
goes away, stops renewing: when the lease expires every reader sees the run as ``interrupted``
(:meth:`~lunge.store.models.TestRun.as_seen_at`) and :func:`reap` writes it down.

On one machine there is no need to wait for the lease: a run whose owner is this host and whose
process no longer exists was abandoned now.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType

from lunge.errors import LungeError
from lunge.store.base import Store
from lunge.store.models import RunState, abandoned

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # a run whose node was silent this long is abandoned
HEARTBEAT_SECONDS = 5.0  # how often the node renews it: several misses before it expires


def owner_id() -> str:
    """This process as a lease owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """Hold the lease of run ``run_id`` for the ``with`` block; renewed every ``heartbeat``
    seconds; released (cleared) at the end. A store that refuses a renewal is logged, not fatal:
    the run's own writes will say if the store is gone."""

    def __init__(self, store: Store, run_id: int, *, seconds: float = LEASE_SECONDS,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.store = store
        self.run_id = run_id
        self.seconds = seconds
        self.heartbeat = heartbeat
        self.owner = owner_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> Lease:
        self.renew()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self.heartbeat + 5)
        try:
            self.store.update_run(self.run_id, lease_owner=None, lease_expires_at=None)
        except LungeError as problem:
            logger.warning("could not release the lease of run %s: %s", self.run_id, problem)

    def renew(self) -> None:
        # The store computes the expiry by its own clock when the renewal lands: neither this
        # node's clock nor the time the renewal spent waiting out an outage can shorten it.
        self.store.renew_lease(self.run_id, self.owner, self.seconds)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                self.renew()
            except LungeError as problem:
                logger.warning("run %s: the heartbeat failed: %s", self.run_id, problem)


@asynccontextmanager
async def held(store: Store, run_id: int) -> AsyncIterator[Lease]:
    """:class:`Lease` for an ``async with`` block: taken and released off the event loop (a
    remote store's write waits out an outage of the control plane)."""
    lease = Lease(store, run_id)
    await asyncio.to_thread(lease.__enter__)
    try:
        yield lease
    finally:
        await asyncio.to_thread(lease.__exit__, None, None, None)


def reap(store: Store) -> list[int]:
    """Mark ``interrupted`` every run abandoned by its node: its lease expired, or its owner is a
    process of this host that no longer exists. Returns their ids."""
    here = socket.gethostname()
    now = datetime.now(UTC)
    reaped = []
    for state in (RunState.RUNNING, RunState.PAUSED, RunState.CREATED):
        for run in store.list_runs(limit=1000, state=state):
            host, _, pid = (run.lease_owner or "").rpartition(":")
            if host == here and pid.isdigit() and not _alive(int(pid)):
                store.update_run(run.id, state=RunState.INTERRUPTED, finished_at=now, lease_expires_at=None,
                                 error=run.error or abandoned(run.lease_owner, now))
                reaped.append(run.id)
    return reaped + store.expire_leases()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


__all__ = ["HEARTBEAT_SECONDS", "LEASE_SECONDS", "Lease", "held", "owner_id", "reap"]
