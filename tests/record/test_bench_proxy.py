"""``lunge bench proxy``: one small run end to end (real target, real ``lunge record`` process,
real store), checking the figures are there and coherent, not their values (machines differ)."""

from __future__ import annotations

import json

import pytest

from lunge.bench.proxy import _percentile
from lunge.cli import main


@pytest.mark.slow
def test_one_small_run_prints_every_figure_as_one_json_document(capsys):
    code = main(["bench", "proxy", "--json", "--runs", "1", "--latency-requests", "30", "--throughput-requests", "60",
                 "--ingest-rows", "500"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0 and figures["settings"]["runs"] == 1
    for key in ("direct_rps", "proxied_rps", "added_p50_ms", "added_p99_ms", "ingest_rows_per_s"):
        assert isinstance(figures[key], int | float), key
    assert figures["direct_rps"] > 0 and figures["proxied_rps"] > 0 and figures["ingest_rows_per_s"] > 0
    assert figures["proxied_p50_ms"] >= figures["added_p50_ms"]
    # Recording was on: the proxy counted every request it carried (warm-up, latency, throughput).
    assert figures["recorded_per_run"] == [20 + 30 + 60]
    assert isinstance(figures["meets_targets"], bool)


def test_percentile():
    values = [float(v) for v in range(1, 101)]
    assert _percentile(values, 0.5) in (50.0, 51.0) and _percentile(values, 0.99) == 99.0
    assert _percentile([3.0], 0.99) == 3.0
