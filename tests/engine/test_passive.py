"""Passive findings in a run: one per host and rule, no requests but one CORS probe per host,
secrets masked, and the build fails on them only when the policy says so."""

from __future__ import annotations

import json
from dataclasses import replace

from aiohttp import web

from lunge.checks.base import Severity
from lunge.checks.passive import PROBE_ORIGIN
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState

KEY = "AKIAIOSFODNN7EXAMPLE"


def _app(origins: list[str]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>hello</p>", content_type="text/html")

    async def api(request: web.Request) -> web.Response:
        origin = request.headers.get("Origin", "")
        origins.append(origin)
        headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"} if origin else {}
        return web.Response(text=json.dumps({"ok": True}), content_type="application/json", headers=headers)

    async def config(request: web.Request) -> web.Response:
        return web.Response(text=f"window.key = '{KEY}';", content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/a", page)
    app.router.add_get("/b", page)
    app.router.add_get("/api/one", api)
    app.router.add_get("/api/two", api)
    app.router.add_get("/config.js", config)
    return app


async def _run(store, base: str, policy=BUILTIN["default"]):
    record = store.create_record("rec")
    paths = ["/a?q=1", "/b?q=1", "/api/one?q=1", "/api/two?q=1", "/config.js?v=1"]
    store.add_baselines([NewBaseline(record.id, Request.from_url(base + p), Response(200)) for p in paths])
    store.close_record(record.id)
    run = store.create_run(name="run", record_id=record.id, policy_name=policy.name)
    final = await RunEngine(store, run, RunConfig(policy=policy, checks=(), workers=2)).execute()
    return final, list(store.iter_findings(final.id))


async def test_one_finding_per_host_and_rule_and_one_cors_probe(store, loopback) -> None:
    origins: list[str] = []
    server = await loopback(_app(origins))
    final, findings = await _run(store, server.url)
    ids = sorted(f.check_id for f in findings)
    assert ids == ["passive-cors-credentials", "passive-secret", "passive-security-headers",
                   "passive-version-banner"]
    assert origins.count(PROBE_ORIGIN) == 1  # the budget: one probe per host
    cors = next(f for f in findings if f.check_id == "passive-cors-credentials")
    assert f"Origin: {PROBE_ORIGIN}" in cors.attack_request and "one request" in cors.confirmation
    secret = next(f for f in findings if f.check_id == "passive-secret")
    assert secret.proof == "AKIA****"
    stored = json.dumps([secret.attack_request, secret.response_excerpt, secret.proof, secret.details])
    assert KEY not in stored and "AKIA****" in secret.response_excerpt
    # info and low findings never fail the build by default
    assert final.state is RunState.PASSED and final.findings_count == 4


async def test_passive_findings_fail_the_build_only_when_the_policy_says_so(store, loopback) -> None:
    server = await loopback(_app([]))
    strict = replace(BUILTIN["default"], fail_on_passive=True, fail_on_severity=Severity.LOW)
    final, _ = await _run(store, server.url, strict)
    assert final.state is RunState.FAILED and final.stats["failing_findings"] == 2  # the two low ones


async def test_passive_off_sends_no_probe(store, loopback) -> None:
    origins: list[str] = []
    server = await loopback(_app(origins))
    final, findings = await _run(store, server.url, replace(BUILTIN["default"], passive=False))
    assert findings == [] and PROBE_ORIGIN not in origins and final.state is RunState.PASSED
