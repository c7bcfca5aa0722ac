"""Encodings that wrap another value: ``BASE64`` (standard and URL-safe), ``URL`` (percent-encoding),
``GZIP`` and ``JWT``. Each detector accepts a value only when it decodes cleanly, so ordinary words
are not mistaken for encoded data.

>>> [leaf.value for leaf in base64_layer("eyJpZCI6IDF9")]
['{"id": 1}']
>>> base64_layer("username") is None
True
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from urllib.parse import quote, unquote

from lunge.http.points import jsondoc
from lunge.http.points.model import Leaf, Step, ValueKind

_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_SCHEME = re.compile(r"(?:Basic|Bearer|Token) ", re.IGNORECASE)  # Authorization: <scheme> <base64>
# A JSON object in base64url starts "e" + one of w x y z 3 ('{' then '"', whitespace or '}'); the
# usual "eyJ" is only the case of a first key starting with a letter.
_JWT = re.compile(r"(e[w-z3][A-Za-z0-9_-]*)\.(e[w-z3][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)")
MIN_BASE64 = 8  # shorter strings decode to text by chance too often


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(text: str) -> bool:
    # Text, not random bytes that happen to be UTF-8: no control characters but tab, CR and LF.
    return _CONTROL.search(text) is None


# ---------------------------------------------------------------------- base64
def base64_layer(value: str) -> list[Leaf] | None:
    """A ``BASE64`` layer when ``value`` is base64 (standard or URL-safe, padded or not) of ASCII
    text or of a JSON document, alone or after an authorization scheme (``Basic dXNlcjpwYXNz``).

    Words decode to valid UTF-8 now and then ("I0000I00" is "#M4Ѝ4"), but hardly ever to ASCII
    text without control characters (none of 250 common identifiers of 8+ letters does); so
    non-ASCII text counts only when it is a JSON document.

    >>> [(leaf.span, leaf.value) for leaf in base64_layer("Basic dXNlcjpwYXNz")]
    [((6, 18), 'user:pass')]
    """
    scheme = _SCHEME.match(value)
    start = scheme.end() if scheme else 0
    token = value[start:]
    text = _base64_text(token)
    if text is None or not _printable(text):
        return None
    if not text.isascii() and not jsondoc.looks_like_json(text):
        return None
    urlsafe = "-" in token or "_" in token
    # Padding as recorded; when the recorded text needed none, the usual habit of its alphabet
    # (standard base64 is padded, URL-safe base64 in tokens usually is not).
    padded = token.endswith("=") or (len(token) % 4 == 0 and not urlsafe)

    def encode(new: str) -> str:
        data = new.encode("utf-8", "surrogateescape")
        out = (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)).decode("ascii")
        return out if padded else out.rstrip("=")

    return [Leaf((Step("BASE64"),), (start, len(value)), text, encode)]


def has_scheme(value: str) -> bool:
    """Whether ``value`` starts with an authorization scheme that base64 may follow."""
    return _SCHEME.match(value) is not None


def _base64_text(value: str) -> str | None:
    """The UTF-8 text ``value`` decodes to as base64, or None."""
    if len(value) < MIN_BASE64:
        return None
    urlsafe = "-" in value or "_" in value
    if not (_URLSAFE if urlsafe else _STD).fullmatch(value):
        return None
    body = value.rstrip("=")
    if len(body) % 4 == 1:
        return None
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_" if urlsafe else None, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return text or None


# ---------------------------------------------------------------------- URL encoding
_URL_SAFE = "-._~!$'()*,:@/"


def url_layer(value: str) -> list[Leaf] | None:
    """A ``URL`` layer when ``value`` holds percent-escapes that decode to valid UTF-8."""
    if not _PERCENT.search(value):
        return None
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None
    if decoded == value:
        return None
    return [Leaf((Step("URL"),), (0, len(value)), decoded,
                 lambda new: quote(new, safe=_URL_SAFE, errors="surrogateescape"))]


# ---------------------------------------------------------------------- gzip
GZIP_MAGIC = "\x1f\udc8b"  # bytes 1f 8b as they appear in surrogate-escaped text


def gzip_layer(value: str) -> list[Leaf] | None:
    """A ``GZIP`` layer for gzip data (bodies are surrogate-escaped text, see ``tree``)."""
    if not value.startswith(GZIP_MAGIC):
        return None
    try:
        raw = gzip.decompress(value.encode("utf-8", "surrogateescape"))
    except (OSError, EOFError, zlib.error):
        return None
    text = raw.decode("utf-8", "surrogateescape")

    def encode(new: str) -> str:
        return gzip.compress(new.encode("utf-8", "surrogateescape"), mtime=0).decode("utf-8", "surrogateescape")

    return [Leaf((Step("GZIP"),), (0, len(value)), text, encode, _kind_of(text))]


def _kind_of(text: str) -> ValueKind:
    return ValueKind.BINARY if any("\udc80" <= ch <= "\udcff" or ch == "\x00" for ch in text) else ValueKind.STRING


# ---------------------------------------------------------------------- JWT
def _b64url_json(part: str) -> str | None:
    try:
        text = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return text if jsondoc.parse(text) is not None and text.lstrip().startswith("{") else None


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogateescape")).decode("ascii").rstrip("=")


def jwt_layer(value: str) -> list[Leaf] | None:
    """A ``JWT`` layer for a JSON Web Token, alone or after a scheme (``Bearer <jwt>``).

    Its header and payload parts (steps ``HEADER`` and ``PAYLOAD`` after ``JWT``, so
    ``..._JWT_PAYLOAD_HASH_sub_value``) are searched as JSON objects (``HASH_<claim>``
    steps); the signature is kept as recorded, so a changed claim is sent with the old signature,
    which is exactly the test of whether the server verifies it.
    """
    match = _JWT.search(value)
    if not match or match.end() != len(value) or (match.start() and not value[: match.start()].endswith(" ")):
        return None
    token = match.group(0)
    parts: list[Leaf] = []
    offset = 0
    for name, segment in (("HEADER", match.group(1)), ("PAYLOAD", match.group(2))):
        text = _b64url_json(segment)
        if text is None:
            return None
        claims = jsondoc.parse(text) or []
        for claim in claims:
            claim.steps = claim.steps[1:]  # the parts are always JSON: no JSON_DOC step in names
        parts.append(Leaf((Step(name),), (offset, offset + len(segment)), text, _b64url, point=False,
                          children=claims))
        offset += len(segment) + 1
    start = match.start()
    return [Leaf((Step("JWT"),), (start, start + len(token)), token, nested=False, children=parts)]
