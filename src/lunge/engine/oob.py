"""Out-of-band correlation: the run's listeners, its token prefix, and the callbacks mapped back to
the attacks that caused them.

How it fits together (interactsh's and Burp Collaborator's design, inside the node; detection.md §8.1):

- the run gets a random token prefix; a check mints tokens behind it (``ctx.oob``, see
  :mod:`lunge.checks.callbacks`), so every token belongs to one (run, baseline, point, check,
  attack) and a callback from an earlier run never matches;
- the listeners log every request and DNS query and file them under the tokens found in them;
- after each batch is sent, :meth:`OobService.attach` hands each exchange the callbacks its token
  already has (a synchronous fetch calls back before the target answers);
- a check's :class:`~lunge.checks.callbacks.Deferred` verdicts are held (:meth:`OobService.hold`);
  at the end of the run the engine waits up to the grace period after the last token was sent
  (:meth:`OobService.settle`) and reports those whose token got an HTTP callback, with it as evidence.

With the listener off (``LUNGE_OOB=false``, or it could not bind), ``ctx.oob`` is None, the checks
that need it skip those payloads, and the run's stats say which checks ran without it and why.

With ``PROCESSES`` > 1 the parent process runs the listener (:meth:`OobService.serving`), each
partition gets a prefix of its own and its callbacks through a pipe (:mod:`lunge.engine.oob_relay`);
a worker's service correlates and settles exactly as in a single-process run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lunge.checks.base import Check, Exchange, Verdict
from lunge.checks.callbacks import PREFIX_LENGTH, TOKEN_LENGTH, Deferred, Interaction, OobEndpoint, proof_line
from lunge.engine.oob_listener import DnsListener, HttpListener, Received
from lunge.engine.oob_relay import Feed, Reader, Relayed, Writer

if TYPE_CHECKING:
    from lunge.http import Request
    from lunge.store.models import Baseline

logger = logging.getLogger(__name__)

MAX_TOKENS = 20_000  # tokens whose callbacks are kept (nuclei keeps 5,000 request<->id pairs)
MAX_HELD = 5_000  # deferred verdicts awaited at once; beyond that the oldest are dropped
POLL = 0.05  # seconds between looks at the held verdicts while the grace period runs


@dataclass(frozen=True, slots=True)
class OobConfig:
    """The listener's settings (``LUNGE_OOB*``, parsed by the node).

    ``host`` is what the target calls back (``LUNGE_OOB_HOST``); ``bind`` where the listeners listen;
    a port of 0 picks a free one; ``dns_port`` None turns the DNS listener off; ``grace`` is how long
    (seconds) late callbacks are awaited after the last attack carrying a token; ``enabled`` False
    turns it all off, with ``reason`` saying why in the report."""

    enabled: bool = True
    host: str = "127.0.0.1"
    bind: str = "127.0.0.1"
    http_port: int = 0
    dns_port: int | None = 0
    domain: str = "oob.lunge.test"
    grace: float = 5.0
    reason: str = ""
    relayed: Relayed | None = None  # a worker process's share of the parent's listener


OFF = OobConfig(enabled=False, reason="no out-of-band listener was configured for this run")
_BODIES = OobEndpoint("127.0.0.1", 0, "")  # a token's body marker depends on the token alone


@dataclass(slots=True)
class _Held:
    baseline: Baseline
    request: Request
    verdict: Deferred


@dataclass(slots=True)
class OobStats:
    """What the listener and the correlation did (merged over the partitions of a run)."""

    callbacks: int = 0
    http: int = 0
    dns: int = 0
    stray: int = 0
    awaited: int = 0
    confirmed_late: int = 0
    dropped: int = 0
    tokens_sent: int = 0

    def add_partition(self, other: OobStats) -> None:
        """A worker's correlation counts (the parent's listener counted the callbacks itself)."""
        for name in ("awaited", "confirmed_late", "dropped", "tokens_sent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


StoreLate = Callable[["Baseline", "Request", Verdict], Awaitable[None]]


@dataclass(slots=True)
class OobService:
    """The run's listeners and correlation; ``async with service.listening():`` runs them."""

    config: OobConfig
    checks: Sequence[Check] = ()
    endpoint: OobEndpoint | None = None
    reason: str = ""
    dns_port: int = 0  # the DNS listener's bound port (0: off)
    stats: OobStats = field(default_factory=OobStats)
    _seen: OrderedDict[str, list[Received]] = field(default_factory=OrderedDict)
    _sent_at: OrderedDict[str, float] = field(default_factory=OrderedDict)  # token -> when its response came
    _held: OrderedDict[str, _Held] = field(default_factory=OrderedDict)
    _last_token_at: float = 0.0
    _was_on: bool = False
    _token: re.Pattern[str] | None = None
    feed: Reader | None = None  # a worker process's pipe from the parent's listener
    _feed: Feed | None = None

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[OobService]:
        """Start the listeners (when enabled) for the duration of the block; in a worker process
        (``config.relayed``), take this partition's callbacks from the parent's listener instead."""
        if not self.config.enabled:
            self.reason = self.config.reason or "the out-of-band listener is off"
            yield self
            return
        relayed = self.config.relayed
        if relayed is not None and self.feed is not None:
            with self._fed(relayed, self.feed):
                yield self
            return
        prefix = _draw_prefixes(1)[0]
        self._token = _token_pattern([prefix])
        async with self._listeners(self._log) as ports:
            if ports is None:
                yield self
                return
            http_port, dns_port = ports
            self.endpoint = OobEndpoint(self.config.host, http_port, prefix,
                                        self.config.domain if dns_port is not None else None)
            try:
                yield self
            finally:
                self.endpoint = None

    @asynccontextmanager
    async def serving(self, writers: Sequence[Writer]) -> AsyncIterator[list[Relayed] | None]:
        """The parent process of a run in worker processes: one listener for the whole run, a
        token prefix per partition (``writers[i]`` is partition i's pipe); each callback is sent
        to the partitions whose prefixes its tokens carry. Yields each partition's share, or None
        when the listener is off or could not bind (the reason is kept for the run's stats)."""
        if not self.config.enabled:
            self.reason = self.config.reason or "the out-of-band listener is off"
            yield None
            return
        prefixes = _draw_prefixes(len(writers))
        self._token = _token_pattern(prefixes)
        owner = {p: writers[i] for i, p in enumerate(prefixes)}

        def route(received: Received) -> None:
            self._log(received)
            for prefix in sorted({tok[:PREFIX_LENGTH] for tok in self._tokens(received.where)}):
                # Synchronous: the callback is in the worker's pipe before the listener answers.
                with contextlib.suppress(OSError):  # a worker gone: its partition is over
                    owner[prefix].send(received)

        async with self._listeners(route) as ports:
            if ports is None:
                yield None
                return
            yield [Relayed(ports[0], prefix, ports[1]) for prefix in prefixes]

    @asynccontextmanager
    async def _listeners(self, sink: Callable[[Received], None]) -> AsyncIterator[tuple[int, int | None] | None]:
        """The HTTP and DNS listeners for the block: their ports (DNS None when off), or None
        when they could not bind (``reason`` says why)."""
        http = HttpListener(sink, self._body_for)
        dns: DnsListener | None = None
        try:
            http_port = await http.start(self.config.bind, self.config.http_port)
            if self.config.dns_port is not None:
                dns = DnsListener(sink, self.config.domain, _ipv4(self.config.host))
                self.dns_port = await dns.start(self.config.bind, self.config.dns_port)
        except OSError as exc:
            await http.close()
            self.reason = (f"the out-of-band listener could not listen on {self.config.bind} "
                           f"(HTTP port {self.config.http_port}, DNS port {self.config.dns_port}): {exc}")
            logger.error("%s; checks that need it run without it", self.reason)
            yield None
            return
        self._was_on = True
        logger.info("out-of-band listener: http://%s:%d (DNS %s)", self.config.bind, http_port,
                    f"udp {dns.port}, *.{self.config.domain}" if dns is not None else "off")
        try:
            yield http_port, (dns.port if dns is not None else None)
        finally:
            await http.close()
            if dns is not None:
                await dns.close()

    @contextlib.contextmanager
    def _fed(self, relayed: Relayed, reader: Reader) -> Iterator[None]:
        """A worker's partition: the parent listens; callbacks of this prefix come through ``reader``."""
        self._token = _token_pattern([relayed.prefix])
        self.dns_port = relayed.dns_port or 0
        self.endpoint = OobEndpoint(self.config.host, relayed.http_port, relayed.prefix,
                                    self.config.domain if relayed.dns_port is not None else None)
        self._was_on = True
        self._feed = Feed(reader, self._log)
        try:
            yield
        finally:
            self.endpoint = None
            self._feed.close()

    # ------------------------------------------------------------------ listening
    def _tokens(self, text: str) -> set[str]:
        return {m.lower() for m in self._token.findall(text)} if self._token is not None else set()

    def _log(self, received: Received) -> None:
        self.stats.callbacks += 1
        setattr(self.stats, received.protocol, getattr(self.stats, received.protocol) + 1)
        found = self._tokens(received.where)
        if not found:
            self.stats.stray += 1
            return
        for tok in found:
            self._seen.setdefault(tok, []).append(received)
            self._seen.move_to_end(tok)
        while len(self._seen) > MAX_TOKENS:
            self._seen.popitem(last=False)

    def _body_for(self, target: str) -> str | None:
        found = self._tokens(target)
        if not found:
            return None
        body = _BODIES.body(sorted(found)[0])
        # An external DTD must parse: a comment carries the marker without breaking it.
        return f"<!-- {body} -->\n" if target.split("?")[0].endswith(".dtd") else body

    # ------------------------------------------------------------------ correlation
    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        """In a worker, every callback already relayed is logged, and none is logged meanwhile."""
        if self._feed is None:
            yield
            return
        with self._feed.lock:
            self._feed.drain()
            yield

    def attach(self, exchanges: list[Exchange]) -> list[Exchange]:
        """The exchanges, each with the callbacks its attack's token has received so far."""
        if self.endpoint is None:
            return exchanges
        with self._current():
            return self._attach(exchanges)

    def _attach(self, exchanges: list[Exchange]) -> list[Exchange]:
        now = time.monotonic()
        out = []
        for exchange in exchanges:
            tok = exchange.attack.token
            if tok:
                self.stats.tokens_sent += 1
                self._last_token_at = self._sent_at[tok] = now
                while len(self._sent_at) > MAX_TOKENS:
                    self._sent_at.popitem(last=False)
                seen = self._seen.get(tok)
                if seen:
                    exchange = dataclasses.replace(exchange, interactions=tuple(
                        Interaction(tok, r.protocol, r.remote, r.raw, r.at - now) for r in seen))
            out.append(exchange)
        return out

    def hold(self, baseline: Baseline, request: Request, verdicts: list[Verdict]) -> list[Verdict]:
        """The verdicts that stand now; the deferred ones are kept until :meth:`settle`."""
        standing = []
        for verdict in verdicts:
            if not isinstance(verdict, Deferred):
                standing.append(verdict)
                continue
            if not verdict.tokens:
                continue
            self.stats.awaited += 1
            self._held[verdict.tokens[0]] = _Held(baseline, request, verdict)
            while len(self._held) > MAX_HELD:
                self._held.popitem(last=False)
                self.stats.dropped += 1
        return standing

    async def settle(self, store: StoreLate, stopping: Callable[[], bool]) -> None:
        """Wait up to the grace period after the last token sent, storing each held verdict as
        soon as one of its tokens gets an HTTP callback."""
        deadline = self._last_token_at + self.config.grace
        while self._held and self.endpoint is not None:
            for key, held in list(self._held.items()):
                with self._current():
                    late = self._late(held.verdict)
                if late is not None:
                    del self._held[key]
                    self.stats.confirmed_late += 1
                    await store(held.baseline, held.request, late)
            if not self._held or stopping() or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL)
        self._held.clear()

    def _late(self, deferred: Deferred) -> Verdict | None:
        for tok in deferred.tokens:
            for received in self._seen.get(tok, ()):
                if received.protocol != "http":
                    continue
                interaction = Interaction(tok, received.protocol, received.remote, received.raw,
                                          received.at - self._sent_at.get(tok, self._last_token_at))
                values = {f.name: getattr(deferred, f.name) for f in dataclasses.fields(Verdict)}
                values["proof"] = proof_line(interaction)
                values["details"] = {**deferred.details, "oob": interaction.summary(), "deferred": True}
                return Verdict(**values)
        return None

    # ------------------------------------------------------------------ report
    def summary(self) -> dict[str, Any]:
        """The listener's part of the run's stats."""
        needing = sorted(c.id for c in self.checks if c.uses_oob)
        s = self.stats
        base: dict[str, Any] = {"enabled": self._was_on, "checks_needing_listener": needing}
        if not self._was_on:
            reason = self.reason or self.config.reason or "the out-of-band listener did not run in this process"
            return base | {"reason": reason, "checks_without_listener": needing}
        return base | {"host": self.config.host, "dns_port": self.dns_port or None, "grace_s": self.config.grace,
                       "tokens_sent": s.tokens_sent,
                       "callbacks": s.callbacks, "http_callbacks": s.http, "dns_queries": s.dns,
                       "stray_callbacks": s.stray, "deferred_awaited": s.awaited,
                       "deferred_confirmed": s.confirmed_late, "deferred_dropped": s.dropped}


def _draw_prefixes(n: int) -> list[str]:
    """``n`` distinct random token prefixes."""
    out: list[str] = []
    while len(out) < n:
        prefix = "".join(secrets.choice(string.ascii_lowercase) for _ in range(PREFIX_LENGTH))
        if prefix not in out:
            out.append(prefix)
    return out


def _token_pattern(prefixes: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(prefixes)
    return re.compile(f"(?:{alternatives})[a-z0-9]{{{TOKEN_LENGTH - PREFIX_LENGTH}}}", re.IGNORECASE)


def _ipv4(host: str) -> str:
    """The address the DNS listener answers with: ``host`` when it is an IPv4 address, else
    127.0.0.1 (a name must resolve elsewhere, where a zone is delegated to the node)."""
    parts = host.split(".")
    if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
        return host
    return "127.0.0.1"
