"""``lunge bench proxy``: what the recording proxy costs a test suite that runs through it.

One run measures, against the same fast loopback target (:mod:`lunge.bench.target`, its own
process):

- latency at concurrency 1, direct and through the proxy: ``added_p50_ms`` / ``added_p99_ms`` are
  the proxied percentiles minus the direct ones, the proxy's own cost per request;
- throughput at concurrency 10 (closed loop), direct and proxied: ``direct_rps``, ``proxied_rps``;
- the store's batched ingest rate on SQLite (:func:`lunge.bench.store.ingest`).

The proxy is the real thing: ``lunge record --no-dedup`` in its own process, so every proxied
request is committed to a SQLite store before its response goes back ("answered ⇒ stored"). At the
end it is stopped with SIGTERM and its summary must count every proxied request as recorded.
Each figure is the median of ``runs`` runs (a fresh proxy each time); the per-run values are kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from rich.table import Table

TARGETS = {"added_p50_ms": 2.0, "proxied_rps": 800.0, "ingest_rows_per_s": 20_000.0}


def run(*, runs: int = 3, latency_requests: int = 500, throughput_requests: int = 3000, concurrency: int = 10,
        ingest_rows: int = 20_000) -> dict[str, Any]:
    """The whole benchmark; returns the figures (medians) and the per-run values."""
    per_run = []
    with tempfile.TemporaryDirectory(prefix="lunge-bench-proxy-") as tmp, _target_process() as origin:
        for index in range(runs):
            workdir = Path(tmp) / f"run{index}"
            per_run.append(_one_run(workdir, origin, latency_requests, throughput_requests, concurrency))
        ingest = _ingest(Path(tmp) / "ingest.db", ingest_rows, runs)
    figures: dict[str, Any] = {key: _median(per_run, key) for key in per_run[0] if key != "recorded"}
    figures.setdefault("proxy_cpu_ms_per_request", None)
    figures["ingest_rows_per_s"] = ingest["ingest_rows_per_s"]
    figures["ingest_runs_rows_per_s"] = ingest.get("ingest_runs_rows_per_s")
    figures["recorded_per_run"] = [r["recorded"] for r in per_run]
    figures["runs"] = per_run
    figures["settings"] = {"runs": runs, "latency_requests": latency_requests,
                           "throughput_requests": throughput_requests, "concurrency": concurrency,
                           "ingest_rows": ingest_rows, "cpus": os.cpu_count()}
    figures["targets"] = TARGETS
    figures["meets_targets"] = (figures["added_p50_ms"] <= TARGETS["added_p50_ms"]
                                and figures["proxied_rps"] >= TARGETS["proxied_rps"]
                                and figures["ingest_rows_per_s"] >= TARGETS["ingest_rows_per_s"])
    return figures


def _one_run(workdir: Path, origin: str, latency_requests: int, throughput_requests: int,
             concurrency: int) -> dict[str, Any]:
    with _proxy_process(workdir) as proxy:
        cpu_before = _cpu_seconds(proxy.process.pid)
        measured = asyncio.run(_measure(origin, proxy.url, latency_requests, throughput_requests, concurrency))
        cpu_after = _cpu_seconds(proxy.process.pid)
        summary = proxy.stop()
    if cpu_before is not None and cpu_after is not None:
        # CPU per request carries over between machines better than latency on a busy one.
        measured["proxy_cpu_ms_per_request"] = round((cpu_after - cpu_before) * 1000 / measured["proxied_requests"], 3)
    recorded = summary["stats"]["recorded"]
    if recorded != measured["proxied_requests"]:
        raise RuntimeError(f"the proxy recorded {recorded} of {measured['proxied_requests']} proxied requests")
    measured["recorded"] = recorded
    return measured


async def _measure(origin: str, proxy: str, latency_requests: int, throughput_requests: int,
                   concurrency: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:
        warm = max(20, latency_requests // 10)
        await _sequential(client, origin, None, warm)
        await _sequential(client, origin, proxy, warm)
        direct = await _sequential(client, origin, None, latency_requests)
        proxied = await _sequential(client, origin, proxy, latency_requests)
        direct_rps = await _throughput(client, origin, None, throughput_requests, concurrency)
        proxied_rps = await _throughput(client, origin, proxy, throughput_requests, concurrency)
    d50, d99 = _percentile(direct, 0.50), _percentile(direct, 0.99)
    p50, p99 = _percentile(proxied, 0.50), _percentile(proxied, 0.99)
    return {
        "direct_p50_ms": round(d50, 3), "direct_p99_ms": round(d99, 3),
        "proxied_p50_ms": round(p50, 3), "proxied_p99_ms": round(p99, 3),
        "added_p50_ms": round(p50 - d50, 3), "added_p99_ms": round(p99 - d99, 3),
        "direct_rps": round(direct_rps, 1), "proxied_rps": round(proxied_rps, 1),
        "proxied_requests": warm + latency_requests + throughput_requests,
    }


async def _get(client: aiohttp.ClientSession, url: str, proxy: str | None) -> None:
    async with client.get(url, proxy=proxy) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status} (proxy {proxy})")


async def _sequential(client: aiohttp.ClientSession, origin: str, proxy: str | None, count: int) -> list[float]:
    """Latencies (ms) of ``count`` requests one after the other. Distinct paths: --no-dedup or not,
    each request is a real baseline."""
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        await _get(client, f"{origin}/item/{i}?q={i}", proxy)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _throughput(client: aiohttp.ClientSession, origin: str, proxy: str | None, count: int,
                      concurrency: int) -> float:
    """Requests per second of ``count`` requests by ``concurrency`` workers in a closed loop."""
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await _get(client, f"{origin}/load/{i}?q={i}", proxy)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return count / (time.perf_counter() - started)


def _ingest(path: Path, rows: int, runs: int) -> dict[str, Any]:
    from lunge.bench.store import ingest

    return ingest(f"sqlite:///{path}", rows=rows, batch=500, repeats=runs)


# ---------------------------------------------------------------------- processes
class _Proxy:
    def __init__(self, process: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then the summary the proxy printed (``lunge record --json``)."""
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(60) != 0:
            raise RuntimeError(f"the proxy exited {self.process.returncode}: {self._stderr()}")
        summary: dict[str, Any] = json.loads((self.workdir / "proxy.out").read_text())
        return summary

    def _stderr(self) -> str:
        return (self.workdir / "proxy.err").read_text()[-2000:]


