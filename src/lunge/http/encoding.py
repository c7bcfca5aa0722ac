"""Transfer and content codings: chunked framing, and gzip / deflate / br bodies for reading."""

from __future__ import annotations

import gzip
import re
import zlib

import brotli

from lunge.errors import MessageError

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def dechunk(data: bytes) -> bytes:
    """Join the chunks of a chunked body; trailers are dropped.

    >>> dechunk(b"3\\r\\nabc\\r\\n2;ext=1\\r\\nde\\r\\n0\\r\\n\\r\\n")
    b'abcde'
    """
    out = bytearray()
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise MessageError("chunked body ends inside a chunk-size line")
        size_text = data[pos:end].split(b";", 1)[0].strip()
        # Only hex digits: int() would also take a sign, a 0x prefix or underscores.
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise MessageError(f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        pos = end + 1
        if size == 0:
            return bytes(out)
        if pos + size > len(data):
            raise MessageError("chunked body is shorter than its chunk sizes say")
        out += data[pos : pos + size]
        pos += size
        if data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            pos += 1


def decode_content(body: bytes, content_encoding: str) -> bytes:
    """Undo a Content-Encoding (several codings are undone right to left).

    Unknown codings and bytes that do not decode return ``body`` unchanged, so the caller always
    gets something readable.

    >>> decode_content(gzip.compress(b"hi"), "gzip")
    b'hi'
    >>> decode_content(b"plain", "gzip")
    b'plain'
    """
    data = body
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",") if c.strip()]):
        try:
            data = _decode_one(data, coding)
        except (OSError, EOFError, zlib.error, brotli.error):
            return body
    return data


def _decode_one(data: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if coding == "deflate":
        try:
            return zlib.decompress(data)
        except zlib.error:
            return zlib.decompress(data, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    if coding == "br":
        result: bytes = brotli.decompress(data)
        return result
    if coding == "identity":
        return data
    raise OSError(f"unknown content coding {coding}")
