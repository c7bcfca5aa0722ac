"""The attack client: a request's own bytes written on a pooled aiohttp connection, the response
read by aiohttp's parser.

:class:`~lunge.http.Request` is byte-faithful: its target, headers and body are what the check
built and what the finding's evidence shows (:func:`sent_form`). The client writes them as they
are (:func:`request_bytes`) instead of handing them to ``ClientRequest``, which rebuilds the URL,
the header multidict and a body payload and writes through a stream writer (a separate task for a
body). With the parser kept from one response to the next on a clean connection, a request costs
40-50 µs of CPU here against 120-140 µs through ``ClientRequest``, measured on ``lunge bench
engine``'s target (its GET/POST mix).

What aiohttp does for correctness is kept: its connector (keep-alive pool, TLS, connect timeouts),
its C response parser (framing, chunked and content decoding), and one retry of an idempotent
request whose pooled connection the server had closed (`RFC 9112 §9.3.1`_). Two things are added:
a pooled connection holding bytes nobody asked for is never used (they would be read as the next
response), and a body broken off by a parse error ends at once instead of at the deadline.

It uses aiohttp's lower-level classes (``BaseConnector.connect`` and its protocol factory,
``Connection``, ``ResponseHandler``), so pyproject pins aiohttp to the minor versions this was
checked against; the client and sender tests exercise every path here against real servers.

.. _RFC 9112 §9.3.1: https://www.rfc-editor.org/rfc/rfc9112#name-retrying-requests
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import ssl
import time
from typing import cast

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest, ConnectionKey, RequestInfo
from aiohttp.connector import Connection
from aiohttp.helpers import TimerNoop
from aiohttp.http import HttpProcessingError, HttpVersion10, HttpVersion11, RawResponseMessage
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from lunge.aio import Deadlines
from lunge.http import Headers, Request, Response
from lunge.http.headers import wire_bytes

# The connection's own headers: the pool decides keep-alive, and the body is framed by its length.
_CONNECTION_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive",
                                 "proxy-connection"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # a Content-Length even for an empty body
# A request target or method holding these would end the request line early or split it.
_LINE_BREAKERS = re.compile(r"[\x00-\x20\x7f]")
# Header names, one per line: each an RFC 9110 token. Anything else ("Transfer-Encoding:chunked"
# as a name, a trailing space) would let a header through that the client thinks it removed.
_TOKEN_LINES = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+(?:\n[-!#$%&'*+.^_`|~0-9A-Za-z]+)*")
# The content codings aiohttp's parser undoes (exactly these values, as its parser compares them).
_DECODED_CODINGS = frozenset({"gzip", "deflate", "br", "zstd"})
_VERSIONS = {HttpVersion11: "HTTP/1.1", HttpVersion10: "HTTP/1.0"}
_CLEAN_CONNECTION_TRIES = 3
# What the response parser accepts: aiohttp's defaults (8,190 bytes a line or header, 128 headers)
# are a server's limits, but the recording proxy (mitmproxy) reads a response head of any size, so
# a recorded page with a big Set-Cookie or CSP header could never be replayed ("Got more than 8190
# bytes"). These are far above what any real response head holds and still bound memory.
MAX_LINE_SIZE = 1 << 20
MAX_FIELD_SIZE = 1 << 20
MAX_HEADERS = 4096
_NO_TIMER = TimerNoop()  # the whole exchange runs under one Deadlines block instead


def request_bytes(request: Request) -> bytes:
    """What the client writes for ``request``: ``METHOD target HTTP/1.1``, the recorded headers
    as recorded (order, case, separators) without the connection's own, a Host header first when
    there is none, a Content-Length for the body, then the body. :func:`sent_form` is the same
    request as a value, for the evidence.

    Raises ``ValueError`` when a method, target or header would break out of its line, or a header
    name is not a token: a request that would be read as two, or with a header this function
    removed, is never sent.

    >>> r = Request.from_url("http://t.test/a?q=1", "POST", [("X-A", "1"), ("Connection", "close")], b"x=1")
    >>> request_bytes(r)
    b'POST /a?q=1 HTTP/1.1\\r\\nHost: t.test\\r\\nX-A: 1\\r\\nContent-Length: 3\\r\\n\\r\\nx=1'
    """
    if _LINE_BREAKERS.search(request.method) or _LINE_BREAKERS.search(request.target) or not request.target:
        raise ValueError(f"request line would break: {request.method[:20]!r} {request.target[:80]!r}")
    headers = request.headers.without(_CONNECTION_HEADERS)
    if headers and not _TOKEN_LINES.fullmatch("\n".join([name for name, _ in headers])):
        bad = next(name for name, _ in headers if not _TOKEN_LINES.fullmatch(name))
        raise ValueError(f"header name {bad[:40]!r} is not a token")
    line = f"{request.method} {request.target} HTTP/1.1\r\n"
    if "host" not in headers:
        line += f"Host: {_authority(request)}\r\n"
    block = headers.encode()
    # Every line break must be one encode() put there: a CR or LF inside a header would smuggle a
    # header, or a second request, past the check that built this one.
    if block.count(b"\n") != len(headers) or block.count(b"\r") != len(headers):
        bad = next((name for name, value in headers if _breaks_line(name) or _breaks_line(value)), "")
        raise ValueError(f"a CR or LF in header {bad[:40]!r} would split the request")
    length = b"Content-Length: %d\r\n" % len(request.body) if request.body or request.method in _BODY_METHODS else b""
    return wire_bytes(line) + block + length + b"\r\n" + request.body


def sent_form(request: Request) -> Request:
    """``request`` as :func:`request_bytes` writes it: ``sent_form(r).to_bytes() == request_bytes(r)``."""
    headers = request.headers.without(_CONNECTION_HEADERS)
    if "host" not in headers:
        headers = Headers([("Host", _authority(request)), *headers.fields], [(": ", ""), *headers.framing])
    if request.body or request.method in _BODY_METHODS:
        headers = headers.add("Content-Length", str(len(request.body)))
    return dataclasses.replace(request, http_version="HTTP/1.1", headers=headers)


def _authority(request: Request) -> str:
    authority = request.origin.partition("://")[2]
    if authority.isascii():
        return authority
    try:
        return authority.encode("idna").decode("ascii")
    except UnicodeError:
        return authority


def _breaks_line(text: str) -> bool:
    return "\r" in text or "\n" in text


class _AttackProtocol(ResponseHandler):
    """aiohttp's client protocol, except that a failure of the connection or of the parser also
    ends the body being read. aiohttp puts a parse error found in a body's later bytes (a bad
    chunk size, a broken gzip stream) on the message queue only, so the body's reader waited for
    the request's deadline and the response was lost as a timeout."""

    _parser_skips_payload: bool | None = None  # what the current parser was built for

    def prepare(self, *, skip_payload: bool) -> None:
        """Ready to read the next response. aiohttp builds a new parser for every request; a
        connection handed out clean (:attr:`should_close` false: no body half-read, nothing
        buffered) has its parser between two messages, where it can go on, unless the new
        response is to a HEAD and the last was not (or the other way round)."""
        if self._parser is None or self._parser_skips_payload is not skip_payload:
            self.set_response_params(timer=_NO_TIMER, skip_payload=skip_payload, read_until_eof=True,
                                     auto_decompress=True, max_line_size=MAX_LINE_SIZE,
                                     max_field_size=MAX_FIELD_SIZE, max_headers=MAX_HEADERS)
            self._parser_skips_payload = skip_payload

    def set_exception(self, exc: BaseException, *cause: BaseException) -> None:
        payload = self._payload
        if payload is not None and not payload.is_eof() and payload.exception() is None:
            payload.set_exception(aiohttp.ClientPayloadError(f"response body broken off: {exc!r}"))
        super().set_exception(exc, *cause)


