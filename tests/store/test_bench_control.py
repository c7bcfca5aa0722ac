"""``lunge bench control``, tiny: two rounds of remote nodes uploading into a real ``lunge serve``
on PostgreSQL; every baseline arrives once and the figures are there."""

from __future__ import annotations

import json

import pytest

from lunge.cli import main

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_bench_control_tiny(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "control", "--db", pg_url, "--nodes", "1,2", "--baselines", "60", "--batch", "7", "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert figures["nodes"] == [1, 2] and figures["lost"] == 0 and figures["doubled"] == 0
    assert set(figures["baselines_per_s"]) == {"1", "2"} and all(v > 0 for v in figures["baselines_per_s"].values())
    assert set(figures["api_p99_ms"]) == {"1", "2"}


def test_bench_control_refuses_sqlite(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "control", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err


def test_bench_control_refuses_a_database_that_is_not_there(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/lunge_no_such_database"
    assert main(["bench", "control", "--db", missing, "--nodes", "1", "--baselines", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lunge: --db:") and "does not exist" in err[0], err
