"""The listener inside a real run: a loopback target that fetches at once, one that fetches after
answering (a late callback, awaited through the grace period), an allow-listed twin, and a run
with the listener off, which says so in its stats."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from lunge.checks.ssrf import SSRF
from lunge.engine.oob import OobConfig
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState


async def _get(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        return ""  # loopback only, whatever the payload
    try:
        async with aiohttp.ClientSession() as session, session.get(url, timeout=aiohttp.ClientTimeout(2)) as r:
            return await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return ""


def _app() -> web.Application:
    later: set[asyncio.Task[str]] = set()

    async def preview(request: web.Request) -> web.Response:
        return web.Response(text=f"<pre>{await _get(request.query.get('url', ''))}</pre>")

    async def hook(request: web.Request) -> web.Response:
        async def call() -> str:
            await asyncio.sleep(0.3)
            return await _get(request.query.get("url", ""))

        task = asyncio.ensure_future(call())
        later.add(task)
        task.add_done_callback(later.discard)
        return web.Response(text="queued")

    async def safe(request: web.Request) -> web.Response:
        url = request.query.get("url", "")
        own = f"http://{request.host}/"
        return web.Response(text=f"<pre>{await _get(url) if url.startswith(own) else 'refused'}</pre>")

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    app = web.Application()
    for path, handler in (("/preview", preview), ("/hook", hook), ("/safe", safe), ("/ping", ping)):
        app.router.add_get(path, handler)
    return app


async def _execute(store, base: str, oob: OobConfig):
    record = store.create_record("rec")
    paths = [f"/preview?url={base}/ping", f"/hook?url={base}/ping", f"/safe?url={base}/ping"]
    store.add_baselines([NewBaseline(record.id, Request.from_url(base + p), Response(200, body=b"<pre>pong</pre>"))
                         for p in paths])
    store.close_record(record.id)
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    policy = replace(BUILTIN["default"], passive=False)  # the aiohttp banner is a fair passive finding
    engine = RunEngine(store, run, RunConfig(policy=policy, checks=(SSRF,), workers=4, oob=oob))
    return await engine.execute()


async def test_immediate_and_late_callbacks_become_findings_and_the_twin_stays_silent(store, loopback) -> None:
    server = await loopback(_app())
    final = await _execute(store, server.url, OobConfig(dns_port=None, grace=2.0))

    findings = {urlsplit(f.url).path: f for f in store.iter_findings(final.id)}
    assert final.state is RunState.FAILED
    assert set(findings) == {"/preview", "/hook"}
    assert findings["/preview"].details["full_read"] is True
    late = findings["/hook"]
    assert late.details["deferred"] is True and late.details["oob"]["protocol"] == "http"
    assert late.proof.startswith("GET /") and late.details["oob"]["request"].startswith(late.proof)
    stats = final.stats["oob"]
    assert stats["enabled"] and stats["deferred_confirmed"] >= 1
    assert final.stats["requests_by_check"]["ssrf"] >= 4


async def test_with_the_listener_off_the_report_says_which_checks_ran_without_it(store, loopback) -> None:
    server = await loopback(_app())
    final = await _execute(store, server.url, OobConfig(enabled=False, reason="turned off (LUNGE_OOB=false)"))

    assert final.stats["oob"] == {"enabled": False, "checks_needing_listener": ["ssrf"],
                                  "reason": "turned off (LUNGE_OOB=false)", "checks_without_listener": ["ssrf"]}
    assert list(store.iter_findings(final.id)) == []
