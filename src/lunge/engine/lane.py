"""A per-host quiet lane: timing probes run with nothing else in flight to their host.

Ordinary requests hold the host's lane *shared*; a timing probe holds it *exclusively*, so it waits
for the host's in-flight requests to drain and new ones wait behind it (a writer-preferring
readers-writer lock). Concurrency on other hosts, and on this host between probes, is untouched:
time-based checks never force the whole run single-threaded, and concurrent attacks never fake a
delay (detection.md §15.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class HostLane:
    """A writer-preferring readers-writer lock for one host."""

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold the lane alongside other ordinary requests."""
        await self.enter_shared()
        try:
            yield
        finally:
            await self.leave_shared()

    def try_enter_shared(self) -> bool:
        """Take a shared hold now if nothing exclusive holds or awaits the lane (the common case,
        with no await at all); False when :meth:`enter_shared` must wait. Checking and counting
        happen without an await in between, so no other task can slip in (one loop, one thread)."""
        if self._writer or self._writers_waiting:
            return False
        self._readers += 1
        return True

    async def enter_shared(self) -> None:
        """Take a shared hold (pair it with :meth:`leave_shared`). The sender calls this pair
        directly: once per request, a context manager's generator costs more than the lock."""
        if not self.try_enter_shared():
            async with self._changed:
                await self._changed.wait_for(lambda: not self._writer and not self._writers_waiting)
                self._readers += 1

    def drop_shared(self) -> bool:
        """Give up a shared hold; True when a waiting exclusive holder must now be woken with
        :meth:`wake_exclusive` (the last reader left)."""
        self._readers -= 1
        return bool(self._writers_waiting) and self._readers == 0

    async def wake_exclusive(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def leave_shared(self) -> None:
        if self.drop_shared():
            await self.wake_exclusive()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the lane alone: no other request to this host is in flight meanwhile."""
        async with self._changed:
            self._writers_waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._writer and self._readers == 0)
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            async with self._changed:
                self._writer = False
                self._changed.notify_all()


class Lanes:
    """One :class:`HostLane` per (host, port), created on first use."""

    def __init__(self) -> None:
        self._lanes: dict[tuple[str, int], HostLane] = {}

    def __getitem__(self, key: tuple[str, int]) -> HostLane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = HostLane()
        return lane
