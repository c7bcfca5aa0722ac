"""The proxy boundary: mitmproxy's ``HTTPFlow`` becomes lunge's :class:`~lunge.http.Request`,
:class:`~lunge.http.Response` and :class:`~lunge.store.models.NewBaseline`. Nothing past this module
sees a mitmproxy type.

What is kept, byte for byte (header text as latin-1, the convention of :mod:`lunge.http`): the
method, the request target as the client wrote it (origin form, even when the client sent an
absolute URL to the proxy), header names with their case, order and duplicates, and the bodies as
they travelled (``raw_content``: de-chunked, still content-encoded). HTTP/2 and HTTP/3 requests are
kept as their HTTP/1.1 equivalent (a ``Host`` header from ``:authority``), the form the engine
replays; the response keeps the version it came with.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mitmproxy import http as mhttp

from lunge.http import Headers, Request, Response
from lunge.store.models import NewBaseline


def to_request(message: mhttp.Request) -> Request:
    """The request as lunge keeps it."""
    headers = _headers(message.headers)
    version = message.http_version
    if not version.startswith("HTTP/1"):
        version = "HTTP/1.1"
        if "host" not in headers:
            authority = message.authority or _authority(message)
            headers = Headers([("Host", authority), *headers.fields])
    target = message.data.path.decode("latin-1") or "/"
    return Request(
        method=message.data.method.decode("latin-1"),
        scheme=message.scheme,
        host=message.host,
        port=message.port,
        target=target,
        http_version=version,
        headers=headers,
        body=message.raw_content or b"",
    )


def to_response(message: mhttp.Response, max_body: int, body: bytes | None = None) -> tuple[Response, bool]:
    """The response, its body cut at ``max_body`` bytes, and whether it was cut.

    ``body`` replaces ``raw_content`` for a streamed response (whose body mitmproxy did not keep);
    a streamed response is marked truncated unless its captured prefix is known to be complete."""
    raw = message.raw_content if body is None else body
    raw = raw or b""
    truncated = len(raw) > max_body
    response = Response(
        status=message.status_code,
        reason=message.data.reason.decode("latin-1"),
        http_version=message.http_version,
        headers=_headers(message.headers),
        body=raw[:max_body] if truncated else raw,
    )
    return response, truncated


def to_baseline(flow: mhttp.HTTPFlow, record_id: int, max_body: int, *, request: Request | None = None,
                streamed_body: bytes | None = None, streamed_complete: bool = True) -> NewBaseline:
    """The baseline of a flow that has its response. ``request`` saves translating it twice."""
    assert flow.response is not None
    response, truncated = to_response(flow.response, max_body, streamed_body)
    end = flow.response.timestamp_end or flow.response.timestamp_start
    elapsed = max(0.0, (end - flow.request.timestamp_start) * 1000.0)
    return NewBaseline(
        record_id=record_id,
        request=request or to_request(flow.request),
        response=response,
        response_truncated=truncated or not streamed_complete,
        elapsed_ms=round(elapsed, 3),
        recorded_at=datetime.now(UTC),
    )


def _headers(headers: mhttp.Headers) -> Headers:
    return Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.fields)


def _authority(message: mhttp.Request) -> str:
    default = {"http": 80, "https": 443}.get(message.scheme)
    host = f"[{message.host}]" if ":" in message.host else message.host
    return host if message.port == default else f"{host}:{message.port}"
