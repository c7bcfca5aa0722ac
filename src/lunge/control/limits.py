"""The request size limit, as pure ASGI middleware around the whole application: a declared
``Content-Length`` over the limit is refused at once (413); any other body (chunked) is read as it
arrives, at most ``max_body`` bytes, and refused as soon as it passes the limit. The application
then reads the buffered body, so no request makes the server hold more than ``max_body`` bytes.

``wider`` gives named paths a larger limit: remote nodes upload baselines (``/v1/store/batches``),
whose bodies the recorder keeps up to ``LUNGE_MAX_BODY`` (1 MiB) each, base64 on the wire."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STORE_MAX_BODY = 16 * 1_048_576  # a remote node's batch request; the node splits its uploads below it


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body: int, wider: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.wider = dict(wider or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.wider.get(scope.get("path", ""), self.max_body)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def buffered_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as Starlette expects

        await self.app(scope, buffered_receive, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps({"detail": f"request body over {limit} bytes (LUNGE_SERVE_MAX_BODY)"}).encode()
        headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                              (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