class _Origin(ClientRequest):
    """A request standing for one origin when the pool connects: the connector keys its pool, and
    opens connections, from a ClientRequest. The key is computed once, not at every request."""

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop) -> None:
        # ssl=True: the connector's context (verified or not, as the run asked).
        super().__init__("GET", url, loop=loop, ssl=True, timer=_NO_TIMER)
        self._origin_key = super().connection_key

    @property
    def connection_key(self) -> ConnectionKey:
        return self._origin_key


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
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._deadlines = Deadlines()

    async def __aenter__(self) -> AttackClient:
        ssl_context: ssl.SSLContext | bool = ssl.create_default_context() if self._verify_tls else False
        self._connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0, ssl=ssl_context,
                                               ttl_dns_cache=300, enable_cleanup_closed=True)
        self._loop = asyncio.get_running_loop()
        # Every connection the pool opens (plain or TLS) gets the protocol below.
        self._connector._factory = cast("functools.partial[ResponseHandler]",
                                        functools.partial(_AttackProtocol, loop=self._loop))
        # The session owns the connector's lifetime.
        self._session = aiohttp.ClientSession(connector=self._connector, cookie_jar=aiohttp.DummyCookieJar())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, request: Request, timeout: float, max_body: int) -> tuple[Response, float]:
        """Send ``request``; the response (body cut at ``max_body`` bytes) and the seconds from the
        moment it was handed over to the moment its head was read. Raises ``TimeoutError``,
        ``aiohttp.ClientError``, ``OSError`` or ``ValueError``."""
        data = request_bytes(request)
        started = time.perf_counter()
        token = self._deadlines.arm(timeout)
        try:
            message, payload, conn = await self._start(request, data, timeout)
            elapsed = time.perf_counter() - started
            try:
                body = await _read_body(payload, max_body)
            except BaseException:
                conn.close()
                raise
            # Back to the pool when the body was read to its end and the server keeps the
            # connection open; closed otherwise.
            conn.release()
        except asyncio.CancelledError:
            self._deadlines.raise_if_expired(token)
            raise
        finally:
            self._deadlines.disarm(token)
        return _response(message, body), elapsed

    async def _start(self, request: Request, data: bytes,
                     timeout: float) -> tuple[RawResponseMessage, StreamReader, Connection]:
        # As ClientSession does: a request on a pooled connection the server had just closed is
        # sent again once, on a fresh connection, when resending it cannot change anything.
        retry = request.method in _IDEMPOTENT
        while True:
            try:
                return await self._attempt(request, data, timeout)
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if not retry:
                    raise
                retry = False

    async def _attempt(self, request: Request, data: bytes,
                       timeout: float) -> tuple[RawResponseMessage, StreamReader, Connection]:
        conn = await self._clean_connection(request, timeout)
        try:
            protocol = conn.protocol
            assert isinstance(protocol, _AttackProtocol)
            protocol.prepare(skip_payload=request.method == "HEAD")
            transport = protocol.transport
            if transport is None or transport.is_closing():
                raise aiohttp.ServerDisconnectedError()
            transport.write(data)
            message, payload = await _read_head(protocol, request)
        except BaseException:
            conn.close()
            raise
        return message, payload, conn

    async def _clean_connection(self, request: Request, timeout: float) -> Connection:
        """A connection to the request's origin with nothing on it yet. A pooled one may hold bytes
        the server sent after the last response (a second answer to one request, a late error): they
        would be read as this request's response, so that connection is closed and another taken."""
        assert self._connector is not None, "use the client as a context manager"
        origin, client_timeout = self._origin(request), self._client_timeout(timeout)
        for _ in range(_CLEAN_CONNECTION_TRIES):
            conn = await self._connector.connect(origin, traces=[], timeout=client_timeout)
            assert conn.protocol is not None
            if not conn.protocol.should_close:
                return conn
            conn.close()
        raise aiohttp.ClientConnectionError(
            f"{request.origin} sent data nobody asked for on {_CLEAN_CONNECTION_TRIES} connections in a row")

    def _origin(self, request: Request) -> _Origin:
        key = (request.scheme, request.host, request.port)
        origin = self._origins.get(key)
        if origin is None:
            url = URL.build(scheme=request.scheme, host=request.host, port=request.port)
            origin = self._origins[key] = _Origin(url, self._loop or asyncio.get_running_loop())
        return origin

    def _client_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        # For a connection the pool has to open; a run uses one or two distinct values.
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=seconds)
            if len(self._timeouts) < 64:
                self._timeouts[seconds] = timeout
        return timeout


