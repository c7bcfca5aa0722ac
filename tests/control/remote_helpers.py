"""Helpers of the remote store's tests: ``lunge serve`` as a process that can be stopped and
started again on the same port and database, and project tokens made on that database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.control.services.tenancy import issue_token
from tests.fixtures.servers import free_port


class Serve:
    """``lunge serve`` on ``db_url``; :meth:`stop` and :meth:`start` keep its port."""

    def __init__(self, db_url: str, data_dir: Path, **env: str) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "LUNGE_DB": db_url, "LUNGE_SERVE_PORT": str(self.port),
                     "LUNGE_DATA_DIR": str(data_dir), **env}
        self._env.pop("LUNGE_API_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "serve"], env=self._env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.url, self.process)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)
        self.process = None


def token(db_url: str, project: str) -> str:
    control = open_control(ControlConfig(db_url=db_url))
    try:
        return issue_token(control, control.projects.ensure_project(project), "node").secret
    finally:
        control.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Block until ``lunge serve`` at ``url`` answers ready on /readyz; its output if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0].decode(errors="replace"))
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                if json.load(answer)["status"] == "ready":
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("lunge serve did not become ready")


