"""``lunge bench engine``: one small run end to end (real target process, real engine over a
generated record, real child processes for memory), checking that the figures are there and
coherent, not their values (machines differ)."""

from __future__ import annotations

import json

import pytest

from lunge.bench.engine import table
from lunge.cli import main


@pytest.mark.slow
def test_one_small_run_prints_every_figure_as_one_json_document_and_as_a_table(capsys) -> None:
    code = main(["bench", "engine", "--json", "--baselines", "20", "--large", "40", "--runs", "1"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("bare_rps", "engine_rps", "ratio", "cpu_s_per_10k", "rss_mb_1k", "rss_mb_10k", "rss_ratio"):
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
    # One run: the run's ratio is the ratio of its two rates.
    assert figures["ratio"] == pytest.approx(figures["engine_rps"] / figures["bare_rps"], abs=0.001)
    assert figures["ratio_runs"] == [figures["ratio"]]
    # The larger record is attacked the same way: about twice the requests for twice the baselines.
    assert 1.5 < figures["requests_10k"] / figures["requests_per_run"] < 2.5
    assert figures["targets"] == {"ratio": 0.7, "rss_ratio": 1.3}
    assert figures["meets_targets"] == (figures["ratio"] >= 0.7 and figures["rss_ratio"] <= 1.3)

    rendered = table(figures)
    assert [c.header for c in rendered.columns] == ["figure", "value", "target", "per run"]
    assert rendered.caption in ("targets met", "a target is missed")
