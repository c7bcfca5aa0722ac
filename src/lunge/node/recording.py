"""Recording mode (``lunge record``, ``CI_MODE=recording lunge node``): run the recording proxy until
SIGTERM/SIGINT or ``INACTIVITY_TIMEOUT``, then close the test record and summarise it.

The order of a session, and why:

1. settings, scope filters and the CA are validated, and the port is probed, *before* the record
   is created: bad input leaves nothing behind (exit 2);
2. the record is created (state ``recording``), the proxy starts, and every in-scope exchange is
   committed through the :class:`~lunge.store.writer.BatchWriter` before its response reaches
   the client ("answered ⇒ stored", see :mod:`lunge.record.addon`);
3. on stop, the listener closes, exchanges in flight finish (at most ``drain_timeout`` seconds;
   requests arriving on open connections meanwhile get 503), the writer commits what it holds,
   and the record is closed with the session's counters.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from lunge import aio
from lunge.errors import ConfigError, SettingError
from lunge.logs import configure_logging
from lunge.node.display import shown
from lunge.node.exit import ExitCode
from lunge.node.records import record_document
from lunge.node.settings import RecordingSettings, api_configured, ci_mode, recording_settings, store_settings
from lunge.record import stats as outcomes
from lunge.record.scope import Scope
from lunge.store import Store, open_store
from lunge.store.models import TestRecord
from lunge.store.writer import BatchWriter

if TYPE_CHECKING:
    from lunge.record.addon import Recorder
    from lunge.record.ca import CaFiles
    from lunge.record.proxy import ProxyConfig, RecordingProxy

# mitmproxy takes about half a second to import (its addons package loads all of them): the modules
# that need it are imported inside the functions that run the proxy, so that `lunge node` with a bad
# CI_MODE, `lunge records` and settings errors answer at once.

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT = 10.0  # seconds given to exchanges in flight when recording stops


@dataclass(frozen=True, slots=True)
class RecordingOutcome:
    """What a recording session did: the closed record, its counters, why it stopped."""

    record: TestRecord
    stats: dict[str, Any]
    stopped_by: str  # "SIGTERM", "SIGINT", "inactivity", "stop"
    duration_s: float
    exit_code: ExitCode

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary (``lunge record --json``)."""
        return {
            "record": record_document(self.record),
            "stopped_by": self.stopped_by,
            "duration_s": round(self.duration_s, 3),
            "stats": self.stats,
            "exit_code": int(self.exit_code),
        }


