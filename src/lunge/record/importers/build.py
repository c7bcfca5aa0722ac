"""Building a byte-faithful :class:`Request` from the loose parts a file describes, and moving it
to ``--base-url``.

Files hold text; the wire holds bytes. Here URLs become ASCII (percent-encoded UTF-8, IDNA
hosts), header values become their UTF-8 bytes seen as latin-1 (as :class:`Headers` keeps them),
and anything that cannot be an HTTP/1.1 message (a line break in a header, a method with a space)
becomes an :class:`~lunge.errors.InputFileError` naming the place in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lunge.errors import MessageError, SettingError
from lunge.http import Headers, Request
from lunge.http.curl import ascii_url
from lunge.http.message import DEFAULT_PORTS

if TYPE_CHECKING:
    from lunge.record.importers.doc import Node

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
HTTP_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class BaseUrl:
    """Where ``--base-url`` sends the imported requests.

    >>> b = BaseUrl.parse("https://staging.test:8443/api/")
    >>> b.origin, b.path
    ('https://staging.test:8443', '/api')
    """

    scheme: str
    host: str
    port: int
    path: str  # without a trailing slash; "" when the URL has none
    has_path: bool  # the URL names a path, even "/" (then it replaces an OpenAPI server's path)

    @classmethod
    def parse(cls, text: str) -> BaseUrl:
        """Raises SettingError (naming ``--base-url``) for anything but an http(s) URL with a host."""
        allowed = "an http:// or https:// URL such as http://127.0.0.1:8000 (a path is allowed)"
        try:
            parts = urlsplit(ascii_url(text.strip()))
            port = parts.port
        except (MessageError, ValueError) as exc:
            raise SettingError("--base-url", text, allowed) from exc
        scheme = parts.scheme.lower()
        if scheme not in HTTP_SCHEMES or not parts.hostname or parts.query:
            raise SettingError("--base-url", text, allowed)
        return cls(scheme, parts.hostname, port or DEFAULT_PORTS[scheme], parts.path.rstrip("/"), bool(parts.path))

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")

    def move(self, request: Request) -> Request:
        """The request sent to this origin instead (the Host header follows)."""
        return request.with_origin(self.scheme, self.host, self.port)


def parse_base_url(text: str | None) -> BaseUrl | None:
    """``--base-url`` parsed (None when not given); SettingError when it is not an http(s) URL."""
    return None if text is None or not text.strip() else BaseUrl.parse(text)


def url_scheme(url: str) -> str:
    """The lower-cased scheme of ``url`` ('' when it has none)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url.strip())
    return match.group(1).lower() if match else ""


def make_request(node: Node, url: str, method: str, headers: Iterable[tuple[str, str]], body: bytes) -> Request:
    """A request for ``url``; any problem is an InputFileError at ``node``'s place.

    Header values are text as a file holds it (they are encoded here); HTTP/2 pseudo-headers
    (``:authority``) are left out, as HTTP/1.1 carries them in the request line and Host.
    """
    method = method.strip()
    if not _TOKEN.match(method):
        raise node.fail(f"not an HTTP method: {method[:40]!r}")
    fields = wire_headers(node, headers)
    try:
        request = Request.from_url(ascii_url(url), method, Headers(fields), body)
        request.to_bytes()  # proves the message can be sent (a target with a non-latin-1 character ...)
    except MessageError as exc:
        raise node.fail(str(exc)) from exc
    except (UnicodeError, ValueError) as exc:
        raise node.fail(f"cannot be sent as HTTP/1.1: {exc}") from exc
    return request


def wire_headers(node: Node, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header fields as :class:`Headers` keeps them, pseudo-headers left out; a name that is not
    a token or a value with a line break is an InputFileError at ``node``'s place."""
    fields: list[tuple[str, str]] = []
    for name, value in headers:
        if name.startswith(":"):
            continue
        if not _TOKEN.match(name):
            raise node.fail(f"not a valid header name: {name[:60]!r}")
        if "\r" in value or "\n" in value:
            raise node.fail(f"the value of header {name!r} contains a line break")
        # Whitespace around a value is not part of it (RFC 9110 5.5): on the wire it would be lost.
        fields.append((name, utf8(value.strip(" \t")).decode("latin-1")))
    return fields


def utf8(text: str) -> bytes:
    """Text as UTF-8 bytes; never fails (a lone surrogate from a JSON ``\\ud800`` is kept as is)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def merge_cookies(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """HTTP/2 allows one Cookie field per cookie; HTTP/1.1 wants one, joined with '; ' (RFC 9113 8.2.3).

    >>> merge_cookies([("cookie", "a=1"), ("x", "y"), ("cookie", "b=2")])
    [('cookie', 'a=1; b=2'), ('x', 'y')]
    """
    cookies = [v for k, v in headers if k.lower() == "cookie"]
    if len(cookies) < 2:
        return headers
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() != "cookie":
            out.append((name, value))
        elif not any(k.lower() == "cookie" for k, _ in out):
            out.append((name, "; ".join(cookies)))
    return out
