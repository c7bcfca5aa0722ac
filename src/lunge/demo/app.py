"""The demo shop as an aiohttp application, and how to run it on 127.0.0.1.

>>> import asyncio
>>> async def main() -> int:
...     server = await start()
...     try:
...         return server.port
...     finally:
...         await server.stop()
>>> asyncio.run(main()) > 0
True

:func:`start` serves it on the running event loop; :func:`start_in_thread` gives it a loop and a
thread of its own, for callers that are synchronous or want the shop's work kept off their loop.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aiohttp import web

from lunge.demo import (
    access,
    cmdi,
    deserialization,
    graphql,
    headers,
    jwtkeys,
    queries,
    redirect,
    rendering,
    site,
    sqli,
    sqli_bare,
    ssrf,
    stateful,
    team,
    templates,
    traversal,
    xss,
    xxe,
)
from lunge.demo import db as database
from lunge.demo.fetcher import RESOLVER
from lunge.demo.state import DEMO, Demo

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never anything else: this application is vulnerable on purpose
SHUTDOWN_TIMEOUT = 1.0  # seconds for in-flight requests (a sleeping query) when stopping


def make_app(db_path: Path | str, *, docs_dir: Path | None = None, scratch_dir: Path | None = None,
             resolver: tuple[str, int] | None = None) -> web.Application:
    """The application over the SQLite file ``db_path`` (created and seeded when new).

    Documents are served from ``docs_dir`` (default: ``docs`` next to the database, created) and
    shell commands run in ``scratch_dir`` (default: ``scratch`` next to it). Host names in URLs the
    shop fetches are resolved with the DNS server ``resolver`` (host, port), else not at all.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    database.create(path)
    docs = docs_dir or path.parent / "docs"
    traversal.write_documents(docs)
    scratch = scratch_dir or path.parent / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app[DEMO] = Demo(database.Database(path), docs, scratch)
    app[RESOLVER] = resolver or ()
    app[jwtkeys.KEYS_DIR] = jwtkeys.write_keys(path.parent / "keys")
    for module in (site, sqli, xss, cmdi, traversal, redirect, sqli_bare, queries, rendering, stateful, graphql,
                   templates, headers, access, jwtkeys, team, ssrf, xxe, deserialization):
        app.add_routes(module.routes())
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    app[DEMO].db.close()


@dataclass(frozen=True, slots=True)
class DemoServer:
    """A running demo shop. ``await server.stop()`` (or ``async with``) stops it and removes the
    files it created."""

    port: int
    directory: Path
    _runner: web.AppRunner = field(repr=False)
    _owns_directory: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return HOST

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The socket addresses the server listens on (only ever ``127.0.0.1``)."""
        return [(str(a[0]), int(a[1])) for a in self._runner.addresses]

    async def stop(self) -> None:
        """Stop serving; remove the temporary directory if :func:`start` made it."""
        await self._runner.cleanup()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        logger.debug("demo shop on port %d stopped", self.port)

    async def __aenter__(self) -> DemoServer:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


async def start(port: int = 0, *, directory: Path | None = None, access_log: bool = False,
                resolver: tuple[str, int] | None = None) -> DemoServer:
    """Serve the demo shop on ``127.0.0.1:port`` (0: any free port) on the running loop.

    Its database, documents and scratch directory live in ``directory`` (default: a new temporary
    directory, removed by :meth:`DemoServer.stop`). Raises OSError when the port cannot be bound.
    """
    owns = directory is None
    where = Path(tempfile.mkdtemp(prefix="lunge-demo-")) if directory is None else directory
    runner: web.AppRunner | None = None
    sock: socket.socket | None = None
    try:
        app = make_app(where / "shop.sqlite3", resolver=resolver)
        runner = web.AppRunner(app, access_log=logger if access_log else None,
                               shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        sock = _listen(port)
        await web.SockSite(runner, sock).start()
    except BaseException:
        if runner is not None:
            await runner.cleanup()
        if sock is not None:
            sock.close()
        if owns:
            shutil.rmtree(where, ignore_errors=True)
        raise
    bound = int(sock.getsockname()[1])
    logger.info("demo shop listening on http://%s:%d", HOST, bound)
    return DemoServer(bound, where, runner, owns)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


class ThreadedDemoServer:
    """The demo shop on an event loop in a thread of its own. Use as a context manager, or call
    :meth:`stop`."""

    def __init__(self, port: int = 0, *, directory: Path | None = None, timeout: float = 15.0) -> None:
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="lunge-demo", daemon=True)
        self._thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(start(port, directory=directory), self._loop)
            self.server = future.result(timeout)
        except BaseException:
            self._halt()
            raise

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return self.server.addresses

    def stop(self) -> None:
        """Stop the server, then the loop and its thread."""
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(self._timeout)
        finally:
            self._halt()

    def _halt(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)
        self._loop.close()

    def __enter__(self) -> ThreadedDemoServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_in_thread(port: int = 0, *, directory: Path | None = None) -> ThreadedDemoServer:
    """Serve the demo shop from a background thread; returns once it accepts connections."""
    return ThreadedDemoServer(port, directory=directory)
