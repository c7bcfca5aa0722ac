"""lunge's mitmproxy addon: turns proxied exchanges into baselines, serves the CA certificate.

The durability promise ("answered ⇒ stored"): the ``response`` hook is a coroutine that awaits
the store's commit of the baseline (the BatchWriter's future) *before* mitmproxy sends the
response on to the client. So once a client has a response from the proxy, its baseline is in
the database, and a node killed at any moment (SIGKILL included) loses only exchanges whose
clients never got their answer. Two exceptions, both stated in the summary: responses streamed
because of their size or kind (server-sent events, bodies above :data:`STREAM_ABOVE`) are stored
once the stream ends, after the client has the bytes; and a baseline the store refuses is counted
as ``store_errors`` (the client still gets its response, the node then exits 1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from mitmproxy import http as mhttp
from mitmproxy import tls

from lunge.errors import StoreError
from lunge.http import Request, Response
from lunge.record import stats as outcomes
from lunge.record.dedup import Deduplicator, signin_user
from lunge.record.scope import Scope, ScopeVerdict
from lunge.record.stats import RecordingStats
from lunge.record.translate import to_baseline, to_request, to_response

if TYPE_CHECKING:
    from lunge.record.ca import CaFiles
    from lunge.store.models import NewBaseline

logger = logging.getLogger(__name__)

BaselineSink = Callable[["NewBaseline"], Awaitable[None]]
"""Stores one baseline; returns once it is committed (``BatchWriter.submit_async``)."""

CA_HOSTS = frozenset({"lunge.ca", "wallarm.get"})  # wallarm.get: the host FAST's docs use for cert.der
STREAM_ABOVE = 8 << 20  # responses announced larger than this (and max_body) are streamed, not buffered
_STREAMED_TYPES = ("text/event-stream", "multipart/x-mixed-replace")
_INTERNAL = "lunge.internal"  # flow metadata: answered by lunge itself, never a baseline


class _Capture:
    """A mitmproxy stream modifier that passes chunks through and keeps the first ``limit`` bytes."""

    __slots__ = ("data", "limit", "overflowed")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.overflowed = False

    def __call__(self, chunk: bytes) -> bytes:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.overflowed = True
        if room > 0:
            self.data += chunk[:room]
        return chunk


class Recorder:
    """The mitmproxy addon that records one test record.

    Hooks used: ``tls_clienthello`` (no interception outside ALLOWED_HOSTS), ``requestheaders``
    (activity, in-flight tracking), ``request`` (the CA download, refusing new requests while
    stopping), ``responseheaders`` (streaming very large or endless responses), ``response``
    (scope, de-duplication, storing) and ``error`` (requests that never got a response).
    """

    def __init__(self, *, record_id: int | None, sink: BaselineSink | None, scope: Scope, dedup: bool,
                 max_body: int, ca: CaFiles | None = None, label: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # record_id None: no record yet (an API-mode node before it takes a recording run): every
        # exchange is forwarded as it is and nothing is stored, until attach().
        self.record_id = record_id
        self.label = label or (f"rec_{record_id:04d}" if record_id is not None else "no record")
        self.stats = RecordingStats()
        self.stopping = False
        self._sink = sink
        self._scope = scope
        self._use_dedup = dedup
        self._dedup = Deduplicator() if dedup else None
        self._max_body = max_body
        self._clock = clock
        self._ca = _ca_documents(ca) if ca is not None else {}
        self._in_flight: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_request_at = clock()

    # ------------------------------------------------------------------ state the node reads
    @property
    def in_flight(self) -> int:
        """Exchanges that have started and have neither been answered (and stored) nor failed."""
        return len(self._in_flight)

    async def wait_idle(self) -> None:
        """Return once no exchange is in flight (or :meth:`release_waiters` was called)."""
        await self._idle.wait()

    def release_waiters(self) -> None:
        """Wake :meth:`wait_idle` now, exchanges in flight or not (a forced stop)."""
        self._idle.set()

    def attach(self, record_id: int, sink: BaselineSink, label: str) -> None:
        """Store every in-scope exchange answered from now on into ``record_id`` through ``sink``,
        with fresh counters and de-duplication (an API-mode node taking a recording run)."""
        self.record_id, self._sink, self.label = record_id, sink, label
        self.stats = RecordingStats()
        self._dedup = Deduplicator() if self._use_dedup else None
        self.last_request_at = self._clock()

    def detach(self) -> RecordingStats:
        """Store nothing more (exchanges keep being forwarded); returns the counters of the record.
        Every exchange that was being stored has already handed its baseline to the sink: between
        the check of ``record_id`` and the sink's submission nothing awaits (see :meth:`_store`)."""
        self.record_id, self._sink, self.label = None, None, "no record"
        return self.stats

    # ------------------------------------------------------------------ hooks
    def requestheaders(self, flow: mhttp.HTTPFlow) -> None:
        self.last_request_at = self._clock()
        self._in_flight.add(flow.id)
        self._idle.clear()

    def request(self, flow: mhttp.HTTPFlow) -> None:
        if self.stopping:
            # Answering without storing would break "answered ⇒ stored": refuse instead.
            flow.response = mhttp.Response.make(503, b"lunge: recording has stopped\n",
                                                {"Content-Type": "text/plain", "Connection": "close"})
            flow.metadata[_INTERNAL] = True
            self.stats.count(outcomes.REFUSED)
        elif self._ca and flow.request.host.lower() in CA_HOSTS and flow.request.scheme == "http":
            flow.response = self._ca_response(flow.request.path)
            flow.metadata[_INTERNAL] = True

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """TLS to a host outside ALLOWED_HOSTS is tunnelled, not intercepted: nothing of it would be
        recorded, and the client keeps the real certificate (pinning, mutual TLS and clients that
        do not trust lunge's CA keep working)."""
        if self._scope.hosts.allows_all or data.context.server.address is None:
            return
        host, port = data.context.server.address[:2]
        name = data.client_hello.sni or str(host)
        if not self._scope.hosts.allows(name, port):
            data.ignore_connection = True
            self.stats.count(outcomes.TUNNELLED, name.lower())

    def responseheaders(self, flow: mhttp.HTTPFlow) -> None:
        response = flow.response
        if response is None or flow.metadata.get(_INTERNAL):
            return
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        length = response.headers.get("content-length", "")
        too_large = length.isdigit() and int(length) > max(STREAM_ABOVE, self._max_body)
        if media in _STREAMED_TYPES or too_large:
            response.stream = _Capture(self._max_body)

    async def response(self, flow: mhttp.HTTPFlow) -> None:
        try:
            if not flow.metadata.get(_INTERNAL):
                await self._record(flow)
        finally:
            self._finished(flow)

    def error(self, flow: mhttp.HTTPFlow) -> None:
        if flow.id in self._in_flight and flow.response is None:
            self.stats.count(outcomes.NO_RESPONSE)
            logger.debug("%s %s %s: no response (%s)", self.label, flow.request.method,
                         flow.request.pretty_url, flow.error)
        self._finished(flow)

    # ------------------------------------------------------------------ recording
    async def _record(self, flow: mhttp.HTTPFlow) -> None:
        if self.record_id is None:  # no record to store into: forwarded only
            return
        if flow.websocket is not None:
            self.stats.count(outcomes.WEBSOCKET)
            return
        message = flow.request
        verdict = self._scope.check(message.host, message.port, message.path)
        host = message.host.lower()
        if verdict is ScopeVerdict.OUT_OF_SCOPE:
            self.stats.count(outcomes.OUT_OF_SCOPE, host)
            return
        if verdict is ScopeVerdict.EXCLUDED:
            self.stats.count(outcomes.EXCLUDED, host)
            return
        request = to_request(message)
        if self._dedup is not None and not self._dedup.admit(request, self._signin_response(flow, request)):
            self.stats.count(outcomes.DUPLICATE, host)
            return
        await self._store(flow, request, host)

    async def _store(self, flow: mhttp.HTTPFlow, request: Request, host: str) -> None:
        assert flow.response is not None and self.record_id is not None and self._sink is not None
        # No await from _record's check of record_id to the sink taking the baseline: detach()
        # cannot come in between, so what was being stored when it came is in the sink's hands.
        capture = flow.response.stream if isinstance(flow.response.stream, _Capture) else None
        baseline = to_baseline(flow, self.record_id, self._max_body, request=request,
                               streamed_body=bytes(capture.data) if capture else None,
                               streamed_complete=capture is None or not capture.overflowed)
        stored = False
        try:
            await self._sink(baseline)
            stored = True
        except StoreError as exc:
            logger.error("%s: could not store %s %s: %s", self.label, baseline.request.method,
                         baseline.request.url, exc)
        finally:
            # Whatever went wrong (a StoreError or a bug below the sink), the count stays honest.
            if stored:
                self.stats.count(outcomes.RECORDED, host)
            else:
                self.stats.count(outcomes.STORE_ERROR)
                if self._dedup is not None:
                    self._dedup.forget(baseline.request, baseline.response)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s %s %d (%.1f ms) recorded", self.label, baseline.request.method,
                         baseline.request.url, flow.response.status_code, baseline.elapsed_ms)

    def _signin_response(self, flow: mhttp.HTTPFlow, request: Request) -> Response | None:
        """The response of a sign-in (which the de-duplication keys by user), else None (not translated)."""
        if signin_user(request) is None or flow.response is None:
            return None
        capture = flow.response.stream if isinstance(flow.response.stream, _Capture) else None
        return to_response(flow.response, self._max_body, bytes(capture.data) if capture else None)[0]

    def _finished(self, flow: mhttp.HTTPFlow) -> None:
        self._in_flight.discard(flow.id)
        if not self._in_flight:
            self._idle.set()

    # ------------------------------------------------------------------ CA download
    def _ca_response(self, path: str) -> mhttp.Response:
        name = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
        if name in self._ca:
            content_type, body = self._ca[name]
            return mhttp.Response.make(200, body, {"Content-Type": content_type,
                                                   "Content-Disposition": f'attachment; filename="lunge-{name}"'})
        if name == "":
            index = b"lunge CA certificate: /cert.pem (PEM) or /cert.der (DER)\n"
            return mhttp.Response.make(200, index, {"Content-Type": "text/plain"})
        return mhttp.Response.make(404, b"not found: try /cert.pem or /cert.der\n", {"Content-Type": "text/plain"})


def _ca_documents(ca: CaFiles) -> dict[str, tuple[str, bytes]]:
    return {
        "cert.pem": ("application/x-pem-file", ca.cert_pem.read_bytes()),
        "cert.der": ("application/x-x509-ca-cert", ca.cert_der.read_bytes()),
        "cert.cer": ("application/x-x509-ca-cert", ca.cert_der.read_bytes()),
    }
