"""Replay that keeps the application's state, end to end: real loopback targets whose requests only
work in recorded order, with values an earlier request handed out, or with linked fields."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace

from aiohttp import web

from lunge.checks.base import Check, CheckContext, Probe, Severity
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.http import Headers, Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState


def _echo_run(ctx: CheckContext) -> Probe:
    marker = ctx.marker()
    (probe,) = yield [ctx.attack(marker, "probe")]
    if marker not in probe.text:
        return []
    again = ctx.marker()
    (second,) = yield [ctx.attack(again, "confirm")]
    if again not in second.text:
        return []
    return [ECHO.verdict(ctx, second, proof=again, confirmation="two markers came back")]


ECHO = Check("echo", "Input echoed", "xss", Severity.MEDIUM, 79, "test check", _echo_run)
OK = Response(200, headers=Headers([("Content-Type", "text/html")]), body=b"<p>x</p>")


def _record(store, baselines: list[tuple[Request, Response]]) -> int:
    record = store.create_record("rec")
    store.add_baselines([NewBaseline(record.id, req, resp) for req, resp in baselines])
    store.close_record(record.id)
    return record.id


ACTIVE_ONLY = replace(BUILTIN["default"], passive=False)  # these tests count the active findings only


async def _run(store, record_id: int, policy=ACTIVE_ONLY):
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    engine = RunEngine(store, run, RunConfig(policy=policy, checks=(ECHO,), workers=4), Events())
    final = await engine.execute()
    findings = {(f.url.split("?")[0].rsplit("/", 1)[-1], f.point) for f in store.iter_findings(final.id)}
    reasons = {s.baseline_id: s.reason for s in store.iter_test_sets(final.id)}
    return final, findings, reasons


def _post(base: str, path: str, body: str, ctype: str = "application/x-www-form-urlencoded",
          headers: tuple[tuple[str, str], ...] = ()) -> Request:
    port = int(base.rsplit(":", 1)[1])
    return Request("POST", "http", "127.0.0.1", port, path,
                   headers=Headers([("Host", f"127.0.0.1:{port}"), ("Content-Type", ctype), *headers]),
                   body=body.encode())


async def test_reset_runs_first_and_the_delete_last(store, loopback) -> None:
    seen: list[str] = []
    state = {"table": False}

    async def reset(request: web.Request) -> web.Response:
        seen.append("reset")
        state["table"] = True
        return web.Response(text="ok")

    async def item(request: web.Request) -> web.Response:
        seen.append("item")
        if not state["table"]:
            return web.Response(status=500, text="no such table")
        return web.Response(text=f"<p>{request.query.get('q', '')}</p>", content_type="text/html")

    async def drop(request: web.Request) -> web.Response:
        seen.append("delete")
        state["table"] = False
        return web.Response(text="dropped")

    app = web.Application()
    app.router.add_post("/setup/reset", reset)
    app.router.add_get("/item", item)
    app.router.add_delete("/item", drop)
    server = await loopback(app)
    base = server.url
    record_id = _record(store, [
        (_post(base, "/setup/reset", ""), OK),
        (Request.from_url(base + "/item?q=hello"), OK),
        (Request("DELETE", "http", "127.0.0.1", server.port, "/item",
                 headers=Headers([("Host", f"127.0.0.1:{server.port}")])), OK),
        (Request.from_url(base + "/item?q=again&x=1"), OK),
    ])
    final, findings, reasons = await _run(store, record_id)
    assert final.state is RunState.FAILED
    assert final.stats["replay_coverage"] == 1.0
    assert ("item", "GET_q_value") in findings
    # The DELETE was held back to the end: no GET /item after it except the ones its setup prefix
    # and its own replay caused, and its test set says the reset ran before it.
    first_delete = seen.index("delete")
    assert seen[first_delete - 1] == "reset" and "item" in seen[:first_delete]
    assert any("setup replayed first: #1 POST /setup/reset" in r for r in reasons.values())
    assert final.stats["requests_setup"] >= 1
    assert final.stats["requests_attack"] == final.requests_sent - final.stats["requests_setup"]


async def test_a_rotated_api_key_is_renewed_from_the_login_that_produced_it(store, loopback) -> None:
    keys: list[str] = []

    async def login(request: web.Request) -> web.Response:
        keys.append(secrets.token_hex(8))
        return web.json_response({"data": {"api_key": keys[-1]}})

    async def echo(request: web.Request) -> web.Response:
        if not keys or request.headers.get("X-Key") != keys[-1]:
            return web.Response(status=401, text="unknown key")
        return web.Response(text=f"<p>{request.query.get('q', '')}</p>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/api/login", login)
    app.router.add_get("/echo", echo)
    server = await loopback(app)
    recorded_key = "0123456789abcdef"
    json_ok = Response(200, headers=Headers([("Content-Type", "application/json")]),
                       body=json.dumps({"data": {"api_key": recorded_key}}).encode())
    echo_request = Request.from_url(server.url + "/echo?q=hi").with_headers(
        Headers([("Host", f"127.0.0.1:{server.port}"), ("X-Key", recorded_key)]))
    record_id = _record(store, [(_post(server.url, "/api/login", '{"u": "a"}', "application/json"), json_ok),
                                (echo_request, OK)])
    final, findings, reasons = await _run(store, record_id)
    assert ("echo", "GET_q_value") in findings
    assert final.stats["replay_coverage"] == 1.0
    assert any("HEADER_X-KEY_value <- json data.api_key of #1 POST /api/login" in r for r in reasons.values())


async def test_a_one_use_csrf_token_is_fetched_before_each_send_and_never_attacked(store, loopback) -> None:
    issued: set[str] = set()
    refused: list[str] = []

    async def form(request: web.Request) -> web.Response:
        token = secrets.token_hex(8)
        issued.add(token)
        return web.Response(text=f'<form><input type="hidden" name="csrf" value="{token}"><input name="q"></form>',
                            content_type="text/html")

    async def submit(request: web.Request) -> web.Response:
        data = await request.post()
        token = data.get("csrf")
        if token not in issued:
            refused.append(str(token))
            return web.Response(status=403, text="bad token")
        issued.discard(str(token))
        return web.Response(text=f"<p>{data.get('q', '')}</p><p>{token}</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/form", form)
    app.router.add_post("/form", submit)
    server = await loopback(app)
    page = Response(200, headers=Headers([("Content-Type", "text/html")]),
                    body=b'<input type="hidden" name="csrf" value="recordedtoken1">')
    record_id = _record(store, [(Request.from_url(server.url + "/form"), page),
                                (_post(server.url, "/form", "q=hello&csrf=recordedtoken1"), OK)])
    final, findings, reasons = await _run(store, record_id)
    assert findings == {("form", "POST_FORM_URLENCODED_q_value")}
    assert refused == []  # every send carried a token fetched just before; none attacked the token
    assert final.stats["replay_coverage"] == 1.0


async def test_linked_fields_get_the_payload_together(store, loopback) -> None:
    async def change(request: web.Request) -> web.Response:
        data = await request.post()
        if data.get("password") != data.get("again"):
            return web.Response(status=400, text="passwords differ")
        return web.Response(text=f"<p>{data.get('password', '')}</p>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/pw", change)
    server = await loopback(app)
    record_id = _record(store, [(_post(server.url, "/pw", "password=s3cret-pw&again=s3cret-pw"), OK)])
    final, findings, _ = await _run(store, record_id)
    assert findings == {("pw", "POST_FORM_URLENCODED_password_value")}


async def test_an_id_created_by_a_post_is_re_derived_for_the_get_and_the_delete(store, loopback) -> None:
    items: dict[str, bool] = {}
    counter = [500]

    async def reset(request: web.Request) -> web.Response:
        items.clear()
        return web.Response(text="ok")

    async def create(request: web.Request) -> web.Response:
        counter[0] += 1
        items[str(counter[0])] = True
        return web.json_response({"id": counter[0]})

    async def show(request: web.Request) -> web.Response:
        if request.match_info["id"] not in items:
            return web.Response(status=404, text="no such item")
        return web.Response(text=f"<p>{request.query.get('q', '')}</p>", content_type="text/html")

    async def delete(request: web.Request) -> web.Response:
        return web.Response(text="gone") if items.pop(request.match_info["id"], None) else \
            web.Response(status=404, text="no such item")

    app = web.Application()
    app.router.add_post("/reset", reset)
    app.router.add_post("/items", create)
    app.router.add_get("/items/{id}", show)
    app.router.add_delete("/items/{id}", delete)
    server = await loopback(app)
    port = server.port
    created = Response(201, headers=Headers([("Content-Type", "application/json")]), body=b'{"id": 101}')
    record_id = _record(store, [
        (_post(server.url, "/reset", ""), OK),
        (_post(server.url, "/items", '{"name": "x"}', "application/json"), created),
        (Request.from_url(server.url + "/items/101?q=hi"), OK),
        (Request("DELETE", "http", "127.0.0.1", port, "/items/101", headers=Headers([("Host", f"127.0.0.1:{port}")])),
         OK),
    ])
    final, findings, reasons = await _run(store, record_id)
    assert final.stats["replay_coverage"] == 1.0, final.stats["not_tested_reasons"]
    assert [point for _, point in findings] == ["GET_q_value"]  # reached through the fresh id
    assert any("#2 (producer)" in r for r in reasons.values())  # the DELETE's id was made again


async def test_an_expired_jwt_is_renewed_before_it_is_sent() -> None:
    from lunge.checks.base import Attack, Exchange
    from lunge.engine.flow import FlowMap
    from lunge.engine.session import Sessions
    from lunge.store.models import Baseline

    def jwt(exp: int) -> str:
        import base64
        claims = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode().rstrip("=")
        return f"e30.{claims}.sig"

    login = Request("POST", "http", "t", 80, "/login")
    flows = FlowMap()
    flows.learn(1, 1, login, Response(200, headers=Headers([("Content-Type", "application/json")]),
                                      body=json.dumps({"token": jwt(100)}).encode()))
    consumer = Request.from_url("http://t/me").with_headers(Headers([("Authorization", f"Bearer {jwt(100)}")]))
    flows.learn(2, 2, consumer, None)
    sent: list[Request] = []
    issued = iter([200, 300])

    async def send_raw(attacks: list[Attack]) -> list[Exchange]:
        out = []
        for attack in attacks:
            sent.append(attack.request)
            body = json.dumps({"token": jwt(next(issued))}).encode() if attack.request.path == "/login" else b"ok"
            out.append(Exchange(attack, Response(200, headers=Headers([("Content-Type", "application/json")]),
                                                 body=body), 0.0))
        return out

    def baseline(i: int, request: Request) -> Baseline:
        from datetime import UTC, datetime
        return Baseline(i, 1, i, request, Response(200), False, 0.0, datetime.now(UTC))

    now = [150.0]

    async def load(i: int) -> Baseline:
        return baseline(i, login)

    sessions = Sessions(flows, send_raw, load, lambda r: r, clock=lambda: now[0])
    await sessions.send(baseline(2, consumer), [Attack(consumer, "", "replay")])
    assert [r.path for r in sent] == ["/login", "/me"]  # exp 100 < now 150: renewed first
    assert sent[1].headers.get("authorization") == f"Bearer {jwt(200)}"
    await sessions.send(baseline(2, consumer), [Attack(consumer, "", "replay")])
    assert [r.path for r in sent][2:] == ["/me"]  # exp 200 is still ahead: no renewal
    now[0] = 250.0
    await sessions.send(baseline(2, consumer), [Attack(consumer, "", "replay")])
    assert [r.path for r in sent][3:] == ["/login", "/me"] and sent[-1].headers.get("authorization") == \
        f"Bearer {jwt(300)}"


async def test_a_baseline_not_tested_says_what_was_tried(store, loopback) -> None:
    async def login(request: web.Request) -> web.Response:
        return web.json_response({"token": secrets.token_hex(8)})  # a token the API never accepts

    async def api(request: web.Request) -> web.Response:
        return web.Response(status=401, text="no")

    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_get("/api", api)
    server = await loopback(app)
    json_ok = Response(200, headers=Headers([("Content-Type", "application/json")]), body=b'{"token": "abcdef012345"}')
    consumer = Request.from_url(server.url + "/api?q=1").with_headers(
        Headers([("Host", f"127.0.0.1:{server.port}"), ("Authorization", "Bearer abcdef012345")]))
    record_id = _record(store, [(_post(server.url, "/login", '{"u": 1}', "application/json"), json_ok),
                                (consumer, OK)])
    final, _, reasons = await _run(store, record_id)
    (reason,) = [r for r in reasons.values() if r.startswith("401")]
    assert reason.startswith("401 on replay (recorded 200)")
    assert "401 after renewing values with baseline #1" in reason and "setup replayed first: #1 POST /login" in reason
    assert final.stats["not_tested_reasons"] == {"401 on replay (recorded 200)": 1}
