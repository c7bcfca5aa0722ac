from __future__ import annotations

import asyncio
import time

from aiohttp import web

from lunge.checks.base import Attack
from lunge.engine.lane import HostLane
from lunge.engine.sender import Sender
from lunge.http import Request

STATE: web.AppKey[dict] = web.AppKey("state", dict)


def _app() -> web.Application:
    state = {"in_flight": 0, "max_in_flight": 0, "seen_during_slow": []}

    async def fast(request: web.Request) -> web.Response:
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        await asyncio.sleep(0.02)
        state["in_flight"] -= 1
        return web.Response(text="fast", headers={"Set-Cookie": "sid=1"})

    async def slow(request: web.Request) -> web.Response:
        state["seen_during_slow"].append(state["in_flight"])
        await asyncio.sleep(0.3)
        state["seen_during_slow"].append(state["in_flight"])
        return web.Response(text="slow")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://elsewhere.invalid/")

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        return web.Response(text=f"{request.method} {request.raw_path}\n{headers}\n\n{body.decode()}")

    app = web.Application()
    app[STATE] = state
    app.router.add_route("*", "/fast", fast)
    app.router.add_get("/slow", slow)
    app.router.add_get("/redirect", redirect)
    app.router.add_route("*", "/echo", echo)
    return app


async def test_timing_attack_runs_alone_on_its_host(loopback) -> None:
    app = _app()
    server = await loopback(app)
    async with Sender(workers=10, rps=None, timeout=5) as sender:
        fast = [Attack(Request.from_url(f"{server.url}/fast"), "") for _ in range(20)]
        slow = Attack(Request.from_url(f"{server.url}/slow"), "", timing=True)
        tasks = [asyncio.ensure_future(sender.send(a)) for a in fast[:10]]
        await asyncio.sleep(0.005)
        slow_task = asyncio.ensure_future(sender.send(slow))
        await asyncio.sleep(0.005)
        tasks += [asyncio.ensure_future(sender.send(a)) for a in fast[10:]]
        exchanges = await asyncio.gather(*tasks, slow_task)
    assert all(e.status == 200 for e in exchanges)
    # nothing else was in flight while the timing probe ran, before and after its sleep
    assert app[STATE]["seen_during_slow"] == [0, 0]
    assert exchanges[-1].elapsed >= 0.29
    assert app[STATE]["max_in_flight"] > 1  # ordinary requests did run concurrently


async def test_elapsed_excludes_queueing(loopback) -> None:
    server = await loopback(_app())
    async with Sender(workers=1, rps=None, timeout=5) as sender:
        attacks = [Attack(Request.from_url(f"{server.url}/fast"), "") for _ in range(5)]
        started = time.perf_counter()
        exchanges = await asyncio.gather(*(sender.send(a) for a in attacks))
        total = time.perf_counter() - started
    assert total >= 0.1  # five requests of 20 ms, one at a time
    assert max(e.elapsed for e in exchanges) < 0.08  # but each measured only its own time


async def test_no_redirect_followed_no_cookie_kept_target_sent_as_written(loopback) -> None:
    server = await loopback(_app())
    async with Sender(workers=2, rps=None, timeout=5) as sender:
        redirect = await sender.send(Attack(Request.from_url(f"{server.url}/redirect"), ""))
        await sender.send(Attack(Request.from_url(f"{server.url}/fast"), ""))
        raw = Request.from_url(f"{server.url}/echo?q=%27%20OR%201=1--&x=a%2Fb", "POST",
                               headers=[("X-Case", "KeepMe"), ("Content-Type", "text/plain")], body=b"hello")
        echo = await sender.send(Attack(raw, ""))
    assert redirect.status == 302
    assert redirect.response is not None and redirect.response.headers.get("location") == "http://elsewhere.invalid/"
    assert "POST /echo?q=%27%20OR%201=1--&x=a%2Fb" in echo.text
    assert "Cookie" not in echo.text  # the earlier Set-Cookie was not kept
    assert "X-Case: KeepMe" in echo.text
    assert echo.text.endswith("hello")


async def test_out_of_scope_is_refused_and_errors_are_exchanges(loopback) -> None:
    server = await loopback(_app())
    async with Sender(workers=2, rps=None, timeout=1, allowed={("127.0.0.1", server.port)}) as sender:
        refused = await sender.send(Attack(Request.from_url("http://10.0.0.1/"), ""))
        dead = await sender.send(Attack(Request.from_url(f"http://127.0.0.1:{server.port}/slow"), "", timeout=0.05))
    assert refused.response is None and refused.error and "outside" in refused.error
    assert sender.stats.refused_out_of_scope == 1
    assert dead.response is None and dead.error == "timeout"


async def test_rps_limit(loopback) -> None:
    server = await loopback(_app())
    async with Sender(workers=10, rps=20, timeout=5) as sender:
        started = time.perf_counter()
        await asyncio.gather(*(sender.send(Attack(Request.from_url(f"{server.url}/fast"), "")) for _ in range(40)))
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.9  # 40 requests at 20/s: the bucket holds one second's worth


async def test_lane_writer_waits_for_readers_and_blocks_new_ones() -> None:
    lane = HostLane()
    order: list[str] = []

    async def reader(name: str, hold: float) -> None:
        async with lane.shared():
            order.append(f"{name}+")
            await asyncio.sleep(hold)
            order.append(f"{name}-")

    async def writer() -> None:
        async with lane.exclusive():
            order.append("W+")
            await asyncio.sleep(0.02)
            order.append("W-")

    first = asyncio.ensure_future(reader("a", 0.05))
    await asyncio.sleep(0.01)
    w = asyncio.ensure_future(writer())
    await asyncio.sleep(0.01)
    late = asyncio.ensure_future(reader("b", 0.0))
    await asyncio.gather(first, w, late)
    assert order == ["a+", "a-", "W+", "W-", "b+", "b-"]


def test_the_current_rate_keeps_a_few_entries_whatever_the_volume(monkeypatch) -> None:
    from lunge.engine import sender as sender_module

    clock = [1000.0]
    monkeypatch.setattr(sender_module.time, "monotonic", lambda: clock[0])
    stats = sender_module.SenderStats(started=clock[0])
    for _ in range(60):  # one minute at 500 requests per second, nobody reading the rate
        for _ in range(500):
            stats.count()
        clock[0] += 1.0
    assert stats.sent == 30_000
    assert len(stats.recent) <= 11
    assert 450 <= stats.rps() <= 500
    clock[0] += 30  # idle for half a minute: the rate falls to zero
    assert stats.rps() == 0


def test_a_rate_share_under_one_per_second_is_one_request_per_period() -> None:
    from lunge.engine.sender import _limiter

    slow = _limiter(0.5)  # TEST_RUN_RPS=1 split between two processes
    assert (slow.max_rate, slow.time_period) == (1.0, 2.0)
    fast = _limiter(12.5)
    assert (fast.max_rate, fast.time_period) == (12.5, 1.0)
