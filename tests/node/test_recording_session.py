"""The session logic of recording mode without sockets: when it stops (inactivity, signals) and
how long it waits for exchanges in flight."""

from __future__ import annotations

import asyncio
import time

from lunge.node.recording import StopSignal, _drain, _wait_for_stop


class FakeRecorder:
    """What the session reads of the addon: activity, exchanges in flight, an idle event."""

    def __init__(self) -> None:
        self.last_request_at = time.monotonic()
        self.in_flight = 0
        self.stopping = False
        self.idle = asyncio.Event()
        self.idle.set()

    async def wait_idle(self) -> None:
        await self.idle.wait()

    def release_waiters(self) -> None:
        self.idle.set()


class FakeProxy:
    def __init__(self) -> None:
        self.accepting = True

    async def stop_accepting(self) -> None:
        self.accepting = False


async def test_inactivity_stops_after_the_timeout_since_the_last_request():
    recorder, stop = FakeRecorder(), StopSignal()
    started = time.monotonic()

    async def activity() -> None:
        for _ in range(3):
            await asyncio.sleep(0.1)
            recorder.last_request_at = time.monotonic()

    await asyncio.gather(_wait_for_stop(stop, recorder, 0.25), activity())  # type: ignore[arg-type]
    assert stop.reason == "inactivity" and time.monotonic() - started >= 0.3 + 0.25 - 0.02


async def test_an_exchange_in_flight_counts_as_activity():
    recorder, stop = FakeRecorder(), StopSignal()
    recorder.in_flight = 1

    async def finish_later() -> None:
        await asyncio.sleep(0.4)
        recorder.in_flight = 0

    started = time.monotonic()
    await asyncio.gather(_wait_for_stop(stop, recorder, 0.1), finish_later())  # type: ignore[arg-type]
    assert stop.reason == "inactivity" and time.monotonic() - started >= 0.4


async def test_a_signal_stops_at_once_and_a_second_one_forces():
    recorder, stop = FakeRecorder(), StopSignal()
    waiting = asyncio.ensure_future(_wait_for_stop(stop, recorder, 600))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    stop.set("SIGTERM")
    await asyncio.wait_for(waiting, 1)
    assert stop.reason == "SIGTERM" and not stop.forced
    stop.set("SIGTERM")
    assert stop.forced and stop.reason == "SIGTERM"


async def test_drain_waits_for_exchanges_in_flight_then_returns():
    recorder, proxy, stop = FakeRecorder(), FakeProxy(), StopSignal()
    recorder.in_flight = 2
    recorder.idle.clear()

    async def finish() -> None:
        await asyncio.sleep(0.2)
        recorder.in_flight = 0
        recorder.idle.set()

    started = time.monotonic()
    await asyncio.gather(_drain(proxy, recorder, stop, 5), finish())  # type: ignore[arg-type]
    assert recorder.stopping and not proxy.accepting and 0.18 <= time.monotonic() - started < 2


async def test_drain_is_bounded_and_a_forced_stop_cuts_it_short():
    recorder, proxy, stop = FakeRecorder(), FakeProxy(), StopSignal()
    recorder.in_flight = 1
    recorder.idle.clear()
    started = time.monotonic()
    await _drain(proxy, recorder, stop, 0.2)  # type: ignore[arg-type]
    assert 0.18 <= time.monotonic() - started < 1
    recorder.idle.clear()
    stop.set("SIGTERM")
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, stop.set, "SIGTERM")  # the second signal
    started = time.monotonic()
    await _drain(proxy, recorder, stop, 30)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2 and stop.forced
