"""The out-of-band listeners: a small HTTP server and a DNS server (UDP) inside the node.

Both only log what reaches them and answer harmlessly; correlation is :mod:`lunge.engine.oob`'s.

- HTTP: reads one request (head up to 16 KiB, body up to 8 KiB), logs it under every token found in
  its target or Host header, and answers 200 with the token's body marker (an XML comment for a
  ``.dtd`` path, so a parser that loads it as an external DTD carries on), or 404.
- DNS: answers an A query for any name under the listener's domain with the listener's IPv4
  address (TTL 0), an empty answer for other types under it, REFUSED for the rest; every query
  under the domain is logged. The wire format is RFC 1035 §4.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

logger = logging.getLogger(__name__)

HEAD_LIMIT = 16_384
BODY_LIMIT = 8_192
READ_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Received:
    """One callback as a listener saw it, before correlation."""

    protocol: str
    remote: str
    raw: str
    where: str  # the text tokens are searched in: target and Host, or the queried name
    at: float  # time.monotonic()


Sink = Callable[[Received], None]
BodyFor = Callable[[str], str | None]  # the text of the request target -> the body to answer, or None


class HttpListener:
    """``await HttpListener(sink, body_for).start(bind, port)``; ``await close()``."""

    def __init__(self, sink: Sink, body_for: BodyFor) -> None:
        self._sink = sink
        self._body_for = body_for
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, bind: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, bind, port, limit=HEAD_LIMIT)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            body = await self._body(reader, head)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        peer = writer.get_extra_info("peername")
        text = (head + body).decode("latin-1")
        line = text.partition("\r\n")[0]
        target = line.split(" ")[1] if line.count(" ") >= 2 else ""
        host = _header(text, "host")
        self._sink(Received("http", _address(peer), text, f"{target} {host}", time.monotonic()))
        answer = self._body_for(target)
        status = "200 OK" if answer is not None else "404 Not Found"
        data = (answer if answer is not None else "not found").encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(data)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    @staticmethod
    async def _body(reader: asyncio.StreamReader, head: bytes) -> bytes:
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
        length = min(int(match.group(1)), BODY_LIMIT) if match else 0
        return await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""


class DnsListener(asyncio.DatagramProtocol):
    """A DNS server answering names under ``domain`` with ``address``."""

    def __init__(self, sink: Sink, domain: str, address: str) -> None:
        self._sink = sink
        self._domain = domain.lower().strip(".")
        self._address = ipaddress.IPv4Address(address).packed
        self._transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def start(self, bind: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(bind, port))
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not a subclass of asyncio's DatagramTransport, only alike.
        self._transport = cast(asyncio.DatagramTransport, transport)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        query = parse_query(data)
        if query is None or self._transport is None:
            return
        ident, flags, name, qtype, question = query
        under = name == self._domain or name.endswith("." + self._domain)
        if under:
            kind = {1: "A", 28: "AAAA"}.get(qtype, str(qtype))
            self._sink(Received("dns", _address(addr), f"{kind} {name}", name, time.monotonic()))
        self._transport.sendto(answer(ident, flags, question, self._address if under and qtype == 1 else None,
                                      refused=not under), addr)


def parse_query(data: bytes) -> tuple[int, int, str, int, bytes] | None:
    """(id, flags, lower-cased name, qtype, question bytes) of a one-question query, else None.

    >>> q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\\x01a\\x04test\\x00\\x00\\x01\\x00\\x01"
    >>> parse_query(q)[:4]
    (7, 256, 'a.test', 1)
    """
    if len(data) < 12:
        return None
    ident, flags, qdcount = struct.unpack(">HHH", data[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels: list[str] = []
    pos = 12
    while pos < len(data) and data[pos]:
        length = data[pos]
        if length > 63 or pos + 1 + length > len(data):
            return None
        labels.append(data[pos + 1 : pos + 1 + length].decode("ascii", "replace").lower())
        pos += 1 + length
    end = pos + 5
    if end > len(data):
        return None
    qtype = struct.unpack(">H", data[pos + 1 : pos + 3])[0]
    return ident, flags, ".".join(labels), qtype, data[12:end]


def answer(ident: int, flags: int, question: bytes, address: bytes | None, *, refused: bool = False) -> bytes:
    """A response to the question: one A record (TTL 0) when ``address`` is given."""
    rd = flags & 0x0100
    out_flags = 0x8000 | 0x0400 | rd | (5 if refused else 0)  # QR, AA, RD copied, RCODE
    ancount = 1 if address is not None else 0
    head = struct.pack(">HHHHHH", ident, out_flags, 1, ancount, 0, 0)
    record = struct.pack(">HHHIH", 0xC00C, 1, 1, 0, 4) + address if address is not None else b""
    return head + question + record


def _header(text: str, name: str) -> str:
    match = re.search(rf"\r\n{name}:[ \t]*([^\r\n]*)", text, re.IGNORECASE)
    return match.group(1) if match else ""


def _address(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)