async def _read_head(protocol: ResponseHandler, request: Request) -> tuple[RawResponseMessage, StreamReader]:
    """The final response's head and its body stream; interim 1xx responses are skipped."""
    while True:
        try:
            message, payload = await protocol.read()
        except HttpProcessingError as exc:
            url = URL(request.url, encoded=True)
            info = RequestInfo(url, request.method, CIMultiDictProxy(CIMultiDict()), url)
            raise aiohttp.ClientResponseError(info, (), status=exc.code, message=exc.message,
                                              headers=exc.headers) from exc
        if not 100 <= message.code <= 199 or message.code == 101:
            return message, payload


async def _read_body(payload: StreamReader, max_body: int) -> bytes:
    """The body up to ``max_body`` bytes: read until its end, whatever pieces it arrives in."""
    first = await payload.read(max_body)
    if not first or len(first) >= max_body or payload.at_eof():
        return first
    chunks = [first]
    remaining = max_body - len(first)
    while remaining > 0:
        chunk = await payload.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _response(message: RawResponseMessage, body: bytes) -> Response:
    fields = tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.raw_headers])
    codings = message.headers.getall("Content-Encoding", ())
    if len(codings) == 1 and codings[0].isascii() and codings[0].lower() in _DECODED_CODINGS:
        # aiohttp already undid the content coding; drop the header so nothing decodes twice.
        # Any other coding (``gzip, gzip``, an unknown one) is left on the body and its header.
        fields = tuple(f for f in fields if f[0].lower() != "content-encoding")
    version = message.version
    text = _VERSIONS.get(version) or f"HTTP/{version.major}.{version.minor}"
    return Response(message.code, message.reason or "", text, Headers.received(fields), body)
