"""Faults of the target during a run, against real loopback servers that are stopped mid-run:
a run whose attacks went unanswered is never a pass, and a target that went away ends the run
early in ``error``."""

from __future__ import annotations

import asyncio
import doctest
import importlib
from dataclasses import replace

import pytest
from aiohttp import web

from lunge.checks.base import Check, CheckContext, Probe, Severity
from lunge.engine.events import BaselineTested, Event, Events, FindingConfirmed
from lunge.engine.outcome import decide
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState, TestSetStatus
from tests.fixtures.servers import LoopbackServer


def _probe_each(ctx: CheckContext) -> Probe:
    # Ten harmless probes per point, like a real check's payload list; never a finding.
    yield [ctx.attack(ctx.marker(), f"probe-{i}") for i in range(10)]
    return []


PROBE = Check("probe", "Probes", "xss", Severity.LOW, 0, "test check", _probe_each)


def _dying_app(serve_first: int, server: list[LoopbackServer]) -> web.Application:
    """Answers ``serve_first`` requests, then stops listening and drops its connections: the
    target process went away."""
    seen = 0

    async def page(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        if seen == serve_first:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(server[0].runner.cleanup()))
        return web.Response(text="<p>a constant page</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


def _record(store, base: str, paths: list[str]) -> int:
    record = store.create_record("rec")
    store.add_baselines([NewBaseline(record.id, Request.from_url(base + p), Response(200, body=b"<p>a</p>"))
                         for p in paths])
    store.close_record(record.id)
    return record.id


async def _serve_dying(loopback, serve_first: int) -> LoopbackServer:
    holder: list[LoopbackServer] = []
    server = await loopback(_dying_app(serve_first, holder))
    holder.append(server)
    return server


async def test_a_target_killed_mid_run_is_an_error_not_a_pass(store, loopback) -> None:
    # Two baselines of eight points: both replay fine, then the target dies under the attacks.
    server = await _serve_dying(loopback, serve_first=20)
    params = "&".join(f"p{i}=v{i}" for i in range(8))
    record_id = _record(store, server.url, [f"/a?{params}", f"/b?{params}"])
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    final = await RunEngine(store, run, RunConfig(policy=BUILTIN["default"], checks=(PROBE,), workers=4)).execute()
    assert final.state is RunState.ERROR
    assert final.error and "attack requests" in final.error and "got no answer" in final.error
    assert final.stats["attack_unanswered"] > final.stats["attack_requests"] * 0.5
    sets = list(store.iter_test_sets(final.id))
    assert sets and all(s.status is TestSetStatus.NOT_TESTED for s in sets)
    assert all(s.reason.startswith("most attacks got no answer:") for s in sets)
    assert final.stats["replay_coverage"] == 0.0 and final.baselines_tested == 0


async def test_a_target_gone_for_good_ends_the_run_early(store, loopback) -> None:
    server = await _serve_dying(loopback, serve_first=30)
    # Refused connections are fast: a record small enough to be burnt through before the
    # unreachable_after window closes would end in error by the error ratio, never by "gone".
    baselines = 3000
    record_id = _record(store, server.url, [f"/page/{i}?q=v" for i in range(baselines)])
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    policy = replace(BUILTIN["default"], unreachable_after=0.2)
    seen: list[Event] = []
    engine = RunEngine(store, run, RunConfig(policy=policy, checks=(PROBE,), workers=2), Events(seen.append))
    final = await engine.execute()
    assert final.state is RunState.ERROR
    # In-flight baselines finish after the target is declared gone (their passive findings of the
    # recorded responses included), but nothing new starts and the run's end is the last event.
    names = [type(e).__name__ for e in seen if not isinstance(e, BaselineTested | FindingConfirmed)]
    assert names[-2:] == ["TargetUnreachable", "RunFinished"] and names.count("TargetUnreachable") == 1
    assert final.error and final.error.startswith("the target went away mid-run: every origin of the target "
                                                  "refused or reset connections")
    assert engine.counters.done < baselines  # it stopped instead of burning through every baseline


async def test_a_few_unanswered_attacks_within_the_ratio_still_pass(store, loopback) -> None:
    # One baseline, 3 points x 10 probes + 2 replays; the 33rd request onwards is refused: the
    # last probes of the last point go unanswered (under 50 % of the baseline, over 5 % of the run).
    server = await _serve_dying(loopback, serve_first=30)
    record_id = _record(store, server.url, ["/a?x=1&y=2"])
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    lenient = replace(BUILTIN["default"], max_error_ratio=0.5)
    engine = RunEngine(store, run, RunConfig(policy=lenient, checks=(PROBE,), workers=1))
    final = await engine.execute()
    assert final.stats["attack_unanswered"] > 0
    assert final.state is RunState.PASSED  # within the lenient policy's ratio
    assert decide(engine.counters, BUILTIN["default"]).state is RunState.ERROR  # over the default 5 %


@pytest.mark.parametrize("name", ["lunge.engine.outcome", "lunge.engine.health", "lunge.engine.events",
                                  "lunge.node.testing"])
def test_docstring_examples(name: str) -> None:
    assert doctest.testmod(importlib.import_module(name)).failed == 0


async def test_a_target_that_never_answers_stops_the_run_too(store) -> None:
    record_id = _record(store, "http://127.0.0.1:9", [f"/page/{i}" for i in range(2000)])
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    policy = replace(BUILTIN["default"], unreachable_after=0.2)
    engine = RunEngine(store, run, RunConfig(policy=policy, checks=(PROBE,), workers=2))
    final = await engine.execute()
    assert final.state is RunState.ERROR and final.error
    assert final.error.startswith("the target never answered: every origin of the target refused")
    assert engine.counters.done < 2000
