"""The anomaly fuzzer in a run: selected by the policy, set up by its fuzzer section."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from lunge.checks.anomaly import ANOMALY, FuzzerConfig, FuzzPayload
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState


def _app(seen: list[str]) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        value = request.query.get("name", "")
        seen.append(value)
        if ";" in value:
            return web.Response(status=500, text="internal error")
        return web.Response(text="<p>item</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/item", item)
    return app


async def test_the_policy_selects_and_sets_up_the_fuzzer(store, loopback) -> None:
    seen: list[str] = []
    server = await loopback(_app(seen))
    record = store.create_record("rec")
    store.add_baselines([NewBaseline(record.id, Request.from_url(server.url + "/item?name=box"), Response(200))])
    store.close_record(record.id)
    fuzzer = FuzzerConfig(payloads=(FuzzPayload("insert", "end", 128),), budget=30)
    policy = replace(BUILTIN["default"], checks=("anomaly",), passive=False, fuzzer=fuzzer)
    run = store.create_run(name="run", record_id=record.id, policy_name="fuzz")
    final = await RunEngine(store, run, RunConfig(policy=policy, checks=(ANOMALY,), workers=2)).execute()
    findings = [f for f in store.iter_findings(final.id) if f.point == "GET_name_value"]
    assert len(findings) == 1 and findings[0].check_id == "anomaly"
    assert findings[0].details["bytes"] == ["0x3b (;)"]
    assert findings[0].confidence.value == "tentative"
    assert final.state is RunState.PASSED  # tentative: the default fail_on does not fail on it
    fuzzed = [v for v in seen if v.startswith("box") and len(v) > 3]
    assert fuzzed and max(len(v) for v in fuzzed) <= 3 + 128  # the policy's payload size, not the default 250
