"""``lunge bench points``: the sample request, the figures, the CLI (src/lunge/bench/points.py)."""

from __future__ import annotations

import json

import pytest

from lunge.bench.points import TARGET_VARIANTS_PER_S, run, sample_request
from lunge.cli import main
from lunge.http import parse


def test_the_sample_is_a_realistic_2kb_json_request_with_a_jwt_and_a_base64_cookie() -> None:
    request = sample_request()
    assert 2000 <= len(request.body) <= 2600
    json.loads(request.body)
    names = [p.name for p in parse(request)]
    assert any(n.startswith("HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_") for n in names)
    assert any(n.startswith("HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_") for n in names)
    assert sum(n.startswith("POST_JSON_DOC_") for n in names) > 100


def test_run_reports_rates_and_sizes() -> None:
    figures = run(runs=2, seconds_per_run=0.05).as_dict()
    assert figures["parses_per_s"] > 0 and figures["variants_per_s"] > 0
    assert figures["points"] == len(parse(sample_request()))
    assert figures["body_bytes"] == len(sample_request().body) and figures["runs"] == 2
    assert figures["parse_ms"] == pytest.approx(1000 / figures["parses_per_s"], rel=0.01)


@pytest.mark.slow
def test_variants_are_built_well_above_half_the_target() -> None:
    # The bar is TARGET_VARIANTS_PER_S on one core; this guards against a large regression without
    # failing on a slow shared runner.
    assert run(runs=3, seconds_per_run=0.3).variants_per_s >= TARGET_VARIANTS_PER_S / 2


def test_cli_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "points", "--json", "--runs", "1", "--seconds", "0.05"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"parses_per_s", "variants_per_s", "points", "body_bytes", "runs"} <= set(document)


def test_cli_table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["bench", "points", "--runs", "1", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "variants_per_s" in out and "parses_per_s" in out
