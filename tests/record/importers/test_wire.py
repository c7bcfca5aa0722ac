"""Imported requests are real HTTP: every baseline of every fixture, sent as its bytes to a real
server on 127.0.0.1, arrives as the method, target, headers and body lunge stored; multipart
bodies parse into the parts the file described."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lunge.http import Request, Response
from tests.fixtures.servers import wait_for_port

from .files import FIXTURES, imported

_OPTIONS: dict[str, dict[str, Any]] = {"inventory-3.1.json": {"base_url": "http://127.0.0.1:1"}}


class _Echo(BaseHTTPRequestHandler):
    """Answers any method with what it received, as JSON."""

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        document = {"method": self.command, "target": self.path, "headers": list(self.headers.items()),
                    "body": base64.b64encode(body).decode()}
        payload = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _echo

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what it needs from the echo."""


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wait_for_port(port)
    yield port
    server.shutdown()
    server.server_close()


def _send(request: Request, port: int) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.to_bytes())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = Response.parse(b"".join(chunks))
    assert response.status == 200
    result: dict[str, Any] = json.loads(response.body)
    return result


@pytest.mark.parametrize(("fmt", "name"), [(f, n) for f, names in FIXTURES.items() for n in names])
def test_every_baseline_arrives_as_stored(fmt: str, name: str, echo_port: int) -> None:
    for item in imported(fmt, name, **_OPTIONS.get(name, {})):
        request = item.request.with_origin("http", "127.0.0.1", echo_port)
        echoed = _send(request, echo_port)
        sent = Request.parse(request.to_bytes(), host="127.0.0.1", port=echo_port)
        assert (echoed["method"], echoed["target"]) == (request.method, request.target), item.where
        assert [tuple(pair) for pair in echoed["headers"]] == list(sent.headers.fields), item.where
        assert base64.b64decode(echoed["body"]) == request.body, item.where


def test_multipart_bodies_parse_into_their_parts() -> None:
    uploads = [
        (imported("har", "firefox.har")[1].request, ["caption", "file"]),
        (imported("postman", "team-api.postman_collection.json")[3].request, ["caption", "avatar"]),
        (imported("openapi", "petstore.yaml")[7].request, ["file", "caption"]),
        (imported("curl", "requests.curl")[3].request, ["title", "file"]),
    ]
    for request, names in uploads:
        head = f"Content-Type: {request.headers.get('content-type')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        assert message.is_multipart()
        assert [part.get_param("name", header="content-disposition") for part in message.iter_parts()] == names
