"""The HTML, SARIF, JUnit and Markdown reports, written from store models (no store, no engine).

The SARIF schema in data/ is OASIS' SARIF 2.1.0 JSON schema (errata 01), vendored: tests have no network.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest

from lunge.http import Request
from lunge.report import ReportInput, Rule, compare, curl_line, write_reports
from lunge.store.models import (
    Baseline,
    Confidence,
    Finding,
    RecordState,
    RunState,
    Severity,
    TestRecord,
    TestRun,
    TestSet,
)
from tests.report.test_writers import _data

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
RULES = (
    Rule("sqli", "SQL injection", "sqli", "high", 89, "Finds SQL injection by errors, booleans and delays.",
         "Use parameterised queries."),
    Rule("xss-reflected", "Reflected XSS", "xss", "medium", 79, "Finds reflected cross-site scripting."),
)


def _baseline(id_: int, target: str) -> Baseline:
    return Baseline(id_, 3, id_ - 10, Request.from_url(f"http://app{target}"), None, False, 1.0, NOW)


def _rich() -> tuple[ReportInput, list[TestSet]]:
    """Two findings (one XSS whose excerpt holds hostile HTML and a secret), three baselines."""
    data, sets = _data()
    xss = Finding(7, 12, "xss-reflected", "Reflected XSS", Severity.MEDIUM, 79, Confidence.CERTAIN, "GET",
                  "http://app/search?q=shoe", "GET_q_value", "<script>alert(1)</script>",
                  "GET /search?q=%3Cscript%3E HTTP/1.1\r\nHost: app\r\nCookie: sid=****\r\n\r\n", 200,
                  "HTTP/1.1 200 OK\n\n<p>your token=s3cr3tvalue; you searched <script>alert(1)</script></p>",
                  "<script>alert(1)</script>", "reflected unencoded twice; control encoded", "fp-xss",
                  {"proven_at": "GET http://moved:8000/search?q=%3Cscript%3E"}, [], id=6, created_at=NOW)
    baselines = [_baseline(11, "/products?id=1"), _baseline(12, "/search?q=shoe"), _baseline(13, "/admin")]
    return replace(data, findings=[data.findings[0], xss], rules=RULES, baselines=lambda: iter(baselines)), sets


def _write(tmp_path: Path, fmt: str, data: ReportInput, sets: list[TestSet]) -> Path:
    (path,) = write_reports(data, tmp_path, [fmt], 1763920800, lambda: iter(sets))
    return path


def test_sarif_is_valid_with_a_rule_per_check_and_a_result_per_finding(tmp_path: Path) -> None:
    data, sets = _rich()
    log = json.loads(_write(tmp_path, "sarif", data, sets).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"sqli", "xss-reflected"}
    assert "external/cwe/cwe-89" in rules["sqli"]["properties"]["tags"]
    assert "parameterised queries" in rules["sqli"]["help"]["text"]
    assert [r["ruleId"] for r in run["results"]] == ["sqli", "xss-reflected"]
    assert [r["partialFingerprints"]["lungeFinding/v1"] for r in run["results"]] == ["abc123", "fp-xss"]
    assert [run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] for r in run["results"]] == ["sqli", "xss-reflected"]
    assert run["results"][1]["webRequest"]["target"] == "http://moved:8000/search?q=%3Cscript%3E"
    # code scanning takes no absolute http URI in a location: a path relative to the target's origin
    assert run["originalUriBaseIds"] == {"TARGET": {"uri": "http://app/"}}
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]] == [
        {"uri": "products", "uriBaseId": "TARGET"}, {"uri": "search", "uriBaseId": "TARGET"}]


def test_sarif_of_a_run_without_findings_is_valid(tmp_path: Path) -> None:
    data, _ = _data()
    log = json.loads(_write(tmp_path, "sarif", replace(data, findings=[]), []).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []


def test_sarif_fingerprints_are_stable_across_builds(tmp_path: Path) -> None:
    data, sets = _rich()
    later = replace(data, run=replace(data.run, id=8), findings=[replace(f, id=f.id + 10, payload="other")
                                                                  for f in data.findings])
    first = json.loads(_write(tmp_path / "a", "sarif", data, sets).read_text())["runs"][0]["results"]
    second = json.loads(_write(tmp_path / "b", "sarif", later, sets).read_text())["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in first] == [r["partialFingerprints"] for r in second]


def test_junit_has_a_case_per_baseline_and_family_and_a_failure_per_finding(tmp_path: Path) -> None:
    data, sets = _rich()
    path = _write(tmp_path, "junit", data, sets)
    assert path.name.endswith(".junit.xml")
    root = ElementTree.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    # bl_11: sqli finding + xss passed; bl_12: xss finding + sqli passed; bl_13 not tested: 2 skipped
    assert len(cases) == 6 and suite.get("tests") == "6"
    failures = suite.findall("testcase/failure")
    assert len(failures) == len(data.findings) == int(suite.get("failures", "-1"))
    skipped = suite.findall("testcase/skipped")
    assert len(skipped) == 2 == int(suite.get("skipped", "-1"))
    assert skipped[0].get("message") == "not tested because 401 on replay (recorded 200)"
    assert {c.get("classname") for c in cases} == {"bl_11 GET http://app/products?id=1",
                                                   "bl_12 GET http://app/search?q=shoe", "bl_13 GET http://app/admin"}
    assert "curl --path-as-is" in (failures[0].text or "")


def test_junit_stays_valid_xml_with_control_bytes_in_evidence(tmp_path: Path) -> None:
    data, sets = _rich()
    odd = replace(data.findings[0], response_excerpt="a\x00b\x1b[31m", proof="\x00")
    root = ElementTree.parse(_write(tmp_path, "junit", replace(data, findings=[odd]), sets)).getroot()
    assert len(root.findall(".//failure")) == 1


def test_html_report_shows_evidence_highlighted_escaped_and_masked(tmp_path: Path) -> None:
    data, sets = _rich()
    html = _write(tmp_path, "html", data, sets).read_text()
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt;</mark>" in html  # the proof, escaped, highlighted
    assert "<script>alert(1)</script>" not in html  # nothing recorded ever runs
    assert "s3cr3tvalue" not in html and "token=****" in html  # a secret in the response is masked
    assert "not tested because 401 on replay (recorded 200)" in html
    assert "GET http://app/admin" in html and "curl --path-as-is -g -X GET" in html
    assert html.count('class="finding ') == 2 and "CWE-89" in html and "Use parameterised queries." in html
    assert "http://" not in html.split("<style>")[1].split("</style>")[0]  # self-contained: nothing fetched


def test_markdown_report_has_the_summary_and_folded_evidence(tmp_path: Path) -> None:
    data, sets = _rich()
    text = _write(tmp_path, "md", data, sets).read_text()
    assert text.startswith("## ❌ lunge: TestRun Nov 23 18:00 UTC — failed")
    assert "| **2** | 0 | 1 | 1 | 0 | 0 |" in text
    assert text.count("<details>") == 2 and "Payload `<script>alert(1)</script>`;" in text  # code, never markup


def test_reports_show_the_diff_against_an_earlier_run(tmp_path: Path) -> None:
    data, sets = _rich()
    earlier = TestRun(5, "TestRun yesterday", "", 2, "default", RunState.FAILED, NOW - timedelta(days=1))
    gone = replace(data.findings[0], id=1, fingerprint="fp-gone", url="http://app/old", point="GET_x_value")
    still = replace(data.findings[0], id=2)
    comparison = compare(earlier, [gone, still], data.findings)
    assert [f.fingerprint for f in comparison.new] == ["fp-xss"] and comparison.fixed == (gone,)
    with_diff = replace(data, comparison=comparison)
    html = _write(tmp_path, "html", with_diff, sets).read_text()
    assert "Compared with run_0005" in html and "http://app/old" in html and ">new</span>" in html
    md = _write(tmp_path, "md", with_diff, sets).read_text()
    assert "1 new, 1 still present, 1 fixed" in md
    document = json.loads(_write(tmp_path, "json", with_diff, sets).read_text())
    assert document["comparison"]["new_findings"] == ["fp-xss"]
    sarif = json.loads(_write(tmp_path, "sarif", with_diff, sets).read_text())
    assert [r["properties"]["diff"] for r in sarif["runs"][0]["results"]] == ["still_present", "new"]


def test_curl_line_reproduces_the_attack_as_sent() -> None:
    data, _ = _rich()
    xss = data.findings[1]
    words = shlex.split(curl_line(xss))
    assert words[:6] == ["curl", "--path-as-is", "-g", "-X", "GET", "http://moved:8000/search?q=%3Cscript%3E"]
    assert ["-H", "Cookie: sid=****"] == words[6:8] and "Host: app" not in words


@pytest.mark.parametrize("fmt", ["html", "sarif", "junit", "md"])
def test_every_format_writes_an_empty_run(tmp_path: Path, fmt: str) -> None:
    record = TestRecord(3, "r", None, RecordState.CLOSED, NOW)
    run = TestRun(9, "empty", "", 3, "default", RunState.ERROR, NOW, error="the test record has no baselines to test")
    path = _write(tmp_path, fmt, ReportInput(run, record, [], [], "0.1.0"), [])
    assert path.stat().st_size > 0
    if fmt == "html":
        assert "No vulnerabilities found." in path.read_text() and "no baselines to test" in path.read_text()
    if fmt == "junit":  # the run's error is an <error>: an empty suite would read as green
        root = ElementTree.parse(path).getroot()
        assert root.get("errors") == "1" and root.find(".//error").get("message").endswith("no baselines to test")


def test_doctests() -> None:
    import doctest

    from lunge.report import diff, evidence, markdown

    for module in (diff, evidence, markdown):
        assert doctest.testmod(module).failed == 0


def test_markdown_report_fits_in_a_pr_comment(tmp_path: Path) -> None:
    data, sets = _rich()
    big = replace(data.findings[0], response_excerpt="x" * 5000, attack_request="GET / HTTP/1.1\r\n\r\n" + "y" * 5000)
    many = replace(data, findings=[replace(big, id=i, fingerprint=f"fp{i}") for i in range(1, 40)])
    text = _write(tmp_path, "md", many, sets).read_text()
    assert len(text) < 65_536 and "<details>" in text
    assert sum(line.startswith("| high |") for line in text.splitlines()) == 39
    assert "more findings is in the HTML report." in text
