"""Helpers of the remote store's tests: ``lunge serve`` as a process that can be stopped and
started again on the same port and database, and project tokens made on that database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.control.services.tenancy import issue_token
from tests.control.conftest import _wait_ready
from tests.fixtures.servers import free_port


class Serve:
    """``lunge serve`` on ``db_url``; :meth:`stop` and :meth:`start` keep its port."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "LUNGE_DB": db_url, "LUNGE_SERVE_PORT": str(self.port),
                     "LUNGE_DATA_DIR": str(data_dir)}
        self._env.pop("LUNGE_API_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "serve"], env=self._env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_ready(self.url, self.process)

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
