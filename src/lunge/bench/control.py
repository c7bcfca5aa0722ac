"""``lunge bench control``: N = 1, 2, 4, 8 node processes uploading baselines through the remote
store (:mod:`lunge.store.remote`: spool, batches, ``/v1/store/batches``) into one ``lunge serve``
on PostgreSQL, while this process reads the API (a page of runs, a page of a record's baselines)
and times each read.

Figures per N: ``baselines_per_s`` (all nodes' baselines over the time from the first node's
first write to the last node's closed record, every batch acknowledged), ``api_p99_ms`` (p99 of
the reads made meanwhile), and over all N ``lost`` and ``doubled`` (baselines a node stored that
the control plane lacks, or holds twice: both must be 0). Each N uses a project of its own on the
given database.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.table import Table

from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.control.services.tenancy import issue_token
from lunge.errors import ConfigError, LungeError, StoreError
from lunge.http import Headers, Request, Response
from lunge.store.models import NewBaseline
from lunge.store.remote import RemoteStore

NODES = (1, 2, 4, 8)
BODY = b"x" * 512  # a response body of a typical small JSON answer's size


def run(db_url: str, *, nodes: tuple[int, ...] = NODES, baselines: int = 2000, batch: int = 50) -> dict[str, Any]:
    """The figures as one JSON-able dict (see the module's docstring)."""
    try:  # the database named by --db answers (and is migrated) before any server or node starts
        open_control(ControlConfig(db_url=db_url)).close()
    except StoreError as exc:
        raise ConfigError(f"--db: {exc}; the bench needs an existing PostgreSQL database") from None
    with tempfile.TemporaryDirectory(prefix="lunge-bench-control-") as scratch:
        server, url = _serve(db_url, Path(scratch))
        try:
            rows = [_round(db_url, url, n, baselines, batch, Path(scratch) / f"n{n}") for n in nodes]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "nodes": list(nodes), "baselines_per_node": baselines, "batch": batch,
        "baselines_per_s": {str(r["nodes"]): r["baselines_per_s"] for r in rows},
        "api_p99_ms": {str(r["nodes"]): r["api_p99_ms"] for r in rows},
        "api_reads": {str(r["nodes"]): r["api_reads"] for r in rows},
        "lost": sum(r["lost"] for r in rows), "doubled": sum(r["doubled"] for r in rows),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _serve(db_url: str, scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Flags, not the environment: they win over whatever the caller's environment says.
    log = scratch / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "lunge.cli", "serve", "--db", db_url, "--port", str(port),
                                    "--bind", "127.0.0.1", "--data-dir", str(scratch / "srv")],
                                   stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait(timeout=30)
    said = log.read_text(errors="replace").strip().splitlines()
    raise LungeError("lunge serve did not become ready within 60 s" + (f": {said[-1]}" if said else ""))


def _round(db_url: str, url: str, n: int, baselines: int, batch: int, scratch: Path) -> dict[str, Any]:
    control = open_control(ControlConfig(db_url=db_url))
    try:
        project = control.projects.ensure_project(f"bench-control-{os.getpid()}-{time.time_ns()}-{n}")
        secret = issue_token(control, project, "bench").secret
        reader = _Reader(url, secret)
        reader.start()
        processes = [subprocess.Popen([sys.executable, "-m", "lunge.bench.control", url, secret,
                                       str(scratch / f"node{i}"), str(baselines), str(batch), str(i)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(n)]
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=1800)
            if process.returncode != 0:
                raise RuntimeError(f"a bench node failed: {err.decode(errors='replace')[-500:]}")
            reports.append(json.loads(out))
        reader.stop()
        lost = doubled = 0
        for report in reports:
            got = control.store.count_baselines(report["record_id"])
            seqs = {b.seq for b in control.store.iter_baselines(report["record_id"])}
            lost += max(0, baselines - len(seqs))
            doubled += max(0, got - baselines)
    finally:
        control.close()
    seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    latencies = sorted(reader.latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return {"nodes": n, "baselines_per_s": round(n * baselines / seconds, 1), "api_p99_ms": round(p99 * 1000, 1),
            "api_reads": len(latencies), "lost": lost, "doubled": doubled,
            "api_median_ms": round(statistics.median(latencies) * 1000, 1) if latencies else 0.0}


class _Reader(threading.Thread):
    """Reads the API in a loop (a page of runs, a page of the newest record's baselines) and keeps
    each read's latency."""

    def __init__(self, url: str, secret: str) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, {"Authorization": f"Bearer {secret}"}
        self.latencies: list[float] = []
        self._halt = threading.Event()

    def _get(self, path: str) -> Any:
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=self.headers), timeout=30) as a:
            data = json.load(a)
        self.latencies.append(time.perf_counter() - started)
        return data

    def run(self) -> None:
        while not self._halt.is_set():
            self._get("/v1/test_run?limit=20")
            records = self._get("/v1/test_record?limit=1")["objects"]
            if records:
                self._get(f"/v1/test_record/{records[0]['id']}/baselines?limit=100")
            self._halt.wait(0.02)

    def stop(self) -> None:
        self._halt.set()
        self.join(60)


def _node(url: str, secret: str, spool: str, baselines: int, batch: int, index: int) -> dict[str, Any]:
    """One node: a record, ``baselines`` baselines in batches of ``batch`` as a recorder's writer
    would hand them over, the record closed (every batch acknowledged by then)."""
    store = RemoteStore(url, secret, Path(spool))
    try:
        record = store.create_record(f"bench node {index}")
        headers = Headers([("Host", "shop.test"), ("Accept", "application/json")])
        response = Response(200, "OK", "HTTP/1.1", Headers([("Content-Type", "application/json")]), BODY)
        start = time.time()
        for first in range(0, baselines, batch):
            store.add_baselines([NewBaseline(record.id, Request("GET", "http", "shop.test", 80, f"/items/{i}?n={index}",
                                                                "HTTP/1.1", headers), response)
                                 for i in range(first, min(first + batch, baselines))])
        store.close_record(record.id)
        end = time.time()
    finally:
        store.close()
    return {"record_id": record.id, "start": start, "end": end}


def table(figures: dict[str, Any]) -> Table:
    out = Table(title=f"lunge bench control ({figures['baselines_per_node']} baselines per node, "
                      f"batches of {figures['batch']})", title_justify="left")
    for column in ("nodes", "baselines/s", "API p99 ms", "API reads"):
        out.add_column(column, justify="right")
    for n in figures["nodes"]:
        key = str(n)
        out.add_row(key, str(figures["baselines_per_s"][key]), str(figures["api_p99_ms"][key]),
                    str(figures["api_reads"][key]))
    out.add_row("lost / doubled (must be 0)", f"{figures['lost']} / {figures['doubled']}", "", "")
    return out


if __name__ == "__main__":  # a bench node process (run by _round)
    url_, secret_, spool_, count_, batch_, index_ = sys.argv[1:7]
    sys.stdout.write(json.dumps(_node(url_, secret_, spool_, int(count_), int(batch_), int(index_))))

__all__ = ["run", "table"]
