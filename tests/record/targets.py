"""Real loopback targets for the recording tests: an aiohttp app over HTTP or HTTPS (self-signed
certificate made with ``cryptography``), an HTTP/2-only TLS server built on the ``h2`` library,
and helpers to run the recording proxy in-process or as a ``lunge record`` subprocess.

Used by tests/record and tests/node (test_recording*, test_records*)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lunge.node.recording import RecordingOutcome, StopSignal, record
from lunge.node.settings import recording_settings
from lunge.record.ca import CaFiles, prepare_ca
from lunge.record.scope import Scope
from lunge.store import Store, open_store
from tests.fixtures.servers import free_port, wait_for_port

PYTHON = sys.executable


# ---------------------------------------------------------------------- certificates
def make_certificate(directory: Path, *, ca: bool = False, name: str = "localhost",
                     valid_days: int = 30) -> tuple[Path, Path]:
    """A self-signed certificate (for localhost and 127.0.0.1) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(cert: Path, key: Path, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def client_tls(cafile: Path) -> ssl.SSLContext:
    """A client context trusting only ``cafile`` (lunge's CA): interception must be signed by it."""
    return ssl.create_default_context(cafile=str(cafile))


# ---------------------------------------------------------------------- the aiohttp target
async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    headers = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in request.raw_headers]
    return web.json_response({"method": request.method, "path_qs": request.path_qs, "headers": headers,
                              "body": body.decode("latin-1")})


SLOW_STARTED = web.AppKey("slow_started", list)


async def _slow(request: web.Request) -> web.Response:
    request.app[SLOW_STARTED].append(request.path_qs)  # lets a test wait until requests are in flight
    await asyncio.sleep(float(request.query.get("ms", "500")) / 1000)
    return web.Response(text=f"slow {request.path_qs}")


async def _big(request: web.Request) -> web.Response:
    size = int(request.query.get("n", "1000"))
    return web.Response(body=b"x" * size, content_type="application/octet-stream")


async def _events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for i in range(3):
        await response.write(f"data: event {i}\n\n".encode())
        await asyncio.sleep(0.01)
    await response.write_eof()
    return response


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        if message.type == WSMsgType.TEXT:
            await socket.send_str(f"echo {message.data}")
    return socket


async def _plain(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text=f"ok {request.method} {request.path_qs}",
                        headers={"X-Target-Header": "Kept-Case", "Set-Cookie": "a=1"})


def target_app() -> web.Application:
    app = web.Application()
    app[SLOW_STARTED] = []
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/big", _big)
    app.router.add_get("/events", _events)
    app.router.add_get("/ws", _websocket)
    app.router.add_route("*", "/{tail:.*}", _plain)
    return app


@dataclass
class Target:
    port: int
    scheme: str
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def slow_started(self) -> list[str]:
        """The /slow requests that reached the target so far."""
        return self.runner.app[SLOW_STARTED]


@asynccontextmanager
async def serve_target(tls: ssl.SSLContext | None = None) -> AsyncIterator[Target]:
    """The target app on a free loopback port (HTTPS with ``tls``); listening when entered."""
    runner = web.AppRunner(target_app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Target(port, "https" if tls else "http", runner)
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------- an HTTP/2-only target
class _H2Protocol(asyncio.Protocol):
    """Answers every HTTP/2 request with ``h2 <path>`` (nothing else: HTTP/1.1 clients fail)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.conn.initiate_connection()
        self.paths: dict[int, str] = {}
        transport.write(self.conn.data_to_send())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                           for k, v in event.headers}
                self.paths[event.stream_id] = headers[":path"]
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                body = f"h2 {self.paths.pop(event.stream_id, '?')}".encode()
                self.conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                                         ("content-length", str(len(body)))])
                self.conn.send_data(event.stream_id, body, end_stream=True)
        self.transport.write(self.conn.data_to_send())  # type: ignore[attr-defined]


@asynccontextmanager
async def serve_h2(cert: Path, key: Path) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_H2Protocol, "127.0.0.1", 0, ssl=server_tls(cert, key, ["h2"]))
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


# ---------------------------------------------------------------------- the proxy, in-process
@dataclass
class Session:
    """A recording proxy running in the test's event loop."""

    port: int
    store: Store
    ca: CaFiles
    stop: StopSignal
    task: asyncio.Task[RecordingOutcome]
    outcome: RecordingOutcome | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def baselines(self, record_id: int | None = None) -> list:
        rid = record_id if record_id is not None else (self.outcome.record.id if self.outcome else None)
        assert rid is not None
        return list(self.store.iter_baselines(rid))

    async def finish(self) -> RecordingOutcome:
        self.stop.set("test")
        self.outcome = await self.task
        return self.outcome


@asynccontextmanager
async def recording(tmp_path: Path, store_url: str | None = None, upstream_ca: Path | None = None, port: int = 0,
                    **flags: object) -> AsyncIterator[Session]:
    """Run ``record()`` in-process (``port`` 0: any free one); stopped, if the test did not, when leaving."""
    settings = recording_settings({"inactivity_timeout": 600, **flags}, environ={})
    settings = dataclasses.replace(settings, port=port)
    data_dir = tmp_path / "data"
    ca = prepare_ca(data_dir, settings.ca_cert, settings.ca_key)
    store = open_store(store_url or f"sqlite:///{data_dir / 'lunge.db'}")
    stop = StopSignal()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(record(settings, store, ca, Scope.from_settings(settings.allowed_hosts,
                                                                             settings.excluded_extensions),
                                      stop=stop, on_ready=ready.set_result, upstream_ca=upstream_ca))
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done() and not ready.done():
        store.close()
        task.result()  # raises what the session raised
    session = Session(ready.result(), store, ca, stop, task)
    try:
        yield session
        if session.outcome is None:
            await session.finish()
    finally:
        if not task.done():
            stop.set("test")
            await asyncio.wait({task}, timeout=15)
        store.close()


# ---------------------------------------------------------------------- the proxy, as a process
@dataclass
class RecorderProcess:
    """``lunge record`` in a subprocess (python -m lunge.cli), its output captured to files."""

    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(), self.stderr.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def lunge_command(*args: str) -> list[str]:
    return [PYTHON, "-m", "lunge.cli", *args]


def subprocess_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a lunge subprocess: no FAST/lunge variable leaks in from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LUNGE_", "CI_MODE", "PROXY_PORT", "ALLOWED_HOSTS", "BUILD_ID", "TEST_",
                                "INACTIVITY_TIMEOUT", "FILE_EXTENSIONS", "CA_CERT", "CA_KEY", "REVERSE_PROXY",
                                "BACKEND", "COLUMNS", "LINES"))}
    # A narrow terminal, as in CI logs: a message that must be one line may not be wrapped.
    env.update({"LUNGE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "COLUMNS": "80", **extra})
    return env


def start_recorder(tmp_path: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None,
                   wait: bool = True, name: str = "recorder") -> RecorderProcess:
    """Start ``lunge record --port P ARGS`` and (``wait``) block until it accepts connections."""
    port = port or free_port()
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    process = subprocess.Popen(lunge_command("record", "--port", str(port), *args),
                               env=env or subprocess_env(tmp_path / "data"), stdout=out.open("wb"),
                               stderr=err.open("wb"))
    recorder = RecorderProcess(process, port, out, err)
    if wait:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            recorder.kill()
            raise AssertionError(f"lunge record did not start: {recorder.output()}") from None
    return recorder
