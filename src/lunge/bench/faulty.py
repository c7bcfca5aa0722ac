"""A loopback target that misbehaves on purpose, for ``lunge bench faults`` and the fault tests.

It answers every request with a small HTML page that writes the query parameter ``q`` back raw
(a reflected XSS, so a healthy run has a confirmed finding to lose), and, by mode:

- ``ok``: nothing else;
- ``half503``: every second request gets ``503 Service Unavailable`` instead;
- ``die:N``: after N requests the process exits at once (``os._exit``), as a killed target does:
  open connections are reset, new ones refused;
- ``slow:MS``: each answer waits MS milliseconds (a run that lasts long enough to be killed).

Run it in its own process: ``python -m lunge.bench.faulty PORT MODE``; it prints ``ready`` when
listening.
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import parse_qs, urlsplit

_UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"


class _Target:
    def __init__(self, mode: str) -> None:
        name, _, arg = mode.partition(":")
        self.mode = name
        self.arg = int(arg or 0)
        self.seen = 0

    def answer(self, head: bytes) -> tuple[bytes, float]:
        """The response to a request head, and how long to wait before sending it."""
        self.seen += 1
        if self.mode == "die" and self.seen > self.arg:
            os._exit(0)  # killed: no goodbye, connections reset
        if self.mode == "half503" and self.seen % 2 == 0:
            return _UNAVAILABLE, 0.0
        target = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
        q = parse_qs(urlsplit(target).query).get("q", [""])[0]
        body = f"<!doctype html><html><body><h1>Item</h1><p>{q}</p></body></html>".encode()
        response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body)
        return response, self.arg / 1000 if self.mode == "slow" else 0.0


class _Protocol(asyncio.Protocol):
    def __init__(self, target: _Target) -> None:
        self.target = target
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            total = end + 4 + _content_length(head)
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            response, delay = self.target.answer(head)
            assert self.transport is not None
            if delay:
                asyncio.get_running_loop().call_later(delay, self._write, response)
            else:
                self.transport.write(response)

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0)
    return 0


async def _serve(port: int, mode: str) -> None:
    target = _Target(mode)
    server = await asyncio.get_running_loop().create_server(lambda: _Protocol(target), "127.0.0.1", port)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "ok"))
