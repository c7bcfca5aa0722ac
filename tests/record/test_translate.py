"""The proxy boundary: mitmproxy flows become lunge requests, responses and baselines."""

from __future__ import annotations

from mitmproxy import http as mhttp
from mitmproxy.test import tflow, tutils

from lunge.record.translate import to_baseline, to_request, to_response


def _request(**kwargs) -> mhttp.Request:
    return tutils.treq(**kwargs)


def test_request_keeps_target_headers_and_raw_body():
    headers = mhttp.Headers([(b"Host", b"t.test:8000"), (b"X-Case", b"A"), (b"x-case", b"b"),
                             (b"Content-Encoding", b"gzip"), (b"Weird", b"\xe9t\xe9")])
    message = _request(host="t.test", port=8000, path=b"/a%2Fb/../c?x=%20&y", headers=headers,
                       content=b"\x1f\x8b raw gzip bytes")
    request = to_request(message)
    assert (request.method, request.scheme, request.host, request.port) == ("GET", "http", "t.test", 8000)
    assert request.target == "/a%2Fb/../c?x=%20&y"  # not normalised, not decoded
    assert request.headers.fields == (("Host", "t.test:8000"), ("X-Case", "A"), ("x-case", "b"),
                                      ("Content-Encoding", "gzip"), ("Weird", "\xe9t\xe9"))
    assert request.body == b"\x1f\x8b raw gzip bytes"  # still content-encoded, as it travelled
    assert request.http_version == "HTTP/1.1"


def test_http2_request_becomes_its_http11_form():
    message = _request(host="t.test", port=8443, scheme=b"https", authority=b"t.test:8443", http_version=b"HTTP/2.0",
                       headers=mhttp.Headers([(b"accept", b"*/*")]), content=b"")
    request = to_request(message)
    assert request.http_version == "HTTP/1.1"
    assert request.headers.fields == (("Host", "t.test:8443"), ("accept", "*/*"))
    no_authority = to_request(_request(host="t.test", port=443, scheme=b"https", http_version=b"HTTP/2.0",
                                       headers=mhttp.Headers([]), content=b""))
    assert no_authority.headers.get("host") == "t.test"


def test_response_is_cut_at_max_body_with_the_flag():
    message = tutils.tresp(content=b"0123456789", reason=b"Fine")
    response, truncated = to_response(message, max_body=4)
    assert (response.status, response.reason, response.body, truncated) == (200, "Fine", b"0123", True)
    whole, truncated = to_response(message, max_body=10)
    assert whole.body == b"0123456789" and not truncated
    assert [k for k, _ in whole.headers] == ["header-response", "content-length"]


def test_baseline_timing_and_streamed_body():
    flow = tflow.tflow(resp=True)
    flow.request.timestamp_start = 1000.0
    flow.response.timestamp_end = 1000.25
    baseline = to_baseline(flow, record_id=7, max_body=100)
    assert baseline.record_id == 7 and baseline.elapsed_ms == 250.0
    assert baseline.response is not None and baseline.response.body == b"message"
    assert baseline.recorded_at is not None and baseline.recorded_at.tzinfo is not None
    streamed = to_baseline(flow, record_id=7, max_body=100, streamed_body=b"first part", streamed_complete=False)
    assert streamed.response is not None and streamed.response.body == b"first part"
    assert streamed.response_truncated
