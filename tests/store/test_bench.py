"""``lunge.bench.store.ingest`` measures what it says on a small run (the real figures come from
running it at full size; see the report of the store's change)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lunge.bench.store import ingest
from lunge.store import open_store


def test_ingest_reports_every_figure_and_stores_every_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    figures = ingest(url, rows=300, batch=100, repeats=1, submitters=4, latency_samples=20)
    rates = ("ingest_rows_per_s", "writer_rows_per_s", "writer_async_rows_per_s")
    assert all(figures[key] > 0 for key in rates)
    assert figures["writer_mean_batch"] >= 1 and figures["commit_p50_ms"] > 0 and figures["writer_p50_ms"] > 0
    assert (figures["rows"], figures["batch"]) == (300, 100)
    store = open_store(url)
    try:
        # bulk, threads, tasks: one record of 300 each; then the two latency records of 20 each.
        assert [r.baseline_count for r in reversed(store.list_records())] == [300, 300, 300, 40]
    finally:
        store.close()


@pytest.mark.postgres
def test_ingest_on_postgresql_masks_the_password(pg_url: str) -> None:
    # The test server trusts local users and ignores the password.
    url = make_url(pg_url).set(password="hunter2").render_as_string(hide_password=False)
    figures = ingest(url, rows=50, batch=20, repeats=1, submitters=3, latency_samples=5)
    assert "hunter2" not in figures["url"] and ":***@" in figures["url"]
    assert figures["ingest_rows_per_s"] > 0
