"""``fail_on: new``: the verdict is decided once, by the engine, against the run compared with
(chosen before the run starts); the stored state, every report format and the exit code agree."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest

from lunge.cli import main
from lunge.http import Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline, RunState
from tests.fixtures.servers import REFLECTED_PAGE, ReflectingHandler, threaded_server

FORMATS = "txt,json,html,sarif,junit,md"


@pytest.fixture
def target() -> Iterator[str]:
    with threaded_server(ReflectingHandler) as origin:
        yield origin


def _record(db: str, origin: str, paths: list[str]) -> int:
    store = open_store(db)
    try:
        record = store.create_record("rec", build_id="7")
        store.add_baselines([NewBaseline(record.id, Request.from_url(f"{origin}{p}?q=hello"),
                                         Response.parse(REFLECTED_PAGE))
                             for p in paths])
        store.close_record(record.id)
        return record.id
    finally:
        store.close()


def _run(tmp_path: Path, db: str, record_id: int, name: str) -> tuple[int, dict[str, Path]]:
    reports = tmp_path / name
    code = main(["test", "--db", db, "--record", str(record_id), "--policy", str(tmp_path / "policy.yaml"),
                 "--data-dir", str(tmp_path / "data"), "--report-dir", str(reports), "--report-formats", FORMATS,
                 "--name", name])
    files = {}
    for path in reports.iterdir():
        files[path.name.split(".", 2)[-1]] = path  # name.unixtime.ext
    return code, files


def test_fail_on_new_is_decided_once_and_every_report_agrees(tmp_path: Path, target: str) -> None:
    db = f"sqlite:///{tmp_path / 'lunge.db'}"
    (tmp_path / "policy.yaml").write_text("name: new-only\nchecks: [xss-reflected]\npassive: false\nfail_on: new\n")
    one = _record(db, target, ["/a"])

    code, files = _run(tmp_path, db, one, "first")
    first = json.loads(files["json"].read_text())
    assert code == 1 and first["run"]["state"] == "failed"  # the first build: every finding is new
    assert len(first["findings"]) == 1

    code, files = _run(tmp_path, db, one, "second")
    second = json.loads(files["json"].read_text())
    assert code == 0, second["run"]
    assert second["run"]["state"] == "passed" and len(second["findings"]) == 1
    store = open_store(db)
    try:
        stored = store.get_run(second["run"]["id"])
        assert stored.state is RunState.PASSED
        assert stored.stats["fail_on_new"] == {"compared_with": "run_0001", "new_failing_findings": 0}
        assert stored.stats["failing_findings"] == 0
    finally:
        store.close()
    assert second["comparison"]["new"] == 0 and second["comparison"]["still_present"] == 1
    assert "result - passed" in files["txt"].read_text() and "0 new, 1 still present" in files["txt"].read_text()
    assert "0 new, 1 still present, 0 fixed" in files["md"].read_text() and "passed" in files["md"].read_text()
    html = files["html"].read_text()
    assert '<div class="n">0</div><div class="l">new</div>' in html
    sarif = json.loads(files["sarif"].read_text())
    assert sarif["runs"][0]["properties"]["comparison"]["new"] == 0
    assert [r["baselineState"] for r in sarif["runs"][0]["results"]] == ["unchanged"]
    suite = ET.parse(files["junit.xml"]).getroot()
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["state"] == "passed" and properties["new"] == "0"

    two = _record(db, target, ["/a", "/b"])
    code, files = _run(tmp_path, db, two, "third")
    third = json.loads(files["json"].read_text())
    assert code == 1 and third["run"]["state"] == "failed"
    assert third["comparison"]["new"] == 1 and third["comparison"]["still_present"] == 1
    assert "1 new, 1 still present" in files["txt"].read_text()
    suite = ET.parse(files["junit.xml"]).getroot()
    assert suite.get("failures") == "1" and suite.get("skipped") == "1"
    assert sorted(r["baselineState"] for r in json.loads(files["sarif"].read_text())["runs"][0]["results"]) == [
        "new", "unchanged"]
    assert escape("/b") in files["html"].read_text()
