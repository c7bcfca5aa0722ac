"""Build over build: choosing the earlier run, the diff in the reports, ``fail_on: new``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lunge.cli import main
from lunge.engine.outcome import fails_build
from lunge.errors import ConfigError, NotFoundError
from lunge.http import Request, Response
from lunge.node.reporting import comparison_of, earlier_of, earlier_run, previous_run
from lunge.policy import BUILTIN, parse_policy
from lunge.store import open_store
from lunge.store.models import Confidence, NewBaseline, NewFinding, RunState, Severity


def _finding(run_id: int, baseline_id: int, fingerprint: str, severity: Severity = Severity.HIGH) -> NewFinding:
    return NewFinding(run_id, baseline_id, "sqli", "SQL injection", severity, 89, Confidence.FIRM, "GET",
                      "http://app/p?id=1", f"GET_{fingerprint}_value", "1'", "GET /p?id=1' HTTP/1.1\r\n\r\n", 500,
                      "HTTP/1.1 500\n\nnear \"'\": syntax error", "syntax error", "twice", fingerprint)


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    yield s
    s.close()


def _runs(store, first: list[str], second: list[str], build_id: str | None = "42"):
    record = store.create_record("rec", build_id=build_id)
    store.add_baselines([NewBaseline(record.id, Request.from_url("http://app/p?id=1"), Response(200, body=b"ok"))])
    store.close_record(record.id)
    runs = []
    for fingerprints in (first, second):
        run = store.create_run(name="run", record_id=record.id, policy_name="default", build_id=build_id)
        store.add_findings([_finding(run.id, 1, fp) for fp in fingerprints])
        runs.append(store.update_run(run.id, state=RunState.FAILED if fingerprints else RunState.PASSED,
                                     findings_count=len(fingerprints)))
    return runs


def test_latest_is_the_newest_finished_run_of_the_same_build(store) -> None:
    first, second = _runs(store, ["a"], ["a", "b"])
    other = store.create_run(name="other build", record_id=first.record_id, policy_name="default", build_id="7")
    store.update_run(other.id, state=RunState.PASSED)
    errored = store.create_run(name="errored", record_id=first.record_id, policy_name="default", build_id="42")
    store.update_run(errored.id, state=RunState.ERROR)
    assert previous_run(store, "latest", second).id == first.id
    assert previous_run(store, "run_0001", second).id == first.id
    with pytest.raises(ConfigError):
        previous_run(store, "yesterday", second)


def test_latest_without_an_earlier_finished_run_is_not_found(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path / 'first.db'}")
    try:
        current, unfinished = _runs(s, ["a"], [])
        s.update_run(unfinished.id, state=RunState.RUNNING)
        with pytest.raises(NotFoundError):  # the first build: no other run finished
            previous_run(s, "latest", current)
    finally:
        s.close()


def test_fail_on_new_judges_by_the_earlier_runs_fingerprints(store) -> None:
    first, second = _runs(store, ["a", "b"], ["a", "c"])
    policy = parse_policy("name: p\nfail_on: new\n")
    previous = earlier_run(store, None, policy, "42")  # fail_on: new compares with latest by default
    assert previous is not None and previous.id == second.id  # chosen before a third run exists
    earlier = earlier_of(store, first)
    assert earlier is not None and earlier.label == "run_0001" and earlier.fingerprints == {"a", "b"}
    findings = list(store.iter_findings(second.id))
    assert [f.fingerprint for f in fails_build(findings, earlier, policy)] == ["c"]
    assert len(fails_build(findings, earlier, BUILTIN["default"])) == 2  # without fail_on: new every one fails
    comparison = comparison_of(store, first, findings)
    assert comparison is not None and [f.fingerprint for f in comparison.fixed] == ["b"]


def test_without_fail_on_new_no_diff_unless_asked(store) -> None:
    first, _ = _runs(store, ["a"], ["a"])
    assert earlier_run(store, None, BUILTIN["default"], "42") is None
    assert comparison_of(store, None, []) is None
    assert earlier_run(store, "run_0001", BUILTIN["default"], None) == first


def test_lunge_report_compare_to_writes_the_diff(store, tmp_path: Path) -> None:
    _runs(store, ["a", "b"], ["a", "c"])
    code = main(["report", "run_0002", "--compare-to", "latest", "--db", f"sqlite:///{tmp_path / 'lunge.db'}",
                 "--report-dir", str(tmp_path / "reports"), "--report-formats", "json,md,html"])
    assert code == 1
    files = {p.suffix: p for p in (tmp_path / "reports").iterdir()}
    document = json.loads(files[".json"].read_text())
    assert document["comparison"]["new"] == 1 and document["comparison"]["fixed"] == 1
    assert "1 new, 1 still present, 1 fixed" in files[".md"].read_text()
    assert "Compared with run_0001" in files[".html"].read_text()
    assert main(["report", "run_0002", "--compare-to", "nope", "--db", f"sqlite:///{tmp_path / 'lunge.db'}",
                 "--report-dir", str(tmp_path / "reports")]) == 2


def test_lunge_compare_to_is_the_env_form_of_the_flag(store, tmp_path: Path, monkeypatch) -> None:
    _runs(store, ["a", "b"], ["a", "c"])
    monkeypatch.setenv("LUNGE_COMPARE_TO", "run_0001")
    code = main(["report", "run_0002", "--db", f"sqlite:///{tmp_path / 'lunge.db'}",
                 "--report-dir", str(tmp_path / "reports"), "--report-formats", "json"])
    assert code == 1
    document = json.loads(next((tmp_path / "reports").iterdir()).read_text())
    assert document["comparison"]["previous_run"]["label"] == "run_0001" and document["comparison"]["new"] == 1
    monkeypatch.setenv("LUNGE_COMPARE_TO", "none")  # compared with no run: no diff in the report
    shutil.rmtree(tmp_path / "reports")
    assert main(["report", "run_0002", "--db", f"sqlite:///{tmp_path / 'lunge.db'}",
                 "--report-dir", str(tmp_path / "reports"), "--report-formats", "json"]) == 1
    assert json.loads(next((tmp_path / "reports").iterdir()).read_text()).get("comparison") is None
    monkeypatch.setenv("LUNGE_COMPARE_TO", "run_0099")  # no such run: bad input
    assert main(["report", "run_0002", "--db", f"sqlite:///{tmp_path / 'lunge.db'}",
                 "--report-dir", str(tmp_path / "reports")]) == 2
