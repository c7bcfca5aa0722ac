"""``lunge bench engine``: the attack engine against a bare aiohttp loop, on the same fast target.

In one invocation:

- a fast loopback target runs in its own process (:mod:`lunge.bench.target`);
- a bare aiohttp loop (one session, ``WORKERS`` coroutines) measures what a client alone reaches;
- lunge's engine runs the default policy over a generated record and its attack rate is measured
  the same way (requests sent / wall time), with its CPU seconds per 10k requests;
- peak RSS is taken from fresh processes running the engine over 1k and 10k baselines, to show that
  memory stays flat as records grow.

Each rate is the median of ``runs`` runs, bare and engine interleaved; the ratio is the median of
the runs' ratios, each taken between an engine run and the bare run right after it: on a shared
machine whose speed drifts within a minute, a pair measured seconds apart compares like with like
where the two medians may come from different moments. Both run on the same event loop, the one
``lunge test`` uses (:mod:`lunge.aio`: uvloop where installed).
"""

from __future__ import annotations

import asyncio
import json
import resource
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

from lunge import aio
from lunge.checks import load
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request, Response
from lunge.policy import BUILTIN
from lunge.store import open_store
from lunge.store.models import NewBaseline

ENDPOINTS = 20  # distinct endpoints in a generated record: CI suites repeat the same calls
# The bars: the engine at 70 % of a bare client's rate or better; memory flat with size.
TARGETS = {"ratio": 0.7, "rss_ratio": 1.3}


def generated_baselines(record_id: int, count: int, origin: str) -> Iterator[NewBaseline]:
    """``count`` realistic baselines over a few endpoints: query parameters, a path id, JSON bodies."""
    body = b"<html><body><h1>Item</h1><p>in stock</p></body></html>"
    for i in range(count):
        endpoint = i % ENDPOINTS
        if endpoint % 4 == 3:
            request = Request.from_url(f"{origin}/api/v1/orders/{i}", "POST",
                                       [("Content-Type", "application/json")],
                                       json.dumps({"item": f"sku-{i}", "qty": i % 7 + 1, "note": "gift"}).encode())
        else:
            request = Request.from_url(f"{origin}/shop/{endpoint}/item.php?id={i}&q=word{i % 13}&page=2")
        yield NewBaseline(record_id, request, Response(200, body=body))


def make_record(url: str, count: int, origin: str) -> int:
    store = open_store(url)
    try:
        record = store.create_record(f"bench {count}")
        batch: list[NewBaseline] = []
        for baseline in generated_baselines(record.id, count, origin):
            batch.append(baseline)
            if len(batch) == 1000:
                store.add_baselines(batch)
                batch = []
        if batch:
            store.add_baselines(batch)
        store.close_record(record.id)
        return record.id
    finally:
        store.close()


async def bare_loop(origin: str, requests: int, workers: int) -> float:
    """Requests per second of a bare aiohttp loop (the same session settings as the engine)."""
    connector = aiohttp.TCPConnector(limit=workers * 2, limit_per_host=0)
    counter = iter(range(requests))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        async def worker() -> None:
            for i in counter:
                async with session.get(f"{origin}/shop/{i % ENDPOINTS}/item.php?id={i}&q=word&page=2",
                                       allow_redirects=False) as resp:
                    await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return requests / (time.perf_counter() - started)


