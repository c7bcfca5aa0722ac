"""A real PostgreSQL restart (``pg_ctl restart -m fast``, on a private cluster: the machine's server
is shared) under the control plane and its nodes: a remote-store node recording through its proxy
loses and doubles no answered baseline across two restarts; a LUNGE_DB node testing a sharded run
rides one out and the run ends in a defined state with its findings stored once. No traceback
from any process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from lunge.bench.scale import _call, _child_env, _findings, _setup, _shards, _state, _until
from lunge.store.models import RecordState, RunState
from lunge.store.remote import RemoteStore
from tests.control.remote_helpers import token, wait_ready
from tests.fixtures.pg_cluster import PgCluster
from tests.fixtures.servers import free_port
from tests.record.targets import serve_target, start_recorder, subprocess_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
POLICY = "name: xss\nchecks: [xss-reflected]\npassive: false\n"


@contextmanager
def _lunge(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``lunge`` process writing to ``log``; stopped (SIGTERM) afterwards, and its log free of tracebacks."""
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "lunge.cli", *args], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]


@contextmanager
def _serve(db_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = _child_env(LUNGE_DB=db_url, LUNGE_SERVE_PORT=str(port), LUNGE_DATA_DIR=str(tmp_path / "server"))
    with _lunge(["serve"], env, tmp_path / "serve.log") as process:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process)
        except AttributeError:  # it exited: wait_ready reads its output, which went to the log
            raise AssertionError((tmp_path / "serve.log").read_text(errors="replace")) from None
        yield url


def test_postgresql_restarted_twice_under_a_recording_node(pg_cluster: PgCluster, tmp_path: Path) -> None:
    with _serve(pg_cluster.url, tmp_path) as api:
        secret = token(pg_cluster.url, "shop")
        env = subprocess_env(tmp_path / "data", CI_MODE="recording", LUNGE_API_URL=api, LUNGE_API_TOKEN=secret)
        env.pop("LUNGE_DB", None)
        answered: list[int] = []

        async def drive(proxy: str, target: str, count: int, restarted: threading.Event) -> None:
            async with aiohttp.ClientSession() as client:
                for i in range(count):
                    if i == count // 2:  # not all sent before both restarts are over
                        await asyncio.to_thread(restarted.wait, 120)
                    async with client.get(f"{target}/item/{i}?n={i}", proxy=proxy) as answer:
                        assert answer.status == 200
                        answered.append(i)

        def restart_twice(restarted: threading.Event) -> None:
            for after in (20, 60):  # while baselines flow
                _until(lambda after=after: len(answered) >= after, 120, "the recording did not go on")
                pg_cluster.restart()
            restarted.set()

        async def scenario() -> None:
            async with serve_target() as target:
                recorder = await asyncio.to_thread(start_recorder, tmp_path, "--no-dedup", env=env)
                restarted = threading.Event()
                try:
                    await asyncio.gather(drive(recorder.proxy, target.url, 200, restarted),
                                         asyncio.to_thread(restart_twice, restarted))
                    recorder.signal(signal.SIGTERM)
                    assert await asyncio.to_thread(recorder.wait, 120) == 0, recorder.output()
                finally:
                    recorder.kill()
                assert "Traceback" not in "".join(recorder.output()), recorder.output()

        asyncio.run(scenario())
        reader = RemoteStore(api, secret, tmp_path / "reader-spool")
        try:
            (record,) = reader.list_records()
            targets = [b.request.target for b in reader.iter_baselines(record.id)]
        finally:
            reader.close()
    assert record.state is RecordState.CLOSED
    assert sorted(targets) == sorted(f"/item/{i}?n={i}" for i in answered)  # each answered one, once
    assert len(answered) == 200


def test_postgresql_restarted_under_a_sharded_run(pg_cluster: PgCluster, shop: str, tmp_path: Path) -> None:
    secret, record_id = _setup(pg_cluster.url, shop, 60)
    with _serve(pg_cluster.url, tmp_path) as api:
        policy = _call(api, secret, "POST", "/v1/test_policy", {"policy": POLICY})["id"]
        env = _child_env(LUNGE_API_URL=api, LUNGE_API_TOKEN=secret, LUNGE_DB=pg_cluster.url, LUNGE_SHARD_SIZE="10",
                         LUNGE_DATA_DIR=str(tmp_path / "node"))
        with _lunge(["node"], env, tmp_path / "node.log"):
            run_id = int(_call(api, secret, "POST", "/v1/test_run",
                               {"name": "restart", "record": record_id, "policy": policy, "rps": 30})["id"])
            _until(lambda: _shards(pg_cluster.url, run_id)[1] >= 1, 60, "no shard was done")
            pg_cluster.restart()  # mid-run: shards held, the queue's connections and LISTEN cut
            _until(lambda: _state(pg_cluster.url, run_id).finished, 90, "the run did not finish")
        run = _call(api, secret, "GET", f"/v1/test_run/{run_id}")
    assert run["state"] == RunState.FAILED.value, run  # the XSS on /search, whatever shard found it
    assert run["baselines_tested"] + run["baselines_not_tested"] == 60
    rows, distinct, _ = _findings(pg_cluster.url, run_id)
    assert rows == distinct == run["findings_count"] >= 1  # nothing stored twice
