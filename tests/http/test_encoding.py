"""Transfer coding (chunked) and content codings (gzip, deflate, raw deflate, br) for reading."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.errors import MessageError
from lunge.http.encoding import dechunk, decode_content
from tests.http import strategies as gen


def _chunked(parts: list[bytes], extension: bool, lf_only: bool) -> bytes:
    eol = b"\n" if lf_only else b"\r\n"
    out = b"".join(b"%x%s%s%s%s" % (len(p), b";x=1" if extension else b"", eol, p, eol) for p in parts if p)
    return out + b"0" + eol + b"Trailer: t" + eol + eol


@settings(max_examples=gen.examples(100))
@given(st.lists(st.binary(max_size=40), max_size=6), st.booleans(), st.booleans())
def test_dechunk_joins_the_chunks(parts: list[bytes], extension: bool, lf_only: bool) -> None:
    assert dechunk(_chunked(parts, extension, lf_only)) == b"".join(parts)


@pytest.mark.parametrize("size", [b"A", b"a", b"00000010"])
def test_chunk_sizes_are_hex(size: bytes) -> None:
    n = int(size, 16)
    assert dechunk(size + b"\r\n" + b"x" * n + b"\r\n0\r\n\r\n") == b"x" * n


@pytest.mark.parametrize("data", [b"", b"5", b"5\r\nab", b"z\r\n", b"-1\r\nx\r\n0\r\n\r\n", b"+1\r\nx\r\n0\r\n\r\n",
                                  b"0x1\r\nx\r\n0\r\n\r\n", b"1_0\r\n", b" \r\n"])
def test_bad_chunked_framing_is_a_message_error(data: bytes) -> None:
    with pytest.raises(MessageError):
        dechunk(data)


@settings(max_examples=gen.examples(200))
@given(st.binary(max_size=80))
def test_dechunk_of_arbitrary_bytes_is_bytes_or_a_message_error(data: bytes) -> None:
    try:
        assert isinstance(dechunk(data), bytes)
    except MessageError:
        pass


@settings(max_examples=gen.examples(60))
@given(st.binary(max_size=200))
def test_every_supported_coding_round_trips(data: bytes) -> None:
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = deflater.compress(data) + deflater.flush()
    assert decode_content(gzip.compress(data), "gzip") == data
    assert decode_content(zlib.compress(data), "deflate") == data
    assert decode_content(raw_deflate, "deflate") == data
    assert decode_content(brotli.compress(data), "br") == data
    assert decode_content(gzip.compress(brotli.compress(data)), "br, gzip") == data
    assert decode_content(data, "") == data and decode_content(data, "identity") == data


@settings(max_examples=gen.examples(100))
@given(st.binary(max_size=60).filter(lambda d: not d.startswith(b"\x1f\x8b")), st.sampled_from(["gzip", "x-gzip"]))
def test_what_is_not_gzip_comes_back_unchanged(data: bytes, coding: str) -> None:
    assert decode_content(data, coding) == data


@pytest.mark.parametrize(("data", "coding"), [(b"\x00\x01\x02", "deflate"), (b"\xff\xff", "br"), (b"abc", "compress"),
                                              (b"abc", "zstd"), (gzip.compress(b"x"), "gzip, bogus")])
def test_undecodable_bodies_come_back_unchanged(data: bytes, coding: str) -> None:
    assert decode_content(data, coding) == data
