"""``lunge demo``: FAST's whole flow on one machine, against lunge's own vulnerable shop.

1. the demo shop starts in its own process on 127.0.0.1 (its CPU is not the engine's);
2. the recording proxy starts, and the shop's functional test suite runs through it;
3. recording stops, the record is closed;
4. testing mode runs on that record with the demo policy (the default points plus headers and
   cookies), writes the reports, and prints the findings;
5. the findings are compared with the shop's manifest: every vulnerable endpoint must be found,
   and nothing else (each has a safe twin that must stay silent).

The demo keeps its own store and CA under ``<data dir>/demo`` so it never mixes with real records.
Exit code: testing mode's (1, the shop is vulnerable).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from lunge import aio
from lunge.checks import passive
from lunge.demo import POLICY_PATH, manifest, run_suite
from lunge.errors import LungeError
from lunge.node.recording import StopSignal, record
from lunge.node.settings import recording_settings, store_settings
from lunge.node.testing import TestOutcome, run_testing
from lunge.record.ca import prepare_ca
from lunge.record.scope import Scope
from lunge.store import open_store
from lunge.store.models import Finding

DEMO_OOB_GRACE = 2  # seconds: the shop's blind webhook calls back half a second after answering


@dataclass(frozen=True, slots=True)
class Comparison:
    """Findings against the manifest, by (method, path, point, check)."""

    expected: set[tuple[str, str, str, str]]
    found: set[tuple[str, str, str, str]]
    safe: set[tuple[str, str, str, str]] = field(default_factory=set)
    passive: tuple[str, ...] = ()  # passive rules that reported (one per host): listed, not compared

    @property
    def missed(self) -> set[tuple[str, str, str, str]]:
        return self.expected - self.found

    @property
    def unexpected(self) -> set[tuple[str, str, str, str]]:
        return self.found - self.expected

    @property
    def exact(self) -> bool:
        return not self.missed and not self.unexpected


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    testing: TestOutcome
    comparison: Comparison
    baselines: int
    suite_requests: int
    seconds: float


def finding_key(finding: Finding) -> tuple[str, str, str, str]:
    return finding.method, urlsplit(finding.url).path, finding.point, finding.check_id


def compare(findings: list[Finding]) -> Comparison:
    """The active checks' findings against the manifest. Passive findings (missing headers, the
    server's banner ...) describe the shop as a whole, one per host and rule: they are listed apart
    and are not part of the comparison."""
    entries = manifest()
    expected = {(e["method"], e["path"], e["point"], e["check"]) for e in entries if e["vulnerable"]}
    safe = {(e["method"], e["path"], e["point"], e["check"]) for e in entries if not e["vulnerable"]}
    rules = {rule.id for rule in passive.load()}
    active = {finding_key(f) for f in findings if f.check_id not in rules}
    return Comparison(expected, active, safe, tuple(sorted(f.check_id for f in findings if f.check_id in rules)))


def run_demo(flags: Mapping[str, Any] | None = None, *, console: Console | None = None,
             quiet: bool = False) -> DemoOutcome:
    """The whole demo; raises LungeError when the shop or the suite fails."""
    console = console or Console()
    started = time.monotonic()
    where = store_settings(flags)
    demo_dir = where.data_dir / "demo"
    demo_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db_url = str((flags or {}).get("db") or f"sqlite:///{demo_dir / 'lunge.db'}")
    dns_port = _free_port(socket.SOCK_DGRAM)
    with _shop(dns_port) as shop_url:
        def say(message: str) -> None:
            if not quiet:
                console.print(message, highlight=False)

        say(f"[bold]1/3[/] the demo shop is up at {shop_url} (127.0.0.1 only)")
        record_id, baselines, requests = aio.run(_record_suite(shop_url, demo_dir, db_url))
        say(f"[bold]2/3[/] recorded its functional test suite through lunge's proxy: {requests} requests, "
            f"{baselines} baselines in record rec_{record_id:04d}")
        say("[bold]3/3[/] testing the record with the demo policy (default points + headers and cookies)")
        # The shop resolves names through the out-of-band DNS listener (which answers every name
        # under its domain: the trap a DNS-only callback must not fall into).
        testing_flags = {"record": str(record_id), "policy": str(POLICY_PATH), "db": db_url,
                         "name": "lunge demo", "report_dir": (flags or {}).get("report_dir"),
                         "oob_dns_port": dns_port, "oob_grace": DEMO_OOB_GRACE}
        outcome = run_testing(testing_flags, console=console, json_output=quiet)
    return DemoOutcome(outcome, compare(outcome.findings), baselines, requests, time.monotonic() - started)


async def _record_suite(shop_url: str, demo_dir: Any, db_url: str) -> tuple[int, int, int]:
    settings = recording_settings({"port": _free_port(), "bind": "127.0.0.1", "record_name": "lunge demo",
                                   "inactivity_timeout": 600, "allowed_hosts": "127.0.0.1"})
    store = await asyncio.to_thread(open_store, db_url)
    ca = await asyncio.to_thread(prepare_ca, demo_dir, None, None)
    scope = Scope.from_settings(settings.allowed_hosts, settings.excluded_extensions)
    stop = StopSignal()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    try:
        async with asyncio.TaskGroup() as group:
            recording = group.create_task(record(settings, store, ca, scope, stop=stop,
                                                 on_ready=lambda port: ready.set_result(port)))
            port = await ready
            result = await run_suite(shop_url, proxy=f"http://127.0.0.1:{port}")
            stop.set("suite finished")
        if not result.ok:
            raise LungeError("the demo's functional suite failed: " + "; ".join(map(str, result.failures[:3])))
        outcome = recording.result()
        return outcome.record.id, outcome.record.baseline_count, len(result.requests)
    finally:
        await asyncio.to_thread(store.close)


@contextmanager
def _shop(dns_port: int) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "lunge.demo", "serve", "--port", str(port),
                                "--resolver", f"127.0.0.1:{dns_port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LungeError(f"the demo shop exited at start (code {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise LungeError(f"the demo shop did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def print_comparison(console: Console, outcome: DemoOutcome) -> None:
    c = outcome.comparison
    verdict = "[bold green]exactly as expected[/]" if c.exact else "[bold red]NOT as expected[/]"
    console.print(f"\ndemo check: {len(c.found & c.expected)}/{len(c.expected)} vulnerable endpoints found, "
                  f"{len(c.unexpected)} unexpected findings ({len(c.safe)} safe twins stayed silent"
                  f"{'' if not c.unexpected else ' except the above'}) — {verdict}; {outcome.seconds:.1f} s in all")
    for key in sorted(c.missed):
        console.print(f"  [red]missed[/] {' '.join(key)}", highlight=False)
    for key in sorted(c.unexpected):
        console.print(f"  [red]unexpected[/] {' '.join(key)}", highlight=False)
    if c.passive:
        console.print(f"  {len(c.passive)} passive findings, not compared with the manifest: {', '.join(c.passive)}",
                      highlight=False)


def demo_document(outcome: DemoOutcome) -> dict[str, Any]:
    from lunge.node.summary import summary_document

    t = outcome.testing
    c = outcome.comparison
    document = summary_document(t.run, t.record, t.findings, t.reports, int(t.exit_code))
    document["demo"] = {"expected": len(c.expected), "found": len(c.found & c.expected),
                        "missed": [list(k) for k in sorted(c.missed)],
                        "unexpected": [list(k) for k in sorted(c.unexpected)], "exact": c.exact,
                        "passive": list(c.passive),
                        "baselines": outcome.baselines, "suite_requests": outcome.suite_requests,
                        "seconds": round(outcome.seconds, 2)}
    return document
