"""What the recording proxy records, the attack client reads back: a response head with a header
over aiohttp's default 8,190 bytes, or more than its 128 headers, was recorded and then failed
every replay ("Got more than 8190 bytes"), so the baseline could never be tested."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from lunge.engine.client import AttackClient
from lunge.http import Request
from tests.record.targets import recording

BIG = "v" * 20_000  # a CSP or Set-Cookie header of real sites reaches this size


def _big_head_app() -> web.Application:
    async def page(_: web.Request) -> web.Response:
        headers = {"Content-Security-Policy": BIG, **{f"X-Extra-{i}": str(i) for i in range(300)}}
        return web.Response(text="the page", headers=headers)

    app = web.Application()
    app.router.add_get("/page", page)
    return app


async def test_a_recorded_response_with_a_huge_head_is_replayed(tmp_path, loopback) -> None:
    target = await loopback(_big_head_app())
    async with recording(tmp_path) as session:
        async with aiohttp.ClientSession(max_field_size=65536, max_headers=1000) as http:
            async with http.get(f"{target.url}/page", proxy=session.proxy) as answered:
                assert answered.status == 200 and len(answered.headers["Content-Security-Policy"]) == len(BIG)
        await session.finish()
        (baseline,) = session.baselines()
    assert baseline.response is not None and baseline.response.headers.get("Content-Security-Policy") == BIG
    async with AttackClient(pool_size=1) as client:
        response, _ = await client.fetch(baseline.request, 5, 1 << 20)
    assert response.status == 200 and response.body == b"the page"
    assert response.headers.get("Content-Security-Policy") == BIG and response.headers.get("X-Extra-299") == "299"


async def test_the_client_reads_a_long_header_directly(loopback) -> None:
    target = await loopback(_big_head_app())
    async with AttackClient(pool_size=1) as client:
        response, _ = await client.fetch(Request.from_url(f"{target.url}/page"), 5, 1 << 20)
    assert response.status == 200 and len(response.headers.get("Content-Security-Policy") or "") == len(BIG)
