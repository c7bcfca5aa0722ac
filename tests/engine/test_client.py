"""lunge.engine.client.AttackClient against real loopback servers: the request goes out as the
evidence shows it, and what ClientSession did for correctness, the client still does."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import doctest
import gzip
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.engine import client as client_module
from lunge.engine.client import AttackClient, request_bytes, sent_form
from lunge.http import Headers, Request
from tests.http.strategies import examples, requests


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


@contextlib.asynccontextmanager
async def _serving(protocol: type[asyncio.Protocol]) -> AsyncIterator[str]:
    """A raw protocol server on a free loopback port; yields its origin."""
    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def stale_server() -> AsyncIterator[str]:
    _OneRequestPerConnection.connections = 0
    async with _serving(_OneRequestPerConnection) as origin:
        yield origin


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


class _Scripted(asyncio.Protocol):
    """Keeps every byte it receives; answers each request head with the next scripted reply, a
    list of pieces written ``gap`` seconds apart."""

    received: list[bytes] = []
    replies: list[list[bytes]] = []
    connections = 0
    gap = 0.05

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).connections += 1
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        type(self).received.append(data)
        self.buffer += data
        if b"\r\n\r\n" in self.buffer and type(self).replies:
            self.buffer = b""
            asyncio.get_running_loop().create_task(self._answer(type(self).replies.pop(0)))

    async def _answer(self, pieces: list[bytes]) -> None:
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(type(self).gap)
            self.transport.write(piece)  # type: ignore[attr-defined]


@pytest.fixture
async def scripted() -> AsyncIterator[str]:
    _Scripted.received, _Scripted.replies, _Scripted.connections = [], [], 0
    async with _serving(_Scripted) as origin:
        yield origin


async def test_the_request_goes_out_byte_for_byte_as_request_bytes_says(scripted) -> None:
    _Scripted.replies = [[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]]
    request = Request.from_url(f"{scripted}/a/..%2fb?q=%27%20OR%201=1--&x", "PUT",
                               [("x-lower", "v"), ("X-Upper", "V"), ("Connection", "close"),
                                ("Transfer-Encoding", "chunked"), ("Cookie", "a=1; b=2")], b'{"k":"\xe9"}')
    async with AttackClient(pool_size=2) as client:
        response, _ = await client.fetch(request, 5, 1024)
    sent = b"".join(_Scripted.received)
    assert sent == request_bytes(request)
    assert sent.startswith(b"PUT /a/..%2fb?q=%27%20OR%201=1--&x HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"x-lower: v\r\nX-Upper: V\r\nCookie: a=1; b=2\r\nContent-Length: 9\r\n\r\n{\"k\":\"\xe9\"}" in sent
    assert b"Connection" not in sent and b"chunked" not in sent  # the pool owns the connection
    assert (response.status, response.body) == (200, b"ok")


@pytest.mark.parametrize(("target", "headers"), [
    ("/a?q=1%0d%0aX:1", [("X-A", "1\r\nX-Injected: 1")]),
    ("/a?q=1", [("X-A\nX-B", "1")]),
    ("/a?q=1 HTTP/1.1\r\nX: y", []),
    ("/a b", []),
    ("/a", [("Transfer-Encoding:chunked", "x")]),  # a name the connection-header filter would miss
    ("/a", [("Transfer-Encoding ", "chunked")]),
    ("/a", [("", "x")]),
])
async def test_a_request_that_would_split_on_the_wire_is_not_sent(scripted, target, headers) -> None:
    request = Request.from_url(f"{scripted}/", headers=headers).with_target(target)
    async with AttackClient(pool_size=2) as client:
        with pytest.raises(ValueError, match="request line would break|would split the request|not a token"):
            await client.fetch(request, 5, 1024)
    assert _Scripted.connections == 0 and _Scripted.received == []


async def test_a_body_arriving_in_pieces_is_read_whole_and_the_connection_kept(scripted) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    _Scripted.replies = [[head, b"first ", b"second"],
                         [chunked + b"3\r\nabc\r\n", b"3\r\ndef\r\n", b"0\r\n\r\n"]]
    async with AttackClient(pool_size=2) as client:
        fixed, _ = await client.fetch(Request.from_url(f"{scripted}/1"), 5, 1024)
        streamed, _ = await client.fetch(Request.from_url(f"{scripted}/2"), 5, 1024)
    assert fixed.body == b"first second"
    assert streamed.body == b"abcdef"
    assert _Scripted.connections == 1


async def test_a_body_cut_before_its_end_arrived_closes_its_connection(scripted) -> None:
    _Scripted.replies = [[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456", b"789"],
                         [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]]
    async with AttackClient(pool_size=2) as client:
        cut, _ = await client.fetch(Request.from_url(f"{scripted}/1"), 5, 6)
        after, _ = await client.fetch(Request.from_url(f"{scripted}/2"), 5, 1024)
    assert cut.body == b"012345"
    assert after.body == b"ok"
    assert _Scripted.connections == 2  # the rest of the body, still to come, would have been read as the next response


async def test_interim_responses_are_skipped_and_head_has_no_body(scripted) -> None:
    _Scripted.replies = [[b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"],
                         [b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\nX-Head: yes\r\n\r\n"],
                         [b"HTTP/1.1 204 No Content\r\n\r\n"]]
    async with AttackClient(pool_size=2) as client:
        created, _ = await client.fetch(Request.from_url(f"{scripted}/", "POST", body=b"a=1"), 5, 1024)
        head, _ = await client.fetch(Request.from_url(f"{scripted}/", "HEAD"), 5, 1024)
        empty, _ = await client.fetch(Request.from_url(f"{scripted}/"), 5, 1024)
    assert (created.status, created.reason, created.body) == (201, "Created", b"x")
    assert (head.status, head.body, head.headers.get("x-head")) == (200, b"", "yes")
    assert (empty.status, empty.body) == (204, b"")
    assert _Scripted.connections == 1


async def test_a_late_answer_on_an_idle_pooled_connection_is_not_taken_for_the_next_response(scripted) -> None:
    # A server answering one request twice (or a split response): the second answer sits on the
    # pooled connection and must not be read as the response to whatever is sent next.
    _Scripted.replies = [[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
                          b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\nSTALE"],
                         [b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"]]
    async with AttackClient(pool_size=2) as client:
        first, _ = await client.fetch(Request.from_url(f"{scripted}/1"), 5, 1024)
        await asyncio.sleep(0.2)
        second, _ = await client.fetch(Request.from_url(f"{scripted}/2"), 5, 1024)
    assert (first.status, first.body) == (200, b"first")
    assert (second.status, second.body) == (200, b"second")
    assert _Scripted.connections == 2


async def test_a_body_broken_in_a_later_packet_fails_at_once_not_at_the_deadline(scripted) -> None:
    _Scripted.replies = [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", b"zz\r\nxx\r\n"]]
    started = time.perf_counter()
    async with AttackClient(pool_size=2) as client:
        with pytest.raises(aiohttp.ClientPayloadError, match="broken off"):
            await client.fetch(Request.from_url(f"{scripted}/"), 5, 1024)
    assert time.perf_counter() - started < 2


async def test_a_malformed_response_is_a_client_error(scripted) -> None:
    _Scripted.replies = [[b"NOT HTTP AT ALL\r\n\r\n"]]
    async with AttackClient(pool_size=2) as client:
        with pytest.raises(aiohttp.ClientResponseError):
            await client.fetch(Request.from_url(f"{scripted}/"), 5, 1024)


async def test_a_gzip_body_is_decoded_and_its_coding_header_dropped(scripted) -> None:
    body = gzip.compress(b"<p>hello</p>")
    _Scripted.replies = [[b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body)]]
    async with AttackClient(pool_size=2) as client:
        response, _ = await client.fetch(Request.from_url(f"{scripted}/"), 5, 1024)
    assert response.body == b"<p>hello</p>" and "content-encoding" not in response.headers


async def test_a_coding_aiohttp_leaves_alone_keeps_its_header_and_lunge_decodes_it(scripted) -> None:
    body = gzip.compress(gzip.compress(b"<p>twice</p>"))
    _Scripted.replies = [[b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body)]]
    async with AttackClient(pool_size=2) as client:
        response, _ = await client.fetch(Request.from_url(f"{scripted}/"), 5, 1024)
    assert response.body == body and response.headers.get("content-encoding") == "gzip, gzip"
    assert response.text() == "<p>twice</p>"


def test_a_missing_host_header_names_the_origin_in_ascii() -> None:
    request = Request.from_url("http://b\u00fccher.test:8080/").with_headers(Headers([("X-A", "1")]))
    assert request_bytes(request).startswith(b"GET / HTTP/1.1\r\nHost: xn--bcher-kva.test:8080\r\nX-A: 1\r\n")


async def test_https_target_certificate_unverified_by_default_and_verified_on_request(tmp_path) -> None:
    from tests.record.targets import make_certificate, server_tls

    cert, key = make_certificate(tmp_path)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readuntil(b"\r\n\r\n")):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntls")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls(cert, key))
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with AttackClient(pool_size=2) as client:
            first, _ = await client.fetch(Request.from_url(url), 5, 1024)
            second, _ = await client.fetch(Request.from_url(url), 5, 1024)
        async with AttackClient(pool_size=2, verify_tls=True) as client:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await client.fetch(Request.from_url(url), 5, 1024)
    finally:
        server.close()
    assert first.body == second.body == b"tls"


def test_request_bytes_examples_hold() -> None:
    assert doctest.testmod(client_module).failed == 0


@settings(max_examples=examples(150), deadline=None)
@given(request=requests(), version=st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0"]),
       extra=st.lists(st.sampled_from([("Connection", "keep-alive"), ("Transfer-Encoding", "chunked"),
                                       ("Content-Length", "999"), ("Keep-Alive", "timeout=5")]), max_size=3),
       drop_host=st.booleans(), method=st.sampled_from([None, "PUT", "PATCH", "HEAD"]))
def test_the_evidence_form_of_a_request_is_exactly_what_goes_on_the_wire(request, version, extra, drop_host,
                                                                          method) -> None:
    headers = request.headers.remove("Host") if drop_host else request.headers
    for name, value in extra:
        headers = headers.add(name, value)
    request = dataclasses.replace(request, http_version=version, headers=headers, method=method or request.method)
    wire = request_bytes(request)
    evidence = sent_form(request)
    assert evidence.to_bytes() == wire
    assert Request.parse(wire) == evidence
    assert wire.endswith(b"\r\n\r\n" + request.body)


async def test_one_connection_reads_a_mixed_sequence_of_responses_right(scripted) -> None:
    # The connection's parser is kept from one response to the next (rebuilt only when HEAD
    # starts or stops): every kind of framing in a row, on one connection.
    zipped = gzip.compress(b"zipped")
    script = [
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", b"one"),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n", b"two"),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", b""),
        ("HEAD", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b""),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(zipped), zipped),
         b"zipped"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", b""),
        ("POST", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast", b"last"),
    ]
    _Scripted.replies = [[reply] for _, reply, _ in script]
    outgoing = [Request.from_url(f"{scripted}/{i}", method, body=b"x" if method == "POST" else b"")
                for i, (method, _, _) in enumerate(script)]
    async with AttackClient(pool_size=2) as client:
        bodies = [(await client.fetch(request, 5, 1024))[0].body for request in outgoing]
    assert bodies == [expected for _, _, expected in script]
    assert _Scripted.connections == 1
