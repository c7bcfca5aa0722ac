"""The engine end to end: a real loopback target, a real SQLite store, a small echo check."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiohttp import web

from lunge.checks.base import Check, CheckContext, Confidence, Probe, Severity
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.http import Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState, TestSetStatus


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


def _crashing_run(ctx: CheckContext) -> Probe:
    yield [ctx.attack("x", "probe")]
    raise RuntimeError("boom")


CRASH = Check("crash", "Crashes", "xss", Severity.LOW, 0, "a broken plugin", _crashing_run)


def _app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"<p>{request.query.get('q', '')}</p>", content_type="text/html")

    async def safe(request: web.Request) -> web.Response:
        return web.Response(text="<p>constant</p>", content_type="text/html")

    async def private(request: web.Request) -> web.Response:
        return web.Response(status=401, text="login required")

    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_get("/safe", safe)
    app.router.add_get("/private", private)
    return app


def _record(store, base: str, paths: list[str]) -> int:
    record = store.create_record("rec")
    store.add_baselines([NewBaseline(record.id, Request.from_url(base + p), Response(200, body=b"<p>x</p>"))
                         for p in paths])
    store.close_record(record.id)
    return record.id


async def _run(store, record_id: int, checks=(ECHO,), **config):
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    # Passive rules off: these tests count the echo check's findings (tests/engine/test_passive.py has theirs).
    policy = config.pop("policy", replace(BUILTIN["default"], passive=False))
    cfg = RunConfig(policy=policy, checks=checks, workers=4, **config)
    found = []
    engine = RunEngine(store, run, cfg, Events(finding=found.append))
    return await engine.execute(), found, engine


async def test_finds_the_echo_not_the_constant_and_records_everything(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, server.url, ["/echo?q=hello", "/safe?q=hello", "/echo?q=again"])
    final, found, _ = await _run(store, record_id)
    assert final.state is RunState.FAILED
    findings = list(store.iter_findings(final.id))
    assert [(f.check_id, f.point) for f in findings] == [("echo", "GET_q_value")]
    assert found and found[0].id == findings[0].id
    sets = {s.baseline_id: s for s in store.iter_test_sets(final.id)}
    assert len(sets) == 3
    assert sorted(s.status for s in sets.values()) == [TestSetStatus.FAILED, TestSetStatus.PASSED,
                                                       TestSetStatus.PASSED]
    assert final.baselines_tested == 3 and final.requests_sent > 6
    assert final.stats["replay_coverage"] == 1.0
    # the second /echo baseline was attacked lightly or skipped: the finding exists for that key
    assert final.findings_count == 1


async def test_unreplayable_baselines_are_not_tested_and_low_coverage_is_an_error(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, server.url, ["/private?q=1", "/private?q=2", "/safe?q=1"])
    final, _, _ = await _run(store, record_id)
    assert final.state is RunState.ERROR
    assert final.error and "replay coverage 33%" in final.error
    reasons = final.stats["not_tested_reasons"]
    assert reasons == {"401 on replay (recorded 200)": 2}


async def test_dead_target_is_an_error_not_a_pass(store) -> None:
    record_id = _record(store, "http://127.0.0.1:9", ["/echo?q=1"])
    final, _, _ = await _run(store, record_id)
    assert final.state is RunState.ERROR and final.baselines_not_tested == 1


async def test_target_rewrite_and_a_broken_check_does_not_stop_the_run(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, "http://app.internal:8000", ["/echo?q=hello"])
    final, _, _ = await _run(store, record_id, checks=(CRASH, ECHO), target=server.url)
    assert final.state is RunState.FAILED
    assert final.stats["check_failures"] == 3  # it crashed on each of the 3 points
    assert final.stats["failed_checks"] == {"crash": 3}
    finding = next(iter(store.iter_findings(final.id)))
    assert finding.url.startswith(server.url)


async def test_stop_on_first_fail(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, server.url, [f"/echo?q=x&n{i}=1" for i in range(30)])
    final, _, engine = await _run(store, record_id, stop_on_first_fail=True)
    assert final.state is RunState.FAILED
    assert engine.counters.done < 30


async def test_interrupt_keeps_results_and_ends_interrupted(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, server.url, [f"/echo?p{i}=x" for i in range(200)])
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    engine = RunEngine(store, run, RunConfig(policy=BUILTIN["default"], checks=(ECHO,), workers=2))
    task = asyncio.ensure_future(engine.execute())
    while engine.counters.done < 5:
        await asyncio.sleep(0.01)
    engine.interrupt()
    final = await task
    assert final.state is RunState.INTERRUPTED
    assert 5 <= final.baselines_tested < 200
    assert len(list(store.iter_test_sets(final.id))) == engine.counters.done


async def test_policy_limits_and_exclusions(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, server.url, ["/echo?q=hello"])
    policy = replace(BUILTIN["default"], exclude=("GET_q",), passive=False)
    final, _, _ = await _run(store, record_id, policy=policy)
    assert final.findings_count == 0 and final.state is RunState.PASSED


async def test_confidence_below_fail_on_does_not_fail(store, loopback) -> None:
    def tentative(ctx: CheckContext) -> Probe:
        (probe,) = yield [ctx.attack(ctx.marker(), "probe")]
        return [WEAK.verdict(ctx, probe, proof="", confirmation="a hunch", confidence=Confidence.TENTATIVE)]

    WEAK = Check("weak", "Hunch", "xss", Severity.HIGH, 0, "", tentative)
    server = await loopback(_app())
    record_id = _record(store, server.url, ["/safe?q=1"])
    final, _, _ = await _run(store, record_id, checks=(WEAK,))
    # one per point, the URI one folded into the parameter it reaches; none fails the build
    assert final.findings_count == 2 and final.state is RunState.PASSED


async def test_an_engine_fault_ends_the_run_instead_of_hanging_it(store, loopback, monkeypatch) -> None:
    # More baselines than the queue holds: the producer is waiting for room when every consumer
    # has failed, and must be let go instead of waiting forever.
    server = await loopback(_app())
    record_id = _record(store, server.url, [f"/echo?q=v{i}" for i in range(40)])

    async def broken(self, baseline) -> None:
        raise RuntimeError("engine fault")

    monkeypatch.setattr(RunEngine, "_test_baseline", broken)
    with pytest.raises(ExceptionGroup) as failure:
        await asyncio.wait_for(_run(store, record_id), timeout=20)
    assert failure.group_contains(RuntimeError, match="engine fault")


def _noting_run(ctx: CheckContext) -> Probe:
    (probe,) = yield [ctx.attack("<m>", "probe")]
    if "<m>" in probe.text:
        ctx.note("markup reflected")
    return []


NOTE = Check("note", "Notes", "xss", Severity.LOW, 0, "a check that notes", _noting_run)


async def test_a_checks_notes_land_on_the_test_set_reason(store, loopback) -> None:
    server = await loopback(_app())
    record_id = _record(store, server.url, ["/echo?q=hello", "/safe?q=hello"])
    final, _, _ = await _run(store, record_id, checks=(NOTE,))
    assert final.state is RunState.PASSED
    reasons = sorted(s.reason for s in store.iter_test_sets(final.id))
    assert reasons == ["", "note GET_q_value: markup reflected"]


def test_every_limit_is_the_whole_runs_divided_between_partitions() -> None:
    policy = replace(BUILTIN["default"], limits=replace(BUILTIN["default"].limits, rps=20, workers=9))
    config = RunConfig(policy=policy, checks=(ECHO,), workers=10, rps=500)
    assert (config.effective_rps, config.effective_workers) == (20, 9)  # the policy's limits win
    half = config.for_partition(1, 2)
    assert (half.effective_rps, half.effective_workers) == (10, 5)
    node_only = RunConfig(policy=BUILTIN["default"], checks=(ECHO,), workers=10, rps=3).for_partition(0, 4)
    assert (node_only.effective_rps, node_only.effective_workers) == (0.75, 10)  # WORKERS is per process


async def test_following_a_record_tests_baselines_as_they_arrive_until_it_is_closed(store, loopback) -> None:
    """``RunConfig.follow``: the engine waits for baselines stored after it started, tests each as it
    comes, and ends once the record is closed, after what was stored before the close."""
    server = await loopback(_app())
    record = store.create_record("live")
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    found: list[object] = []
    cfg = RunConfig(policy=replace(BUILTIN["default"], passive=False), checks=(ECHO,), workers=2, follow=0.05)
    engine = RunEngine(store, run, cfg, Events(finding=found.append))
    testing = asyncio.create_task(engine.execute())

    def add(path: str) -> None:
        baseline = NewBaseline(record.id, Request.from_url(server.url + path), Response(200, body=b"<p>x</p>"))
        store.add_baselines([baseline])

    await asyncio.sleep(0.3)
    assert not testing.done()  # an empty record being recorded: waiting, not finished
    add("/echo?q=first")
    async with asyncio.timeout(60):
        while not found:
            await asyncio.sleep(0.05)
    assert not testing.done()  # found while the record is still open
    add("/safe?q=second")
    store.close_record(record.id)
    async with asyncio.timeout(60):
        final = await testing
    assert (final.state, final.baselines_total, final.baselines_tested) == (RunState.FAILED, 2, 2)
    statuses = {t.baseline_id: t.status for t in store.iter_test_sets(run.id)}
    assert sorted(statuses.values()) == sorted([TestSetStatus.FAILED, TestSetStatus.PASSED])
