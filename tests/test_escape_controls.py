"""Terminal hygiene: control characters and bidirectional overrides from names or recorded data
never reach a log line, the console or a JSON document raw. One helper escapes them
(:func:`lunge.logs.escape_controls`); the values themselves are unchanged where JSON carries them."""

from __future__ import annotations

import dataclasses
import doctest
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from lunge import logs
from lunge.cli import main
from lunge.logs import SecretMaskingFilter, escape_controls
from lunge.node import display
from lunge.node.summary import print_summary
from lunge.report import ReportInput, write_reports
from lunge.store import open_store
from lunge.store.models import Confidence, Finding, RecordState, RunState, Severity, TestRecord, TestRun

EVIL = "evil\n2026-12-04 10:00:00 INFO forged line\r\x1b[2J\x1b]0;title\x07\x9b31m[/]\u202etxt.exe\u2066"
RAW = ("\n", "\r", "\x1b", "\x07", "\x9b", "\u202e", "\u2066")
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_doctests() -> None:
    assert doctest.testmod(logs).failed == 0 and doctest.testmod(display).failed == 0


def test_the_escapes_are_json_escapes() -> None:
    escaped = escape_controls(EVIL)
    assert not any(c in escaped for c in RAW)
    assert json.loads(f'"{escaped.replace(chr(34), chr(92) + chr(34))}"') == EVIL
    assert escape_controls("plain text, é, 日本") == "plain text, é, 日本"


def test_a_log_line_stays_one_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretMaskingFilter())
    logger = logging.getLogger("lunge.test_escape_controls")
    logger.addHandler(handler)
    try:
        logger.warning("replay of %s failed", EVIL)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert not any(c in text[:-1] for c in RAW)


def _run_with(name: str) -> tuple[TestRun, TestRecord, Finding]:
    run = TestRun(1, name, "", 1, "default", RunState.FAILED, NOW, None, None, NOW, NOW, 10, 1, 1, 0, 1, EVIL,
                  {"replay_coverage": 1.0, "not_tested_reasons": {EVIL: 1}})
    record = TestRecord(1, name, None, RecordState.CLOSED, NOW, NOW, 1)
    finding = Finding(1, 1, "xss-reflected", "XSS", Severity.HIGH, 79, Confidence.FIRM, "GET",
                      f"http://app/?q={EVIL}", f"GET_q{EVIL}_value", EVIL, f"GET /?q={EVIL} HTTP/1.1\r\n\r\n",
                      200, f"HTTP/1.1 200\n\n{EVIL}", EVIL, "marker twice", "f1", {"why": EVIL},
                      [{"label": "control", "excerpt": EVIL}], id=1, created_at=NOW)
    return run, record, finding


def test_reports_carry_the_values_without_the_raw_characters(tmp_path: Path) -> None:
    run, record, finding = _run_with(EVIL)
    paths = write_reports(ReportInput(run, record, [finding], (), "0"), tmp_path, ("json", "txt"), 1)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert not any(c in text for c in RAW if c != "\n"), path.name
        if path.suffix == ".txt":  # every line is a line of the report's own
            assert EVIL.split("\n")[1] not in text.splitlines()
    document = json.loads(paths[0].read_text(encoding="utf-8"))
    evidence = document["findings"][0]["evidence"]
    assert document["run"]["name"] == EVIL and evidence["proof"] == EVIL  # JSON escapes: values intact
    assert evidence["attack_request"] == finding.attack_request and document["findings"][0]["details"]["why"] == EVIL


def test_the_console_summary_escapes_names_and_data() -> None:
    out = io.StringIO()
    run, record, finding = _run_with(EVIL)
    print_summary(Console(file=out, width=200, force_terminal=True), run, record, [finding], [Path(f"r/{EVIL}.txt")])
    text = out.getvalue()
    for raw in ("\x1b[2J", "\x1b]0;", "\r", "\x07", "\x9b", "\u202e", "\u2066", "\nforged"):
        assert raw not in text
    assert "[/]" in text  # markup in a name is shown, not interpreted


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lunge.db'}"
    store = open_store(url)
    try:
        store.create_record(EVIL)
    finally:
        store.close()
    return url


def test_cli_tables_and_json_escape_controls(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "--db", db]) == 0
    table = capsys.readouterr().out
    assert not any(c in table for c in RAW if c != "\n") and "evil" in table
    assert not any(line.startswith("2026-12-04 10:00:00 INFO") for line in table.splitlines())
    assert main(["records", "--json", "--db", db]) == 0
    printed = capsys.readouterr().out
    assert not any(c in printed for c in RAW if c != "\n") and json.loads(printed)[0]["name"] == EVIL


def test_a_bad_value_with_controls_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--rps", EVIL]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\u202e" not in err


def test_finding_lines_during_a_run_escape_data() -> None:
    from lunge.node.testing import _LiveProgress

    out = io.StringIO()
    _, _, finding = _run_with(EVIL)
    live = _LiveProgress(Console(file=out, width=300, force_terminal=True), disabled=True)
    live.finding(dataclasses.replace(finding, title=EVIL))
    assert "\x1b[2J" not in out.getvalue() and "\u202e" not in out.getvalue() and "\nforged" not in out.getvalue()
