"""Running a test run: stream the record's baselines, replay each, attack the points the policy
selects with the checks that apply, store what is confirmed, and hand the counters to
:func:`lunge.engine.outcome.decide` for the run's final state.

One path for every run: the baselines are split into ``partitions`` (``seq % count == index``),
each tested by :meth:`RunEngine.run_partition` (in this process, or in a worker process with
``PROCESSES``); then the second-order pass runs over what every partition planted, and
:meth:`RunEngine.finish` merges the partitions' counters and decides. :meth:`RunEngine.execute`
is that path with one partition.

Memory stays flat as records grow: baselines come from the store page by page through a bounded
queue, and nothing about a baseline is kept after its test set is written, except what the
second-order pass needs (small: planted markers and sink candidates).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lunge.checks import anomaly, noise
from lunge.checks.base import Attack, Check, CheckContext, Exchange, TimingStats, Verdict
from lunge.checks.identity import Identities, Identity
from lunge.engine import evidence, identities, passive, stored
from lunge.engine.config import Partition, PartitionResult, RunConfig
from lunge.engine.cookies import SetCookies
from lunge.engine.events import (
    BaselineTested,
    Events,
    FindingConfirmed,
    Progress,
    RunFinished,
    RunStarted,
    TargetUnreachable,
)
from lunge.engine.health import TargetHealth
from lunge.engine.keeper import StateKeeper, linked_points
from lunge.engine.oob import OobService
from lunge.engine.oob_relay import Reader
from lunge.engine.order import Gate, pin_patterns
from lunge.engine.outcome import Stop, decide, fails_build
from lunge.engine.planner import Depth, Frequency, select_points
from lunge.engine.probe import ProbeResult, SendAll, run_probe
from lunge.engine.publickeys import PublicKeys
from lunge.engine.replay import judge
from lunge.engine.results import Counters, Results, Tally, test_set_reason
from lunge.engine.sender import Sender
from lunge.engine.tokenclaims import TokenClaims
from lunge.http import Request, parse
from lunge.http.points import Point, Points
from lunge.store.base import Store
from lunge.store.models import Baseline, Finding, RecordState, RunState, TestRun, TestSet, TestSetStatus

logger = logging.getLogger(__name__)
PAGE = 200
TIMING_SAMPLES_KEPT = 200
_Job = tuple[tuple[str, ...], Check, CheckContext]  # (the planner's key, the check, its context)


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

    def __init__(self, store: Store, run: TestRun, config: RunConfig, events: Events | None = None,
                 oob_feed: Reader | None = None) -> None:
        self.store = store
        self.run = run
        # The anomaly fuzzer, when selected, takes its settings from the policy's fuzzer section.
        self.config = config = replace(config, checks=anomaly.configured(config.checks, config.policy.fuzzer))
        self.events = events or Events()
        self.results = Results(store)
        self.frequency = Frequency(config.policy.light_after)
        self.stored = stored.StoredXss(config.checks, config.policy, config.partition.index)
        self.passive = passive.PassiveScan(config.policy, self.results, self._confirmed)
        self.health = TargetHealth(config.policy.unreachable_after)
        self.oob = OobService(config.oob, config.checks, feed=oob_feed)  # feed: a worker's share of the listener
        self._target = _origin(config.target) if config.target else None
        self._allowed: set[tuple[str, int]] = set()
        self._timings: dict[tuple[str, int], _HostTiming] = {}
        self.set_cookies = SetCookies()
        self.public_keys = PublicKeys()  # for checks that declare uses_public_keys (jwt's RS->HS confusion)
        self._keys_counted = 0
        self.token_claims = TokenClaims()  # claim values of the record's JWTs (jwt's identity swap)
        self._stop: Stop | None = None
        self._resumed = asyncio.Event()  # cleared while paused: no baseline is started
        self._resumed.set()
        self._sender: Sender | None = None
        # Replay that keeps the application's state (engine/keeper.py): recorded order, setup
        # prefix, destructive baselines last, value flows renewed.
        self._wants_identities = any(c.uses_identities for c in config.checks)
        self.keeper = StateKeeper(store, run.record_id, self._send_all, self._moved,
                                  pin_patterns(config.policy.setup), identities=self._wants_identities)
        self.identities: tuple[Identity, ...] = ()  # the record's and the settings' (after learn())
        self._signed_in: set[int] = set()  # the sign-ins replayed for the identities
        # Following a record: the baselines tested while fewer than two users were known, with what
        # their test set said (findings, requests, points), for the checks that replay them as
        # another user once a second one signs in (_identity_pass).
        self._awaiting_identities: dict[int, tuple[int, int, int]] = {}
        self._gate = Gate()
        self._deferred: list[int] = []
        self._setup_counted = 0  # the keeper's requests already added to the counters
        self._earlier = Counters()  # the partitions' counters, once they are done (for the progress bar)

    # ------------------------------------------------------------------ control
    def interrupt(self) -> None:
        """Stop taking new work; in-flight requests finish; the run ends ``interrupted``."""
        if self._stop is None:
            self._stop = Stop(RunState.INTERRUPTED, "interrupted before the end")
        self._resumed.set()  # a paused run wakes up to stop

    def pause(self) -> None:
        """Start no new baseline until :meth:`resume` (in-flight ones finish)."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def stopping(self) -> bool:
        """Whether to take no more work: interrupted, stopped at a first failure, or the target is gone."""
        if self._stop is None:
            gone = self.health.down()
            if gone is not None:
                what = "the target went away mid-run" if self.health.ever_answered else "the target never answered"
                logger.error("%s: %s", what, gone)
                self._stop = Stop(RunState.ERROR, f"{what}: {gone}")
                self.events.emit(TargetUnreachable(self.run.id, gone))
        return self._stop is not None

    @property
    def counters(self) -> Counters:
        return self.results.counters

    # ------------------------------------------------------------------ the run
    async def execute(self) -> TestRun:
        """The whole run in this process: one partition, the second-order pass, the final state."""
        await self.start()
        part = await self.run_partition()
        await self.second_order([part])
        return await self.finish([part])

    async def start(self) -> None:
        """Mark the run ``running`` (once, by the process that owns the run). A run handed out
        ``running`` (claimed through the control plane, whose compare-and-set started it) keeps the
        state it has now: an interrupt ordered since the claim must not be overwritten."""
        total = await asyncio.to_thread(self.store.count_baselines, self.run.record_id)
        started: dict[str, Any] = {}
        if self.run.state is not RunState.RUNNING:
            started = {"state": RunState.RUNNING, "started_at": datetime.now(UTC)}
        self.run = await asyncio.to_thread(self.store.update_run, self.run.id, baselines_total=total, **started)
        self.events.emit(RunStarted(self.run.id, total))

    async def run_partition(self) -> PartitionResult:
        """Test this engine's partition of the baselines (``config.partition``); the counters
        start afresh afterwards, for the second-order pass this engine may run next."""
        async with self.oob.listening(), self._sending():
            await self._first_pass()
            await self.oob.settle(self._store_late, self.stopping)
        await self.results.flush()
        counters, self.results.counters = self.results.counters, Counters()
        return PartitionResult(counters, dict(self.stored.markers), dict(self.stored.candidates), self._stop,
                               self.oob.stats)

    async def second_order(self, partitions: list[PartitionResult]) -> None:
        """The second-order pass (checks with ``second_order``) over the markers planted and the
        sink candidates seen by every partition. Skipped when the run is stopping."""
        for part in partitions:
            self._earlier.merge(part.counters)
            if part.stop is not None and self._stop is None:
                self._stop = part.stop
        if self.stopping() or not self.stored.enabled:
            return
        for part in partitions:
            self.stored.markers.update(part.markers)
            for key, request in part.candidates.items():
                self.stored.candidates.setdefault(key, request)
        if self.stored.markers and self.stored.candidates and not self.keeper.learned:
            await self.keeper.learn()  # the partitions ran in worker processes: this one has not read the record
        async with self._sending():
            await self._stored_pass()
            self._report_progress()  # the pass sent more: the bar ends on the summary's count
        await self.results.flush()

    async def finish(self, partitions: list[PartitionResult]) -> TestRun:
        """Merge the partitions' counters with this engine's own, decide the state once, store it."""
        total = Counters()
        for part in partitions:
            total.merge(part.counters)
            if part.oob is not None and part.oob is not self.oob.stats:
                self.oob.stats.add_partition(part.oob)
        total.merge(self.counters)
        self.results.counters = total
        stop = first_stop([self._stop, *(p.stop for p in partitions)])
        # What fails the build is judged on the stored findings (one per fingerprint, whichever
        # partition found it), against the run compared with when there is one.
        findings = await asyncio.to_thread(lambda: list(self.store.iter_findings(self.run.id)))
        failing = fails_build(findings, self.config.earlier, self.config.policy)
        total.failing_findings = len(failing)
        outcome = decide(total, self.config.policy, stop)
        stats = {**total.stats(), "oob": self.oob.summary(), "policy": self.config.policy.summary()}
        earlier = self.config.earlier
        if earlier is not None and self.config.policy.fail_on_new:
            stats["fail_on_new"] = {"compared_with": earlier.label, "new_failing_findings": len(failing)}
        self.run = await asyncio.to_thread(
            self.store.update_run, self.run.id, state=outcome.state, finished_at=datetime.now(UTC),
            error=outcome.error, requests_sent=total.requests_sent, baselines_tested=total.tested,
            baselines_not_tested=total.not_tested, findings_count=total.findings, stats=stats,
        )
        self.events.emit(RunFinished(self.run))
        return self.run

    @asynccontextmanager
    async def _sending(self) -> AsyncIterator[Sender]:
        async with Sender(workers=self.config.effective_workers, rps=self.config.effective_rps,
                          timeout=self.config.policy.limits.timeout, allowed=None,
                          verify_tls=self.config.verify_tls, health=self.health) as sender:
            self._sender = sender
            try:
                yield sender
            finally:
                c = self.counters
                c.requests_sent += sender.stats.sent
                c.requests_errors += sender.stats.errors
                c.requests_timeouts += sender.stats.timeouts
                c.requests_setup += self.keeper.requests_setup - self._setup_counted
                self._setup_counted = self.keeper.requests_setup
                c.requests_setup += self.public_keys.requests - self._keys_counted
                self._keys_counted = self.public_keys.requests
                self._sender = None

    async def _first_pass(self) -> None:
        await self.keeper.learn(self.config.partition.last_seq)
        await self._know_identities()
        total = await asyncio.to_thread(self.store.count_baselines, self.run.record_id)
        self.counters.total = self.config.partition.share(total)
        if self.config.partition.first_seq > 1:  # a slice starting mid-record: the setup before it, first
            await self.keeper.prime(self.config.partition.first_seq)
        workers = self.config.effective_workers
        queue: asyncio.Queue[Baseline | None] = asyncio.Queue(maxsize=workers * 2)
        consumers = max(1, workers)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._produce(queue, consumers))
            for _ in range(consumers):
                group.create_task(self._consume(queue))
        await self._identity_pass()
        await self._destructive_pass()

    async def _know_identities(self) -> None:
        """The identities the record holds so far, merged with the settings' (which win). Once two
        are known each user signs in now: what the record holds may have expired or been revoked
        since (a restart, a later sign-in); the values handed out now are sent instead."""
        book = self.keeper.book
        if book is None:
            return
        configured = (*self.config.policy.identities, *self.config.identities)
        known = identities.merged(book.identities(), configured)
        if {i.name for i in known} != {i.name for i in self.identities} and known:
            logger.info("identities: %s", ", ".join(f"{i.name} ({i.source})" for i in known))
        self.identities = known
        if len(known) >= 2:
            for producer in book.producers():
                if producer not in self._signed_in:
                    self._signed_in.add(producer)
                    await self.keeper.sessions.replay_producer(producer)

    async def _identity_pass(self) -> None:
        """Following a record: the baselines tested before a second user signed in (a suite signs
        its users in one after another) meet the checks that replay a baseline as another user."""
        if len(self.identities) < 2:
            return
        for baseline_id, (earlier, spent, points_tested) in list(self._awaiting_identities.items()):
            if self.stopping():
                return
            baseline = await asyncio.to_thread(self.store.get_baseline, baseline_id)
            request = self._moved(baseline.request)
            replays = await self._replay(baseline, request)
            if not judge(baseline.response, replays).ok:
                continue
            points = parse(request)
            base_noise = noise.build(replays, baseline.response.text() if baseline.response else None, "")
            tally = Tally()
            jobs = self._whole_jobs(baseline, request, points, replays, base_noise, as_others_only=True)
            results = await self._finish_jobs(jobs, self._counting(tally, self.keeper.sender(baseline)))
            self.counters.add_tally(tally)
            self._count_probes(results)
            verdicts = most_specific([v for r in results for v in r.verdicts])
            found = await self._store_verdicts(baseline, request, verdicts)
            if found:
                await self.results.flush()  # its first test set is stored first: this one must win
                await asyncio.to_thread(self.store.add_test_sets, [TestSet(
                    self.run.id, baseline.id, TestSetStatus.FAILED, "found as another user, once one signed in",
                    spent + len(replays) + sum(r.requests for r in results), earlier + len(found), points_tested)])

    async def _destructive_pass(self) -> None:
        """The destructive baselines (DELETE, logout, reset, password change), last, one at a time,
        each after the setup prefix ran again: attacking one never breaks the others."""
        for baseline_id in self._deferred:
            if self.stopping():
                return
            baseline = await asyncio.to_thread(self.store.get_baseline, baseline_id)
            await self.keeper.setup(baseline, always=True)
            await self._test_baseline(baseline)
            self._report_progress()

    async def _produce(self, queue: asyncio.Queue[Baseline | None], consumers: int) -> None:
        partition = self.config.partition
        after = partition.first_seq - 1
        closed = self.config.follow is None  # following: until the record is seen closed
        try:
            while not self.stopping():
                page = await asyncio.to_thread(self._read_page, after)
                if not page and not closed:
                    # What was committed before the close is read once more after seeing it.
                    closed = await self._wait_for_baselines()
                    continue
                if not page or partition.past(page[0].seq):
                    break
                after = page[-1].seq
                if self.config.follow is not None:
                    await self._grown(page)
                for baseline in page:
                    self.set_cookies.note(baseline.response)
                    self.token_claims.note(baseline.request, baseline.response)
                    if baseline.response is not None and b"PUBLIC KEY-----" in baseline.response.body:
                        self.public_keys.note(self._moved(baseline.request).origin, baseline.response)
                    await self._resumed.wait()  # paused: hold here, in recorded order
                    if partition.owns(baseline.seq):
                        place = self.keeper.place(baseline)
                        if place.destructive:
                            self._deferred.append(baseline.id)
                            continue
                        await self._gate.enter(place.exclusive)  # recorded order; only safe ones together
                        await queue.put(baseline)
                    if self.stopping():
                        break
        finally:
            # Cancelled (a consumer failed and the task group is unwinding): nobody will read the
            # queue again, so waiting for room would hang the run instead of ending it.
            if not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                for _ in range(consumers):
                    await queue.put(None)

    async def _wait_for_baselines(self) -> bool:
        """Following a record being recorded: whether it is closed now; else wait ``follow`` seconds
        (less when the run is stopped meanwhile)."""
        record = await asyncio.to_thread(self.store.get_record, self.run.record_id)
        if record.state is RecordState.CLOSED:
            return True
        await self.results.flush()  # idle until the next baseline: what was tested shows now
        assert self.config.follow is not None
        deadline = asyncio.get_running_loop().time() + self.config.follow
        while not self.stopping() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(min(0.1, self.config.follow))
        return False

    async def _grown(self, page: list[Baseline]) -> None:
        """New baselines of a followed record: learned in order (value flows, setup prefix), and
        counted in the run's total as they arrive."""
        for baseline in page:
            self.keeper.note(baseline)
        await self._know_identities()
        total = page[-1].seq  # seqs are 1, 2, 3... in a record
        if total > self.counters.total:
            self.counters.total = self.config.partition.share(total)
            self.run = await asyncio.to_thread(self.store.update_run, self.run.id, baselines_total=total)

    def _read_page(self, after: int) -> list[Baseline]:
        return list(itertools.islice(self.store.iter_baselines(self.run.record_id, after_seq=after), PAGE))

    async def _consume(self, queue: asyncio.Queue[Baseline | None]) -> None:
        while (baseline := await queue.get()) is not None:
            try:
                if self.stopping():
                    continue
                await self._test_baseline(baseline)
                self._report_progress()
            finally:
                await self._gate.leave()

    # ------------------------------------------------------------------ one baseline
    async def _test_baseline(self, baseline: Baseline) -> None:
        request = self._moved(baseline.request)
        replays = await self._replay(baseline, request)
        verdict = judge(baseline.response, replays)
        if not verdict.ok:
            tried = await self.keeper.setup(baseline)  # the replay drifted: set the state up again
            if tried:
                replays += await self._replay(baseline, request)
                verdict = judge(baseline.response, replays[-self.config.replays:])
                replays = replays[-self.config.replays:] if verdict.ok else replays
        await self.passive.scan(self.run.id, baseline, request, replays, self._send_all)
        if not verdict.ok:
            await self._test_set(baseline, TestSetStatus.NOT_TESTED, verdict.reason, len(replays), replay_ok=False)
            return
        points = parse(request)
        protected = self.keeper.protected(baseline.id)
        selected = [p for p in select_points(points, self.config.policy) if p.name not in protected]
        self.stored.note_sink_candidate(baseline, request)
        if not selected:
            await self._test_set(baseline, TestSetStatus.NOT_TESTED, "no point selected by the policy",
                                 len(replays), replay_ok=True)
            return
        tally = Tally()
        send = self._counting(tally, self.keeper.sender(baseline))
        base_noise = noise.build(replays, baseline.response.text() if baseline.response else None, "")
        probes = await self._attack_points(baseline, request, points, selected, replays, base_noise, send)
        requests = len(replays) + sum(p.requests for p in probes)
        primed = await self.stored.prime(baseline, request, points, selected, send)
        requests += primed
        self._count_requests(self.stored.cost_key, primed)
        verdicts = self.oob.hold(baseline, request, [v for p in probes for v in p.verdicts])
        findings = await self._store_verdicts(baseline, request, most_specific(verdicts))
        self.counters.add_tally(tally)
        failures = self._count_probes(probes)
        if tally.mostly_unanswered and not findings:
            # Most attacks never reached the application: this baseline was not tested, whatever
            # the few answers said, and the run's coverage must show it. (One with a confirmed
            # finding was tested enough to fail; the run's error ratio still counts its attacks.)
            # Not tested: the identity pass must not turn it into a tested one later.
            self._awaiting_identities.pop(baseline.id, None)
            await self._test_set(baseline, TestSetStatus.NOT_TESTED, tally.reason(), requests, replay_ok=True,
                                 unanswered=True, points=len(selected))
            return
        if baseline.id in self._awaiting_identities:
            self._awaiting_identities[baseline.id] = (len(findings), requests, len(selected))
        status = TestSetStatus.FAILED if findings else TestSetStatus.PASSED
        reason = test_set_reason(failures, [note for p in probes for note in p.notes])
        await self._test_set(baseline, status, reason, requests, replay_ok=True, findings=len(findings),
                             points=len(selected))

    def _count_probes(self, probes: list[ProbeResult]) -> list[str]:
        """The probes' requests and failures in the run's counters; the failures."""
        failures = []
        for probe in probes:
            self._count_requests(probe.check_id, probe.requests)
            if probe.failure:
                failures.append(probe.failure)
                failed = self.counters.failed_checks
                failed[probe.check_id] = failed.get(probe.check_id, 0) + 1
        self.counters.check_failures += len(failures)
        return failures

    def _count_requests(self, check_id: str, n: int) -> None:
        """Attack requests sent for ``check_id`` (the run's ``requests_by_check``)."""
        if n:
            by_check = self.counters.requests_by_check
            by_check[check_id] = by_check.get(check_id, 0) + n
    def _identities_for(self, request: Request) -> Identities | None:
        """The run's identities for a baseline (None with fewer than two): its own one is read from
        the recorded values it carries, the others' credentials are the values their sign-ins hand
        out now (:meth:`IdentityBook.fresh`)."""
        if len(self.identities) < 2:
            return None
        own = identities.for_request(self.identities, request).own
        book = self.keeper.book
        current = book.fresh(self.identities, self.keeper.sessions.current) if book is not None else self.identities
        return Identities(current, own)

    def _counting(self, tally: Tally, inner: SendAll | None = None) -> SendAll:
        """``inner`` (default ``_send_all``) that also tallies the baseline's attacks and how many
        got no answer."""
        send = inner or self._send_all

        async def send_all(attacks: list[Attack]) -> list[Exchange]:
            exchanges = await send(attacks)
            tally.add(exchanges)
            return exchanges

        return send_all

    async def _replay(self, baseline: Baseline, request: Request) -> list[Exchange]:
        assert self._sender is not None
        # These replays run alongside other attacks, so their latencies are not fed to the host's
        # timing model: only samples taken alone in the quiet lane (a check's calibration) are, or
        # load would inflate the jitter and every time-based probe would ask for longer delays.
        # They go through the state keeper: fresh values in, produced values kept.
        return await self.keeper.replay(baseline, request, self.config.replays)

    async def _attack_points(self, baseline: Baseline, request: Request, points: Points, selected: list[Point],
                             replays: list[Exchange], base_noise: noise.NoiseModel, send: SendAll
                             ) -> list[ProbeResult]:
        jobs: list[_Job] = []
        linked = linked_points(points, selected)
        for point in selected:
            point_noise = _for_point(base_noise, replays, point.value)
            for check in self.config.checks:
                if check.second_order or check.per_baseline:  # second-order: in its own pass; per-baseline: below
                    continue
                key = self.frequency.key(request, point, check.id)
                depth = self.frequency.claim(key)
                if depth is Depth.SKIP:
                    continue
                ctx = self._context(baseline, request, points, point, replays, point_noise, check, depth)
                if _applies(check, ctx):
                    if check.uses_public_keys:
                        ctx = replace(ctx, public_keys=await self.public_keys.of(request, self._send_all))
                    jobs.append((key, check, ctx))
                    twins = linked.get(point.name, ())
                    if twins:  # the same payload in the points that carried the same value, too
                        jobs.append(((*key, "linked"), check, replace(ctx, linked=twins)))
        jobs += self._whole_jobs(baseline, request, points, replays, base_noise)
        self.counters.points_attacked += len(selected)
        self.counters.points_lightened = self.frequency.lightened
        return await self._finish_jobs(jobs, send)

    def _whole_jobs(self, baseline: Baseline, request: Request, points: Points, replays: list[Exchange],
                    base_noise: noise.NoiseModel, *, as_others_only: bool = False) -> list[_Job]:
        """The checks that take the baseline whole (run once, on its first point): per-baseline ones,
        and those that replay it as another user (with ``as_others_only``, only these)."""
        whole = next(iter(points), None)
        if whole is None:
            return []
        jobs: list[_Job] = []
        known = self._identities_for(request)
        for check in self.config.checks:
            if not (check.uses_identities or (check.per_baseline and not as_others_only)):
                continue
            if check.uses_identities and known is None:  # fewer than two users: nobody to replay it as
                if self.config.follow is not None:  # yet: a second one may sign in later in the record
                    self._awaiting_identities.setdefault(baseline.id, (0, 0, 0))
                continue
            key = self.frequency.key(request, whole, check.id)
            if check.uses_identities and known is not None:
                key = (*key, "as", known.own)  # each user's objects are theirs: /docs/1 of alice, /docs/2 of bob
            depth = self.frequency.claim(key)
            if depth is not Depth.SKIP:
                ctx = self._context(baseline, request, points, whole, replays, base_noise, check, depth)
                if check.uses_identities:
                    ctx = replace(ctx, identities=known)
                if _applies(check, ctx):
                    jobs.append((key, check, ctx))
        return jobs

    async def _finish_jobs(self, jobs: list[_Job], send: SendAll) -> list[ProbeResult]:
        """Run the probes; a key that found something is remembered (the planner lightens it)."""
        results = await self._run_probes([(check, ctx) for _, check, ctx in jobs], send)
        for (key, _, _), result in zip(jobs, results, strict=True):
            if result.verdicts:
                self.frequency.record_finding(key)
        return list(results)

    async def _run_probes(self, jobs: list[tuple[Check, CheckContext]], send: SendAll) -> list[ProbeResult]:
        """Run a baseline's probes concurrently, in at most ``WORKERS`` tasks that take the next
        probe when one ends: more tasks could not send more at once, and each costs CPU."""
        results: list[ProbeResult] = [ProbeResult()] * len(jobs)
        pending = iter(range(len(jobs)))

        async def runner() -> None:
            for i in pending:
                check, ctx = jobs[i]
                results[i] = await self._probe(check, ctx, send)

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
            set_cookies=self.set_cookies.snapshot(), token_claims=self.token_claims.snapshot(),
            oob=self.oob.endpoint, thorough=self.config.policy.thorough,
            login_attempts=self.config.policy.limits.login_attempts,
        )

    async def _probe(self, check: Check, ctx: CheckContext, send: SendAll) -> ProbeResult:
        allowed = {(ctx.baseline.host.lower(), ctx.baseline.port)}
        allowed.update((s.host.lower(), s.port) for s in ctx.sinks)
        result = await run_probe(check, ctx, send, allowed_origins=allowed, stopping=self.stopping)
        self._timing(ctx.baseline).add(result.timing_samples)
        return result

    async def _send_all(self, attacks: list[Attack]) -> list[Exchange]:
        assert self._sender is not None
        return self.oob.attach(await self._sender.send_all(attacks))

    async def _store_late(self, baseline: Baseline, request: Request, verdict: Verdict) -> None:
        """A verdict confirmed by an out-of-band callback after its test set was written."""
        found = await self._store_verdicts(baseline, request, [verdict])
        if found:
            await self.results.flush()  # the baseline's buffered (passed) test set first: the failed one must win
            await asyncio.to_thread(self.store.add_test_sets, [TestSet(
                self.run.id, baseline.id, TestSetStatus.FAILED, "confirmed by a late out-of-band callback",
                0, len(found), 1)])

    async def _store_verdicts(self, baseline: Baseline, request: Request, verdicts: list[Verdict]) -> list[Finding]:
        if not verdicts:
            return []
        new = [evidence.to_finding(v, run_id=self.run.id, baseline_id=baseline.id, baseline=request) for v in verdicts]
        findings = await self.results.add_findings(new)
        for finding in findings:
            self._confirmed(finding)
        return findings

    def _confirmed(self, finding: Finding) -> None:
        """A stored finding: counted when it fails the build (the one rule, :func:`fails_build`),
        which stops the run under ``stop_on_first_fail``, and announced."""
        if fails_build([finding], self.config.earlier, self.config.policy):
            self.counters.failing_findings += 1
            if (self.config.stop_on_first_fail or self.config.policy.stop_on_first_fail) and self._stop is None:
                self._stop = Stop(RunState.FAILED)
        self.events.emit(FindingConfirmed(finding))

    async def _test_set(self, baseline: Baseline, status: TestSetStatus, reason: str, requests: int, *,
                        replay_ok: bool, findings: int = 0, points: int = 0, unanswered: bool = False) -> None:
        reason = self.keeper.reason(baseline.id, reason)
        test_set = TestSet(self.run.id, baseline.id, status, reason, requests, findings, points)
        await self.results.add_test_set(test_set, replay_ok=replay_ok, unanswered=unanswered)

    # ------------------------------------------------------------------ second order
    async def _stored_pass(self) -> None:
        """Second-order checks: replay the sink candidates, map planted markers to the pages that
        show them, then attack each source whose marker came back elsewhere."""
        tally = Tally()
        send = self._counting(tally)
        sources = await self.stored.discover_sinks(send)
        self._count_requests(self.stored.cost_key, tally.sent)  # the sink candidates replayed
        self.counters.second_order_sources += len(sources)
        for source in sources:
            if self.stopping():
                break
            baseline = await asyncio.to_thread(self.store.get_baseline, source.baseline_id)
            request = self._moved(baseline.request)
            replays = await self._replay(baseline, request)
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
                result = await self._probe(check, ctx, self._counting(tally, self.keeper.sender(baseline)))
                self._count_requests(check.id, result.requests)
                found = await self._store_verdicts(baseline, request, result.verdicts)
                if found or result.notes:
                    head = ["stored XSS found in the second-order pass"] if found else []
                    await asyncio.to_thread(self.store.add_test_sets, [TestSet(
                        self.run.id, baseline.id, TestSetStatus.FAILED if found else TestSetStatus.PASSED,
                        "; ".join([*head, *result.notes]), result.requests, len(found), 1)])
        self.counters.add_tally(tally)

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
        if not self.events.wanted or self._sender is None:
            return
        c = Counters()
        c.merge(self._earlier)
        c.merge(self.counters)
        progress = Progress(c.total, c.done, c.tested, c.not_tested, c.requests_sent + self._sender.stats.sent,
                            self._sender.stats.rps(), c.findings)
        self.events.emit(BaselineTested(self.run.id, progress))


def first_stop(stops: list[Stop | None]) -> Stop | None:
    """The stop that decides the run: an interruption over a lost target over a first failure."""
    rank = {RunState.INTERRUPTED: 0, RunState.ERROR: 1, RunState.FAILED: 2}
    found = [s for s in stops if s is not None]
    return min(found, key=lambda s: rank.get(s.state, 3)) if found else None


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


__all__ = ["Events", "Partition", "PartitionResult", "Progress", "RunConfig", "RunEngine", "Stop", "decide",
           "first_stop"]
