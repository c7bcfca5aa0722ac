"""Raw HTTP for the demo tests: send a lunge :class:`Request` byte for byte, and a small recording
forward proxy that turns the functional suite's traffic into lunge requests (a stand-in for lunge's
mitmproxy recorder, so these tests only depend on the demo and the HTTP model)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from lunge.http import Request, Response

HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Sent:
    """A request as sent, the response, and the seconds from the last byte written to the whole
    response read."""

    request: Request
    response: Response
    elapsed: float

    @property
    def text(self) -> str:
        return self.response.text()

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def html(self) -> bool:
        """A page the browser renders in place: HTML, and not a download."""
        disposition = (self.response.headers.get("content-disposition") or "").lower()
        return self.response.content_type == "text/html" and not disposition.startswith("attachment")

    def same_as(self, other: Sent) -> bool:
        return self.status == other.status and self.response.body == other.response.body


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message framed by Content-Length (all the demo sends), or up to EOF."""
    head = await reader.readuntil(HEAD_END)
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise AssertionError("the demo never sends chunked messages")
    body = await reader.readexactly(length) if length is not None else b""
    return head + body


async def send(request: Request, timeout: float = 20.0) -> Sent:
    """Send ``request`` on a new connection to its host and port; read the whole response."""
    reader, writer = await asyncio.open_connection(request.host, request.port)
    try:
        writer.write(request.to_bytes())
        await writer.drain()
        started = time.monotonic()
        raw = await asyncio.wait_for(read_message(reader), timeout)
        elapsed = time.monotonic() - started
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return Sent(request, Response.parse(raw), elapsed)


class RecordingProxy:
    """An HTTP forward proxy on 127.0.0.1 that records every request it forwards, as lunge
    :class:`Request` objects, in order."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the client closed its keep-alive connection
                request = Request.parse(raw)  # absolute-form target: host and port come from it
                self.requests.append(request)
                sent = await send(request)
                writer.write(sent.response.to_bytes())
                await writer.drain()
        finally:
            writer.close()
