"""The sender: the only place attack requests leave lunge.

One attack client per process (:mod:`lunge.engine.client`: one aiohttp connection pool,
keep-alive, no cookie jar, no redirects followed, target TLS not verified unless asked), a global
token bucket (``TEST_RUN_RPS``), a concurrency semaphore (``WORKERS``), the per-host quiet lane for
timing probes, and an allow-list of origins: a request to anywhere else is refused before it is
sent (scope safety).

Latency is measured from just before the request is handed to aiohttp to the moment the response
head is read, after the limiter, the semaphore and the lane: their queueing never counts. The
connection pool is twice the concurrency limit, so a request never waits for a connection either.
aiohttp's exceptions are translated here; nothing above sees ``aiohttp.*``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
from aiolimiter import AsyncLimiter

from lunge.aio import Slots
from lunge.checks.base import Attack, Exchange
from lunge.engine.client import AttackClient
from lunge.engine.health import TargetHealth
from lunge.engine.lane import HostLane, Lanes
from lunge.errors import TargetError

logger = logging.getLogger(__name__)

_RATE_WINDOW = 10  # seconds over which the progress bar's current rate is measured
MAX_BODY = 4 * 1024 * 1024  # bytes of a response body read; the rest is not needed to judge


@dataclass(slots=True)
class SenderStats:
    """What the sender did, for progress and the report."""

    sent: int = 0
    errors: int = 0
    timeouts: int = 0
    refused_out_of_scope: int = 0
    started: float = field(default_factory=time.monotonic)
    # Requests sent per whole second of the last ~10 s, as [second, count] pairs, for the current
    # rate: a few entries whatever the rate, and nobody needs to read them for them to stay few.
    recent: deque[list[int]] = field(default_factory=deque)

    def count(self) -> None:
        """One request sent now."""
        self.sent += 1
        second = int(time.monotonic())
        recent = self.recent
        if recent and recent[-1][0] == second:
            recent[-1][1] += 1
            return
        recent.append([second, 1])
        while len(recent) > _RATE_WINDOW + 1:
            recent.popleft()

    def rps(self, window: float = _RATE_WINDOW) -> float:
        """Requests per second over the last ``window`` seconds (or since the start)."""
        now = time.monotonic()
        cutoff = int(now - window)
        sent = sum(count for second, count in self.recent if second >= cutoff)
        span = min(now - cutoff, max(now - self.started, 1e-3))
        return sent / span


class Sender:
    """Sends :class:`Attack` requests within the run's limits and returns :class:`Exchange`\\ s.

    Use as an async context manager::

        async with Sender(workers=10, rps=None, timeout=10, allowed={("app", 8000)}) as sender:
            exchange = await sender.send(attack)
    """

    def __init__(self, *, workers: int, rps: float | None, timeout: float,
                 allowed: Iterable[tuple[str, int]] | None = None, verify_tls: bool = False,
                 on_sent: Callable[[Exchange], None] | None = None, health: TargetHealth | None = None) -> None:
        self.workers = workers
        self.timeout = timeout
        self.allowed = None if allowed is None else {(h.lower(), p) for h, p in allowed}
        self.stats = SenderStats()
        self._slots = Slots(workers)
        self._limiter = _limiter(rps) if rps else None
        self._health = health
        self._lanes = Lanes()
        self._in_flight = 0  # requests handed to send() and not answered yet (queued or on the wire)
        self._verify_tls = verify_tls
        self._client: AttackClient | None = None
        self._on_sent = on_sent

    async def __aenter__(self) -> Sender:
        # The pool is twice the concurrency limit, so a request never waits for a connection.
        self._client = await AttackClient(pool_size=self.workers * 2, verify_tls=self._verify_tls).__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.__aexit__(*exc)

    async def send(self, attack: Attack) -> Exchange:
        """Send one attack (in the host's quiet lane, alone, when ``attack.timing``)."""
        request = attack.request
        origin = (request.host.lower(), request.port)
        if self.allowed is not None and origin not in self.allowed:
            self.stats.refused_out_of_scope += 1
            logger.error("refused to send outside the run's target: %s", request.origin)
            return Exchange(attack, None, 0.0, "refused: outside the run's target")
        lane = self._lanes[origin]
        self._in_flight += 1
        try:
            if self._limiter is not None:
                await self._limiter.acquire()
            if attack.timing:
                async with lane.exclusive(), self._slots:
                    exchange = await self._send(attack)
            else:
                exchange = await self._send_shared(lane, attack)
        finally:
            self._in_flight -= 1
        if self._on_sent is not None:
            self._on_sent(exchange)
        return exchange

    async def send_all(self, attacks: list[Attack]) -> list[Exchange]:
        """Send a batch: ordinary attacks concurrently, timing attacks one after another (so each
        is alone in its lane and they do not queue behind each other's delays)."""
        if not attacks:
            return []
        if len(attacks) == 1:
            return [await self.send(attacks[0])]
        if any(a.timing for a in attacks) or self._in_flight >= self.workers - 1:
            # Timing attacks must be alone. And when the worker slots are taken already (a busy
            # run: other probes wait for them) the batch would only queue: a task per attack would
            # cost CPU and buy no concurrency.
            return [await self.send(a) for a in attacks]
        return list(await asyncio.gather(*(self.send(a) for a in attacks)))

    async def _send_shared(self, lane: HostLane, attack: Attack) -> Exchange:
        # The lane and the slot are usually free: take them without an await (each await of a
        # coroutine, once per request, adds up), and wait only when they are not.
        if not lane.try_enter_shared():
            await lane.enter_shared()
        try:
            if not self._slots.try_acquire():
                await self._slots.acquire()
            try:
                return await self._send(attack)
            finally:
                self._slots.release()
        finally:
            if lane.drop_shared():
                await lane.wake_exclusive()

    async def _send(self, attack: Attack) -> Exchange:
        assert self._client is not None, "use the Sender as an async context manager"
        self.stats.count()
        started = time.perf_counter()
        try:
            response, elapsed = await self._client.fetch(attack.request, attack.timeout or self.timeout, MAX_BODY)
        except TimeoutError:
            self.stats.timeouts += 1
            return Exchange(attack, None, time.perf_counter() - started, "timeout")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            self.stats.errors += 1
            error = _describe(exc)
            if self._health is not None and _gone(exc):
                self._health.unreachable((attack.request.host.lower(), attack.request.port), error)
            return Exchange(attack, None, time.perf_counter() - started, error)
        if self._health is not None:
            self._health.answered((attack.request.host.lower(), attack.request.port))
        return Exchange(attack, response, elapsed)


_GONE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


def _limiter(rps: float) -> AsyncLimiter:
    """A token bucket of ``rps`` requests per second; a share below 1/s (a run's rate divided
    between processes) becomes one request per ``1/rps`` seconds, as a bucket holds at least one."""
    period = max(1.0, 1.0 / rps)
    return AsyncLimiter(rps * period, period)


def _gone(exc: BaseException) -> bool:
    """Whether the target refused or dropped the connection (rather than answering slowly or badly)."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return True
    return isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and exc.errno in _GONE_ERRNOS)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc.os_error.strerror or exc}" if exc.os_error else "connection failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    return f"{type(exc).__name__}: {exc}"[:200]


def target_error(exchange: Exchange) -> TargetError:
    """A :class:`TargetError` describing a failed exchange."""
    return TargetError(f"{exchange.attack.request.method} {exchange.attack.request.url}: {exchange.error}")
