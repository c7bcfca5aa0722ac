"""HAR 1.2 (the "Save all as HAR" export of Chrome, Firefox, Safari and of proxies) into baselines.

Each entry gives a request and the response recorded with it. HTTP/2 pseudo-headers
(``:authority``, ``:path`` ...) are dropped since the URL carries them, and several HTTP/2
``cookie`` fields are joined into one. A HAR keeps response bodies decoded (``content.text``,
base64 when ``content.encoding`` says so), so the recorded Content-Encoding is dropped as well.
Entries that are not HTTP (WebSocket, ``data:``, ``blob:``, extensions) are skipped with a reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterator, Mapping
from urllib.parse import quote_plus

from lunge.http import Headers, Request, Response
from lunge.http.curl import FormPart, encode_multipart
from lunge.record.importers.build import (
    HTTP_SCHEMES,
    BaseUrl,
    make_request,
    merge_cookies,
    parse_base_url,
    url_scheme,
    utf8,
    wire_headers,
)
from lunge.record.importers.doc import Node, load_json
from lunge.record.importers.model import Imported, Item, Skipped

# The body of a HAR response is already decoded: these would describe bytes that are not there.
_STALE_RESPONSE_HEADERS = frozenset({"content-encoding", "transfer-encoding"})
_HTTP2 = frozenset({"http/2", "http/2.0", "h2", "h2c", "http/3", "h3"})


def read_har(text: str, source: str, *, base_url: str | None = None,
             variables: Mapping[str, str] | None = None) -> Iterator[Item]:
    """The requests (and recorded responses) of a HAR file, entry by entry.

    ``base_url`` rewrites every request's origin (scheme, host, port); ``variables`` are unused.
    Raises InputFileError (``log.entries[3].request.url``: what is wrong) for a malformed file.
    """
    base = parse_base_url(base_url)
    doc = load_json(text, source)
    doc.mapping()
    log = doc.get("log")
    if log.missing:
        raise doc.fail('no "log" object: this is not a HAR file')
    entries = log.get("entries")
    if entries.missing:
        raise entries.fail("is missing: a HAR log has an entries array")
    for entry in entries.items():
        yield _entry(entry, base)


def _entry(entry: Node, base: BaseUrl | None) -> Item:
    entry.mapping()
    req = entry.get("request")
    req.mapping()
    url_node = req.get("url")
    url = url_node.text()
    scheme = url_scheme(url)
    if scheme not in HTTP_SCHEMES:
        return Skipped(url_node.where, f"not an HTTP request ({scheme or 'no'} scheme): {url[:100]!r}")
    method = req.get("method").text()
    if method.upper() == "CONNECT":
        return Skipped(req.get("method").where, "a CONNECT tunnel, not a request to the target")
    notes: list[str] = []
    request = _request(req, url, method, notes)
    if base is not None:
        request = base.move(request)
    response = _response(entry.get("response"))
    return Imported(request, response, "; ".join(notes), entry.where)


def _request(req: Node, url: str, method: str, notes: list[str]) -> Request:
    version = req.get("httpVersion").scalar_text().strip().lower()
    headers = _pairs(req.get("headers"), "name", "value")
    if version in _HTTP2 or any(name.startswith(":") for name, _ in headers):
        headers = merge_cookies(headers)
    if not any(name.lower() == "cookie" for name, _ in headers):
        cookies = _pairs(req.get("cookies"), "name", "value")
        if cookies:  # some tools fill only the cookies array
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies)))
    body, content_type = _post_data(req.get("postData"), notes)
    if content_type:
        headers = [(k, v) for k, v in headers if k.lower() != "content-type" or not content_type[1]]
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", content_type[0]))
    request = make_request(req, url, method, headers, body)
    if version == "http/1.0":
        request = dataclasses.replace(request, http_version="HTTP/1.0")
    return request


def _pairs(node: Node, key: str, value: str) -> list[tuple[str, str]]:
    """``[{"name": .., "value": ..}, ...]`` as (name, value) pairs."""
    pairs: list[tuple[str, str]] = []
    for item in node.items():
        item.mapping()
        pairs.append((item.get(key).text(), item.get(value).scalar_text()))
    return pairs


def _post_data(post: Node, notes: list[str]) -> tuple[bytes, tuple[str, bool] | None]:
    """The body, and the Content-Type it needs: (type, True when it must replace the header's,
    because the body was rebuilt from params with a boundary of its own)."""
    if post.missing:
        return b"", None
    post.mapping()
    mime = post.get("mimeType").scalar_text()
    text = post.get("text")
    if not text.missing:
        body = _decoded(text, post.get("encoding"))
        return body, ((mime, False) if mime else None)
    params = post.get("params").items()
    if mime.lower().startswith("multipart/form-data"):
        parts = [_form_part(p, notes) for p in params]
        body, content_type = encode_multipart(parts)
        return body, (content_type, True)
    pairs = _pairs(post.get("params"), "name", "value")
    body = "&".join(f"{quote_plus(utf8(k))}={quote_plus(utf8(v))}" for k, v in pairs).encode("ascii")
    return body, ((mime or "application/x-www-form-urlencoded", False) if pairs or mime else None)


def _form_part(param: Node, notes: list[str]) -> FormPart:
    param.mapping()
    name = param.get("name").text()
    filename = param.get("fileName").optional_text()
    content_type = param.get("contentType").optional_text()
    if filename is None:
        return FormPart(name, utf8(param.get("value").scalar_text()), content_type=content_type)
    notes.append(f"the HAR does not hold file {filename!r} of form field {name!r}: it is left empty")
    return FormPart(name, b"", filename, content_type or "application/octet-stream")


def _decoded(text: Node, encoding: Node) -> bytes:
    value = text.scalar_text()
    kind = encoding.scalar_text().strip().lower()
    if kind != "base64":
        return utf8(value)
    try:
        return base64.b64decode("".join(value.split()).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise text.fail(f"not valid base64 (the encoding says base64): {exc}") from exc


def _response(node: Node) -> Response | None:
    """The recorded response; None when the entry has none (status 0: blocked, failed, cancelled)."""
    if node.missing:
        return None
    node.mapping()
    status = node.get("status").integer(0)
    if not 100 <= status <= 599:
        return None
    reason = node.get("statusText").scalar_text()
    if "\r" in reason or "\n" in reason:
        raise node.get("statusText").fail("contains a line break")
    headers = [(k, v) for k, v in _pairs(node.get("headers"), "name", "value")
               if k.lower() not in _STALE_RESPONSE_HEADERS]
    content = node.get("content")
    body = b"" if content.missing else _decoded(content.get("text"), content.get("encoding"))
    return Response(status, utf8(reason).decode("latin-1"), "HTTP/1.1", Headers(wire_headers(node, headers)), body)
