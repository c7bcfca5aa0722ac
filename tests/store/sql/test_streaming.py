"""iter_baselines streams: iterating a 100k-baseline record holds memory flat (pages of 500 in
short transactions, nothing accumulated, nothing fetched ahead)."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

from lunge.http import Headers, Request
from lunge.store import Store
from lunge.store.models import NewBaseline

COUNT, EARLY = 100_000, 10_000


def _fill(store: Store, count: int) -> int:
    record = store.create_record(f"{count} baselines")
    headers = Headers([("Host", "app.test")])
    for start in range(0, count, 5000):
        store.add_baselines([
            NewBaseline(record.id, Request("GET", "http", "app.test", 80, f"/s/{n}", "HTTP/1.1", headers), None)
            for n in range(start, min(count, start + 5000))
        ])
    return record.id


@pytest.mark.slow
def test_iterating_100k_baselines_keeps_memory_flat(store: Store) -> None:
    started = time.monotonic()
    record_id = _fill(store, COUNT)
    filled = time.monotonic() - started
    gc.collect()
    tracemalloc.start()
    try:
        seen = 0
        for baseline in store.iter_baselines(record_id):
            seen += 1
            assert baseline.seq == seen
            if seen == EARLY:
                # Peak over the first 10k, then start over for the other 90k.
                _, peak_early = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
        _, peak_late = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == COUNT
    # Accumulating anything per baseline would make the last 90k cost more than the first 10k.
    assert peak_late < 1.3 * peak_early, f"peak {peak_late} B over 90k baselines vs {peak_early} B over the first 10k"
    # Fetching ahead would show at once: 100k baselines take ~100 MB as objects.
    assert peak_early < 8 * 1024 * 1024
    print(f"filled {COUNT} in {filled:.1f}s; peak {peak_early / 1e6:.2f} MB (first 10k), "
          f"{peak_late / 1e6:.2f} MB (the rest)")
