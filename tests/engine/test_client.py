"""lunge.engine.client.AttackClient against real loopback servers: what ClientSession did for
correctness, the client still does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from lunge.engine.client import AttackClient
from lunge.http import Request


class _OneRequestPerConnection(asyncio.Protocol):
    """Answers the first request of a connection with keep-alive, then drops the connection when
    the second one arrives: what a server whose idle keep-alive timer just fired looks like."""

    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).connections += 1
        self.transport = transport
        self.answered = False
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        if self.answered:
            self.transport.close()
            return
        self.answered = True
        self.buffer = b""
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # type: ignore[attr-defined]


@pytest.fixture
async def stale_server() -> AsyncIterator[str]:
    _OneRequestPerConnection.connections = 0
    server = await asyncio.get_running_loop().create_server(_OneRequestPerConnection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def test_an_idempotent_request_on_a_connection_the_server_dropped_is_sent_again(stale_server) -> None:
    async with AttackClient(pool_size=2) as client:
        first, _ = await client.fetch(Request.from_url(f"{stale_server}/a"), 5, 1024)
        second, _ = await client.fetch(Request.from_url(f"{stale_server}/b"), 5, 1024)
    assert (first.status, first.body) == (200, b"ok")
    assert (second.status, second.body) == (200, b"ok")
    assert _OneRequestPerConnection.connections == 2  # the retry went out on a fresh connection


async def test_a_post_on_a_dropped_connection_is_not_sent_twice(stale_server) -> None:
    async with AttackClient(pool_size=2) as client:
        await client.fetch(Request.from_url(f"{stale_server}/a"), 5, 1024)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.fetch(Request.from_url(f"{stale_server}/b", "POST", body=b"x=1"), 5, 1024)
    assert _OneRequestPerConnection.connections == 1


async def test_only_the_recorded_headers_are_sent_and_the_body_is_cut_at_max_body(loopback) -> None:
    from aiohttp import web

    seen: list[list[tuple[str, str]]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(list(request.headers.items()))
        return web.Response(body=b"x" * 5000)

    app = web.Application()
    app.router.add_route("*", "/", echo)
    server = await loopback(app)
    request = Request.from_url(f"{server.url}/", "POST", headers=[("X-Token", "t")], body=b"raw")
    async with AttackClient(pool_size=2) as client:
        response, elapsed = await client.fetch(request, 5, 100)
    names = {name.lower() for name, _ in seen[0]}
    assert names == {"host", "x-token", "content-length"}  # no Accept, User-Agent, Content-Type added
    assert response.status == 200 and len(response.body) == 100
    assert 0 < elapsed < 5