@dataclass(slots=True)
class StopSignal:
    """Why and when to stop: set by a signal handler, a test, or the inactivity timer. Set twice
    (a second Ctrl-C), it also calls ``on_force``: stop waiting for exchanges in flight."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = "stop"
    forced: bool = False
    on_force: Callable[[], None] | None = None

    def set(self, reason: str = "stop") -> None:
        if self.event.is_set():
            self.forced = True
            if self.on_force is not None:
                self.on_force()
            return
        self.reason = reason
        self.event.set()


# ---------------------------------------------------------------------- entry points
def run_recording(flags: Mapping[str, Any] | None = None, *, verbose: bool = False,
                  on_ready: Callable[[int], None] | None = None) -> RecordingOutcome:
    """The whole recording mode, in this process, until a signal or the inactivity timeout.

    Raises ConfigError (exit 2) for bad settings, StoreError (exit 1) for an unusable database."""
    from lunge.record.ca import prepare_ca
    from lunge.record.listen import check_listen

    flags = dict(flags or {})
    settings = recording_settings(flags)
    where = store_settings(flags)
    configure_logging(verbose)
    scope = Scope.from_settings(settings.allowed_hosts, settings.excluded_extensions)
    check_listen(settings.bind, settings.port)
    ca = prepare_ca(where.data_dir, settings.ca_cert, settings.ca_key)  # may create the CA: after the checks
    store = open_store(where.url)

    def ready(port: int) -> None:
        # Everything imported and built so far lives as long as the process: keep the cyclic GC
        # from walking it again and again (it shows in the proxy's tail latency).
        gc.freeze()
        if on_ready is not None:
            on_ready(port)

    try:
        return aio.run(_record_with_signals(settings, store, ca, scope, ready))
    finally:
        store.close()


def node_mode() -> str:
    """``lunge node``: the mode ``CI_MODE`` names, ``recording`` or ``testing``; ``api`` when it is
    unset and a control plane is configured (``LUNGE_API_URL`` or ``WALLARM_API_HOST``).

    Raises SettingError for an unknown mode and ConfigError when neither is set."""
    mode = ci_mode()
    if mode is None:
        if api_configured():
            return "api"
        raise ConfigError("CI_MODE is not set and no control plane is configured: set CI_MODE=recording or "
                          "CI_MODE=testing, or LUNGE_API_URL and LUNGE_API_TOKEN for API mode")
    return mode


def ca_files(flags: Mapping[str, Any] | None = None) -> CaFiles:
    """The CA the proxy intercepts HTTPS with (``lunge ca``): the supplied one, or lunge's own,
    created now if it does not exist yet."""
    from lunge.record.ca import prepare_ca

    flags = dict(flags or {})
    settings = recording_settings(flags)
    return prepare_ca(store_settings(flags).data_dir, settings.ca_cert, settings.ca_key)


async def _record_with_signals(settings: RecordingSettings, store: Store, ca: CaFiles, scope: Scope,
                               on_ready: Callable[[int], None] | None) -> RecordingOutcome:
    stop = StopSignal()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set, sig.name)
    try:
        return await record(settings, store, ca, scope, stop=stop, on_ready=on_ready)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


# ---------------------------------------------------------------------- the session
async def record(settings: RecordingSettings, store: Store, ca: CaFiles, scope: Scope, *,
                 stop: StopSignal | None = None, on_ready: Callable[[int], None] | None = None,
                 drain_timeout: float = DRAIN_TIMEOUT, upstream_ca: Path | None = None) -> RecordingOutcome:
    """One recording session in the running event loop, until ``stop`` is set or the inactivity
    timeout. ``on_ready`` gets the port once the proxy accepts connections."""
    from lunge.record.addon import Recorder
    from lunge.record.listen import check_listen
    from lunge.record.proxy import RecordingProxy

    stop = stop or StopSignal()
    check_listen(settings.bind, settings.port)
    test_record = await asyncio.to_thread(store.create_record, settings.record_name, settings.build_id)
    writer = BatchWriter(store)
    recorder = Recorder(record_id=test_record.id, sink=writer.submit_async, scope=scope, dedup=settings.dedup,
                        max_body=settings.max_body, ca=ca, label=test_record.label)
    proxy = RecordingProxy(proxy_config(settings, ca, upstream_ca), recorder)
    started = time.monotonic()
    problem = "the proxy did not start"
    try:
        await proxy.start()
    except SettingError as exc:
        problem = str(exc)
        raise
    finally:
        if not proxy.running:
            await asyncio.to_thread(_abandon, store, writer, test_record, problem)
    try:
        _announce(settings, test_record, ca, proxy.port)
        if on_ready is not None:
            on_ready(proxy.port)
        await _wait_for_stop(stop, recorder, settings.inactivity_timeout)
        logger.info("TestRecord#%s stops recording (%s)", test_record.label, stop.reason)
        await _drain(proxy, recorder, stop, drain_timeout)
    finally:
        await proxy.close()
        await asyncio.to_thread(writer.close)
    return await asyncio.to_thread(_close, store, test_record, recorder, stop.reason, time.monotonic() - started)


def proxy_config(settings: RecordingSettings, ca: CaFiles, upstream_ca: Path | None) -> ProxyConfig:
    from lunge.record.proxy import ProxyConfig

    return ProxyConfig(bind=settings.bind, port=settings.port, confdir=ca.confdir, reverse=settings.reverse,
                       upstream_verify=settings.upstream_verify, upstream_ca=upstream_ca)


def _announce(settings: RecordingSettings, test_record: TestRecord, ca: CaFiles, port: int) -> None:
    logger.info("TestRecord#%s %s starts to record", test_record.label, test_record.name)
    mode = f"reverse proxy to {settings.reverse}" if settings.reverse else "HTTP/HTTPS proxy"
    # http://lunge.ca/ is answered by the forward proxy only: a reverse proxy sends everything on.
    where = "" if settings.reverse else " (or http://lunge.ca/cert.pem through the proxy)"
    logger.info("%s listening on %s:%d; CA certificate: %s%s", mode, settings.bind, port, ca.cert_pem, where)
    if not _is_loopback(settings.bind):
        logger.warning("the proxy listens on %s: an open proxy, anyone who reaches this address can send "
                       "requests through it (and into the record); bind it to 127.0.0.1 unless you mean to",
                       settings.bind)
    if not settings.upstream_verify:
        logger.warning("the target's TLS certificates are not verified (LUNGE_UPSTREAM_VERIFY=false)")


def _is_loopback(bind: str) -> bool:
    """Whether only this machine can reach the proxy on ``bind`` ("" and 0.0.0.0/:: are every address)."""
    if bind.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


async def _wait_for_stop(stop: StopSignal, recorder: Recorder, timeout: float) -> None:
    """Return when ``stop`` is set, or after ``timeout`` seconds without a new request (an exchange
    still in flight counts as activity)."""
    while not stop.event.is_set():
        idle_for = time.monotonic() - recorder.last_request_at
        if idle_for >= timeout and recorder.in_flight == 0:
            logger.info("no request for %d s (INACTIVITY_TIMEOUT)", round(timeout))
            stop.set("inactivity")
            return
        wait = max(timeout - idle_for, 0.05) if recorder.in_flight == 0 else min(timeout, 1.0)
        try:
            await asyncio.wait_for(stop.event.wait(), wait)
        except TimeoutError:
            continue


async def _drain(proxy: RecordingProxy, recorder: Recorder, stop: StopSignal, timeout: float) -> None:
    """Stop accepting; give exchanges in flight up to ``timeout`` seconds to finish (and be stored)."""
    recorder.stopping = True
    await proxy.stop_accepting()
    if recorder.in_flight == 0:
        return
    logger.info("waiting for %d exchange(s) in flight", recorder.in_flight)
    stop.on_force = recorder.release_waiters
    try:
        await asyncio.wait_for(recorder.wait_idle(), timeout)
    except TimeoutError:
        pass
    if recorder.in_flight:
        why = "stopped again" if stop.forced else f"after {timeout:.0f} s"
        logger.warning("%d exchange(s) still in flight (%s): not recorded", recorder.in_flight, why)


def _close(store: Store, test_record: TestRecord, recorder: Recorder, reason: str, duration: float) -> RecordingOutcome:
    counters = recorder.stats.as_dict()
    counters["stopped_by"] = reason
    counters["duration_s"] = round(duration, 3)
    closed = store.close_record(test_record.id, stats=counters)
    code = ExitCode.FAILED if counters[outcomes.STORE_ERROR] else ExitCode.PASSED
    logger.info("TestRecord#%s closed: %d baseline(s)", closed.label, closed.baseline_count)
    return RecordingOutcome(closed, counters, reason, duration, code)


def _abandon(store: Store, writer: BatchWriter, test_record: TestRecord, problem: str) -> None:
    """The proxy could not start after the record was created (a lost race for the port)."""
    writer.close()
    store.close_record(test_record.id, stats={"error": problem})


# ---------------------------------------------------------------------- output
def summary_table(outcome: RecordingOutcome) -> Table:
    """The human summary: totals, then one line per host."""
    stats = outcome.stats
    table = Table(title=f"TestRecord#{outcome.record.label} {shown(outcome.record.name)} "
                        f"({outcome.record.baseline_count} baselines, stopped by {outcome.stopped_by})",
                  title_justify="left")
    table.add_column("host")
    for name in outcomes.PER_HOST:
        table.add_column(name.replace("_", " "), justify="right")
    for host, counts in stats["hosts"].items():
        table.add_row(shown(host), *(str(counts[name]) for name in outcomes.PER_HOST))
    table.add_row("[b]total[/]", *(f"[b]{stats[name]}[/]" for name in outcomes.PER_HOST))
    extra = [f"{name.replace('_', ' ')}: {stats[name]}" for name in outcomes.OUTCOMES
             if name not in outcomes.PER_HOST and stats[name]]
    if extra:
        table.caption = "; ".join(extra)
    return table
