"""Bad input to the real CLI: one line on stderr naming what is wrong, exit 2, never a traceback,
and nothing left behind (no record, no run). Also the reports of a run with a very long name
and a target URL with credentials, which used to fail after the run or leak them."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lunge.http import Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline
from tests.fixtures.servers import free_port
from tests.record.targets import lunge_command, subprocess_env

SECRET = "s3cr3t-pw"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(lunge_command(*args), env=env, capture_output=True, text=True, timeout=120)


def _run_all(cases: dict[str, tuple[tuple[str, ...], dict[str, str]]],
             data: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(4) as pool:  # independent processes: side by side
        futures = {name: pool.submit(_run, *args, env=subprocess_env(data, **extra))
                   for name, (args, extra) in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def _assert_one_line(name: str, result: subprocess.CompletedProcess[str], *expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (name, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("lunge: "), (name, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == "", (name, result.stdout)
    for text in expected:
        assert text in lines[0], (name, text, lines[0])


def _store_with_a_record(data: Path) -> None:
    """A record of one baseline whose target is gone (a port nothing listens on)."""
    store = open_store(f"sqlite:///{data / 'lunge.db'}")
    try:
        record = store.create_record("nightly")
        store.add_baselines([NewBaseline(record.id, Request.from_url(f"http://127.0.0.1:{free_port()}/items?id=1"),
                                         Response(200, "OK", body=b"items"))])
        store.close_record(record.id, stats={"recorded": 1})
    finally:
        store.close()


def test_reverse_proxy_origins_that_cannot_work_are_refused_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = str(free_port())
    cases = {
        "a path": (("record", "--port", port, "--reverse", "http://127.0.0.1:18000/api"), {}),
        "a query": (("record", "--port", port), {"LUNGE_REVERSE": "http://127.0.0.1:18000?debug=1"}),
        "credentials": (("record", "--port", port), {"LUNGE_REVERSE": f"http://admin:{SECRET}@127.0.0.1:18000"}),
        "a token as user": (("record", "--port", port), {"REVERSE_PROXY": "true",
                                                         "BACKEND": f"https://{SECRET}@127.0.0.1"}),
        "port 99999": (("record", "--port", port), {"REVERSE_PROXY": "true", "BACKEND": "http://127.0.0.1:99999"}),
    }
    results = _run_all(cases, data)
    _assert_one_line("a path", results["a path"], "--reverse", "/api", "path")
    _assert_one_line("a query", results["a query"], "LUNGE_REVERSE", "debug=1")
    _assert_one_line("credentials", results["credentials"], "LUNGE_REVERSE", "credentials")
    _assert_one_line("a token as user", results["a token as user"], "BACKEND", "****@127.0.0.1")
    _assert_one_line("port 99999", results["port 99999"], "BACKEND", "99999", "1-65535")
    assert all(SECRET not in r.stderr + r.stdout for r in results.values())
    listed = _run("records", "--json", env=subprocess_env(data))
    assert listed.returncode == 0 and json.loads(listed.stdout) == []  # nothing was recorded into


def test_testing_input_is_checked_before_the_run_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _store_with_a_record(data)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    cases = {
        "TEST_RUN_URI port": (("test",), {"TEST_RUN_URI": "http://127.0.0.1:99999"}),
        "REPORT_DIR a file": (("test",), {"REPORT_DIR": str(a_file)}),
        "REPORT_DIR under a file": (("test", "--report-dir", str(a_file / "sub")), {}),
        "REPORT_DIR under /proc": (("test",), {"REPORT_DIR": "/proc/lunge-reports"}),
        "REPORT_DIR /proc": (("test",), {"REPORT_DIR": "/proc"}),
        "unknown TEST_RECORD_ID": (("test",), {"TEST_RECORD_ID": "rec_0042"}),
        "unknown --compare-to": (("test", "--compare-to", "999"), {}),
        "unknown LUNGE_COMPARE_TO": (("test",), {"LUNGE_COMPARE_TO": "run_0042"}),
        "LUNGE_COMPARE_TO not an id": (("test",), {"LUNGE_COMPARE_TO": "yesterday"}),
    }
    if os.geteuid() != 0:  # root writes anywhere: the /proc cases stand for it then
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases["REPORT_DIR unwritable"] = (("test",), {"REPORT_DIR": str(locked)})
    results = _run_all(cases, data)
    _assert_one_line("TEST_RUN_URI port", results["TEST_RUN_URI port"], "TEST_RUN_URI", "99999")
    for name in [n for n in cases if n.startswith("REPORT_DIR")]:
        flag = "--report-dir" if name == "REPORT_DIR under a file" else "REPORT_DIR"
        _assert_one_line(name, results[name], flag, "a directory lunge can create and write in")
    _assert_one_line("unknown TEST_RECORD_ID", results["unknown TEST_RECORD_ID"], "rec_0042")
    _assert_one_line("unknown --compare-to", results["unknown --compare-to"], "run_0999", "no such test run")
    _assert_one_line("unknown LUNGE_COMPARE_TO", results["unknown LUNGE_COMPARE_TO"], "run_0042", "no such test run")
    _assert_one_line("LUNGE_COMPARE_TO not an id", results["LUNGE_COMPARE_TO not an id"], "LUNGE_COMPARE_TO",
                     "'yesterday'", "latest or none")
    runs = _run("runs", "--json", env=subprocess_env(data))
    assert runs.returncode == 0 and json.loads(runs.stdout) == []  # no run was started


def test_unusable_stores_and_unknown_ids_are_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _store_with_a_record(data)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    unreachable = f"postgresql://lunge:{SECRET}@127.0.0.1:{free_port()}/lunge"
    cases = {
        "garbage file": (("records",), {"LUNGE_DB": str(garbage)}),
        "unreachable server": (("runs",), {"LUNGE_DB": unreachable}),
        "not a URL lunge knows": (("records",), {"LUNGE_DB": "mysql://x/y"}),
        "unknown record": (("records", "show", "rec_0099"), {}),
        "unknown run": (("report", "run_0099"), {}),
        "empty run id": (("report", ""), {}),
    }
    results = _run_all(cases, data)
    for name in ("garbage file", "unreachable server", "not a URL lunge knows"):
        _assert_one_line(name, results[name], "LUNGE_DB")
    assert SECRET not in results["unreachable server"].stderr
    _assert_one_line("unknown record", results["unknown record"], "no test record rec_0099")
    _assert_one_line("unknown run", results["unknown run"], "no test run run_0099")
    _assert_one_line("empty run id", results["empty run id"], "''", "not a run id")


@pytest.fixture
def finished_run(tmp_path: Path) -> tuple[Path, Path, str, subprocess.CompletedProcess[str]]:
    """``lunge test`` run to its end with a 300-character name and a target URL with credentials."""
    data, reports = tmp_path / "data", tmp_path / "reports"
    _store_with_a_record(data)
    name = "nightly " + "é" * 150 + "x" * 142
    assert len(name) == 300
    target = f"http://ci:{SECRET}@127.0.0.1:{free_port()}"
    result = _run("test", "--json", "--name", name, "--target", target, "--report-dir", str(reports),
                  env=subprocess_env(data))
    return data, reports, name, result


def test_a_300_character_run_name_is_reported_and_reportable_again(finished_run) -> None:
    data, reports, name, result = finished_run
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr  # nothing tested: error
    written = {p.suffix: p for p in reports.iterdir()}
    assert sorted(written) == [".html", ".json", ".sarif", ".txt", ".xml"]  # the default formats
    assert all(len(p.name.encode()) < 255 for p in written.values())
    assert json.loads(written[".json"].read_text(encoding="utf-8"))["run"]["name"] == name  # whole inside
    assert name in written[".txt"].read_text(encoding="utf-8")
    again = _run("report", "1", "--json", "--report-dir", str(reports), env=subprocess_env(data))
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
    assert json.loads(again.stdout)["run"]["name"] == name


def test_target_credentials_are_masked_in_both_reports_and_the_output(finished_run) -> None:
    _, reports, _, result = finished_run
    texts = {p.suffix: p.read_text(encoding="utf-8") for p in reports.iterdir()}  # every default format
    assert len(texts) == 5 and all(SECRET not in text for text in texts.values())
    assert all("ci:****@127.0.0.1" in texts[suffix] for suffix in (".txt", ".json", ".html"))  # those show the target
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("origin", ["http://127.0.0.1:18000", "http://127.0.0.1:18000/", "https://app.test",
                                    "http://[::1]:8080", "http://localhost:65535"])
def test_usable_reverse_proxy_origins_are_still_accepted(origin: str) -> None:
    from lunge.node.settings import recording_settings

    assert recording_settings({"reverse": origin}, environ={}).reverse == origin.rstrip("/")
    assert recording_settings(environ={"REVERSE_PROXY": "true", "BACKEND": origin}).reverse == origin.rstrip("/")
