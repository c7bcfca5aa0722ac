"""Every route of the OpenAPI document refuses a request without a token and keeps another
project's records, policies, runs and findings out of reach. Routes added later are walked too:
the list comes from the document, not from this file. Also: the request size limit and the
failed-authentication rate limit."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from lunge.control.app import create_app
from lunge.control.config import ControlConfig
from lunge.control.context import Control, open_control
from lunge.control.limits import STORE_MAX_BODY
from tests.control.conftest import ADMIN, seed_record, seed_run_with_finding, tenant

PUBLIC = {"/healthz", "/readyz", "/v1/openapi.json", "/v1/docs"}
MARK = "victim-private-7f3a"  # in every name of the victim's objects: must never leak


def _victim(client: TestClient, control: Control) -> dict[str, Any]:
    """Project A with one of everything; the ids every path parameter is filled with."""
    victim = tenant(control, MARK)
    record = seed_record(control, victim.project_id)
    control.store.get_record(record.id)
    run = seed_run_with_finding(control, victim.project_id, record)
    policy = client.post("/v1/test_policy", json={"policy": f"name: {MARK}\n"}, headers=victim.headers).json()
    finding = next(iter(control.store.iter_findings(run.id)))
    node = client.post("/v1/nodes", json={"name": MARK}, headers=victim.headers).json()
    baseline = next(iter(control.store.iter_baselines(record.id)))
    shard = control.store.shards.split(run.id, [(1, 2**31 - 1)])[0]
    live = control.store.create_run(name=MARK, record_id=record.id, policy_name="default")  # a node holds it
    control.projects.assign_run(live.id, victim.project_id)
    control.store.update_run(live.id, state="running", lease_owner="victim-node:1",
                             lease_expires_at=datetime.now(UTC) + timedelta(hours=1))
    return {"record_id": record.id, "run_id": run.id, "baseline_id": baseline.id, "policy_id": policy["id"],
            "finding_id": finding.id, "shard_id": shard.id, "live_run_id": live.id,
            "project_id": victim.project_id, "node_id": node["id"],
            "token_id": control.projects.list_tokens(victim.project_id)[0].id, "headers": victim.headers,
            "fmt": "json", "action": "interrupt"}


def _calls(client: TestClient, ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, concrete path, JSON body) for every operation of the OpenAPI document."""
    document = client.get("/v1/openapi.json").json()
    out = []
    for template, operations in document["paths"].items():
        if template in PUBLIC:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), template)
        for method in operations:
            # A body that would be valid for the victim: refusal must come from the token, not from validation.
            body: dict[str, Any] = {"name": "probe", "policy": "name: probe-policy\n"}
            if template == "/v1/test_run":  # the victim's record and policy
                body = {"name": "probe", "record": ids["record_id"], "policy": ids["policy_id"]}
            if template == "/v1/store/batches":  # a remote node closing the victim's record
                body = {"batches": [{"id": "probe-batch-0001", "op": "close_record",
                                     "payload": {"record_id": ids["record_id"], "stats": {"probe": MARK}}}]}
            if template == "/v1/shards/{shard_id}/complete":  # the victim's node committing the victim's shard
                body = {"node_id": ids["node_id"], "counters": {"probe": MARK}}
            if template == "/v1/nodes/{node_id}/shards/heartbeat":
                body = {"jobs": [1]}
            if template == "/v1/store/runs/{run_id}/lease":  # renewing the victim's run a node holds
                path = f"/v1/store/runs/{ids['live_run_id']}/lease"
                body = {"owner": "probe:1", "seconds": 30}
            out.append((method.upper(), path, body))
    return out


def test_every_route_needs_a_token_and_stays_inside_its_project(client: TestClient, control: Control) -> None:
    ids = _victim(client, control)
    intruder = tenant(control, "intruder")
    seed_record(control, intruder.project_id)  # the intruder has data of its own: lists are not empty by accident
    calls = _calls(client, ids)
    assert len(calls) >= 15
    for method, path, body in calls:
        anonymous = client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer lunge_" + "x" * 43})
        assert wrong.status_code == 401, (method, path, wrong.status_code)
        other = client.request(method, path, json=body, headers=intruder.headers)
        refused = other.status_code in (403, 404)
        scoped = other.status_code < 300 and MARK not in other.text
        assert refused or scoped, (method, path, other.status_code, other.text[:200])
        if not refused:
            assert path in ("/v1/test_run", "/v1/test_record", "/v1/test_policy", "/v1/nodes", "/v1/store/records",
                            "/v1/store/records/latest", "/v1/store/runs", "/v1/store/runs/latest",
                            "/v1/store/runs/expire_leases"), (method, path)
    # And the victim's data is untouched: the intruder's POST/PUT/DELETE did nothing to it.
    assert control.store.get_run(ids["run_id"]).state.value == "failed"
    assert control.store.get_run(ids["live_run_id"]).lease_owner == "victim-node:1"
    assert control.store.get_record(ids["record_id"]).stats.get("probe") is None
    assert control.projects.get_policy(ids["project_id"], ids["policy_id"]).name == MARK
    assert control.projects.get_node(ids["project_id"], ids["node_id"]).state == "idle"
    assert not control.store.shards.get(ids["shard_id"]).done
    assert client.get("/v1/test_run", headers=ids["headers"]).status_code == 200  # its token still works


