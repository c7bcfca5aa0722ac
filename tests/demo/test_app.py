"""The shop starts on 127.0.0.1 only, on the port asked for, stops cleanly, and runs standalone."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import pytest

from lunge.demo import ThreadedDemoServer, start
from lunge.demo.auth import jwt_secret
from lunge.demo.db import Database
from tests.fixtures.servers import free_port, wait_for_port


async def test_start_listens_on_loopback_only_and_stop_cleans_up() -> None:
    server = await start()
    try:
        assert server.addresses == [("127.0.0.1", server.port)]
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session, session.get(server.url + "/") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert (await resp.text()).startswith("<!DOCTYPE html>")
        assert (server.directory / "shop.sqlite3").is_file()
        assert (server.directory / "docs" / "report.txt").is_file()
    finally:
        await server.stop()
    assert not server.directory.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


async def test_the_port_asked_for_is_used_and_a_taken_one_raises(tmp_path: Path, monkeypatch) -> None:
    port = free_port()
    async with await start(port, directory=tmp_path / "shop") as server:
        assert server.port == port
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where start() makes its own directory
        with pytest.raises(OSError):
            await start(port)
    assert (tmp_path / "shop" / "shop.sqlite3").is_file()  # a directory given is kept
    assert [p.name for p in tmp_path.iterdir()] == ["shop"]  # the failed start removed its own


async def test_a_kept_directory_keeps_its_data(tmp_path: Path) -> None:
    async with await start(directory=tmp_path) as first:
        secret = await jwt_secret(Database(first.directory / "shop.sqlite3"))
    async with await start(directory=tmp_path) as second:
        db = Database(second.directory / "shop.sqlite3")
        assert await jwt_secret(db) == secret
        assert len(await db.fetch("SELECT id FROM users")) == 3  # seeded once, not twice
        db.close()


def test_threaded_server_serves_any_event_loop() -> None:
    with ThreadedDemoServer() as server:
        wait_for_port(server.port)
        assert server.addresses == [("127.0.0.1", server.port)]

        async def fetch() -> int:
            async with aiohttp.ClientSession() as session, session.get(server.url + "/home") as resp:
                return resp.status

        assert asyncio.run(fetch()) == 200
    server.stop()  # stopping twice is harmless


def test_python_dash_m_serves_and_runs_the_suite() -> None:
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "lunge.demo", "serve", "--port", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        suite = subprocess.run([sys.executable, "-m", "lunge.demo", "suite", f"http://127.0.0.1:{port}"],
                               capture_output=True, text=True, timeout=60)
        assert suite.returncode == 0, suite.stderr
        assert "0 failures" in suite.stderr
    finally:
        serve.send_signal(signal.SIGINT)
        _, err = serve.communicate(timeout=15)
    assert serve.returncode == 0
    assert f"http://127.0.0.1:{port}" in err.decode()


def test_the_suite_command_fails_against_nothing() -> None:
    suite = subprocess.run([sys.executable, "-m", "lunge.demo", "suite", f"http://127.0.0.1:{free_port()}"],
                           capture_output=True, text=True, timeout=60)
    assert suite.returncode == 1
    assert "no answer" in suite.stderr
