"""``lunge import``: files into test records in a real store (SQLite in tmp_path, PostgreSQL when
the machine has it), and the command line's exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lunge.cli import main
from lunge.errors import InputFileError, SettingError
from lunge.node.importing import parse_variables, read_text, run_import
from lunge.store import open_store
from lunge.store.models import RecordState

from .files import DATA, FIXTURES, imported

_OPTIONS: dict[str, dict[str, Any]] = {
    "inventory-3.1.json": {"base_url": "http://127.0.0.1:9000"},
    "team-api.postman_collection.json": {"variables": {"token": "t0k"}},
}
_ALL = [(fmt, name) for fmt, names in FIXTURES.items() for name in names]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lunge.db'}"


def _stored(url: str, record_id: int) -> list[Any]:
    store = open_store(url)
    try:
        return list(store.iter_baselines(record_id))
    finally:
        store.close()


def _import_and_compare(fmt: str, name: str, url: str) -> dict[str, Any]:
    options = _OPTIONS.get(name, {})
    summary = run_import(fmt, DATA / name, build_id="build-7", store_flags={"db": url}, **options)
    expected = imported(fmt, name, **options)
    baselines = _stored(url, summary["record"]["id"])
    assert [b.seq for b in baselines] == list(range(1, len(expected) + 1))
    assert [b.request.to_bytes() for b in baselines] == [i.request.to_bytes() for i in expected]
    for baseline, item in zip(baselines, expected, strict=True):
        if item.response is None:
            assert baseline.response is None
        else:
            assert baseline.response is not None
            assert (baseline.response.status, baseline.response.body) == (item.response.status, item.response.body)
    return summary


@pytest.mark.parametrize(("fmt", "name"), _ALL)
def test_fixture_is_imported_into_sqlite_and_read_back(fmt: str, name: str, db: str) -> None:
    summary = _import_and_compare(fmt, name, db)
    assert summary["record"]["name"] == f"Imported {fmt} {name}"
    assert summary["record"]["build_id"] == "build-7" and summary["record"]["state"] == "closed"
    store = open_store(db)
    try:
        record = store.get_record(summary["record"]["id"])
    finally:
        store.close()
    assert record.state is RecordState.CLOSED and record.baseline_count == summary["baselines"] > 0
    assert record.stats["source"] == "import" and record.stats["format"] == fmt
    assert record.stats["imported"] == summary["baselines"] and record.stats["file"] == name


@pytest.mark.postgres
def test_import_into_postgresql(pg_url: str) -> None:
    summary = _import_and_compare("har", "chrome.har", pg_url)
    assert summary["baselines"] == 3 and summary["skipped"] == 2


def test_summary_lists_skipped_parts_and_notes(db: str) -> None:
    summary = run_import("har", DATA / "chrome.har", store_flags={"db": db}, record_name="nightly")
    assert summary["record"]["name"] == "nightly" and summary["record"]["label"] == "rec_0001"
    assert summary["baselines"] == 3 and summary["with_response"] == 2 and summary["skipped"] == 2
    assert {s["where"] for s in summary["skipped_entries"]} == {"log.entries[2].request.url",
                                                                "log.entries[3].request.url"}
    curl = run_import("curl", DATA / "requests.curl", store_flags={"db": db})
    assert curl["record"]["label"] == "rec_0002"
    assert curl["notes"] == [{"where": "line 21", "note": curl["notes"][0]["note"]}] and curl["notes_total"] == 1


def test_base_url_reaches_the_stored_requests(db: str) -> None:
    summary = run_import("har", DATA / "firefox.har", base_url="https://staging.test:8443", store_flags={"db": db})
    assert {b.request.origin for b in _stored(db, summary["record"]["id"])} == {"https://staging.test:8443"}


# ---------------------------------------------------------------------- refusals leave no record
def _records(url: str) -> int:
    store = open_store(url)
    try:
        return len(store.list_records())
    finally:
        store.close()


@pytest.mark.parametrize(
    ("content", "fmt", "match"),
    [
        (b'{"log": {"entries": [{"request": {"url": 1}}]}}', "har", r"log\.entries\[0\]\.request\.url"),
        (b"\xff\xfe\x00junk", "har", "not UTF-8 text"),
        (b'{"log": {"entries": []}}', "har", "no request to import"),
        (b'{"log": {"entries": [{"request": {"method": "GET", "url": "wss://a.test/"}}]}}', "har",
         r"1 skipped, first at log\.entries\[0\]\.request\.url"),
        (b"# only comments\n", "curl", "no request to import"),
    ],
)
def test_bad_files_are_refused_before_anything_is_stored(tmp_path: Path, db: str, content: bytes, fmt: str,
                                                         match: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    run_import("curl", DATA / "requests.curl", store_flags={"db": db})
    with pytest.raises(InputFileError, match=match):
        run_import(fmt, path, store_flags={"db": db})
    assert _records(db) == 1


def test_read_text() -> None:
    with pytest.raises(InputFileError, match="cannot read the file"):
        read_text("/nonexistent/file.har")
    assert read_text(DATA / "requests.curl").startswith("# Requests")


def test_bom_is_accepted(tmp_path: Path, db: str) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / "chrome.har").read_bytes())
    assert run_import("har", path, store_flags={"db": db})["baselines"] == 3


def test_settings_errors() -> None:
    with pytest.raises(SettingError, match="FORMAT='pdf'.*har, openapi, postman, curl"):
        run_import("pdf", DATA / "chrome.har")
    with pytest.raises(SettingError, match="--build-id"):
        run_import("har", DATA / "chrome.har", build_id="no spaces allowed")
    with pytest.raises(SettingError, match="--var"):
        parse_variables(["novalue"])
    assert parse_variables(["a=1", "b=x=y", "a=2"]) == {"a": "2", "b": "x=y"}


# ---------------------------------------------------------------------- command line
def test_cli_imports_and_prints_a_summary(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "postman", str(DATA / "team-api.postman_collection.json"), "--db", db,
                 "--var", "token=abc", "--record-name", "qa suite"])
    out = capsys.readouterr().out
    assert code == 0
    assert "rec_0001" in out and "qa suite" in out and "7" in out


def test_cli_json_is_one_document(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "openapi", str(DATA / "inventory-3.1.json"), "--base-url", "http://127.0.0.1:9000",
                 "--db", db, "--json", "--build-id", "42"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["baselines"] == 6 and document["record"]["build_id"] == "42"
    assert document["format"] == "openapi"


def test_cli_build_id_from_environment(db: str, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD_ID", "ci-99")
    assert main(["import", "curl", str(DATA / "requests.curl"), "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["record"]["build_id"] == "ci-99"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import", "pdf", "x.pdf"], "FORMAT='pdf' is not allowed: one of har, openapi, postman, curl"),
        (["import", "har", "/nonexistent/session.har"], "/nonexistent/session.har: cannot read the file"),
        (["import", "openapi", str(DATA / "inventory-3.1.json")], "servers[0].url: the server URL"),
        (["import", "har", str(DATA / "chrome.har"), "--base-url", "ftp://x"], "--base-url='ftp://x'"),
        (["import", "postman", str(DATA / "chrome.har")], 'no "info" object'),
        (["import", "curl", str(DATA / "petstore.yaml")], "line 1: not a curl command line"),
        (["import", "har", str(DATA / "chrome.har"), "--var", "x"], "--var='x'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args: list[str], expected: str, db: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*args, "--db", db])
    captured = capsys.readouterr()
    assert code == 2
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lunge: ") and expected in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_malformed_file_names_file_place_and_problem(tmp_path: Path, db: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.har"
    document = json.loads((DATA / "firefox.har").read_text())
    document["log"]["entries"][2]["request"]["headers"][0] = {"name": "X", "value": "a\r\nInjected: 1"}
    path.write_text(json.dumps(document))
    assert main(["import", "har", str(path), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"lunge: {path}: log.entries[2].request: the value of header 'X' contains a line break")
