"""``lunge bench faults`` runs its battery (small) and finds no false pass and no stuck run."""

from __future__ import annotations

import json

import pytest

from lunge.cli import main


def test_the_fault_battery_has_no_false_pass_and_no_stuck_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "faults", "--json", "--baselines", "6"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert figures["false_passes"] == 0 and figures["stuck_runs"] == 0
    cases = {c["name"]: c for c in figures["cases"]}
    assert set(cases) == {"healthy", "target_killed_at_30pct", "target_refusing", "target_503_half",
                          "store_read_only", "node_sigkilled_then_retested"}
    assert cases["healthy"]["state"] == "failed" and cases["healthy"]["exit_code"] == 1
    for name in ("target_killed_at_30pct", "target_refusing", "target_503_half"):
        assert (cases[name]["state"], cases[name]["exit_code"]) == ("error", 1), cases[name]
    assert cases["store_read_only"]["exit_code"] == 1 and "readonly" in cases["store_read_only"]["message"]
    assert cases["node_sigkilled_then_retested"]["state"] == "interrupted"
    assert cases["node_sigkilled_then_retested"]["message"].startswith("interrupted: the node running it")
    assert not any(c["lost"] for c in figures["cases"])
