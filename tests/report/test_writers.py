from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from lunge.report import ReportInput, report_stem, write_reports
from lunge.store.models import (
    Confidence,
    Finding,
    RecordState,
    RunState,
    Severity,
    TestRecord,
    TestRun,
    TestSet,
    TestSetStatus,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def _data() -> tuple[ReportInput, list[TestSet]]:
    run = TestRun(7, "TestRun Nov 23 18:00 UTC", "nightly", 3, "default", RunState.FAILED, NOW, "42", None,
                  NOW, NOW + timedelta(seconds=12.5), 1234, 3, 2, 1, 1, None,
                  {"replay_coverage": 0.6667, "not_tested_reasons": {"401 on replay (recorded 200)": 1}})
    record = TestRecord(3, "TestRecord", "42", RecordState.CLOSED, NOW, NOW, 3)
    finding = Finding(7, 11, "sqli", "SQL injection", Severity.HIGH, 89, Confidence.FIRM, "GET",
                      "http://app/products?id=1%27", "GET_id_value", "1'", "GET /products?id=1%27 HTTP/1.1\r\n\r\n",
                      500, "HTTP/1.1 500\n\nunrecognized token", "unrecognized token", "error twice; control clean",
                      "abc123", {"dbms": "SQLite"}, [{"label": "control", "payload": "1a", "status": 200,
                                                      "elapsed_s": 0.01, "error": None, "excerpt": "ok"}],
                      id=5, created_at=NOW)
    sets = [TestSet(7, 11, TestSetStatus.FAILED, "", 40, 1, 3), TestSet(7, 12, TestSetStatus.PASSED, "", 30, 0, 2),
            TestSet(7, 13, TestSetStatus.NOT_TESTED, "401 on replay (recorded 200)", 2, 0, 0)]
    return ReportInput(run, record, [finding], sets, "0.1.0"), sets


def test_json_report_is_complete_and_matches_the_schema(tmp_path: Path) -> None:
    data, sets = _data()
    paths = write_reports(data, tmp_path, ["json", "txt"], 1763920800, lambda: iter(sets))
    assert [p.name for p in paths] == ["TestRun Nov 23 18_00 UTC.1763920800.json",
                                       "TestRun Nov 23 18_00 UTC.1763920800.txt"]
    document = json.loads(paths[0].read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["summary"]["baselines"] == {"passed": 1, "failed": 1, "not_tested": 1, "error": 0,
                                                "interrupted": 0}
    assert document["summary"]["findings_by_severity"]["high"] == 1
    assert document["findings"][0]["evidence"]["proof"] == "unrecognized token"
    assert len(document["test_sets"]) == 3


def test_txt_report_is_brief_and_says_the_result(tmp_path: Path) -> None:
    data, sets = _data()
    (path,) = write_reports(data, tmp_path, ["txt"], 1, lambda: iter(sets))
    text = path.read_text()
    assert "TestRun Nov 23 18:00 UTC (run_0007) result - failed" in text
    assert "passed: 1   failed: 1   not tested: 1" in text
    assert "replay coverage: 67%" in text
    assert "not tested (1): 401 on replay (recorded 200)" in text
    assert "FOUND 1 VULNS:" in text and "[HIGH/firm] SQL injection (sqli, CWE-89)" in text


def test_empty_run_report_is_valid(tmp_path: Path) -> None:
    data, _ = _data()
    empty = ReportInput(data.run, data.record, [], [], "0.1.0")
    (path,) = write_reports(empty, tmp_path, ["json"], 1)
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)


def test_report_stem_is_a_safe_file_name() -> None:
    assert report_stem("a/b:c", 5) == "a_b_c.5"
    assert report_stem("", 5) == "run.5"
