"""Requests and responses to columns and back, byte-faithfully.

Every part of a :class:`~lunge.http.Request` is kept exactly: the target as written, the header
names with their case, duplicates and order, each header's framing (the text around its value,
``Headers.framing``), and the body bytes; the same for a :class:`~lunge.http.Response`.
Headers go into one compact JSON array: ``[name, value]`` per field, or
``[name, value, separator, trailing]`` when the framing is not the default ``": "``.

>>> from lunge.http import Headers
>>> h = Headers([("X-A", "1"), ("x-a", "2")], [(": ", ""), (":\\t", " ")])
>>> encode_headers(h)
'[["X-A","1"],["x-a","2",":\\\\t"," "]]'
>>> encode_headers(Headers([("Host", "a")]))
'[["Host","a"]]'
>>> decode_headers(encode_headers(h)) == h
True
"""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import RowMapping

from lunge.http import Headers, Request, Response
from lunge.store.models import Baseline, NewBaseline

_DEFAULT_FRAMING = (": ", "")
# The columns baseline_row() fills, in its order.
BASELINE_COLUMNS = (
    "record_id", "seq", "method", "scheme", "host", "port", "target", "http_version", "request_headers",
    "request_body", "response_truncated", "elapsed_ms", "recorded_at",
    "status", "reason", "response_version", "response_headers", "response_body",
)


def encode_headers(headers: Headers) -> str:
    """The headers as a JSON text (ASCII only, so any database stores it)."""
    # Built from the C string encoder rather than json.dumps: this runs twice per recorded
    # baseline, and json.dumps spends half its time setting itself up for such small lists.
    quote = encode_basestring_ascii
    if headers.framing.count(_DEFAULT_FRAMING) == len(headers.framing):
        return "[" + ",".join([f"[{quote(name)},{quote(value)}]" for name, value in headers.fields]) + "]"
    rows = [
        f"[{quote(name)},{quote(value)}]" if frame == _DEFAULT_FRAMING
        else f"[{quote(name)},{quote(value)},{quote(frame[0])},{quote(frame[1])}]"
        for (name, value), frame in zip(headers.fields, headers.framing, strict=True)
    ]
    return "[" + ",".join(rows) + "]"


def decode_headers(text: str) -> Headers:
    """The inverse of :func:`encode_headers`."""
    rows = json.loads(text)
    if all(len(row) == 2 for row in rows):
        return Headers(rows)  # default framing: the common case, built without a second pass
    fields = [(row[0], row[1]) for row in rows]
    framing = [_DEFAULT_FRAMING if len(row) == 2 else (row[2], row[3]) for row in rows]
    return Headers(fields, framing)


def baseline_row(item: NewBaseline, seq: int, recorded_at: datetime) -> dict[str, Any]:
    """The ``baselines`` row of a new baseline (``recorded_at`` applies when it has none)."""
    request, response = item.request, item.response
    row: dict[str, Any] = {
        "record_id": item.record_id,
        "seq": seq,
        "method": request.method,
        "scheme": request.scheme,
        "host": request.host,
        "port": request.port,
        "target": request.target,
        "http_version": request.http_version,
        "request_headers": encode_headers(request.headers),
        "request_body": bytes(request.body),
        "response_truncated": item.response_truncated,
        "elapsed_ms": float(item.elapsed_ms),
        "recorded_at": item.recorded_at or recorded_at,
    }
    row.update(_response_columns(response))
    return row


def _response_columns(response: Response | None) -> dict[str, Any]:
    if response is None:
        return dict.fromkeys(("status", "reason", "response_version", "response_headers", "response_body"))
    return {
        "status": response.status,
        "reason": response.reason,
        "response_version": response.http_version,
        "response_headers": encode_headers(response.headers),
        "response_body": bytes(response.body),
    }


def baseline_from_row(row: RowMapping) -> Baseline:
    """A stored baseline from its ``baselines`` row."""
    request = Request(
        method=row["method"],
        scheme=row["scheme"],
        host=row["host"],
        port=row["port"],
        target=row["target"],
        http_version=row["http_version"],
        headers=decode_headers(row["request_headers"]),
        body=bytes(row["request_body"]),
    )
    return Baseline(
        id=row["id"],
        record_id=row["record_id"],
        seq=row["seq"],
        request=request,
        response=_response_from_row(row),
        response_truncated=bool(row["response_truncated"]),
        elapsed_ms=row["elapsed_ms"],
        recorded_at=row["recorded_at"],
    )


def _response_from_row(row: RowMapping) -> Response | None:
    if row["status"] is None:
        return None
    return Response(
        status=row["status"],
        reason=row["reason"],
        http_version=row["response_version"],
        headers=decode_headers(row["response_headers"]),
        body=bytes(row["response_body"]),
    )
