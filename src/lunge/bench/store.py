"""How fast the store takes baselines: ``ingest()``.

Three figures, each the median of ``repeats`` runs into a fresh record, the clock around the
writes only (building the baselines is not timed):

- ``ingest_rows_per_s``: :meth:`~lunge.store.base.Store.add_baselines` in batches of ``batch``,
  the recorder's bulk path (importers) and the upper bound of the writer; with
  ``ingest_cpu_us_per_row``, the client CPU it costs (steady when other work slows the clock);
- ``writer_rows_per_s`` / ``writer_async_rows_per_s``: the :class:`~lunge.store.writer.BatchWriter`
  with many submitters (threads, or asyncio tasks as in the proxy), each waiting for its commit
  before submitting the next, as the proxy does before answering a client;
- ``commit_p50_ms`` against ``writer_p50_ms``: one lone baseline stored directly, then through the
  writer; the difference (``writer_hop_p50_ms``) is what the writer adds to a proxied request.

The baselines are realistic: a JSON API call with 8 request headers and a ~1 KB body, and its
response (5 headers, ~0.3 KB JSON).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from lunge.http import Headers, Request, Response
from lunge.store import Store, open_store
from lunge.store.models import NewBaseline
from lunge.store.writer import BatchWriter


def ingest(url: str, rows: int = 20000, batch: int = 500, *, repeats: int = 3, submitters: int = 32,
           latency_samples: int = 300) -> dict[str, Any]:
    """Measure storing ``rows`` baselines into the store at ``url`` (see the module docstring)."""
    store = open_store(url)
    try:
        bulk = [_bulk(store, rows, batch) for _ in range(repeats)]
        threads = [_writer_threads(store, rows, submitters) for _ in range(repeats)]
        tasks = [_writer_tasks(store, rows, submitters) for _ in range(repeats)]
        direct, hopped = _latencies(store, latency_samples)
    finally:
        store.close()
    commit_p50, writer_p50 = statistics.median(direct), statistics.median(hopped)
    return {
        "url": _masked(url),
        "rows": rows,
        "batch": batch,
        "repeats": repeats,
        "ingest_rows_per_s": round(statistics.median(r for r, _ in bulk)),
        "ingest_runs_rows_per_s": [round(r) for r, _ in bulk],
        # On a busy machine the rate drops but this stays put (SQLite: all the work is in-process).
        "ingest_cpu_us_per_row": round(statistics.median(c for _, c in bulk), 1),
        "submitters": submitters,
        "writer_rows_per_s": round(statistics.median(r for r, _ in threads)),
        "writer_runs_rows_per_s": [round(r) for r, _ in threads],
        "writer_mean_batch": round(statistics.median(b for _, b in threads), 1),
        "writer_async_rows_per_s": round(statistics.median(r for r, _ in tasks)),
        "writer_async_runs_rows_per_s": [round(r) for r, _ in tasks],
        "writer_async_mean_batch": round(statistics.median(b for _, b in tasks), 1),
        "commit_p50_ms": round(commit_p50 * 1000, 3),
        "writer_p50_ms": round(writer_p50 * 1000, 3),
        "writer_p95_ms": round(_percentile(hopped, 0.95) * 1000, 3),
        "writer_hop_p50_ms": round((writer_p50 - commit_p50) * 1000, 3),
    }


# ---------------------------------------------------------------------- the measured paths
def _bulk(store: Store, rows: int, batch: int) -> tuple[float, float]:
    """(rows/s, this process's CPU µs per row)."""
    record_id, items = _fresh(store, rows)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, rows, batch):
        store.add_baselines(items[start:start + batch])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    _verify(store, record_id, rows)
    return rows / elapsed, cpu / rows * 1e6


def _writer_threads(store: Store, rows: int, submitters: int) -> tuple[float, float]:
    record_id, items = _fresh(store, rows)
    writer = BatchWriter(store)

    def submit_share(share: list[NewBaseline]) -> None:
        for item in share:
            writer.submit(item).result()

    threads = [threading.Thread(target=submit_share, args=(items[i::submitters],)) for i in range(submitters)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return _finish(store, writer, record_id, rows, elapsed)


def _writer_tasks(store: Store, rows: int, submitters: int) -> tuple[float, float]:
    record_id, items = _fresh(store, rows)
    writer = BatchWriter(store)

    async def submit_share(share: list[NewBaseline]) -> None:
        for item in share:
            await writer.submit_async(item)

    async def main() -> float:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for i in range(submitters):
                group.create_task(submit_share(items[i::submitters]))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return _finish(store, writer, record_id, rows, elapsed)


def _latencies(store: Store, samples: int) -> tuple[list[float], list[float]]:
    record_id, items = _fresh(store, 2 * samples)
    direct = _timed(lambda item: store.add_baselines([item]), items[:samples])
    writer = BatchWriter(store)
    try:
        hopped = _timed(lambda item: writer.submit(item).result(), items[samples:])
    finally:
        writer.close()
    return direct, hopped


# ---------------------------------------------------------------------- helpers
def _timed(operation: Callable[[NewBaseline], object], items: list[NewBaseline]) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        operation(item)
        times.append(time.perf_counter() - started)
    return times


def _finish(store: Store, writer: BatchWriter, record_id: int, rows: int, elapsed: float) -> tuple[float, float]:
    writer.close()
    stats = writer.stats()
    _verify(store, record_id, rows)
    return rows / elapsed, stats.rows_written / max(stats.batches, 1)


def _fresh(store: Store, rows: int) -> tuple[int, list[NewBaseline]]:
    record = store.create_record(f"bench {time.time():.0f}")
    return record.id, [NewBaseline(record.id, *_exchange(i), elapsed_ms=12.5) for i in range(rows)]


def _verify(store: Store, record_id: int, rows: int) -> None:
    stored = store.count_baselines(record_id)
    if stored != rows:
        raise RuntimeError(f"benchmark stored {stored} baselines instead of {rows}")


def _exchange(i: int) -> tuple[Request, Response]:
    """A realistic JSON API call: 8 request headers, ~1 KB body, and its response."""
    items = [{"sku": f"SKU-{i}-{n}", "qty": n, "note": "lorem ipsum dolor sit amet " * 2} for n in range(10)]
    body = json.dumps({"id": i, "user": f"user{i}@example.test", "items": items}).encode()[:1024]
    headers = Headers([
        ("Host", "api.example.test:8443"), ("User-Agent", "pytest-functional/1.0"),
        ("Accept", "application/json"), ("Accept-Encoding", "gzip, deflate"),
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Authorization", f"Bearer eyJhbGciOiJIUzI1NiJ9.{i:08d}.c2lnbmF0dXJl"),
        ("Cookie", f"session={i:016x}; theme=dark"),
    ])
    request = Request("POST", "https", "api.example.test", 8443, f"/api/v1/orders/{i}?expand=items&page=1",
                      "HTTP/1.1", headers, body)
    answer = json.dumps({"ok": True, "id": i, "echo": items[:3]}).encode()[:512]
    response = Response(201, "Created", "HTTP/1.1", Headers([
        ("Content-Type", "application/json"), ("Content-Length", str(len(answer))),
        ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Server", "demo"), ("Set-Cookie", "seen=1; Path=/"),
    ]), answer)
    return request, response


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _masked(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.partition(':')[0]}:***@{host}"
