"""``lunge record`` and ``CI_MODE=recording lunge node`` as real processes: stopping on SIGTERM with
requests in flight, on inactivity, and refusing bad settings with one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from lunge.store import open_store
from lunge.store.models import RecordState
from tests.fixtures.servers import free_port, wait_for_port
from tests.record.targets import lunge_command, serve_target, start_recorder, subprocess_env

pytestmark = pytest.mark.slow  # real processes: about a second of start-up each


async def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


def _summary(stdout: str) -> dict:
    return json.loads(stdout)  # --json: stdout holds exactly one JSON document


async def test_sigterm_lets_requests_in_flight_finish_and_closes_the_record(tmp_path):
    async with serve_target() as target:
        recorder = await asyncio.to_thread(start_recorder, tmp_path, "--json", "--no-dedup", "--record-name",
                                           "ci run", "--build-id", "b-17")
        try:
            async with aiohttp.ClientSession() as client:
                async def slow(i: int) -> tuple[int, str]:
                    async with client.get(f"{target.url}/slow?ms=1200&i={i}", proxy=recorder.proxy) as response:
                        return response.status, await response.text()

                async with client.get(f"{target.url}/fast", proxy=recorder.proxy) as response:
                    assert response.status == 200
                calls = [asyncio.ensure_future(slow(i)) for i in range(5)]
                await _wait_until(lambda: len(target.slow_started) == 5)
                recorder.signal(signal.SIGTERM)
                answers = await asyncio.gather(*calls)
            code = await asyncio.to_thread(recorder.wait)
        finally:
            recorder.kill()
    assert answers == [(200, f"slow /slow?ms=1200&i={i}") for i in range(5)]
    stdout, stderr = recorder.output()
    assert code == 0, stderr
    summary = _summary(stdout)
    assert summary["stopped_by"] == "SIGTERM" and summary["stats"]["recorded"] == 6
    assert summary["record"]["state"] == "closed" and summary["record"]["baselines"] == 6
    assert "TestRecord#rec_0001 ci run starts to record" in stderr
    assert "Traceback" not in stderr and "CancelledError" not in stderr
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'lunge.db'}")
    try:
        record = store.get_record(summary["record"]["id"])
        assert (record.state, record.name, record.build_id) == (RecordState.CLOSED, "ci run", "b-17")
        assert record.stats["recorded"] == 6 and record.stats["stopped_by"] == "SIGTERM"
        assert sorted(b.request.target for b in store.iter_baselines(record.id))[0] == "/fast"
    finally:
        store.close()


async def test_ci_mode_recording_node_stops_after_inactivity(tmp_path):
    port = free_port()
    env = subprocess_env(tmp_path / "data", CI_MODE="recording", PROXY_PORT=str(port), INACTIVITY_TIMEOUT="1",
                         TEST_RECORD_NAME="from env", BUILD_ID="42", ALLOWED_HOSTS="127.0.0.1")
    async with serve_target() as target:
        process = subprocess.Popen(lunge_command("node", "--json"), env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            await asyncio.to_thread(wait_for_port, port, "127.0.0.1", 30)
            started = time.monotonic()
            async with aiohttp.ClientSession() as client:
                # Requests every 0.4 s keep the node alive past its 1 s timeout ...
                for i in range(4):
                    async with client.get(f"{target.url}/keep?i={i}", proxy=f"http://127.0.0.1:{port}") as response:
                        assert response.status == 200
                    await asyncio.sleep(0.4)
            assert process.poll() is None
            # ... and once they stop, it stops by itself.
            stdout, stderr = await asyncio.to_thread(process.communicate, timeout=30)
            lifetime = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, stderr.decode()
    summary = _summary(stdout.decode())
    assert summary["stopped_by"] == "inactivity" and lifetime >= 1.6
    assert summary["record"]["name"] == "from env" and summary["record"]["build_id"] == "42"
    assert summary["stats"]["recorded"] == 1 and summary["stats"]["duplicates"] == 3


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(lunge_command(*args), env=env, capture_output=True, text=True, timeout=60)


def test_bad_settings_exit_2_with_one_line_and_create_nothing(tmp_path):
    data = tmp_path / "data"
    unreadable = tmp_path / "missing-ca.pem"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cases = {
            "CI_MODE": (("node",), {"CI_MODE": "replay"}),
            "PROXY_PORT": (("record", "--port", str(busy)), {}),
            "ALLOWED_HOSTS": (("record", "--port", str(free_port())), {"ALLOWED_HOSTS": "~(unclosed"}),
            "LUNGE_CA_CERT": (("record", "--port", str(free_port())),
                              {"LUNGE_CA_CERT": str(unreadable), "LUNGE_CA_KEY": str(unreadable)}),
            "INACTIVITY_TIMEOUT": (("node",), {"CI_MODE": "recording", "INACTIVITY_TIMEOUT": "soon"}),
        }
        with ThreadPoolExecutor(len(cases)) as pool:  # independent processes: run them side by side
            futures = {name: pool.submit(_run, *args, env=subprocess_env(data, **extra))
                       for name, (args, extra) in cases.items()}
            results = {name: future.result() for name, future in futures.items()}
    for name, result in results.items():
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (name, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("lunge: ") and name in lines[0], (name, result.stderr)
        assert result.stdout == ""
    assert str(busy) in results["PROXY_PORT"].stderr and "free TCP port" in results["PROXY_PORT"].stderr
    listed = _run("records", "--json", env=subprocess_env(data))
    assert listed.returncode == 0 and json.loads(listed.stdout) == []  # no record was created


def test_api_mode_is_not_available_yet(tmp_path):
    result = _run("node", env=subprocess_env(tmp_path / "data"))
    assert result.returncode == 2 and "CI_MODE is not set" in result.stderr


async def test_record_human_summary(tmp_path):
    async with serve_target() as target:
        recorder = await asyncio.to_thread(start_recorder, tmp_path, "--allowed-hosts", "localhost")
        try:
            async with aiohttp.ClientSession() as client:
                for url in (f"http://localhost:{target.port}/a?x=1", f"http://127.0.0.1:{target.port}/b"):
                    async with client.get(url, proxy=recorder.proxy) as response:
                        assert response.status == 200
            recorder.signal(signal.SIGINT)
            code = await asyncio.to_thread(recorder.wait)
        finally:
            recorder.kill()
    stdout, stderr = recorder.output()
    assert code == 0, stderr
    text = " ".join(stdout.split())  # the table may wrap its title at 80 columns
    assert "rec_0001" in text and "stopped by SIGINT" in text
    assert "localhost" in text and "127.0.0.1" in text and "total" in text