def test_the_request_size_limit(db_url: str) -> None:
    control = open_control(ControlConfig(db_url=db_url, admin_token="a" * 32, max_body=1000))
    try:
        with TestClient(create_app(control)) as client:
            team = tenant(control, "team")
            small = client.post("/v1/test_policy", json={"policy": "name: ok\n"}, headers=team.headers)
            assert small.status_code == 201
            big = client.post("/v1/test_policy", json={"policy": "name: x\n" + "#" * 5000}, headers=team.headers)
            assert big.status_code == 413

            def chunks():  # no Content-Length: counted as it arrives
                for _ in range(20):
                    yield b"x" * 100

            streamed = client.post("/v1/test_policy", content=chunks(), headers=team.headers)
            assert streamed.status_code == 413
    finally:
        control.close()


BIG = 2 * 1_048_576  # over LUNGE_SERVE_MAX_BODY (1 MiB), under the store's wider limit


def _post_batches(control: Control, headers: dict[str, str], body: bytes,
                  path: str = "/v1/store/batches") -> tuple[int, int]:
    """(status, how many times the application called ``receive``) of a POST to ``path``,
    straight through ASGI: the count says whether the body was read at all."""
    app = create_app(control)
    reads = 0
    answer: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads == 1:
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
    asyncio.run(app(scope, receive, send))
    return answer[0], reads


def test_the_store_batches_limit_is_for_project_tokens_only(control: Control) -> None:
    """/v1/store/batches takes up to STORE_MAX_BODY, but only from a project token: anyone else is
    refused on the headers, the body never read (no anonymous client makes the server buffer 16 MiB)."""
    team = tenant(control, "team")
    body = b'{"batches": "' + b"x" * BIG + b'"}'
    wrong = {"Authorization": "Bearer lunge_" + "y" * 43}
    for headers, status in (({}, 401), (wrong, 401), ({"X-WallarmAPI-Token": "nope"}, 401),
                            ({"Authorization": f"Bearer {ADMIN}"}, 403)):
        assert _post_batches(control, headers, body) == (status, 0), headers
    # The project's token: the body is read, and judged on its content (not a list), not on its size.
    assert _post_batches(control, team.headers, body) == (422, 1)
    over = b"x" * (STORE_MAX_BODY + 1)
    assert _post_batches(control, team.headers, over) == (413, 0)  # declared length: refused unread


def test_a_shard_commit_may_be_big_for_project_tokens_only(control: Control) -> None:
    """A tested shard's findings with their evidence pass the ordinary 1 MiB: its commit has the
    store's wider limit, behind the same gate (the route then judges it: no such shard here)."""
    team = tenant(control, "team")
    body = b'{"node_id": 1, "findings": "' + b"x" * BIG + b'"}'
    assert _post_batches(control, {}, body, "/v1/shards/7/complete") == (401, 0)
    status, reads = _post_batches(control, team.headers, body, "/v1/shards/7/complete")
    assert (status, reads) != (413, 0) and reads == 1
    assert _post_batches(control, team.headers, body, "/v1/shards/7/other") == (413, 0)  # not widened


def _answer_before_the_body(url: str, headers: str, timeout: float = 30.0) -> str:
    """The status line ``lunge serve`` at ``url`` answers a 2 MiB batch POST with, read after
    sending the headers and only 64 KiB of the body (the rest is never sent)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=timeout) as conn:
        head = (f"POST /v1/store/batches HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {BIG}\r\n{headers}\r\n").encode()
        conn.sendall(head + b"{" * 65536)
        received = b""
        while b"\r\n" not in received:  # a server waiting for the body times out here: the test fails
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n", 1)[0].decode()


def test_a_real_server_refuses_an_anonymous_big_batch_before_its_body(server: str) -> None:
    assert _answer_before_the_body(server, "") == "HTTP/1.1 401 Unauthorized"
    wrong = "Authorization: Bearer lunge_" + "y" * 43 + "\r\n"
    assert _answer_before_the_body(server, wrong) == "HTTP/1.1 401 Unauthorized"


def test_failed_authentications_are_rate_limited(db_url: str) -> None:
    control = open_control(ControlConfig(db_url=db_url, admin_token="a" * 32, auth_failures=5))
    try:
        with TestClient(create_app(control)) as client:
            team = tenant(control, "team")
            bad = {"Authorization": "Bearer lunge_" + "y" * 43}
            codes = [client.get("/v1/test_run", headers=bad).status_code for _ in range(7)]
            assert codes == [401] * 5 + [429] * 2
            limited = client.get("/v1/test_run", headers=team.headers)  # same address: even a good token waits
            assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
            assert client.get("/healthz").status_code == 200
    finally:
        control.close()
