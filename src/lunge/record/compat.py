"""Workarounds for mitmproxy behaviour that would break test suites running through the proxy.

WebSocket URLs in absolute form: some clients (aiohttp, Chrome on iOS) open a plain ``ws://``
WebSocket through a forward proxy with ``GET ws://host/path HTTP/1.1`` instead of a CONNECT tunnel.
mitmproxy 12 answers that with 400 "Invalid request scheme: ws" (mitmproxy issues #3867, #7717).
The handshake is an ordinary HTTP/1.1 upgrade, so lunge rewrites the scheme of such a request line
to ``http://`` (``wss://`` to ``https://``) before mitmproxy parses it; the rest of the request,
and the WebSocket that follows, pass through untouched.

Debug-only type checks: mitmproxy type-checks every field of every request and response it builds
(``MessageData.__post_init__``), inside ``if __debug__:`` -- meant for development, switched off by
``python -O``. lunge runs without ``-O`` (it keeps its own asserts), so the recording proxy turns
that one check off itself: about 20 checks per exchange, some 7% of the proxy's CPU per request.
The messages are built by mitmproxy's own parsers and by lunge's addon, never by user scripts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mitmproxy import http as mhttp
from mitmproxy.net.http import http1

logger = logging.getLogger(__name__)

_SCHEMES = ((b"ws://", b"http://"), (b"wss://", b"https://"))


def websocket_request_line(line: bytes) -> bytes:
    """``line`` with a ``ws://``/``wss://`` absolute-form target turned into ``http://``/``https://``.

    >>> websocket_request_line(b"GET ws://a.test:81/chat HTTP/1.1")
    b'GET http://a.test:81/chat HTTP/1.1'
    >>> websocket_request_line(b"GET /ws://not-a-target HTTP/1.1")
    b'GET /ws://not-a-target HTTP/1.1'
    """
    method, space, rest = line.partition(b" ")
    lowered = rest[:6].lower()
    for ws, http in _SCHEMES:
        if lowered.startswith(ws):
            return method + space + http + rest[len(ws):]
    return line


def _patched(original: Callable[[list[bytes]], mhttp.Request]) -> Callable[[list[bytes]], mhttp.Request]:
    def read_request_head(lines: list[bytes]) -> mhttp.Request:
        if lines:
            lines = [websocket_request_line(lines[0]), *lines[1:]]
        return original(lines)

    read_request_head.lunge_patched = True  # type: ignore[attr-defined]
    return read_request_head


def accept_websocket_urls() -> None:
    """Install the rewrite (idempotent). mitmproxy's HTTP/1 server layer calls
    ``mitmproxy.net.http.http1.read_request_head`` through the module, so this is the one place."""
    current = http1.read_request_head
    if getattr(current, "lunge_patched", False):
        return
    setattr(http1, "read_request_head", _patched(current))  # noqa: B010  (a deliberate patch, typed loosely)
    logger.debug("accepting ws:// and wss:// absolute-form requests")


def _no_check(self: mhttp.MessageData) -> None:
    """Stands in for mitmproxy's debug-only field type check."""


def skip_debug_typechecks() -> None:
    """Turn off mitmproxy's debug-only type check of message fields (idempotent)."""
    if getattr(mhttp.MessageData, "__post_init__", None) is not _no_check and __debug__:
        setattr(mhttp.MessageData, "__post_init__", _no_check)  # noqa: B010  (a deliberate patch)