def engine_run(url: str, record_id: int, workers: int) -> dict[str, Any]:
    """Run the default policy over the record in this process: rate, requests, CPU per 10k."""
    store = open_store(url)
    try:
        registry = load()
        policy = BUILTIN["default"]
        config = RunConfig(policy=policy, checks=tuple(registry.select(policy.checks)), workers=workers)
        run = store.create_run(name="bench", record_id=record_id, policy_name=policy.name)
        engine = RunEngine(store, run, config)
        aio.settle_heap()  # as lunge test does
        cpu0 = _cpu()
        started = time.perf_counter()
        final = aio.run(engine.execute())
        wall = time.perf_counter() - started
        cpu = _cpu() - cpu0
        return {"rps": final.requests_sent / wall, "requests": final.requests_sent, "seconds": wall,
                "cpu_s_per_10k": cpu / max(final.requests_sent, 1) * 10_000, "state": final.state.value}
    finally:
        store.close()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def target_process() -> Iterator[str]:
    """A fast target in its own process; yields its origin."""
    with _free_port_socket() as port:
        proc = subprocess.Popen([sys.executable, "-m", "lunge.bench.target", str(port)], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark target did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def _free_port_socket() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


def rss_child(url: str, record_id: int, workers: int) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process running the engine over the record."""
    code = ("import json,resource,sys;from lunge.bench.engine import engine_run;"
            f"r=engine_run({url!r},{record_id},{workers});"
            "r['rss_mb']=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024;print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(*, baselines: int = 1000, large: int = 10_000, workers: int = 10, runs: int = 5) -> dict[str, Any]:
    """The whole benchmark; returns the figures (``bare_rps``, ``engine_rps``, ``ratio``, ...)."""
    with tempfile.TemporaryDirectory() as tmp, target_process() as origin:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        small_id = make_record(url, baselines, origin)
        bare, engine, cpu = [], [], []
        last: dict[str, float] = {}
        for _ in range(runs):
            last = engine_run(url, small_id, workers)
            engine.append(last["rps"])
            cpu.append(last["cpu_s_per_10k"])
            bare.append(aio.run(bare_loop(origin, int(last["requests"]), workers)))
        large_id = make_record(url, large, origin)
        rss_small = rss_child(url, small_id, workers)
        rss_large = rss_child(url, large_id, workers)
    bare_rps, engine_rps = statistics.median(bare), statistics.median(engine)
    ratios = [e / b for e, b in zip(engine, bare, strict=True)]
    ratio = statistics.median(ratios)
    return {
        "bare_rps": round(bare_rps, 1), "engine_rps": round(engine_rps, 1), "ratio": round(ratio, 3),
        "cpu_s_per_10k": round(statistics.median(cpu), 3), "requests_per_run": int(last["requests"]),
        "baselines": baselines, "large": large, "workers": workers, "runs": runs, "event_loop": aio.loop_name(),
        "rss_mb_1k": round(rss_small["rss_mb"], 1), "rss_mb_10k": round(rss_large["rss_mb"], 1),
        "rss_ratio": round(rss_large["rss_mb"] / rss_small["rss_mb"], 3),
        "requests_10k": int(rss_large["requests"]), "seconds_10k": round(rss_large["seconds"], 1),
        "bare_rps_runs": [round(x, 1) for x in bare], "engine_rps_runs": [round(x, 1) for x in engine],
        "ratio_runs": [round(x, 3) for x in ratios],
        "targets": TARGETS,
        "meets_targets": ratio >= TARGETS["ratio"]
        and rss_large["rss_mb"] / rss_small["rss_mb"] <= TARGETS["rss_ratio"],
    }


def table(figures: dict[str, Any]) -> Table:
    """The human view of :func:`run`'s figures, with the targets they are held to."""
    out = Table(title=f"attack engine vs a bare aiohttp loop, {figures['baselines']} baselines, "
                      f"{figures['workers']} workers (median of {figures['runs']} runs, {figures['event_loop']})",
                title_justify="left")
    for column in ("figure", "value", "target", "per run"):
        out.add_column(column, justify="left" if column == "figure" else "right")
    bare_runs, engine_runs = figures["bare_rps_runs"], figures["engine_rps_runs"]
    out.add_row("bare aiohttp loop, requests/s", f"{figures['bare_rps']:,.0f}", "",
                ", ".join(f"{v:,.0f}" for v in bare_runs))
    out.add_row("engine (default policy), requests/s", f"{figures['engine_rps']:,.0f}", "",
                ", ".join(f"{v:,.0f}" for v in engine_runs))
    out.add_row("ratio engine / bare (median of the runs')", f"{figures['ratio']:.3f}", f"≥ {TARGETS['ratio']}",
                ", ".join(f"{r:.3f}" for r in figures["ratio_runs"]))
    out.add_row("engine CPU seconds per 10k requests", f"{figures['cpu_s_per_10k']:.2f}", "", "")
    out.add_row(f"peak RSS (MB), {figures['baselines']:,} baselines", f"{figures['rss_mb_1k']:.1f}", "", "")
    out.add_row(f"peak RSS (MB), {figures['large']:,} baselines ({figures['requests_10k']:,} requests)",
                f"{figures['rss_mb_10k']:.1f}", "", "")
    out.add_row("RSS ratio, large / small", f"{figures['rss_ratio']:.3f}", f"≤ {TARGETS['rss_ratio']}", "")
    out.caption = "targets met" if figures["meets_targets"] else "a target is missed"
    return out
