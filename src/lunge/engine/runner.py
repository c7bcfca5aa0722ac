"""Running a test run: stream the record's baselines, replay each, attack the points the policy
selects with the checks that apply, store what is confirmed, and decide the run's final state.

Memory stays flat as records grow: baselines come from the store page by page through a bounded
queue, and nothing about a baseline is kept after its test set is written, except what the stored
XSS pass needs (small: planted markers and sink candidates).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lunge.checks import noise
from lunge.checks.base import Attack, Check, CheckContext, Exchange, TimingStats, Verdict
from lunge.engine import evidence, stored
from lunge.engine.oob import OFF, OobConfig, OobService
from lunge.engine.planner import Depth, Frequency, select_points
from lunge.engine.probe import ProbeResult, run_probe
from lunge.engine.replay import judge
from lunge.engine.results import Counters, Results
from lunge.engine.sender import Sender
from lunge.http import Request, parse
from lunge.http.points import Point, Points
from lunge.policy import TestPolicy
from lunge.store.base import Store
from lunge.store.models import Baseline, Finding, RunState, TestRun, TestSet, TestSetStatus

logger = logging.getLogger(__name__)
PAGE = 200
TIMING_SAMPLES_KEPT = 200


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How to run: the policy and checks, and the node's limits (the policy's limits win where set)."""

    policy: TestPolicy
    checks: tuple[Check, ...]
    workers: int = 10
    rps: int | None = None
    target: str | None = None  # TEST_RUN_URI
    verify_tls: bool = False
    stop_on_first_fail: bool = False
    replays: int = 2
    partition: tuple[int, int] = (0, 1)  # (index, count): this process tests seq % count == index
    stored_pass: bool = True
    oob: OobConfig = OFF  # the out-of-band listener (LUNGE_OOB*)

    @property
    def effective_workers(self) -> int:
        return self.policy.limits.workers or self.workers

    @property
    def effective_rps(self) -> int | None:
        return self.policy.limits.rps or self.rps


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for the progress bar."""

    total: int
    done: int
    tested: int
    not_tested: int
    requests: int
    rps: float
    findings: int


@dataclass(slots=True)
class PartitionResult:
    """What one worker process did (picklable), for the parent to merge."""

    counters: Counters
    sent: int
    errors: int
    timeouts: int
    markers: dict[str, tuple[int, str, str]]
    candidates: dict[tuple[str, ...], Request]
    stop_reason: RunState | None


@dataclass(slots=True)
class Events:
    """Callbacks the node passes in (all optional)."""

    progress: Callable[[Progress], None] | None = None
    finding: Callable[[Finding], None] | None = None


@dataclass(slots=True)
class _HostTiming:
    samples: list[float] = field(default_factory=list)
    # Every check context takes a snapshot: copy the samples only after they change.
    _snapshot: TimingStats | None = field(default=None, init=False, repr=False)

    def add(self, values: list[float]) -> None:
        if values:
            self.samples.extend(values)
            del self.samples[:-TIMING_SAMPLES_KEPT]
            self._snapshot = None

    def snapshot(self) -> TimingStats:
        if self._snapshot is None:
            self._snapshot = TimingStats(tuple(self.samples))
        return self._snapshot


class RunEngine:
    """Executes one test run. ``await engine.execute()`` returns the final :class:`TestRun`;
    ``engine.interrupt()`` stops it gracefully (state ``interrupted``, results kept)."""

    def __init__(self, store: Store, run: TestRun, config: RunConfig, events: Events | None = None) -> None:
        self.store = store
        self.run = run
        self.config = config
        self.events = events or Events()
        self.results = Results(store)
        self.frequency = Frequency(config.policy.light_after)
        self.stored = stored.StoredXss(config.checks, config.policy)
        self.oob = OobService(config.oob, config.checks)
        self._target = _origin(config.target) if config.target else None
        self._allowed: set[tuple[str, int]] = set()
        self._timings: dict[tuple[str, int], _HostTiming] = {}
        self._stop_reason: RunState | None = None
        self._sender: Sender | None = None
        self._extra_sent = self._extra_errors = self._extra_timeouts = 0  # from other processes

    # ------------------------------------------------------------------ control
    def interrupt(self) -> None:
        """Stop taking new work; in-flight requests finish; the run ends ``interrupted``."""
        if self._stop_reason is None:
            self._stop_reason = RunState.INTERRUPTED

    def stopping(self) -> bool:
        return self._stop_reason is not None

    @property
    def counters(self) -> Counters:
        return self.results.counters

    # ------------------------------------------------------------------ the run
    async def execute(self) -> TestRun:
        """The whole run in this process: every baseline, the stored-XSS pass, the final state."""
        await self.start()
        async with self.oob.listening(), self._sending():
            await self._first_pass()
            if self.config.stored_pass and not self.stopping():
                # the first pass's buffered test sets go first: a stored finding's FAILED one must win
                await self.results.flush()
                await self._stored_pass()
            await self.oob.settle(self._store_late, self.stopping)
            self._report_progress()  # the stored pass sent more: the bar ends on the summary's count
        await self.results.flush()
        return await self.finish()

    async def start(self) -> None:
        """Mark the run ``running`` (once, by the process that owns the run)."""
        total = await asyncio.to_thread(self.store.count_baselines, self.run.record_id)
        self.run = await asyncio.to_thread(
            self.store.update_run, self.run.id, state=RunState.RUNNING, started_at=datetime.now(UTC),
            baselines_total=total,
        )

    async def execute_partition(self) -> PartitionResult:
        """This process's share of the baselines (``config.partition``), without the final state:
        the parent merges the shares (``PROCESSES``)."""
        async with self.oob.listening(), self._sending():
            await self._first_pass()
            await self.oob.settle(self._store_late, self.stopping)
        await self.results.flush()
        sender = self._sender
        return PartitionResult(
            counters=self.counters, sent=sender.stats.sent if sender else 0,
            errors=sender.stats.errors if sender else 0, timeouts=sender.stats.timeouts if sender else 0,
            markers=dict(self.stored.markers), candidates=dict(self.stored.candidates),
            stop_reason=self._stop_reason,
        )

    async def run_stored_pass(self, partitions: list[PartitionResult]) -> None:
        """The stored-XSS pass over the markers and sink candidates of all partitions."""
        for part in partitions:
            self.stored.markers.update(part.markers)
            for key, request in part.candidates.items():
                self.stored.candidates.setdefault(key, request)
        async with self._sending():
            await self._stored_pass()

    @asynccontextmanager
    async def _sending(self) -> AsyncIterator[Sender]:
        workers = self.config.effective_workers
        async with Sender(workers=workers, rps=self.config.effective_rps, timeout=self.config.policy.limits.timeout,
                          allowed=None, verify_tls=self.config.verify_tls) as sender:
            previous, self._sender = self._sender, sender
            try:
                yield sender
            finally:
                if previous is not None:
                    sender.stats.sent += previous.stats.sent
                    sender.stats.errors += previous.stats.errors
                    sender.stats.timeouts += previous.stats.timeouts

    async def _first_pass(self) -> None:
        total = await asyncio.to_thread(self.store.count_baselines, self.run.record_id)
        index, count = self.config.partition
        self.counters.total = len(range(index, total, count)) if count > 1 else total
        workers = self.config.effective_workers
        queue: asyncio.Queue[Baseline | None] = asyncio.Queue(maxsize=workers * 2)
        consumers = max(1, workers)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._produce(queue, consumers))
            for _ in range(consumers):
                group.create_task(self._consume(queue))

    async def _produce(self, queue: asyncio.Queue[Baseline | None], consumers: int) -> None:
        after = 0
        index, count = self.config.partition
        try:
            while not self.stopping():
                page = await asyncio.to_thread(self._read_page, after)
                if not page:
                    break
                after = page[-1].seq
                for baseline in page:
                    if count == 1 or baseline.seq % count == index:
                        await queue.put(baseline)
                    if self.stopping():
                        break
        finally:
            # Cancelled (a consumer failed and the task group is unwinding): nobody will read the
            # queue again, so waiting for room would hang the run instead of ending it.
            if not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                for _ in range(consumers):
                    await queue.put(None)

    def _read_page(self, after: int) -> list[Baseline]:
        return list(itertools.islice(self.store.iter_baselines(self.run.record_id, after_seq=after), PAGE))

    async def _consume(self, queue: asyncio.Queue[Baseline | None]) -> None:
        while (baseline := await queue.get()) is not None:
            if self.stopping():
                continue
            await self._test_baseline(baseline)
            self._report_progress()

    # ------------------------------------------------------------------ one baseline
    async def _test_baseline(self, baseline: Baseline) -> None:
        request = self._moved(baseline.request)
        replays = await self._replay(request)
        verdict = judge(baseline.response, replays)
        if not verdict.ok:
            await self._test_set(baseline, TestSetStatus.NOT_TESTED, verdict.reason, len(replays), replay_ok=False)
            return
        points = parse(request)
        selected = select_points(points, self.config.policy)
        self.stored.note_sink_candidate(baseline, request)
        if not selected:
            await self._test_set(baseline, TestSetStatus.NOT_TESTED, "no point selected by the policy",
                                 len(replays), replay_ok=True)
            return
        base_noise = noise.build(replays, baseline.response.text() if baseline.response else None, "")
        probes = await self._attack_points(baseline, request, points, selected, replays, base_noise)
        requests = len(replays) + sum(p.requests for p in probes)
        requests += await self.stored.prime(baseline, request, points, selected, self._send_all)
        verdicts = self.oob.hold(baseline, request, [v for p in probes for v in p.verdicts])
        findings = await self._store_verdicts(baseline, request, most_specific(verdicts))
        status = TestSetStatus.FAILED if findings else TestSetStatus.PASSED
        failures = [p.failure for p in probes if p.failure]
        self.counters.check_failures += len(failures)
        for probe in probes:
            by_check = self.counters.requests_by_check
            by_check[probe.check_id] = by_check.get(probe.check_id, 0) + probe.requests
            if probe.failure:
                failed = self.counters.failed_checks
                failed[probe.check_id] = failed.get(probe.check_id, 0) + 1
        reason = f"{len(failures)} check failure(s): {failures[0]}" if failures else ""
        await self._test_set(baseline, status, reason, requests, replay_ok=True, findings=len(findings),
                             points=len(selected))

    async def _replay(self, request: Request) -> list[Exchange]:
        assert self._sender is not None
        # These replays run alongside other attacks, so their latencies are not fed to the host's
        # timing model: only samples taken alone in the quiet lane (a check's calibration) are, or
        # load would inflate the jitter and every time-based probe would ask for longer delays.
        return [await self._sender.send(Attack(request, "", "replay")) for _ in range(self.config.replays)]

    async def _attack_points(self, baseline: Baseline, request: Request, points: Points, selected: list[Point],
                             replays: list[Exchange], base_noise: noise.NoiseModel) -> list[ProbeResult]:
        jobs = []
        for point in selected:
            point_noise = _for_point(base_noise, replays, point.value)
            for check in self.config.checks:
                if check.id in stored.SECOND_ORDER:
                    continue
                key = self.frequency.key(request, point, check.id)
                depth = self.frequency.claim(key)
                if depth is Depth.SKIP:
                    continue
                ctx = self._context(baseline, request, points, point, replays, point_noise, check, depth)
                if _applies(check, ctx):
                    jobs.append((key, check, ctx))
        self.counters.points_attacked += len(selected)
        self.counters.points_lightened = self.frequency.lightened
        results = await self._run_probes([(check, ctx) for _, check, ctx in jobs])
        for (key, _, _), result in zip(jobs, results, strict=True):
            if result.verdicts:
                self.frequency.record_finding(key)
        return list(results)

    async def _run_probes(self, jobs: list[tuple[Check, CheckContext]]) -> list[ProbeResult]:
        """Run a baseline's probes concurrently, in at most ``WORKERS`` tasks that take the next
        probe when one ends: more tasks could not send more at once, and each costs CPU."""
        results: list[ProbeResult] = [ProbeResult()] * len(jobs)
        pending = iter(range(len(jobs)))

        async def runner() -> None:
            for i in pending:
                check, ctx = jobs[i]
                results[i] = await self._probe(check, ctx)

        width = min(len(jobs), self.config.effective_workers)
        if width == 1:
            await runner()
        elif width > 1:
            await asyncio.gather(*(runner() for _ in range(width)))
        return results

    def _context(self, baseline: Baseline, request: Request, points: Points, point: Point,
                 replays: list[Exchange], point_noise: noise.NoiseModel, check: Check, depth: Depth,
                 sinks: tuple[Request, ...] = ()) -> CheckContext:
        return CheckContext(
            baseline=request, recorded=baseline.response, replays=tuple(replays), point=point, points=points,
            noise=point_noise, timing=self._timing(request).snapshot(),
            seed=(self.run.id, baseline.id, point.name, check.id),
            light=depth is Depth.LIGHT, time_delay=self.config.policy.limits.time_delay, sinks=sinks,
            oob=self.oob.endpoint, thorough=self.config.policy.thorough,
        )

    async def _probe(self, check: Check, ctx: CheckContext) -> ProbeResult:
        allowed = {(ctx.baseline.host.lower(), ctx.baseline.port)}
        allowed.update((s.host.lower(), s.port) for s in ctx.sinks)
        result = await run_probe(check, ctx, self._send_all, allowed_origins=allowed, stopping=self.stopping)
        self._timing(ctx.baseline).add(result.timing_samples)
        return result

    async def _send_all(self, attacks: list[Attack]) -> list[Exchange]:
        assert self._sender is not None
        return self.oob.attach(await self._sender.send_all(attacks))

    async def _store_late(self, baseline: Baseline, request: Request, verdict: Verdict) -> None:
        """A verdict confirmed by an out-of-band callback after its test set was written."""
        found = await self._store_verdicts(baseline, request, [verdict])
        if found:
            await asyncio.to_thread(self.store.add_test_sets, [TestSet(
                self.run.id, baseline.id, TestSetStatus.FAILED, "confirmed by a late out-of-band callback",
                0, len(found), 1)])

    async def _store_verdicts(self, baseline: Baseline, request: Request, verdicts: list[Verdict]) -> list[Finding]:
        if not verdicts:
            return []
        new = [evidence.to_finding(v, run_id=self.run.id, baseline_id=baseline.id, baseline=request) for v in verdicts]
        findings = await self.results.add_findings(new)
        policy = self.config.policy
        for finding in findings:
            if policy.fails(finding.severity, finding.confidence):
                self.counters.failing_findings += 1
                if (self.config.stop_on_first_fail or policy.stop_on_first_fail) and self._stop_reason is None:
                    self._stop_reason = RunState.FAILED
            if self.events.finding is not None:
                self.events.finding(finding)
        return findings

    async def _test_set(self, baseline: Baseline, status: TestSetStatus, reason: str, requests: int, *,
                        replay_ok: bool, findings: int = 0, points: int = 0) -> None:
        test_set = TestSet(self.run.id, baseline.id, status, reason, requests, findings, points)
        await self.results.add_test_set(test_set, replay_ok=replay_ok)

    # ------------------------------------------------------------------ stored XSS
    async def _stored_pass(self) -> None:
        """Second-order XSS: replay the sink candidates, map planted markers to the pages that show
        them, then attack each source whose marker came back elsewhere."""
        sources = await self.stored.discover_sinks(self._send_all)
        for source in sources:
            if self.stopping():
                return
            baseline = await asyncio.to_thread(self.store.get_baseline, source.baseline_id)
            request = self._moved(baseline.request)
            replays = await self._replay(request)
            points = parse(request)
            point = points.get(source.point)
            if point is None or not judge(baseline.response, replays).ok:
                continue
            base_noise = noise.build(replays, baseline.response.text() if baseline.response else None, point.value)
            for check in self.stored.checks:
                ctx = self._context(baseline, request, points, point, replays, base_noise, check, Depth.FULL,
                                    sinks=source.sinks)
                if not _applies(check, ctx):
                    continue
                result = await self._probe(check, ctx)
                found = await self._store_verdicts(baseline, request, result.verdicts)
                if found:
                    await asyncio.to_thread(self.store.add_test_sets, [TestSet(
                        self.run.id, baseline.id, TestSetStatus.FAILED, "stored XSS found in the second-order pass",
                        result.requests, len(found), 1)])

    # ------------------------------------------------------------------ helpers
    def _moved(self, request: Request) -> Request:
        if self._target is not None:
            scheme, host, port = self._target
            request = request.with_origin(scheme, host, port)
        self._allowed.add((request.host.lower(), request.port))
        return request

    def _timing(self, request: Request) -> _HostTiming:
        key = (request.host.lower(), request.port)
        timing = self._timings.get(key)
        if timing is None:
            timing = self._timings[key] = _HostTiming()
        return timing

    def _report_progress(self) -> None:
        if self.events.progress is None or self._sender is None:
            return
        c = self.counters
        self.events.progress(Progress(c.total, c.done, c.tested, c.not_tested, self._sender.stats.sent,
                                      self._sender.stats.rps(), c.findings))

    def merge(self, partitions: list[PartitionResult]) -> None:
        """Fold the partitions' counters into this engine's, so :meth:`finish` sees the whole run."""
        c = self.counters
        for part in partitions:
            p = part.counters
            for name in ("total", "done", "replay_ok", "tested", "not_tested", "findings", "failing_findings",
                         "check_failures", "points_attacked", "points_lightened"):
                setattr(c, name, getattr(c, name) + getattr(p, name))
            for reason, n in p.not_tested_reasons.items():
                c.not_tested_reasons[reason] = c.not_tested_reasons.get(reason, 0) + n
            for check_id, n in p.failed_checks.items():
                c.failed_checks[check_id] = c.failed_checks.get(check_id, 0) + n
            for check_id, n in p.requests_by_check.items():
                c.requests_by_check[check_id] = c.requests_by_check.get(check_id, 0) + n
            self._extra_sent += part.sent
            self._extra_errors += part.errors
            self._extra_timeouts += part.timeouts
            if part.stop_reason is not None and self._stop_reason is None:
                self._stop_reason = part.stop_reason

    async def finish(self) -> TestRun:
        """Decide and store the final state and counters."""
        state, error = decide(self.counters, self.config.policy, self._stop_reason)
        sender = self._sender
        sent = (sender.stats.sent if sender else 0) + self._extra_sent
        stats = {
            "replay_coverage": round(self.counters.coverage, 4),
            "replay_ok": self.counters.replay_ok,
            "not_tested_reasons": self.counters.not_tested_reasons,
            "check_failures": self.counters.check_failures,
            "failed_checks": self.counters.failed_checks,
            "points_attacked": self.counters.points_attacked,
            "points_lightened": self.counters.points_lightened,
            "failing_findings": self.counters.failing_findings,
            "requests_by_check": dict(sorted(self.counters.requests_by_check.items())),
            "oob": self.oob.summary(),
            "stored_xss_sources": self.stored.sources_found,
            "requests_errors": (sender.stats.errors if sender else 0) + self._extra_errors,
            "requests_timeouts": (sender.stats.timeouts if sender else 0) + self._extra_timeouts,
            "policy": self.config.policy.summary(),
        }
        return await asyncio.to_thread(
            self.store.update_run, self.run.id, state=state, finished_at=datetime.now(UTC), error=error,
            requests_sent=sent, baselines_tested=self.counters.tested,
            baselines_not_tested=self.counters.not_tested, findings_count=self.counters.findings, stats=stats,
        )


def decide(counters: Counters, policy: TestPolicy, stop_reason: RunState | None) -> tuple[RunState, str | None]:
    """The final state: interrupted, failed (findings at or above fail_on), error (too little
    replay coverage, or nothing tested: never a silent green), or passed."""
    if stop_reason is RunState.INTERRUPTED:
        return RunState.INTERRUPTED, "interrupted before the end"
    if stop_reason is RunState.FAILED:
        return RunState.FAILED, None
    if counters.done == 0:
        return RunState.ERROR, "the test record has no baselines to test"
    if counters.coverage < policy.replay_coverage_threshold:
        return RunState.ERROR, (f"replay coverage {counters.coverage:.0%} is under the policy's threshold "
                                f"{policy.replay_coverage_threshold:.0%}: most baselines no longer replay as recorded")
    if counters.tested == 0:
        return RunState.ERROR, "nothing was tested: no baseline had a point the policy selects"
    if counters.failing_findings:
        return RunState.FAILED, None
    return RunState.PASSED, None


def most_specific(verdicts: list[Verdict]) -> list[Verdict]:
    """Drop a check's verdict on the whole URI when the same check also confirmed a more specific
    point of the baseline: a payload appended to the URI lands in its last query parameter, so both
    report one vulnerability, and the named parameter is the useful one."""
    specific = {v.check_id for v in verdicts if v.point != "URI_value"}
    return [v for v in verdicts if v.point != "URI_value" or v.check_id not in specific]


def _for_point(base: noise.NoiseModel, replays: list[Exchange], value: str) -> noise.NoiseModel:
    """The endpoint's noise model with this point's recorded value removed where it is reflected."""
    if len(value) < 3 or not any(value in r.text for r in replays if r.response is not None):
        return base
    text = replays[0].text
    return replace(base, reference=base.clean(text, (value,)), reflected=(*base.reflected, value))


def _applies(check: Check, ctx: CheckContext) -> bool:
    try:
        return bool(check.applies(ctx))
    except Exception:  # the plugin boundary: a gate that raises means "not this point"
        logger.exception("check %s: applies() raised on %s", check.id, ctx.point.name)
        return False


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


__all__ = ["Events", "PartitionResult", "Progress", "RunConfig", "RunEngine", "decide"]
