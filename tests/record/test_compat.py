"""The ws:// absolute-form rewrite that keeps WebSocket clients such as aiohttp working."""

from __future__ import annotations

import pytest
from mitmproxy.net.http import http1

from lunge.record.compat import accept_websocket_urls, websocket_request_line


@pytest.mark.parametrize(("line", "expected"), [
    (b"GET ws://a.test/chat HTTP/1.1", b"GET http://a.test/chat HTTP/1.1"),
    (b"GET WSS://a.test:8443/x?y=ws:// HTTP/1.1", b"GET https://a.test:8443/x?y=ws:// HTTP/1.1"),
    (b"GET http://a.test/ HTTP/1.1", b"GET http://a.test/ HTTP/1.1"),
    (b"GET /ws://x HTTP/1.1", b"GET /ws://x HTTP/1.1"),
    (b"CONNECT a.test:443 HTTP/1.1", b"CONNECT a.test:443 HTTP/1.1"),
    (b"", b""),
])
def test_request_line_rewrite(line, expected):
    assert websocket_request_line(line) == expected


def test_patch_is_idempotent_and_mitmproxy_parses_ws_urls():
    accept_websocket_urls()
    patched = http1.read_request_head
    accept_websocket_urls()
    assert http1.read_request_head is patched
    request = http1.read_request_head([b"GET ws://a.test/chat HTTP/1.1\r\n", b"Host: a.test\r\n"])
    assert (request.scheme, request.host, request.port, request.path) == ("http", "a.test", 80, "/chat")


def test_debug_typechecks_are_skipped_by_the_proxy():
    from mitmproxy import http as mhttp
    from mitmproxy.test import tutils

    from lunge.record.compat import skip_debug_typechecks

    skip_debug_typechecks()
    skip_debug_typechecks()
    request = tutils.treq(host="a.test", port=80)  # still builds, without the per-field checks
    assert request.host == "a.test"
    assert mhttp.MessageData.__post_init__.__name__ == "_no_check"  # type: ignore[attr-defined]
