"""``lunge points FILE``: the insertion points of one request, for writing and checking policies.

FILE holds a raw HTTP request (request line, headers, blank line, body: what Burp's "copy to file"
or a proxy log saves) or a curl command line (what a browser's "Copy as cURL" gives); ``-`` reads
standard input. The destination comes from an absolute request target, else ``--base-url``, else
the Host header.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lunge.errors import InputFileError, MessageError, SettingError
from lunge.http import Point, Request, parse
from lunge.http.curl import parse_curl
from lunge.logs import escape_controls

logger = logging.getLogger(__name__)

_CURL = re.compile(rb"\s*curl(?:\.exe)?\s", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PointsListing:
    """A request and its points, as ``lunge points`` shows them."""

    source: str
    request: Request
    points: tuple[Point, ...]

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document: a summary of the request and every point."""
        request = self.request
        return {
            "source": self.source,
            "request": {
                "method": request.method,
                "url": printable(request.url),
                "http_version": request.http_version,
                "headers": len(request.headers),
                "content_type": request.content_type,
                "body_bytes": len(request.body),
            },
            "count": len(self.points),
            "points": [point_dict(p) for p in self.points],
        }


def point_dict(point: Point) -> dict[str, Any]:
    """One point as plain data: what a policy matches (``name``) and what a check sees."""
    return {
        "name": printable(point.name),
        "value": printable(point.value),
        "kind": point.kind.value,
        "role": point.role.value,
        "family": point.family,
        "layers": list(point.layers),
        "path": [{"parser": s.parser, "key": None if s.key is None else printable(s.key)} for s in point.path],
    }


def printable(text: str) -> str:
    """``text`` with bytes that were not UTF-8 (surrogate-escaped) written as ``\\xNN``, so it can be
    printed and put in JSON.

    >>> printable("caf\\udce9")
    'caf\\\\xe9'
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def display_value(value: str, width: int = 60) -> str:
    """A value for a table cell: control characters and bidirectional overrides escaped (``\\n``,
    ``\\u0000``, ``\\u202e``: :func:`lunge.logs.escape_controls`), cut at ``width``.

    >>> display_value("a\\r\\nb\\x00" + "x" * 80, width=14)
    'a\\\\r\\\\nb\\\\u0000x…'
    """
    text = escape_controls(printable(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def list_points(source: str, *, base_url: str | None = None) -> PointsListing:
    """Read the request in ``source`` (a path, or ``-`` for standard input) and list its points.

    Raises :class:`~lunge.errors.InputFileError` when the file cannot be read or holds no request,
    :class:`~lunge.errors.SettingError` for a bad ``base_url``.
    """
    request = read_request(source, base_url=base_url)
    return PointsListing(source, request, tuple(parse(request)))


def read_request(source: str, *, base_url: str | None = None) -> Request:
    """The request held in ``source``: a raw HTTP request, or a curl command line."""
    origin = _origin(base_url) if base_url else None
    data = _read(source)
    name = "<stdin>" if source == "-" else source
    if not data.strip():
        raise InputFileError(name, "", "is empty: expected a raw HTTP request or a curl command line")
    try:
        if _CURL.match(data):
            request = parse_curl(data.decode("utf-8", "surrogateescape"))
            return request.with_origin(*origin) if origin else request
        scheme, host, port = origin if origin else ("http", None, None)
        return Request.parse(data.lstrip(b"\r\n"), scheme=scheme, host=host, port=port)
    except MessageError as exc:
        raise InputFileError(name, "", f"not an HTTP request or a curl command line: {exc}") from exc


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise InputFileError(source, "", f"cannot be read: {exc.strerror or exc}") from exc


def _origin(base_url: str) -> tuple[str, str, int]:
    allowed = "an http:// or https:// URL with a host, such as https://app.test:8443"
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        raise SettingError("--base-url", base_url, allowed) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise SettingError("--base-url", base_url, allowed)
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)
