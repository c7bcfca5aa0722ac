"""Issue 16 §4: many pipelines, one token. Eight pipelines with eight BUILD_IDs share one project
token and one control plane (remote mode, PostgreSQL); each records its own demo shop through its
own recording node, then tests it, all at the same time. Half record the SQL-injectable endpoint
and its safe twin, half the safe twin only: each run must test only its own baselines (its own
shop's port) and end with its own verdict (failed / passed)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.control.remote_helpers import Serve, token
from tests.fixtures.servers import free_port, wait_for_port
from tests.record.targets import lunge_command, start_recorder, subprocess_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PIPELINES = 8
POLICY = "name: sqli-only\nchecks: [sqli]\npassive: false\n"


def _get(url: str, path: str, secret: str) -> dict:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _pipeline(i: int, serve: Serve, secret: str, tmp_path: Path) -> tuple[int, int]:
    """Record then test BUILD_ID ``b<i>`` against its own shop; (the shop's port, the test's exit code)."""
    work = tmp_path / f"p{i}"
    work.mkdir()
    port = free_port()
    shop = subprocess.Popen([sys.executable, "-m", "lunge.demo", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    remote = {"LUNGE_API_URL": serve.url, "LUNGE_API_TOKEN": secret, "BUILD_ID": f"b{i}"}
    try:
        wait_for_port(port, timeout=60)
        recorder = start_recorder(work, env=subprocess_env(work / "data", CI_MODE="recording", **remote))
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": recorder.proxy}))
            paths = ["/safe/products?id=1"] + (["/products?id=1"] if i % 2 == 0 else [])
            for path in paths:
                with opener.open(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
                    assert answer.status == 200
            recorder.signal(signal.SIGTERM)
            assert recorder.wait(60) == 0, recorder.output()
        finally:
            recorder.kill()
        policy = work / "policy.yaml"
        policy.write_text(POLICY)
        testing = subprocess.run(lunge_command("test"), env=subprocess_env(
            work / "data", CI_MODE="testing", TEST_RUN_POLICY_ID=str(policy), REPORT_DIR=str(work / "reports"),
            LUNGE_OOB="false", **remote), capture_output=True, timeout=240)
        assert testing.returncode in (0, 1), testing.stderr.decode()[-2000:]
        return port, testing.returncode
    finally:
        shop.terminate()
        shop.wait(timeout=15)


def test_eight_pipelines_one_token_each_sees_only_its_own(pg_url: str, tmp_path: Path) -> None:
    serve = Serve(pg_url, tmp_path / "server")
    serve.start()
    try:
        secret = token(pg_url, "shared")
        with ThreadPoolExecutor(PIPELINES) as pool:
            outcomes = list(pool.map(lambda i: _pipeline(i, serve, secret, tmp_path), range(PIPELINES)))
        runs = {r["build_id"]: r for r in _get(serve.url, "/v1/test_run?limit=100", secret)["objects"]}
        assert sorted(runs) == sorted(f"b{i}" for i in range(PIPELINES))
        for i, (port, code) in enumerate(outcomes):
            run = runs[f"b{i}"]
            vulnerable = i % 2 == 0
            assert code == (1 if vulnerable else 0), (i, run)
            assert run["state"] == ("failed" if vulnerable else "passed"), (i, run)
            record = _get(serve.url, f"/v1/test_record/{run['record_id']}", secret)
            assert record["build_id"] == f"b{i}"
            page = _get(serve.url, f"/v1/test_record/{run['record_id']}/baselines", secret)
            urls = [b["url"] for b in page["objects"]]
            assert len(urls) == (2 if vulnerable else 1) and all(f"127.0.0.1:{port}/" in u for u in urls), (i, urls)
            findings = _get(serve.url, f"/v1/test_run/{run['id']}/findings", secret)["objects"]
            assert all(f"127.0.0.1:{port}/products" in f["url"] for f in findings) and bool(findings) == vulnerable
    finally:
        serve.stop()
