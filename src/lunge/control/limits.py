"""The request size limit, as pure ASGI middleware around the whole application: a declared
``Content-Length`` over the limit is refused at once (413); any other body (chunked) is read as it
arrives, at most ``max_body`` bytes, and refused as soon as it passes the limit. The application
then reads the buffered body, so no request makes the server hold more than ``max_body`` bytes.

``wider`` gives named paths a larger limit: remote nodes upload baselines (``/v1/store/batches``),
whose bodies the recorder keeps up to ``LUNGE_MAX_BODY`` (1 MiB) each, base64 on the wire, and commit
tested shards (``/v1/shards/{id}/complete``: a shard's findings with their evidence). Only a
caller the ``gate`` admits (a valid project token, checked on the headers) sends such a body: anyone
else gets the gate's refusal before a byte of the body is read, so an anonymous client cannot make
the server buffer more than the ordinary limit (in fact nothing)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STORE_MAX_BODY = 16 * 1_048_576  # a remote node's batch request; the node splits its uploads below it

Gate = Callable[[Scope], Awaitable[ASGIApp | None]]  # the refusal to send, None to admit the request


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body: int, wider: dict[str, int] | None = None,
                 gate: Gate | None = None) -> None:
        self.app = app
        self.max_body = max_body
        # Path templates (``/v1/shards/{id}/complete``) as patterns of whole paths.
        self.wider = [(re.compile("^" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)) + "$"), size)
                      for path, size in (wider or {}).items()]
        if self.wider and gate is None:
            raise ValueError("wider limits need a gate: they are for authenticated callers only")
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        if limit > self.max_body and self.gate is not None:
            refusal = await self.gate(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
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

    def _limit(self, path: str) -> int:
        return next((size for pattern, size in self.wider if pattern.match(path)), self.max_body)

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
