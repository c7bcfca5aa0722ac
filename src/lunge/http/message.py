"""Byte-faithful HTTP/1.x requests and responses.

A :class:`Request` keeps the request target exactly as written (nothing is re-encoded that was not
touched), the headers in wire order with their case, duplicates and spacing, and the body bytes.
Changing a request always returns a new one (``dataclasses.replace`` or the ``with_*`` helpers);
serialising recomputes Content-Length so a changed body stays well framed.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import SplitResult, quote, urlsplit

from lunge.errors import MessageError
from lunge.http.encoding import dechunk, decode_content
from lunge.http.headers import Framing, HeaderPair, Headers, wire_bytes
from lunge.values import quick_init

DEFAULT_PORTS = {"http": 80, "https": 443}
_REQUEST_LINE = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP/\d(?:\.\d)?)\Z")
_STATUS_LINE = re.compile(r"^(HTTP/\d(?:\.\d)?) (\d{3})(?: (.*))?\Z")
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


@lru_cache(maxsize=256)
def _charset(content_type: str) -> str:
    """The charset a Content-Type names, else UTF-8 (a run sees a handful of distinct values)."""
    match = _CHARSET.search(content_type)
    return match.group(1) if match else "utf-8"
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_DIGITS = re.compile(r"[0-9]+")
# What a URL given as text may keep when it becomes a request target: printable ASCII except the
# space. Everything else (spaces, controls, non-ASCII as UTF-8) is percent-encoded, as curl does.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


@quick_init
@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, as sent.

    ``target`` is the request target in origin form (``/path?query``) exactly as it was written;
    ``scheme``, ``host`` and ``port`` say where it goes. ``body`` is the de-chunked payload.

    >>> r = Request.from_url("http://example.test:8000/a/b?x=1")
    >>> r.host, r.port, r.target, r.path, r.query
    ('example.test', 8000, '/a/b?x=1', '/a/b', 'x=1')
    >>> Request.parse(r.to_bytes()) == r
    True
    """

    method: str
    scheme: str
    host: str
    port: int
    target: str
    http_version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # ------------------------------------------------------------------ building
    @classmethod
    def from_url(
        cls,
        url: str,
        method: str = "GET",
        headers: Headers | list[HeaderPair] | None = None,
        body: bytes = b"",
    ) -> Request:
        """A request for ``url``; a Host header is added first unless ``headers`` has one."""
        parts = _split_url(url)
        scheme = (parts.scheme or "http").lower()
        if scheme not in DEFAULT_PORTS:
            raise MessageError(f"unsupported URL scheme {parts.scheme!r} in {url!r} (http or https)")
        if not parts.hostname:
            raise MessageError(f"no host in URL {url!r}")
        if any(c.isspace() or ord(c) < 0x20 for c in parts.netloc):
            raise MessageError(f"whitespace or control characters in the host of URL {url!r}")
        port = _url_port(parts, url) or DEFAULT_PORTS[scheme]
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = quote(target, safe=_TARGET_SAFE, errors="surrogateescape")
        hdrs = headers if isinstance(headers, Headers) else Headers(headers or [])
        if "host" not in hdrs:
            hdrs = Headers([("Host", parts.netloc.rpartition("@")[2]), *hdrs.fields])
        return cls(method.upper(), scheme, parts.hostname, port, target, "HTTP/1.1", hdrs, body)

    @classmethod
    def parse(
        cls, raw: bytes, *, scheme: str = "http", host: str | None = None, port: int | None = None
    ) -> Request:
        """Read a raw HTTP/1.x request.

        The destination comes from an absolute-form target, else from ``host``/``port``, else from
        the Host header. Chunked bodies are de-chunked; the Transfer-Encoding header is kept.

        Raises :class:`~lunge.errors.MessageError` for bytes that are not an HTTP request.
        """
        start, headers, body = _split_message(raw)
        match = _REQUEST_LINE.match(start)
        if not match:
            raise MessageError(f"not an HTTP request line: {start[:80]!r}")
        method, target, version = match.groups()
        if "://" in target and not target.startswith("/"):
            url = _split_url(target)
            scheme, host, port = url.scheme.lower(), url.hostname, _url_port(url, target)
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        if host is None:
            host, port = _host_and_port(headers.get("host"), port)
        if scheme not in DEFAULT_PORTS:
            raise MessageError(f"unsupported scheme {scheme!r}")
        return cls(method, scheme, host, port or DEFAULT_PORTS[scheme], target, version, headers,
                   _read_body(headers, body))

    # ------------------------------------------------------------------ views
    @property
    def path(self) -> str:
        """The target without its query string (still percent-encoded as written)."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The raw query string, without the ``?``."""
        return self.target.partition("?")[2]

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, the port left out when it is the scheme's default."""
        default = DEFAULT_PORTS.get(self.scheme) == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")

    @property
    def url(self) -> str:
        """The absolute URL this request goes to."""
        return self.origin + self.target

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters ('' when absent)."""
        return (self.headers.get("content-type") or "").partition(";")[0].strip().lower()

    # ------------------------------------------------------------------ changing
    def with_target(self, target: str) -> Request:
        return dataclasses.replace(self, target=target)

    def with_headers(self, headers: Headers) -> Request:
        return dataclasses.replace(self, headers=headers)

    def with_body(self, body: bytes) -> Request:
        return dataclasses.replace(self, body=body)

    def with_origin(self, scheme: str, host: str, port: int) -> Request:
        """The same request sent elsewhere (``TEST_RUN_URI``); the Host header follows."""
        moved = dataclasses.replace(self, scheme=scheme, host=host, port=port)
        if "host" in self.headers:
            authority = moved.origin.partition("://")[2]
            moved = dataclasses.replace(moved, headers=self.headers.set("Host", authority))
        return moved

    # ------------------------------------------------------------------ wire form
    def head_bytes(self) -> bytes:
        """Request line and header block (with the blank line), Content-Length recomputed."""
        line = wire_bytes(f"{self.method} {self.target} {self.http_version}\r\n")
        return line + _framed_headers(self.headers, self.body, request=True).encode() + b"\r\n"

    def to_bytes(self) -> bytes:
        """The request as HTTP/1.1 wire bytes; a chunked request is sent as a single chunk."""
        return self.head_bytes() + _framed_body(self.headers, self.body)


@quick_init
@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response. ``body`` is de-chunked but still content-encoded (gzip, br, ...);
    :meth:`decoded_body` and :meth:`text` undo the content encoding for reading."""

    status: int
    reason: str = ""
    http_version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    # The decoded text, computed on first use: checks read a response's text many times.
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        """Read a raw HTTP/1.x response. Raises :class:`~lunge.errors.MessageError`."""
        start, headers, body = _split_message(raw)
        match = _STATUS_LINE.match(start)
        if not match:
            raise MessageError(f"not an HTTP status line: {start[:80]!r}")
        version, status, reason = match.groups()
        return cls(int(status), reason or "", version, headers, _read_body(headers, body))

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters ('' when absent)."""
        return (self.headers.get("content-type") or "").partition(";")[0].strip().lower()

    def decoded_body(self) -> bytes:
        """The body with its Content-Encoding (gzip, deflate, br) undone; the raw body when the
        encoding is unknown or the bytes do not decode (a client may already have decoded them)."""
        return decode_content(self.body, self.headers.get("content-encoding") or "")

    def text(self) -> str:
        """The decoded body as text: the charset of Content-Type, else UTF-8, bad bytes replaced."""
        if self._text is None:
            object.__setattr__(self, "_text", self._decode_text())
        assert self._text is not None
        return self._text

    def _decode_text(self) -> str:
        charset = _charset(self.headers.get("content-type") or "")
        try:
            return self.decoded_body().decode(charset, errors="replace")
        except (LookupError, UnicodeError):
            # Unknown charsets, and codecs that are not text encodings or refuse errors="replace"
            # (idna, punycode): read the body as UTF-8 rather than fail.
            return self.decoded_body().decode("utf-8", errors="replace")

    def head_bytes(self) -> bytes:
        line = f"{self.http_version} {self.status} {self.reason}".rstrip(" ") + "\r\n"
        return wire_bytes(line) + _framed_headers(self.headers, self.body, request=False).encode() + b"\r\n"

    def to_bytes(self) -> bytes:
        """The response as HTTP/1.1 wire bytes, Content-Length recomputed."""
        return self.head_bytes() + _framed_body(self.headers, self.body)


# ---------------------------------------------------------------------- helpers
def _split_url(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        raise MessageError(f"bad URL {url[:200]!r}: {exc}") from exc


def _url_port(parts: SplitResult, url: str) -> int | None:
    try:
        return parts.port
    except ValueError as exc:
        raise MessageError(f"bad port in URL {url[:200]!r}") from exc


def _split_message(raw: bytes) -> tuple[str, Headers, bytes]:
    # The header block ends at the first empty line, whichever line endings (CRLF or bare LF) the
    # sender used; a body may contain either.
    blank = _BLANK_LINE.search(raw)
    if blank:
        head, body = raw[: blank.start()], raw[blank.end() :]
    elif raw.endswith((b"\r\n", b"\n")):
        head, body = raw, b""
    else:
        raise MessageError("no end of the header block (a blank line) in the message")
    lines = re.split(r"\r?\n", head.decode("latin-1"))
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise MessageError("empty message")
    return lines[0].strip(), _parse_header_lines(lines[1:]), body


def _parse_header_lines(lines: list[str]) -> Headers:
    fields: list[HeaderPair] = []
    framing: list[Framing] = []
    for line in lines:
        if line[:1] in (" ", "\t") and fields:
            # obs-fold: keep the continuation inside the value, byte for byte.
            name, value = fields[-1]
            fields[-1] = (name, value + framing[-1][1] + "\r\n" + line)
            framing[-1] = (framing[-1][0], "")
            continue
        name, colon, rest = line.partition(":")
        if not colon or not name or name != name.strip():
            raise MessageError(f"not a header field: {line[:80]!r}")
        value = rest.strip(" \t")
        lead = rest[: len(rest) - len(rest.lstrip(" \t"))]
        trail = rest[len(rest.rstrip(" \t")) :] if value else ""
        fields.append((name, value))
        framing.append((":" + lead, trail))
    return Headers(fields, framing)


def _host_and_port(host_header: str | None, port: int | None) -> tuple[str, int | None]:
    if not host_header:
        raise MessageError("no Host header and no destination given")
    try:
        parsed = urlsplit("//" + host_header.strip())
        parsed_port = parsed.port
    except ValueError as exc:
        raise MessageError(f"bad Host header {host_header!r}: {exc}") from exc
    if not parsed.hostname:
        raise MessageError(f"bad Host header {host_header!r}")
    return parsed.hostname, port or parsed_port


def _is_chunked(headers: Headers) -> bool:
    if "transfer-encoding" not in headers:
        return False
    return any("chunked" in v.lower() for v in headers.get_all("transfer-encoding"))


def _read_body(headers: Headers, body: bytes) -> bytes:
    if _is_chunked(headers):
        return dechunk(body)
    length = headers.get("content-length")
    if length is not None and _DIGITS.fullmatch(length.strip()):
        return body[: int(length)]
    return body


def _framed_headers(headers: Headers, body: bytes, *, request: bool) -> Headers:
    if _is_chunked(headers):
        return headers
    current = headers.get("content-length")
    if current is not None:
        if current.strip() == str(len(body)):
            return headers
        return headers.set("Content-Length", str(len(body)))
    if body and request:
        return headers.add("Content-Length", str(len(body)))
    return headers


def _framed_body(headers: Headers, body: bytes) -> bytes:
    if not _is_chunked(headers):
        return body
    if not body:
        return b"0\r\n\r\n"
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
