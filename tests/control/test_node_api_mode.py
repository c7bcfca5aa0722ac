"""``lunge node`` in API mode, end to end on real sockets: the control plane (uvicorn), the demo
shop as the target, a run ordered through the API with a stored policy; the node takes it, tests
the record against the shared database and the pipeline's ``lunge runs wait`` exits 1 on the
SQL injection, found on the vulnerable endpoint and not on its safe twin."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from lunge.cli import main
from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.engine import lease
from lunge.http import Headers, Request, Response
from lunge.node.apimode import run_api_node
from lunge.store.models import NewBaseline, RunState

POLICY = "name: sqli-only\nchecks: [sqli]\npassive: false\n"


def _baseline(record_id: int, shop: str, target: str) -> NewBaseline:
    with urllib.request.urlopen(shop + target, timeout=5) as answer:
        body = answer.read()
        response = Response(answer.status, answer.reason, "HTTP/1.1", Headers(list(answer.headers.items())), body)
    host, port = shop.removeprefix("http://").split(":")
    request = Request("GET", "http", host, int(port), target, "HTTP/1.1",
                      Headers([("Host", f"{host}:{port}"), ("Accept", "*/*")]), b"")
    return NewBaseline(record_id, request, response, recorded_at=datetime.now(UTC))


@pytest.mark.slow
def test_a_node_takes_the_ordered_run_and_the_pipeline_sees_it_fail(
        server: str, db_url: str, shop: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["token", "create", "--project", "shop", "--db", db_url, "--json"]) == 0
    issued = json.loads(capsys.readouterr().out)
    api = {"api_url": server, "token": issued["token"], "port": 0, "data_dir": str(tmp_path)}  # 0: its proxy anywhere
    control = open_control(ControlConfig(db_url=db_url))
    try:  # what a recording node would have stored: the vulnerable endpoint and its safe twin
        record = control.store.create_record("shop", build_id="b9")
        control.store.add_baselines([_baseline(record.id, shop, "/products?id=1"),
                                     _baseline(record.id, shop, "/safe/products?id=1")])
        control.store.close_record(record.id)
        control.projects.assign_record(record.id, issued["project_id"])
    finally:
        control.close()
    headers = {"Authorization": f"Bearer {issued['token']}", "Content-Type": "application/json"}
    policy = urllib.request.Request(f"{server}/v1/test_policy", method="POST", headers=headers,
                                    data=json.dumps({"policy": POLICY}).encode())
    with urllib.request.urlopen(policy, timeout=5) as answer:
        policy_id = json.load(answer)["id"]
    cli_api = ["--api-url", server, "--token", issued["token"]]
    assert main(["runs", "create", "--name", "api mode", "--build-id", "b9", "--policy", str(policy_id),
                 "--record", "latest", *cli_api]) == 0
    label = capsys.readouterr().out.strip()

    assert run_api_node({**api, "db": db_url, "build_id": "b9"}, once=True) == 1

    assert main(["runs", "wait", label, "--interval", "0.05", "--json", *cli_api]) == 1
    run = json.loads(capsys.readouterr().out)
    assert (run["state"], run["baselines_tested"], run["policy"]) == ("failed", 2, "sqli-only")
    findings = urllib.request.Request(f"{server}/v1/test_run/{run['id']}/findings", headers=headers)
    with urllib.request.urlopen(findings, timeout=5) as answer:
        found = json.load(answer)["objects"]
    urls = {f["url"] for f in found if f["check_id"].startswith("sqli")}  # passive rules may note headers too
    assert urls and all("/products" in u and "/safe/" not in u for u in urls)
    assert run_api_node({**api, "db": db_url, "build_id": "b9"}, once=True) == 0  # nothing left to take


def test_the_node_backs_off_while_the_control_plane_is_down(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from lunge.errors import ConfigError, LungeError
    from lunge.node import apimode

    class Flaky:
        claims = 0

        def __init__(self, settings: object) -> None:
            self.base = "http://127.0.0.1:1"

        def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
            if path == "/v1/nodes":
                return {"id": 1}
            Flaky.claims += 1
            if Flaky.claims <= 4:
                raise LungeError("control plane unreachable")
            raise ConfigError("401 unknown or revoked token")  # refused: the node stops

    sleeps: list[float] = []
    monkeypatch.setattr(apimode, "ApiClient", Flaky)
    monkeypatch.setattr(apimode.time, "sleep", sleeps.append)
    flags = {"api_url": "http://127.0.0.1:1", "token": "t", "db": f"sqlite:///{tmp_path / 'x.db'}", "port": 0,
             "data_dir": str(tmp_path)}
    with pytest.raises(ConfigError):
        run_api_node(flags, poll_s=8)
    assert sleeps == [8, 16, 30, 30]


async def test_an_interrupt_through_the_api_stops_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from lunge.node import apimode

    class Engine:  # the part of RunEngine the node drives
        def __init__(self) -> None:
            self.stopped = asyncio.Event()
            self.paused = False
            self.seen: list[str] = []

        def pause(self) -> None:
            self.paused = True
            self.seen.append("pause")

        def resume(self) -> None:
            self.paused = False
            self.seen.append("resume")

        def interrupt(self) -> None:
            self.stopped.set()

        async def execute(self) -> str:
            await asyncio.wait_for(self.stopped.wait(), 10)
            return "interrupted"

    class Api:
        beats: list[object] = []

        def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
            Api.beats.append(body)
            states = ["running", "paused", "paused", "running", "interrupted", "interrupted"]
            return {"run_state": states[len(Api.beats) - 1]}

    class Store:  # the run as stored: the first "interrupted" is this node's lease lapsed in an outage
        def __init__(self) -> None:
            lapsed = datetime.now(UTC) - timedelta(seconds=1)
            self.seen = [SimpleNamespace(state=RunState.INTERRUPTED, lease_owner=lease.owner_id(),
                                         lease_expires_at=lapsed),
                         SimpleNamespace(state=RunState.RUNNING, lease_owner=lease.owner_id(), lease_expires_at=None),
                         SimpleNamespace(state=RunState.INTERRUPTED, lease_owner=None, lease_expires_at=None)]
            self.renewed: list[int] = []

        def get_run(self, run_id: int) -> SimpleNamespace:
            return self.seen.pop(0)

        def renew_lease(self, run_id: int, owner: str, seconds: float) -> bool:
            self.renewed.append(run_id)
            return True

    monkeypatch.setattr(apimode, "HEARTBEAT_S", 0.01)
    engine, store = Engine(), Store()
    assert await apimode._watched(engine, Api(), 1, 7, store) == "interrupted"  # type: ignore[arg-type]
    assert Api.beats[0] == {"state": "testing", "run_id": 7} and len(Api.beats) == 6
    assert engine.seen == ["pause", "resume"]  # pause and resume ordered through the API, once each
    assert store.renewed == [7]  # the lapsed lease renewed, the run went on; the real interrupt stopped it


def test_a_refused_sharding_node_stops_on_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path, pg_url: str) -> None:
    """On PostgreSQL the node runs a task group (job queue, heartbeat, sweep): a refusal inside it
    still reaches the CLI as the one ConfigError (exit 2), not as an exception group."""
    from lunge.errors import ConfigError
    from lunge.node import apimode
    from lunge.store import open_store

    open_store(pg_url).close()  # the schema, as `lunge serve` migrates it

    class Refusing:
        def __init__(self, settings: object) -> None:
            self.base = "http://127.0.0.1:1"

        def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
            if path == "/v1/nodes":
                return {"id": 1, "project_id": 1}
            raise ConfigError("401 unknown or revoked token")

    monkeypatch.setattr(apimode, "ApiClient", Refusing)
    flags = {"api_url": "http://127.0.0.1:1", "token": "t", "db": pg_url, "port": 0, "data_dir": str(tmp_path)}
    with pytest.raises(ConfigError, match="revoked"):
        run_api_node(flags, poll_s=0.1)
