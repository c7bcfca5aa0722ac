"""Nodes in remote mode (``LUNGE_API_URL`` and ``LUNGE_API_TOKEN``, no ``LUNGE_DB``), as real
processes against a real ``lunge serve`` on PostgreSQL: ``CI_MODE=recording`` then
``CI_MODE=testing`` behave as locally with everything in the control plane, and a recording node
SIGKILLed mid-traffic loses no answered request (the next node sends its spool)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from lunge.node.apimode import run_api_node
from lunge.store.models import RecordState
from lunge.store.remote import RemoteStore
from tests.control.remote_helpers import Serve, token
from tests.control.test_node_api_mode import _baseline as _shop_baseline
from tests.node.test_recording_durability import CONCURRENCY, record_and_kill
from tests.record.targets import lunge_command, serve_target, start_recorder, subprocess_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
POLICY = "name: sqli-only\nchecks: [sqli]\npassive: false\n"


def _get(url: str, path: str, secret: str) -> dict:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_recording_then_testing_in_remote_mode(serve: Serve, shop: str, tmp_path: Path) -> None:
    secret = token(serve.db_url, "shop")
    remote = {"LUNGE_API_URL": serve.url, "LUNGE_API_TOKEN": secret, "BUILD_ID": "b42"}
    recorder = start_recorder(tmp_path, env=subprocess_env(tmp_path / "rec-data", CI_MODE="recording", **remote))
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": recorder.proxy}))
        for path in ("/products?id=1", "/safe/products?id=1"):
            with opener.open(shop + path, timeout=10) as answer:
                assert answer.status == 200
        recorder.signal(signal.SIGTERM)
        assert recorder.wait() == 0, recorder.output()
    finally:
        recorder.kill()
    assert not (tmp_path / "rec-data" / "lunge.db").exists(), "remote mode keeps no local database"
    (record,) = _get(serve.url, "/v1/test_record", secret)["objects"]
    assert record["state"] == "closed" and record["baseline_count"] == 2 and record["build_id"] == "b42"

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    testing = subprocess.run(lunge_command("test"), env=subprocess_env(
        tmp_path / "test-data", CI_MODE="testing", TEST_RUN_POLICY_ID=str(policy), REPORT_DIR=str(tmp_path / "rep"),
        **remote), capture_output=True, timeout=240)
    assert testing.returncode == 1, testing.stderr.decode()[-2000:]  # 1: vulnerabilities found
    (run,) = _get(serve.url, "/v1/test_run", secret)["objects"]
    findings = _get(serve.url, f"/v1/test_run/{run['id']}/findings", secret)["objects"]
    assert findings and all(f["check_id"].startswith("sqli") for f in findings)
    assert all("/safe/" not in f["url"] for f in findings), "the safe twin stays silent"
    assert run["state"] == "failed" and run["baselines_total"] == 2
    assert json.loads((tmp_path / "rep" / next(p.name for p in (tmp_path / "rep").glob("*.json"))).read_text())


async def test_a_sigkilled_recording_node_in_remote_mode_loses_nothing_answered(serve: Serve, tmp_path: Path) -> None:
    secret = token(serve.db_url, "shop")
    data = tmp_path / "data"
    env = subprocess_env(data, LUNGE_API_URL=serve.url, LUNGE_API_TOKEN=secret)
    seed = random.randrange(1 << 30)
    kill_after = random.Random(seed).randrange(600, 900)
    answered = await record_and_kill(tmp_path, env, kill_after)
    assert len(answered) >= 600, f"seed {seed}"
    store = RemoteStore(serve.url, secret, data / "spool")  # the next node on this data directory
    try:
        (record,) = store.list_records()
        stored = [b.request.target for b in store.iter_baselines(record.id)]
        assert record.state is RecordState.RECORDING
    finally:
        store.close()
    assert len(stored) == len(set(stored)), "nothing doubled"
    missing = answered - set(stored)
    assert not missing, f"seed {seed}: {len(missing)} answered requests not stored, e.g. {sorted(missing)[:5]}"
    assert len(set(stored) - answered) <= CONCURRENCY


def test_a_refused_token_is_one_line_and_exit_2(serve: Serve, tmp_path: Path) -> None:
    env = subprocess_env(tmp_path / "data", CI_MODE="testing", LUNGE_API_URL=serve.url,
                         LUNGE_API_TOKEN="lunge_" + "z" * 43)
    done = subprocess.run(lunge_command("test"), env=env, capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "LUNGE_API_TOKEN" in err and "Traceback" not in err and "z" * 43 not in err


def test_an_api_mode_node_without_database_access(serve: Serve, shop: str, tmp_path: Path) -> None:
    """``lunge node`` in API mode with no ``LUNGE_DB``: it reads the run's record and writes its
    results through the remote store."""
    secret = token(serve.db_url, "shop")
    api = {"api_url": serve.url, "token": secret}
    seeder = RemoteStore(serve.url, secret, tmp_path / "seed-spool")
    try:
        record = seeder.create_record("shop", build_id="b7")
        seeder.add_baselines([_shop_baseline(record.id, shop, "/products?id=1"),
                              _shop_baseline(record.id, shop, "/safe/products?id=1")])
        seeder.close_record(record.id)
    finally:
        seeder.close()
    order = urllib.request.Request(f"{serve.url}/v1/test_policy", method="POST", data=json.dumps(
        {"policy": POLICY}).encode(), headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(order, timeout=10) as answer:
        policy_id = json.load(answer)["id"]
    order = urllib.request.Request(f"{serve.url}/v1/test_run", method="POST", data=json.dumps(
        {"name": "api", "build_id": "b7", "policy": policy_id, "record": "latest"}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(order, timeout=10) as answer:
        run_id = json.load(answer)["id"]

    assert run_api_node({**api, "build_id": "b7", "data_dir": str(tmp_path / "node"), "port": 0}, once=True) == 1

    run = _get(serve.url, f"/v1/test_run/{run_id}", secret)
    findings = _get(serve.url, f"/v1/test_run/{run_id}/findings", secret)["objects"]
    assert run["state"] == "failed" and findings and all("/safe/" not in f["url"] for f in findings)
    assert not (tmp_path / "node" / "lunge.db").exists()


def test_the_control_plane_stopped_under_a_recording_node(serve: Serve, tmp_path: Path) -> None:
    """The recording proxy keeps answering while the control plane is down (each baseline in the
    spool first); the control plane back, the node delivers everything, once, and closes the record."""
    secret = token(serve.db_url, "shop")
    env = subprocess_env(tmp_path / "data", CI_MODE="recording", LUNGE_API_URL=serve.url, LUNGE_API_TOKEN=secret)

    async def drive(proxy: str, target: str, first: int, count: int) -> None:
        async with aiohttp.ClientSession() as client:
            for i in range(first, first + count):
                async with client.get(f"{target}/item/{i}?n={i}", proxy=proxy) as answer:
                    assert answer.status == 200

    async def scenario() -> None:
        async with serve_target() as target:
            recorder = await asyncio.to_thread(start_recorder, tmp_path, "--no-dedup", env=env)
            try:
                await drive(recorder.proxy, target.url, 0, 40)
                await asyncio.to_thread(serve.stop)
                await drive(recorder.proxy, target.url, 40, 80)  # answered while the control plane is away
                assert [p for p in (tmp_path / "data" / "spool").glob("*.jsonl") if p.stat().st_size]
                await asyncio.to_thread(serve.start)
                await drive(recorder.proxy, target.url, 120, 40)
                recorder.signal(signal.SIGTERM)
                assert await asyncio.to_thread(recorder.wait, 120) == 0, recorder.output()
            finally:
                recorder.kill()

    asyncio.run(scenario())
    store = RemoteStore(serve.url, secret, tmp_path / "reader-spool")
    try:
        (record,) = store.list_records()
        targets = [b.request.target for b in store.iter_baselines(record.id)]
    finally:
        store.close()
    assert record.state is RecordState.CLOSED
    assert sorted(targets) == sorted(f"/item/{i}?n={i}" for i in range(160))


def test_the_control_plane_restarted_under_a_testing_node(serve: Serve, shop: str, tmp_path: Path) -> None:
    """Whenever the outage falls (at start, mid-run, at the end), the run ends as it would have:
    failed, with its findings in the control plane and not one on the safe twin."""
    secret = token(serve.db_url, "shop")
    seeder = RemoteStore(serve.url, secret, tmp_path / "seed-spool")
    try:
        record = seeder.create_record("shop", build_id="b5")
        seeder.add_baselines([_shop_baseline(record.id, shop, path) for path in (
            "/products?id=1", "/safe/products?id=1", "/products?id=2", "/safe/products?id=2")])
        seeder.close_record(record.id)
    finally:
        seeder.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = subprocess_env(tmp_path / "data", CI_MODE="testing", TEST_RUN_POLICY_ID=str(policy), BUILD_ID="b5",
                         REPORT_DIR=str(tmp_path / "rep"), LUNGE_API_URL=serve.url, LUNGE_API_TOKEN=secret)
    testing = subprocess.Popen(lunge_command("test"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list[str] = []
    try:
        assert testing.stderr is not None
        for raw in testing.stderr:  # the outage starts as soon as the run exists, mid-run
            lines.append(raw.decode(errors="replace"))
            if "TestRun#" in lines[-1] and "created" in lines[-1]:
                break
        serve.stop()
        time.sleep(2.0)
        serve.start()
        lines.extend(raw.decode(errors="replace") for raw in testing.stderr)
        testing.wait(timeout=240)
    finally:
        if testing.poll() is None:
            testing.kill()
    err = "".join(lines)
    assert testing.returncode == 1, err[-2000:]
    assert "trying again" in err, "the node met the outage"
    (run,) = _get(serve.url, "/v1/test_run", secret)["objects"]
    findings = _get(serve.url, f"/v1/test_run/{run['id']}/findings", secret)["objects"]
    assert run["state"] == "failed" and run["baselines_total"] == 4
    assert findings and all("/safe/" not in f["url"] for f in findings)