@contextmanager
def _proxy_process(workdir: Path) -> Iterator[_Proxy]:
    """``lunge record`` on a free port with a fresh SQLite store, recording every request."""
    workdir.mkdir(parents=True)
    port = _free_port()
    # Every setting that changes what is recorded is a flag, so the caller's environment (an
    # ALLOWED_HOSTS left in the shell) cannot skew the figures.
    command = [sys.executable, "-m", "lunge.cli", "record", "--port", str(port), "--bind", "127.0.0.1",
               "--no-dedup", "--allowed-hosts", "*", "--exclude-extensions", "", "--max-body", "1048576",
               "--inactivity-timeout", "86400", "--record-name", "bench", "--json",
               "--data-dir", str(workdir), "--db", f"sqlite:///{workdir / 'lunge.db'}"]
    with (workdir / "proxy.out").open("wb") as out, (workdir / "proxy.err").open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
    proxy = _Proxy(process, port, workdir)
    try:
        _wait_for_port(port, process)
        yield proxy
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@contextmanager
def _target_process() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "lunge.bench.target", str(port)], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark target did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the proxy did not listen on {port} within {timeout:.0f} s")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------- arithmetic
def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(float(r[key]) for r in runs), 3)


def table(figures: dict[str, Any]) -> Table:
    """The human view of :func:`run`'s figures, with the targets they are held to."""
    out = Table(title=f"recording proxy (median of {figures['settings']['runs']} runs)", title_justify="left")
    for column in ("figure", "value", "target", "per run"):
        out.add_column(column, justify="left" if column == "figure" else "right")
    rows = [("added latency p50 (ms), c=1", "added_p50_ms", "≤ 2"),
            ("added latency p99 (ms), c=1", "added_p99_ms", ""),
            ("direct p50 / p99 (ms)", None, ""), ("proxied p50 / p99 (ms)", None, ""),
            ("direct req/s, c=10", "direct_rps", ""), ("proxied req/s, c=10 (recording)", "proxied_rps", "≥ 800"),
            ("proxy CPU ms per request", "proxy_cpu_ms_per_request", "")]
    for label, key, target in rows:
        if key is None:
            prefix = "direct" if label.startswith("direct") else "proxied"
            value = f"{figures[prefix + '_p50_ms']} / {figures[prefix + '_p99_ms']}"
            out.add_row(label, value, target, "")
            continue
        out.add_row(label, str(figures[key]), target, ", ".join(str(r.get(key)) for r in figures["runs"]))
    ingest_runs = figures.get("ingest_runs_rows_per_s") or []
    out.add_row("store ingest rows/s (SQLite, batches of 500)", str(figures["ingest_rows_per_s"]), "≥ 20000",
                ", ".join(str(v) for v in ingest_runs))
    out.caption = "targets met" if figures["meets_targets"] else "a target is missed"
    return out
