"""lunge.aio.Deadlines: asyncio.timeout's semantics with one timer for all blocks."""

from __future__ import annotations

import asyncio
import time

import pytest

from lunge.aio import Deadlines, Slots


async def _block(deadlines: Deadlines, seconds: float, work: float) -> str:
    token = deadlines.arm(seconds)
    try:
        await asyncio.sleep(work)
        return "done"
    except asyncio.CancelledError:
        deadlines.raise_if_expired(token)
        raise
    finally:
        deadlines.disarm(token)


async def test_a_block_past_its_deadline_raises_timeout_error_at_most_a_tick_late() -> None:
    deadlines = Deadlines(tick=0.02)
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await _block(deadlines, 0.05, 5)
    assert 0.05 <= time.perf_counter() - started < 0.5
    # the task carries no leftover cancellation: it goes on awaiting normally
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.05)


async def test_a_block_that_ends_in_time_is_never_cancelled_later() -> None:
    deadlines = Deadlines(tick=0.01)
    assert await _block(deadlines, 0.05, 0) == "done"
    await asyncio.sleep(0.1)  # well past the deadline of the closed block: no CancelledError here


async def test_concurrent_blocks_expire_each_on_its_own_deadline() -> None:
    deadlines = Deadlines(tick=0.01)
    results = await asyncio.gather(_block(deadlines, 0.05, 0.3), _block(deadlines, 1.0, 0.1),
                                   return_exceptions=True)
    assert isinstance(results[0], TimeoutError)
    assert results[1] == "done"


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(tick=0.01)
    task = asyncio.ensure_future(_block(deadlines, 5.0, 5))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_racing_the_deadline_is_not_swallowed() -> None:
    deadlines = Deadlines(tick=60)  # the periodic scan never comes on its own: the test runs it
    task = asyncio.ensure_future(_block(deadlines, 0, 5))
    await asyncio.sleep(0)  # the task is inside its block now, its deadline already past
    deadlines._scan()  # the deadline fires...
    task.cancel()  # ...and, before the task runs again, a cancellation comes from elsewhere
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slots_bound_concurrency_and_serve_waiters_in_order() -> None:
    slots = Slots(2)
    running, peak, order = 0, 0, []

    async def job(i: int) -> None:
        nonlocal running, peak
        async with slots:
            running += 1
            peak = max(peak, running)
            order.append(i)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(job(i) for i in range(10)))
    assert peak == 2 and order == list(range(10)) and slots.free == 2


async def test_a_cancelled_waiter_neither_takes_nor_loses_a_slot() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiting = asyncio.ensure_future(slots.acquire())
    handed = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled while waiting: skipped by release()
    await asyncio.sleep(0)
    slots.release()
    await handed  # the slot went to the next live waiter
    assert slots.free == 0
    late = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to `late`...
    late.cancel()  # ...which is cancelled before it runs: the slot is passed on, not lost
    with pytest.raises(asyncio.CancelledError):
        await late
    assert slots.free == 1
