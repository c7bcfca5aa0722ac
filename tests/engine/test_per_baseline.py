"""Per-baseline checks (``Check.per_baseline``) run once per baseline whatever the points, and the
record's Set-Cookie values reach checks in record order."""

from __future__ import annotations

from aiohttp import web

from lunge.checks.base import Check, CheckContext, Probe, Severity
from lunge.engine.cookies import SetCookies
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.http import Headers, Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline

SEEN: list[tuple[str, str, tuple[str, ...]]] = []


def _whole_run(ctx: CheckContext) -> Probe:
    SEEN.append((ctx.baseline.path, ctx.point.name, tuple(sorted(ctx.set_cookies))))
    (replay,) = yield [ctx.replay("whole")]
    return []


WHOLE = Check("whole", "Whole request", "whole", Severity.LOW, 0, "test check", _whole_run, per_baseline=True)


async def test_per_baseline_check_runs_once_per_baseline_with_cookies_in_record_order(store, loopback) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>ok</p>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    server = await loopback(app)
    record = store.create_record("rec")
    login = Response(303, headers=Headers([("Set-Cookie", "sid=1; Path=/; SameSite=Lax")]), body=b"")
    store.add_baselines([
        NewBaseline(record.id, Request.from_url(server.url + "/login", "POST"), login),
        NewBaseline(record.id, Request.from_url(server.url + "/a?x=1&y=2"), Response(200, body=b"<p>ok</p>")),
    ])
    store.close_record(record.id)
    SEEN.clear()
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    engine = RunEngine(store, run, RunConfig(policy=BUILTIN["default"], checks=(WHOLE,), workers=1), Events())
    await engine.execute()
    assert sorted(SEEN) == [("/a", "URI_value", ("sid",)), ("/login", "URI_value", ("sid",))]


def test_set_cookies_snapshot_is_stable_until_something_new() -> None:
    jar = SetCookies()
    jar.note(Response(200, headers=Headers([("Set-Cookie", "a=1; SameSite=Strict")])))
    first = jar.snapshot()
    jar.note(Response(200, headers=Headers([("Set-Cookie", "a=1; SameSite=Strict")])))
    assert jar.snapshot() is first and dict(first) == {"a": "a=1; SameSite=Strict"}
    jar.note(None)
    jar.note(Response(200, headers=Headers([("Set-Cookie", "b=2")])))
    assert sorted(jar.snapshot()) == ["a", "b"] and sorted(first) == ["a"]
