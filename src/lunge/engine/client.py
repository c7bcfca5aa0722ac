"""The attack client: one HTTP exchange through aiohttp's connection pool, request writer and
response parser, without ``ClientSession.request``'s convenience layer.

``ClientSession.request`` spends about 60 µs of CPU per request (measured: 40 % of a bare
aiohttp loop against a fast loopback target) on machinery an attack client must not use:
redirects (never followed), the cookie jar (an attack carries exactly the recorded cookies),
proxies and netrc from the environment, tracing and middlewares. :class:`AttackClient` runs the
same steps ``ClientSession`` runs for one request (connect from the pool, send, read the head)
and nothing else. What aiohttp does for correctness is kept: keep-alive pooling, TLS, framing,
content decoding, and one retry of an idempotent request whose pooled connection the server had
closed (`RFC 9112 §9.3.1`_).

It uses aiohttp's lower-level classes (``ClientRequest``, ``BaseConnector.connect``,
``ClientResponse.start``), so pyproject pins aiohttp to the minor versions this was checked
against; the sender tests exercise every path here against real servers.

.. _RFC 9112 §9.3.1: https://www.rfc-editor.org/rfc/rfc9112#name-retrying-requests
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable

import aiohttp
from aiohttp.client_reqrep import ClientRequest, ClientResponse
from aiohttp.helpers import TimerNoop
from aiohttp.http import HttpVersion10, HttpVersion11
from multidict import CIMultiDict
from yarl import URL

from lunge.aio import Deadlines
from lunge.http import Headers, Request, Response

# Headers aiohttp computes itself; sending the recorded ones too would frame the body twice.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODILESS_RESPONSES = frozenset({"HEAD"})  # aiohttp's EMPTY_BODY_METHODS for responses
_VERSIONS = {HttpVersion11: "HTTP/1.1", HttpVersion10: "HTTP/1.0"}
_NO_TIMER = TimerNoop()  # the whole exchange runs under one Deadlines block instead


class _AttackRequest(ClientRequest):
    """aiohttp's request without its default headers (Accept, Accept-Encoding, User-Agent, a
    Content-Type for a body that has none): an attack sends the recorded headers and no others."""

    # Read by the body and send steps, which would otherwise add a Content-Type.
    _skip_auto_headers = CIMultiDict((h, None) for h in ("Accept", "Accept-Encoding", "Content-Type", "User-Agent"))

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        return  # what ClientSession(skip_auto_headers=all of them) does, without building the sets


class AttackClient:
    """One connection pool; :meth:`fetch` sends a request and returns the response and the time
    to its head. Use as an async context manager."""

    def __init__(self, *, pool_size: int, verify_tls: bool = False) -> None:
        self._pool_size = pool_size
        self._verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None
        self._connector: aiohttp.TCPConnector | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._deadlines = Deadlines()

    async def __aenter__(self) -> AttackClient:
        ssl_context: ssl.SSLContext | bool = ssl.create_default_context() if self._verify_tls else False
        self._connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0, ssl=ssl_context,
                                               ttl_dns_cache=300, enable_cleanup_closed=True)
        # The session owns the connector's lifetime; requests and responses refer to it.
        self._session = aiohttp.ClientSession(connector=self._connector, cookie_jar=aiohttp.DummyCookieJar())
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, request: Request, timeout: float, max_body: int) -> tuple[Response, float]:
        """Send ``request``; the response (body cut at ``max_body`` bytes) and the seconds from the
        moment it was handed over to the moment its head was read. Raises ``TimeoutError``,
        ``aiohttp.ClientError``, ``OSError`` or ``ValueError``."""
        url = URL(request.url, encoded=True)
        headers = _wire_headers(request.headers)
        data = request.body or None
        started = time.perf_counter()
        token = self._deadlines.arm(timeout)
        try:
            resp = await self._start(request.method, url, headers, data, timeout)
            elapsed = time.perf_counter() - started
            try:
                body = await resp.content.read(max_body)
            except BaseException:
                resp.close()
                raise
            # Returns the connection to the pool when the body was read to its end, else closes it.
            resp.release()
            await resp.wait_for_close()
        except asyncio.CancelledError:
            self._deadlines.raise_if_expired(token)
            raise
        finally:
            self._deadlines.disarm(token)
        return _response(resp, body), elapsed

    async def _start(self, method: str, url: URL, headers: list[tuple[str, str]], data: bytes | None,
                     timeout: float) -> ClientResponse:
        # As ClientSession does: a request on a pooled connection the server had just closed is
        # sent again once, on a fresh connection, when resending it cannot change anything.
        retry = method in _IDEMPOTENT
        while True:
            try:
                return await self._attempt(method, url, headers, data, timeout)
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if not retry:
                    raise
                retry = False

    def _client_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        # For a connection the pool has to open; a run uses one or two distinct values.
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=seconds)
            if len(self._timeouts) < 64:
                self._timeouts[seconds] = timeout
        return timeout

    async def _attempt(self, method: str, url: URL, headers: list[tuple[str, str]], data: bytes | None,
                       timeout: float) -> ClientResponse:
        assert self._connector is not None and self._session is not None, "use the client as a context manager"
        # ssl=True: the connector's context (verified or not, as the run asked).
        request = _AttackRequest(method, url, headers=headers, data=data, loop=self._loop, session=self._session,
                                 ssl=True, timer=_NO_TIMER)
        conn = await self._connector.connect(request, traces=[], timeout=self._client_timeout(timeout))
        assert conn.protocol is not None
        conn.protocol.set_response_params(timer=_NO_TIMER, skip_payload=method in _BODILESS_RESPONSES,
                                          read_until_eof=True, auto_decompress=True)
        try:
            resp = await request.send(conn)
            try:
                await resp.start(conn)
            except BaseException:
                resp.close()
                raise
        except BaseException:
            conn.close()
            raise
        return resp


def _wire_headers(headers: Headers) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in _FRAMING]


def _response(resp: ClientResponse, body: bytes) -> Response:
    fields = tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers])
    if "Content-Encoding" in resp.headers:
        # aiohttp already undid the content coding; drop the header so nothing decodes twice.
        fields = tuple(f for f in fields if f[0].lower() != "content-encoding")
    version = resp.version
    text = "HTTP/1.1" if version is None else _VERSIONS.get(version) or f"HTTP/{version.major}.{version.minor}"
    return Response(resp.status, resp.reason or "", text, Headers.received(fields), body)
