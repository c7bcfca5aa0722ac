"""``lunge bench faults``: a fixed battery of faults, each a real ``lunge test`` process against a
real loopback target (:mod:`lunge.bench.faulty`), printing per case the run's final state as every
reader sees it, the exit code, and whether any recorded baseline or confirmed finding was lost.

The cases:

- ``healthy``: the control; the target has a reflected XSS, so the run ``failed`` (exit 1);
- ``target_killed_at_30pct``: the target process exits after 30 % of the healthy run's requests;
- ``target_refusing``: nothing listens where the target was recorded;
- ``target_503_half``: every second request is answered ``503``;
- ``store_read_only``: the store is a read-only SQLite file;
- ``node_sigkilled_then_retested``: ``lunge test`` is SIGKILLed mid-run (after its first finding
  is stored), then a second ``lunge test`` runs on the same store: the first run must read
  ``interrupted`` and its finding must still be there.

Every run uses a policy of two checks (``xss-reflected``, ``path-traversal``) with the default
policy's lifecycle rules, so the battery stays under a minute.

``false_passes`` counts the faulty cases that ended ``passed`` or exit 0 (must be 0);
``stuck_runs`` counts the runs of every case's store still ``created``/``running``/``paused``
when the battery ends (must be 0).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from lunge.http import Headers, Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline, RunState

UNFINISHED = (RunState.CREATED, RunState.RUNNING, RunState.PAUSED)
_WORDS = ("apple", "pear", "plum", "fig", "kiwi", "lime", "date", "mango", "peach", "grape", "melon", "berry")


@dataclass(frozen=True, slots=True)
class Case:
    """One fault and what lunge did about it."""

    name: str
    state: str  # the final state of the run as readers see it ("none": no run was created)
    exit_code: int
    lost: bool  # a recorded baseline or a confirmed finding is missing afterwards
    expected: str
    seconds: float
    message: str = ""  # the last line lunge printed on stderr

    @property
    def false_pass(self) -> bool:
        return self.name != "healthy" and (self.state == RunState.PASSED.value or self.exit_code == 0)


@dataclass(slots=True)
class _Battery:
    directory: Path
    baselines: int
    stores: list[str]

    @property
    def policy(self) -> Path:
        """Two checks are enough to see a run's lifecycle (and keep the battery under a minute);
        the lifecycle rules are the default policy's."""
        path = self.directory / "faults.yaml"
        if not path.exists():
            path.write_text("name: faults\nchecks: [xss-reflected, path-traversal]\n", encoding="utf-8")
        return path

    # ------------------------------------------------------------------ building blocks
    def store(self, name: str, origin: str, baselines: int | None = None) -> str:
        """A fresh SQLite store holding one record of ``baselines`` GETs to ``origin``."""
        url = f"sqlite:///{self.directory / name / 'lunge.db'}"
        (self.directory / name).mkdir()
        store = open_store(url)
        try:
            record = store.create_record(f"faults {name}")
            page = b"<!doctype html><html><body><h1>Item</h1><p>hello</p></body></html>"
            store.add_baselines([
                NewBaseline(record.id, Request.from_url(f"{origin}/shop/{_word(i)}?q=hello&page=2"),
                            Response(200, headers=Headers([("Content-Type", "text/html; charset=utf-8")]), body=page))
                for i in range(baselines or self.baselines)])
            store.close_record(record.id)
        finally:
            store.close()
        self.stores.append(url)
        return url

    def test(self, url: str, *extra: str) -> subprocess.Popen[str]:
        """``lunge test`` on the store's only record, in its own process."""
        reports = self.directory / f"reports-{len(os.listdir(self.directory))}"
        command = [sys.executable, "-m", "lunge.cli", "test", "--db", url, "--record", "1", "--policy",
                   str(self.policy), "--processes", "1", "--data-dir", str(self.directory / "data"),
                   "--report-dir", str(reports), "--json", *extra]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run(baselines: int = 16) -> dict[str, Any]:
    """Run the battery; returns ``{"cases": [...], "false_passes": n, "stuck_runs": n, ...}``."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lunge-faults-") as tmp:
        battery = _Battery(Path(tmp), baselines, [])
        healthy, requests = _healthy(battery)
        cases = [healthy, _killed(battery, requests), _refusing(battery), _half_503(battery), _read_only(battery),
                 _sigkilled(battery)]
        stuck = sum(_stuck(url) for url in battery.stores)
    return {"cases": [asdict(c) for c in cases], "false_passes": sum(c.false_pass for c in cases),
            "stuck_runs": stuck, "baselines": baselines, "seconds": round(time.monotonic() - started, 1)}


# ---------------------------------------------------------------------- the cases
def _healthy(battery: _Battery) -> tuple[Case, int]:
    with _target("ok") as origin:
        url = battery.store("healthy", origin)
        case = _finish("healthy", "failed (the target has a reflected XSS), exit 1", url, lambda: battery.test(url))
    return case, _latest(url).requests_sent


def _killed(battery: _Battery, healthy_requests: int) -> Case:
    with _target(f"die:{max(1, healthy_requests * 3 // 10)}") as origin:
        url = battery.store("killed", origin)
        return _finish("target_killed_at_30pct", "error, exit 1", url, lambda: battery.test(url))


def _refusing(battery: _Battery) -> Case:
    url = battery.store("refusing", f"http://127.0.0.1:{_free_port()}")
    return _finish("target_refusing", "error, exit 1", url, lambda: battery.test(url))


def _half_503(battery: _Battery) -> Case:
    with _target("half503") as origin:
        url = battery.store("half503", origin)
        return _finish("target_503_half", "error, exit 1", url, lambda: battery.test(url))


def _read_only(battery: _Battery) -> Case:
    with _target("ok") as origin:
        url = battery.store("read-only", origin)
        path = url.removeprefix("sqlite:///")
        os.chmod(path, 0o444)
        read_only = f"sqlite:///file:{path}?mode=ro&uri=true"  # read-only even for root
        return _finish("store_read_only", "exit 1 with one line, nothing lost", url, lambda: battery.test(read_only))


def _sigkilled(battery: _Battery) -> Case:
    # A slow target and enough baselines that the run is still going when its first finding is stored.
    with _target("slow:100") as origin:
        url = battery.store("sigkill", origin, max(battery.baselines, 12))
        first = battery.test(url)
        found = _wait_for(lambda: _findings(url), timeout=30)
        first.kill()
        first.wait()
    with _target("ok") as moved:
        case = _finish("node_sigkilled_then_retested", "the killed run interrupted; the second run failed, exit 1",
                       url, lambda: battery.test(url, "--target", moved), keep=found)
    store = open_store(url)
    try:
        killed = store.get_run(1)
    finally:
        store.close()
    return Case(case.name, killed.state.value, case.exit_code, case.lost, case.expected, case.seconds,
                killed.error or "")


# ---------------------------------------------------------------------- helpers
def _finish(name: str, expected: str, url: str, start: Callable[[], subprocess.Popen[str]],
            keep: set[int] | None = None) -> Case:
    before = _snapshot(url)
    started = time.monotonic()
    process = start()
    _, stderr = process.communicate(timeout=120)
    after = _snapshot(url)
    kept = (keep or set()) | before[1]
    lost = after[0] < before[0] or not kept <= after[1]
    run = _latest(url)
    lines = [line for line in stderr.splitlines() if line.strip()]
    said = (run.error or "") if run else (lines[-1] if lines else "")  # no run: lunge's own one line
    return Case(name, run.state.value if run else "none", process.returncode, lost, expected,
                round(time.monotonic() - started, 1), said[:300])


def _snapshot(url: str) -> tuple[int, set[int]]:
    """Baselines of record 1, and the ids of every finding stored."""
    store = open_store(url)
    try:
        findings = {f.id for run in store.list_runs(1000) for f in store.iter_findings(run.id)}
        return store.count_baselines(1), findings
    finally:
        store.close()


def _findings(url: str) -> set[int]:
    return _snapshot(url)[1]


def _latest(url: str) -> Any:
    store = open_store(url)
    try:
        return store.latest_run()
    finally:
        store.close()


def _stuck(url: str) -> int:
    store = open_store(url)
    try:
        return sum(1 for run in store.list_runs(1000) if run.state in UNFINISHED)
    finally:
        store.close()


def _wait_for(probe: Callable[[], set[int]], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while not (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@contextmanager
def _target(mode: str) -> Iterator[str]:
    """A :mod:`lunge.bench.faulty` target in its own process; yields its origin."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lunge.bench.faulty", str(port), mode], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the faulty target did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _word(i: int) -> str:
    return f"{_WORDS[i % len(_WORDS)]}-{_WORDS[(i // len(_WORDS)) % len(_WORDS)]}-item"


def table(figures: dict[str, Any]) -> Table:
    """The battery as a table: one row per case, then the two totals."""
    out = Table(title=f"lunge bench faults ({figures['baselines']} baselines, {figures['seconds']} s)",
                title_justify="left")
    for column in ("case", "state", "exit", "lost", "expected", "lunge said"):
        out.add_column(column, overflow="fold")
    for case in figures["cases"]:
        out.add_row(case["name"], case["state"], str(case["exit_code"]), "yes" if case["lost"] else "no",
                    case["expected"], case["message"])
    out.add_row("false passes (must be 0)", str(figures["false_passes"]), "", "", "", "")
    out.add_row("stuck runs (must be 0)", str(figures["stuck_runs"]), "", "", "", "")
    return out


__all__ = ["Case", "run", "table"]
