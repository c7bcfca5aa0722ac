"""Byte-faithful storage of requests and responses: what goes in comes back identical, on both
backends, whatever the bytes (Hypothesis), and for odd raw messages read with ``Request.parse``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lunge.http import Headers, Request, Response
from lunge.store import Store
from lunge.store.models import NewBaseline
from lunge.store.sql.codec import decode_headers, encode_headers

# Any Python str, lone surrogates and NUL included: the store must not depend on the text being sane.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
# What parsing wire bytes produces: latin-1 text.
wire_text = st.text(st.characters(max_codepoint=255), max_size=40)
texts = st.one_of(wire_text, any_text)


@st.composite
def headers(draw: st.DrawFn) -> Headers:
    fields = draw(st.lists(st.tuples(texts, texts), max_size=8))
    default = st.just((": ", ""))
    framing = draw(st.lists(st.one_of(default, st.tuples(texts, texts)), min_size=len(fields), max_size=len(fields)))
    return Headers(fields, framing)


requests = st.builds(
    Request, method=texts, scheme=st.sampled_from(["http", "https"]) | texts, host=texts,
    port=st.integers(0, 65535), target=texts, http_version=texts, headers=headers(), body=st.binary(max_size=300),
)
responses = st.builds(
    Response, status=st.integers(100, 999), reason=texts, http_version=texts, headers=headers(),
    body=st.binary(max_size=300),
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
times = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1), timezones=zones)


@given(headers())
def test_headers_codec_round_trips(value: Headers) -> None:
    encoded = encode_headers(value)
    assert encoded.isascii()
    assert decode_headers(encoded) == value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests, response=st.none() | responses, truncated=st.booleans(),
       elapsed=st.floats(allow_nan=False, width=64), when=times)
def test_baselines_round_trip_exactly(store: Store, request: Request, response: Response | None, truncated: bool,
                                      elapsed: float, when: datetime) -> None:
    record = store.create_record("hypothesis")
    store.add_baselines([NewBaseline(record.id, request, response, truncated, elapsed, when)])
    (stored,) = store.iter_baselines(record.id)
    assert stored.request == request
    assert stored.request.headers.framing == request.headers.framing
    assert stored.response == response
    assert (stored.response_truncated, stored.elapsed_ms, stored.recorded_at) == (truncated, elapsed, when)
    assert store.get_baseline(stored.id) == stored


ODD_REQUESTS = [
    # obs-fold continuation lines, kept inside the value
    b"GET /a HTTP/1.1\r\nHost: h.test\r\nX-Long: first\r\n  second\r\n\tthird\r\n\r\n",
    # odd spacing, tabs, duplicates differing in case, raw and broken percent-encoding
    b"GET /p%2Fq/%zz?a=1&a=2&b=%ZZ&&c HTTP/1.0\r\nHost:h.test:81\r\nX-A:\t v \t\r\nx-a: dup\r\nX-A:last\r\n\r\n",
    # absolute-form target: the destination comes from it, the Host header is kept as written
    b"POST http://other.test:8080/x?y=1 HTTP/1.1\r\nHost: h.test\r\nContent-Length: 3\r\n\r\nabc",
    # chunked body, Transfer-Encoding header kept
    b"POST /c HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    # latin-1 bytes in the target and in header values
    b"GET /caf\xe9/\xff HTTP/1.1\r\nHost: h.test\r\nX-Name: \xe9t\xe9\r\n\r\n",
    # bare LF line endings and an empty value
    b"GET / HTTP/1.1\nHost: h.test\nX-Empty:\nX-Space: \n\n",
    # NUL bytes in the target, a header and the body
    b"PUT /n\x00l HTTP/1.1\r\nHost: h.test\r\nX-Nul: a\x00b\r\nContent-Length: 4\r\n\r\n\x00\x01\x02\xff",
    # binary multipart body, lower-case names, no space after the colon
    b"POST /upload HTTP/1.1\r\nhost:h.test\r\ncontent-type:multipart/form-data; boundary=xx\r\n"
    b"content-length:44\r\n\r\n--xx\r\nContent-Disposition: form-data\r\n\r\n\x89PNG\r\n--xx--",
]

ODD_RESPONSES = [
    b"HTTP/1.1 204\r\nDate: x\r\n\r\n",
    b"HTTP/1.0 200 Fine  Thanks \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x00\xff",
]


@pytest.mark.parametrize("raw", ODD_REQUESTS, ids=range(len(ODD_REQUESTS)))
def test_odd_raw_requests_round_trip(store: Store, raw: bytes) -> None:
    request = Request.parse(raw)
    record = store.create_record("odd")
    store.add_baselines([NewBaseline(record.id, request, None)])
    (stored,) = store.iter_baselines(record.id)
    assert stored.request == request
    assert stored.request.to_bytes() == request.to_bytes()


@pytest.mark.parametrize("raw", ODD_RESPONSES, ids=range(len(ODD_RESPONSES)))
def test_odd_raw_responses_round_trip(store: Store, raw: bytes) -> None:
    response = Response.parse(raw)
    record = store.create_record("odd")
    store.add_baselines([NewBaseline(record.id, Request.parse(ODD_REQUESTS[0]), response)])
    (stored,) = store.iter_baselines(record.id)
    assert stored.response == response
    assert stored.response is not None and stored.response.to_bytes() == response.to_bytes()
