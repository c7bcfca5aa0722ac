"""``lunge bench scale``: one run of many baselines tested by 1, 2, 4 and 8 ``lunge node``
processes (API mode) on one PostgreSQL, then the same with nodes SIGKILLed mid-run.

Everything is real and on loopback: a fresh database (dropped afterwards), ``lunge serve``, the demo
application as the target, a record of ``baselines`` GET requests recorded from it (one in twenty
on the vulnerable ``/search``, the rest on its safe twin), a stored policy with ``xss-reflected``.
The nodes are started and registered before the run is ordered, so the time is the run's, not the
interpreters' start. Per run: baselines per second, shards left undone (``lost_shards``, must be 0)
and findings stored twice (``doubled_findings``, must be 0), and whether the findings are those of
the one-node run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from rich.table import Table

from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.control.services.tenancy import issue_token
from lunge.http import Headers, Request, Response
from lunge.store.models import NewBaseline, RunState

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POLICY = "name: scale\nchecks: [xss-reflected]\npassive: false\n"
RUN_TIMEOUT_S = 900.0
BUILD = "scale"  # many nodes of one token share a run through a BUILD_ID (without one, the newest takes over)


def run(baselines: int = 2000, nodes: tuple[int, ...] = (1, 2, 4, 8), kill: int = 2, shard_size: int = 50,
        pg: str = DEFAULT_PG) -> dict[str, Any]:
    """The figures of the bench (keys in the module docstring and the README)."""
    started = time.monotonic()
    with ExitStack() as stack:
        url = stack.enter_context(_database(pg))
        origin = stack.enter_context(_demo())
        token, record_id = _setup(url, origin, baselines)
        api = stack.enter_context(_serve(url))
        policy_id = _call(api, token, "POST", "/v1/test_policy", {"policy": POLICY})["id"]
        data = stack.enter_context(tempfile.TemporaryDirectory())
        env = _child_env(LUNGE_API_URL=api, LUNGE_API_TOKEN=token, LUNGE_DB=url, LUNGE_SHARD_SIZE=str(shard_size),
                         LUNGE_DATA_DIR=data, BUILD_ID=BUILD)
        runs = [_one(url, api, token, env, record_id, policy_id, n, 0) for n in nodes]
        killed = _one(url, api, token, env, record_id, policy_id, max(nodes), min(kill, max(nodes) - 1))
    reference = runs[0]["fingerprints"]
    rates = {str(r["nodes"]): r["baselines_per_s"] for r in runs}
    every = [*runs, killed]
    first = rates[str(nodes[0])] or 1.0
    return {
        "baselines": baselines, "shard_size": shard_size, "nodes": list(nodes), "baselines_per_s": rates,
        "speedup_8": round(rates.get("8", 0.0) / first, 2) if "8" in rates else None,
        "killed": {"nodes": killed["nodes"], "sigkilled": killed["sigkilled"], "requeued_shards": killed["requeued"],
                   "baselines_per_s": killed["baselines_per_s"], "state": killed["state"]},
        "states": {str(r["nodes"]): r["state"] for r in runs},
        "lost_shards": sum(r["lost_shards"] for r in every),
        "doubled_findings": sum(r["doubled_findings"] for r in every),
        "findings_match": all(r["fingerprints"] == reference for r in every),
        "findings": len(reference),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
    }


def _one(url: str, api: str, token: str, env: dict[str, str], record_id: int, policy_id: int, count: int,
         kill: int) -> dict[str, Any]:
    """One run tested by ``count`` node processes; ``kill`` of them SIGKILLed mid-run."""
    before, picked_twice = _registered(url), _picked_twice(url)
    procs = [subprocess.Popen([sys.executable, "-m", "lunge.cli", "node"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(count)]
    sigkilled = 0
    try:
        _until(lambda: _registered(url) >= before + count, 120.0, "the nodes did not register")
        started = time.monotonic()
        run_id = int(_call(api, token, "POST", "/v1/test_run",
                           {"name": f"scale {count}", "record": record_id, "policy": policy_id,
                            "build_id": BUILD})["id"])
        if kill:  # once every node holds its two shards (or half the run is done), so the killed ones hold some
            _until(lambda: _busy(url, run_id, count), RUN_TIMEOUT_S, "no shard was done")
            for proc in procs[:kill]:
                proc.send_signal(signal.SIGKILL)
                sigkilled += 1
        _until(lambda: _state(url, run_id).finished, RUN_TIMEOUT_S, "the run did not finish")
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    total, done = _shards(url, run_id)
    rows, distinct, prints = _findings(url, run_id)
    tested = _tested(url, run_id)
    return {"nodes": count, "sigkilled": sigkilled, "baselines_per_s": round(tested / elapsed, 1),
            "state": _state(url, run_id).value, "lost_shards": total - done, "doubled_findings": rows - distinct,
            "fingerprints": prints, "requeued": _picked_twice(url) - picked_twice}


def _setup(url: str, origin: str, baselines: int) -> tuple[str, int]:
    """The project, its token and the record (recorded from the demo application)."""
    control = open_control(ControlConfig(db_url=url))
    try:
        issued = issue_token(control, control.projects.ensure_project("scale"), "bench")
        record = control.store.create_record("scale")
        batch: list[NewBaseline] = []
        for i in range(baselines):
            path = f"/search?q=item{i}" if i % 20 == 0 else f"/safe/search?q=item{i}"
            batch.append(_baseline(record.id, origin, path))
            if len(batch) == 200:
                control.store.add_baselines(batch)
                batch = []
        control.store.add_baselines(batch)
        control.store.close_record(record.id)
        control.projects.assign_record(record.id, issued.token.project_id)
        return issued.secret, record.id
    finally:
        control.close()


def _baseline(record_id: int, origin: str, target: str) -> NewBaseline:
    with urllib.request.urlopen(origin + target, timeout=10) as answer:
        response = Response(answer.status, answer.reason, "HTTP/1.1", Headers(list(answer.headers.items())),
                            answer.read())
    host, port = origin.removeprefix("http://").split(":")
    request = Request("GET", "http", host, int(port), target, "HTTP/1.1",
                      Headers([("Host", f"{host}:{port}"), ("Accept", "*/*")]), b"")
    return NewBaseline(record_id, request, response, recorded_at=datetime.now(UTC))


def _sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return list(conn.execute(query, args).fetchall())


def _busy(url: str, run_id: int, nodes: int) -> bool:
    """Whether every node holds two of the run's shards (pgqueuer's cap per node), after the first
    shard is done: killing any node then leaves shards to take again. When fewer shards are left
    than that, no later moment is better."""
    total, done = _shards(url, run_id)
    if done == 0:
        return False
    picked = int(_sql(url, "SELECT count(*) FROM pgqueuer j JOIN test_run_shards s ON s.id = "
                           "(convert_from(j.payload, 'UTF8')::json->>'shard_id')::bigint "
                           "WHERE j.status = 'picked' AND s.run_id = %s AND s.state <> 'done'", run_id)[0][0])
    return picked >= 2 * nodes or total - done < 2 * nodes


def _picked_twice(url: str) -> int:
    """Jobs pgqueuer handed out more than once (its log has a row per pick): a killed node's shards,
    or one whose heartbeat came late (its shard is then tested twice and stored once)."""
    if _sql(url, "SELECT to_regclass('pgqueuer_log')")[0][0] is None:  # no node has installed pgqueuer yet
        return 0
    return int(_sql(url, "SELECT count(*) FROM (SELECT job_id FROM pgqueuer_log WHERE status = 'picked' "
                         "GROUP BY job_id HAVING count(*) > 1) AS twice")[0][0])


def _registered(url: str) -> int:
    return int(_sql(url, "SELECT count(*) FROM nodes")[0][0])


def _shards(url: str, run_id: int) -> tuple[int, int]:
    total, done = _sql(url, "SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM test_run_shards "
                            "WHERE run_id = %s", run_id)[0]
    return int(total), int(done)


def _state(url: str, run_id: int) -> RunState:
    return RunState(_sql(url, "SELECT state FROM test_runs WHERE id = %s", run_id)[0][0])


def _tested(url: str, run_id: int) -> int:
    return int(_sql(url, "SELECT count(*) FROM test_sets WHERE run_id = %s", run_id)[0][0])


def _findings(url: str, run_id: int) -> tuple[int, int, list[str]]:
    prints = [str(r[0]) for r in _sql(url, "SELECT fingerprint FROM findings WHERE run_id = %s", run_id)]
    return len(prints), len(set(prints)), sorted(set(prints))


def _until(done: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"lunge bench scale: {what} within {timeout:.0f} s")
        time.sleep(0.2)


def _call(api: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(api + path, method=method, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@contextmanager
def _database(pg: str) -> Iterator[str]:
    """A new database on the server of ``pg``, dropped afterwards."""
    name = f"lunge_scale_{uuid.uuid4().hex[:12]}"
    admin = pg.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _process(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"lunge bench scale: {args[2]} did not start") from None
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _demo() -> Iterator[str]:
    port = _free_port()
    with _process([sys.executable, "-m", "lunge.demo", "serve", "--port", str(port)], port):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _serve(url: str) -> Iterator[str]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        env = _child_env(LUNGE_DB=url, LUNGE_SERVE_PORT=str(port), LUNGE_DATA_DIR=data)
        with _process([sys.executable, "-m", "lunge.cli", "serve"], port, env):
            yield f"http://127.0.0.1:{port}"


def _child_env(**settings: str) -> dict[str, str]:
    """The environment of a child ``lunge``: this one's (PATH, the venv) with the bench's settings,
    without this one's ``CI_MODE``, ``BUILD_ID`` and control plane (the bench sets its own), its
    recording proxy on any free port."""
    env = dict(os.environ)  # noqa: TID251  # handed to a child process, which reads it at its own edge
    for name in ("CI_MODE", "BUILD_ID", "LUNGE_API_URL", "LUNGE_API_TOKEN", "WALLARM_API_HOST", "WALLARM_API_TOKEN"):
        env.pop(name, None)
    # Many nodes on one machine: each node's recording proxy listens on a port of its own.
    return {**env, "PROXY_PORT": "0", **settings}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def table(figures: dict[str, Any]) -> Table:
    out = Table(title=f"lunge bench scale ({figures['baselines']} baselines, shards of {figures['shard_size']}, "
                      f"{figures['seconds']} s, load {figures['load_average']})", title_justify="left")
    for column in ("nodes", "baselines/s", "state"):
        out.add_column(column)
    for n in figures["nodes"]:
        out.add_row(str(n), str(figures["baselines_per_s"][str(n)]), figures["states"][str(n)])
    k = figures["killed"]
    out.add_row(f"{k['nodes']} ({k['sigkilled']} SIGKILLed; {k['requeued_shards']} shards taken again)",
                str(k["baselines_per_s"]), k["state"])
    out.add_row("speedup_8", str(figures["speedup_8"]), "")
    out.add_row("lost_shards (must be 0)", str(figures["lost_shards"]), "")
    out.add_row("doubled_findings (must be 0)", str(figures["doubled_findings"]), "")
    out.add_row("findings as with one node", "yes" if figures["findings_match"] else "NO", "")
    return out


__all__ = ["run", "table"]
