"""The event loop lunge runs on: uvloop where it is installed (not on Windows), else asyncio's own.

The recording proxy and the attack engine spend much of their CPU in the event loop; uvloop cuts
that share (dependencies.md: aiohttp −20–25 % CPU per request, the proxy +15 % requests/s).
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop``, or None (asyncio's default) where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what :func:`run` runs on, for benchmarks and logs."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run[T](main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on lunge's event loop."""
    return asyncio.run(main, loop_factory=loop_factory())


def settle_heap() -> None:
    """Before a long run: move everything built so far (modules, the policy, the checks' tables)
    out of the cyclic GC's sight, and let it run less often. Each request allocates many
    short-lived objects; with the defaults the collector walked the whole heap again and again
    (measured: 3-6 % of the engine's CPU per request)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


class Deadlines:
    """Timeouts for many concurrent awaits, all watched by one periodic timer.

    ``asyncio.timeout`` arms a timer per block; an attack client making thousands of requests a
    second paid about 10 % of its CPU for them. Here a block registers its deadline in a dict and
    one timer, every ``tick`` seconds while any block is open, cancels the tasks past theirs: a
    block ends at most ``tick`` late. The semantics are ``asyncio.timeout``'s: the expired block
    raises ``TimeoutError``, and a cancellation from elsewhere stays a cancellation::

        token = deadlines.arm(10.0)
        try:
            await work()
        except asyncio.CancelledError:
            deadlines.raise_if_expired(token)  # TimeoutError when it was ours
            raise
        finally:
            deadlines.disarm(token)

    A task may be inside one block at a time (a block does not nest in another of the same task).
    """

    def __init__(self, tick: float = 0.05) -> None:
        self._tick = tick
        # task -> [deadline, the task's cancel count at arm time, expired]
        self._open: dict[asyncio.Task[Any], list[Any]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, seconds: float) -> asyncio.Task[Any]:
        """Open a block of the current task ending ``seconds`` from now; returns the token."""
        task = asyncio.current_task()
        assert task is not None, "Deadlines.arm outside a task"
        loop = task.get_loop()
        self._open[task] = [loop.time() + seconds, task.cancelling(), False]
        if self._timer is None:
            self._timer = loop.call_later(self._tick, self._scan)
        return task

    def raise_if_expired(self, token: asyncio.Task[Any]) -> None:
        """In the block's ``except CancelledError``: raise ``TimeoutError`` if the cancellation
        was its deadline's (and no other cancellation is pending)."""
        entry = self._open.get(token)
        if entry is not None and entry[2]:
            entry[2] = False
            if token.uncancel() <= entry[1]:
                raise TimeoutError from None

    def disarm(self, token: asyncio.Task[Any]) -> None:
        """Close the block (in its ``finally``)."""
        entry = self._open.pop(token, None)
        if entry is not None and entry[2]:
            token.uncancel()  # expired with no await left to receive it: drop our cancellation

    def _scan(self) -> None:
        self._timer = None
        if not self._open:
            return
        loop = next(iter(self._open)).get_loop()
        now = loop.time()
        for task, entry in self._open.items():
            if not entry[2] and entry[0] <= now:
                entry[2] = True
                task.cancel()
        self._timer = loop.call_later(self._tick, self._scan)


class Slots:
    """A counting semaphore whose waits cost O(1): a released slot is handed to the first waiter.

    ``asyncio.Semaphore`` scans its waiters on every acquire and removes a woken one with
    ``deque.remove``. With a hundred probes waiting for ten workers, taking a slot cost more than
    the rest of the sender (4.5 % of the engine's CPU). FIFO, like asyncio's; usable as
    ``async with slots:`` or as :meth:`acquire` / :meth:`release`.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        # Futures of waiting tasks, oldest first. Never non-empty while a slot is free: release()
        # hands a slot to a live waiter, and frees it only when none is left.
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        return self._free

    def try_acquire(self) -> bool:
        """Take a slot now if one is free (no await); False when :meth:`acquire` must wait."""
        if self._free > 0:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # a slot was handed over just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():  # a cancelled waiter's future is done: skip it
                future.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


def first_cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception inside a task group's (nested) group: what a node reports on one line
    (a refusal keeps its exit 2) instead of the group's traceback."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    return leaf
