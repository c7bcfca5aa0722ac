"""How the demo shop fetches URLs (link previews, webhooks, the XML parser's external entities).

Names are resolved through the shop's configured DNS resolver only (``--resolver HOST:PORT``; in
``lunge demo`` that is lunge's own out-of-band DNS listener, which answers every name under its
domain), never the system's; connections go to loopback addresses only. So however it is attacked,
the demo never reaches the network: that guard is the demo's, not part of any vulnerability.

>>> resolve("127.0.0.1", None), resolve("localhost", None)
('127.0.0.1', '127.0.0.1')
"""

from __future__ import annotations

import http.client
import ipaddress
import random
import socket
import struct
from pathlib import Path
from urllib.parse import unquote, urlsplit

from aiohttp import web

MAX_FETCH = 65_536
TIMEOUT = 3.0
USER_AGENT = "lunge-demo-fetcher/1.0"

Resolver = tuple[str, int] | None
RESOLVER = web.AppKey("resolver", tuple)  # (host, port) of the DNS server names are resolved with, or ()


class FetchError(Exception):
    """The URL could not be fetched (bad scheme, unknown name, not loopback, connection failed)."""


def resolver_of(request: web.Request) -> Resolver:
    configured = request.app.get(RESOLVER, ())
    return (str(configured[0]), int(configured[1])) if configured else None


def resolve(name: str, resolver: Resolver) -> str:
    """The IPv4 address of ``name``: an address as is, ``localhost``, else an A query to ``resolver``."""
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    if name.lower() == "localhost":
        return "127.0.0.1"
    if resolver is None:
        raise FetchError(f"cannot resolve {name}")
    return _query(name, resolver)


def _query(name: str, resolver: Resolver) -> str:
    """One A query over UDP (RFC 1035 §4.1), the first A record of the answer."""
    assert resolver is not None
    ident = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.strip(".").split(".")) + b"\x00"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.sendto(packet, resolver)
            data, _ = sock.recvfrom(512)
        except OSError as exc:
            raise FetchError(f"cannot resolve {name}") from exc
    ancount = struct.unpack(">H", data[6:8])[0]
    pos = 12 + len(question) + 4
    for _ in range(ancount):
        pos += 2 if data[pos] & 0xC0 == 0xC0 else len(data[pos:].split(b"\x00", 1)[0]) + 1
        rtype, _, _, length = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            return socket.inet_ntoa(data[pos : pos + 4])
        pos += length
    raise FetchError(f"cannot resolve {name}")


def fetch(url: str, resolver: Resolver, *, files: bool = True) -> bytes:
    """GET ``url`` (http, or file when ``files``) and return at most :data:`MAX_FETCH` bytes."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("malformed URL") from exc
    if parts.scheme == "file" and files:
        try:
            with Path(unquote(parts.path)).open("rb") as file:
                return file.read(MAX_FETCH)
        except (OSError, ValueError) as exc:
            raise FetchError("cannot read that file") from exc
    if parts.scheme != "http" or not parts.hostname:
        raise FetchError("only http URLs")
    address = resolve(parts.hostname, resolver)
    if not ipaddress.ip_address(address).is_loopback:
        raise FetchError("the demo connects to loopback addresses only")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(address, port or 80, timeout=TIMEOUT)
    try:
        connection.request("GET", target, headers={"Host": parts.netloc.rpartition("@")[2],
                                                    "User-Agent": USER_AGENT})
        return connection.getresponse().read(MAX_FETCH)
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError("connection failed") from exc
    finally:
        connection.close()
