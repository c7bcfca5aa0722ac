"""Testing mode end to end through the CLI: the settings built once reach every worker process,
every limit is the whole run's, and an exception never leaves a run ``running``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from lunge.cli import main
from lunge.engine.runner import RunEngine
from lunge.http import Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline, RunState
from tests.fixtures.servers import free_port


@pytest.fixture
def target() -> Iterator[str]:
    """A :mod:`lunge.bench.faulty` target (mode ok) in its own process."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lunge.bench.faulty", str(port), "ok"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def _record(url: str, origin: str, n: int, params: int = 2) -> None:
    store = open_store(url)
    try:
        record = store.create_record("rec")
        query = "&".join(f"p{i}=v" for i in range(params))
        store.add_baselines([NewBaseline(record.id, Request.from_url(f"{origin}/page/w{chr(97 + i % 26)}{i}?{query}"),
                                         Response(200, body=b"<p>x</p>")) for i in range(n)])
        store.close_record(record.id)
    finally:
        store.close()




def test_db_flag_reaches_every_worker_process(tmp_path: Path, target: str, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _record(db, target, 6)
    code = main(["test", "--db", db, "--record", "1", "--processes", "2", "--data-dir", str(tmp_path / "data"),
                 "--report-dir", str(tmp_path / "reports"), "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["run"]["state"] == "passed" and code == 0, document["run"]["error"]
    assert document["run"]["baselines_tested"] == 6
    # --json: the run's typed events stream to stderr, one JSON line each
    events = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert events[0] == {"event": "RunStarted", "run_id": 1, "total": 6}
    assert events[-1] == {"event": "RunFinished", "run_id": 1, "state": "passed", "error": None}
    progress = [e for e in events if e["event"] == "BaselineTested"]  # relayed from both workers, summed
    assert progress and (progress[-1]["done"], progress[-1]["total"]) == (6, 6)
    store = open_store(db)
    try:
        assert [r.state for r in store.list_runs()] == [RunState.PASSED]
    finally:
        store.close()
    assert not (tmp_path / "data" / "lunge.db").exists()  # the default store was never opened


def test_a_policy_rate_is_the_whole_runs_rate(tmp_path: Path, target: str, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _record(db, target, 8, params=3)
    policy = tmp_path / "slow.yaml"
    policy.write_text(yaml.safe_dump({"name": "slow", "checks": ["xss-reflected"], "limits": {"rps": 20}}))
    started = time.monotonic()
    code = main(["test", "--db", db, "--record", "1", "--processes", "2", "--policy", str(policy), "--data-dir",
                 str(tmp_path / "data"), "--report-dir", str(tmp_path / "reports"), "--json"])
    elapsed = time.monotonic() - started
    run = json.loads(capsys.readouterr().out)["run"]
    assert code == 0, run["error"]
    # Each process's bucket starts full (a burst of its share, 10), then refills at 10/s.
    assert run["requests_sent"] > 60
    assert run["requests_sent"] <= 20 * elapsed + 20, (run["requests_sent"], elapsed)


def test_an_exception_in_a_run_marks_it_error_with_one_line(tmp_path: Path, target: str, monkeypatch,
                                                            capsys) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _record(db, target, 3)

    async def broken(self, baseline) -> None:
        raise RuntimeError("engine fault\nsecond line")

    monkeypatch.setattr(RunEngine, "_test_baseline", broken)
    code = main(["test", "--db", db, "--record", "1", "--data-dir", str(tmp_path / "data"), "--report-dir",
                 str(tmp_path / "reports"), "--json"])
    err = capsys.readouterr().err
    assert code == 1
    assert "lunge: error: TestRun#run_0001 ended in error: RuntimeError: engine fault" in err
    assert "Traceback" not in err
    store = open_store(db)
    try:
        run = store.get_run(1)
    finally:
        store.close()
    assert run.state is RunState.ERROR and run.error == "RuntimeError: engine fault"
    assert run.lease_expires_at is None  # released
    report = next((tmp_path / "reports").glob("*.txt")).read_text()
    assert "result - error" in report and "error: RuntimeError: engine fault" in report


def test_a_run_abandoned_by_its_node_is_interrupted_for_runs_and_report(tmp_path: Path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _record(db, "http://127.0.0.1:9", 1)
    store = open_store(db)
    try:
        run = store.create_run(name="killed", record_id=1, policy_name="default")
        store.update_run(run.id, state=RunState.RUNNING, lease_owner="ci-runner-7:4242",
                         lease_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    finally:
        store.close()
    assert main(["runs", "--db", db, "--json"]) == 0
    assert [r["state"] for r in json.loads(capsys.readouterr().out)] == ["interrupted"]
    code = main(["report", "1", "--db", db, "--report-dir", str(tmp_path / "reports"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["run"]["state"] == "interrupted"
    assert document["run"]["error"].startswith("interrupted: the node running it (ci-runner-7:4242) stopped")
