"""The recording proxy: mitmproxy, used as a library in lunge's own event loop, with the
:class:`~lunge.record.addon.Recorder` addon.

Only the addons a recorder needs are loaded (no console, no dumper, no flow view that would keep
every flow in memory): the proxy server, protocol detection, TLS interception, HTTP/2 and
WebSockets support come with them. Forward mode serves plain HTTP and HTTPS through CONNECT on one
port; reverse mode (``reverse``) forwards every request to one upstream, for clients that cannot
use a proxy.

Usage (inside a running event loop)::

    proxy = RecordingProxy(ProxyConfig(bind="127.0.0.1", port=8080, confdir=ca.confdir), recorder)
    await proxy.start()          # SettingError if the port is taken
    ...                          # traffic flows
    await proxy.stop_accepting() # no new connections; open ones carry on
    await proxy.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mitmproxy import options
from mitmproxy.addons import core, disable_h2c, next_layer, proxyserver, tlsconfig, update_alt_svc
from mitmproxy.master import Master
from mitmproxy.utils import asyncio_utils

from lunge.record.addon import Recorder
from lunge.record.compat import accept_websocket_urls, skip_debug_typechecks
from lunge.record.listen import check_listen, listen_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """How the proxy listens and talks upstream."""

    bind: str
    port: int  # 0: any free port (tests, benchmarks); read the real one from RecordingProxy.port
    confdir: Path  # the CA directory (see lunge.record.ca)
    reverse: str | None = None  # upstream URL in reverse-proxy mode
    upstream_verify: bool = True  # check the target's TLS certificate
    upstream_ca: Path | None = None  # extra CA bundle trusted for the target's certificate

    def mode(self) -> str:
        return f"reverse:{self.reverse}" if self.reverse else "regular"


class RecordingProxy:
    """One mitmproxy master running in the current event loop."""

    def __init__(self, config: ProxyConfig, recorder: Recorder) -> None:
        self.config = config
        self.recorder = recorder
        self._master: Master | None = None
        self._stack = ExitStack()

    @property
    def running(self) -> bool:
        """Started and not closed."""
        return self._master is not None

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        addresses = self._server().listen_addrs()
        if not addresses:
            raise RuntimeError("the proxy is not listening")
        return int(addresses[0][1])

    async def start(self) -> None:
        """Listen. Raises SettingError (PROXY_PORT or LUNGE_PROXY_BIND) when it cannot."""
        check_listen(self.config.bind, self.config.port)
        accept_websocket_urls()
        skip_debug_typechecks()
        self._master = _build_master(self.config, self.recorder)
        self._stack.enter_context(asyncio_utils.install_exception_handler(_quiet_exception_handler))
        self._stack.enter_context(asyncio_utils.set_eager_task_factory())
        if not await self._server().setup_servers():
            error = next((s.last_exception for s in self._server().servers if s.last_exception), None)
            await self.close()
            raise listen_error(self.config.bind, self.config.port, error)
        await self._master.running()
        logger.debug("mitmproxy listening on %s:%d (%s)", self.config.bind, self.port, self.config.mode())

    async def stop_accepting(self) -> None:
        """Close the listening socket; connections already open keep being served."""
        if self._master is not None:
            await self._server().servers.update([])

    async def close(self) -> None:
        """Stop mitmproxy (idempotent): stop listening, drop the client connections still open
        (idle keep-alive ones, after a drain), run mitmproxy's ``done`` hooks."""
        if self._master is None:
            self._stack.close()
            return
        try:
            server = self._server()
            await server.servers.update([])
            await _disconnect_clients(server)
            await self._master.done()
        finally:
            self._master = None
            self._stack.close()

    def _server(self) -> proxyserver.Proxyserver:
        if self._master is None:
            raise RuntimeError("the proxy has not been started")
        server = self._master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        assert isinstance(server, proxyserver.Proxyserver)
        return server


async def _disconnect_clients(server: proxyserver.Proxyserver, timeout: float = 5.0) -> None:
    """Close every client connection the way mitmproxy's own inactivity timeout does (cancel its
    handler), then wait until mitmproxy has finished with them, so nothing is left running."""
    handlers = []
    for connection in list(server.connections.values()):
        transport = connection.transports.get(connection.client)
        if transport is not None and transport.handler is not None:
            transport.handler.cancel("lunge stopped recording")
            handlers.append(transport.handler)
    if handlers:
        await asyncio.wait(handlers, timeout=timeout)
    deadline = time.monotonic() + timeout
    while server.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # mitmproxy's client tasks run their disconnect hooks, then unregister


def _build_master(config: ProxyConfig, recorder: Recorder) -> Master:
    opts = options.Options(
        listen_host=config.bind,
        listen_port=config.port,
        confdir=str(config.confdir),
        mode=[config.mode()],
        ssl_insecure=not config.upstream_verify,
    )
    if config.upstream_ca is not None:
        opts.update(ssl_verify_upstream_trusted_ca=str(config.upstream_ca))  # type: ignore[no-untyped-call]
    master = Master(opts)
    master.addons.add(  # type: ignore[no-untyped-call]
        core.Core(),
        proxyserver.Proxyserver(),  # type: ignore[no-untyped-call]
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        disable_h2c.DisableH2C(),  # h2c upgrades cannot be intercepted; strip them so HTTP/1.1 carries on
        update_alt_svc.UpdateAltSvc(),  # reverse mode: keep Alt-Svc pointing at the proxy
        recorder,
    )
    return master


def _quiet_exception_handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop the harmless noise of connections cancelled at shutdown; log anything else."""
    error = context.get("exception")
    if isinstance(error, asyncio.CancelledError | ConnectionResetError | BrokenPipeError):
        return
    if error is None:
        logger.error("asyncio: %s", context.get("message"))
        return
    logger.error("unhandled error in the proxy: %s", context.get("message"), exc_info=error)
