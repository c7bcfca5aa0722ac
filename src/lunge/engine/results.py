"""The run's results as they come in: per-baseline outcomes and findings, written to the store in
batches off the event loop, and the counters the progress bar and the final state read."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, fields
from typing import Any

from lunge.checks.base import Exchange
from lunge.store.base import Store
from lunge.store.models import Finding, NewFinding, TestSet, TestSetStatus

FLUSH_EVERY = 200
FLUSH_AFTER_S = 2.0  # at most this old: the control plane's live counters read the stored test sets


MAX_ERROR_KINDS = 20  # distinct "no answer" descriptions kept per run (the message shows the top one)
UNANSWERED_SHARE = 0.5  # a baseline whose attacks got no answer more often than this was not tested


@dataclass(slots=True)
class Counters:
    """What a run (or one partition of it) did. Every field is a count or a mapping of counts, so
    partitions merge field by field (:meth:`merge`): a new counter is one new field, nothing else."""

    total: int = 0
    done: int = 0
    replay_ok: int = 0
    tested: int = 0
    not_tested: int = 0
    unanswered_baselines: int = 0  # replayed fine, but most of their attacks got no answer
    findings: int = 0
    failing_findings: int = 0
    check_failures: int = 0
    points_attacked: int = 0
    points_lightened: int = 0
    second_order_sources: int = 0
    requests_sent: int = 0  # every request, replays included (the sender's count)
    requests_errors: int = 0
    requests_timeouts: int = 0
    requests_setup: int = 0  # of requests_sent: setup prefixes and producers replayed to keep state
    attack_requests: int = 0  # the requests of attacks (checks, priming, second-order), not the replays
    attack_unanswered: int = 0  # ... that got no response at all (refused, reset, timeout)
    not_tested_reasons: dict[str, int] = field(default_factory=dict)
    failed_checks: dict[str, int] = field(default_factory=dict)  # check id -> points it crashed on
    unanswered_errors: dict[str, int] = field(default_factory=dict)  # why attacks got no answer -> count
    requests_by_check: dict[str, int] = field(default_factory=dict)  # check id -> attack requests sent

    @property
    def coverage(self) -> float:
        """Share of processed baselines that were really tested: their replay matched what was
        recorded and their attacks were answered."""
        return (self.replay_ok - self.unanswered_baselines) / self.done if self.done else 0.0

    @property
    def error_ratio(self) -> float:
        """Share of attack requests that got no answer."""
        return self.attack_unanswered / self.attack_requests if self.attack_requests else 0.0

    def top_error(self) -> str | None:
        """The most frequent reason attacks got no answer."""
        errors = self.unanswered_errors
        return max(errors, key=lambda k: errors[k]) if errors else None

    def count_unanswered(self, error: str, n: int = 1) -> None:
        self.attack_unanswered += n
        errors = self.unanswered_errors
        if error in errors or len(errors) < MAX_ERROR_KINDS:
            errors[error] = errors.get(error, 0) + n

    def add_tally(self, tally: Tally) -> None:
        """Count one baseline's attacks."""
        self.attack_requests += tally.sent
        for error, n in tally.errors.items():
            self.count_unanswered(error, n)

    def merge(self, other: Counters) -> None:
        """Add ``other``'s counts to these, field by field."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                for key, n in theirs.items():
                    mine[key] = mine.get(key, 0) + n
            else:
                setattr(self, f.name, mine + theirs)

    def stats(self) -> dict[str, Any]:
        """The counters as the run's JSON ``stats`` (what reports and ``lunge runs --json`` show)."""
        return {
            "replay_coverage": round(self.coverage, 4), "replay_ok": self.replay_ok,
            "not_tested_reasons": self.not_tested_reasons, "check_failures": self.check_failures,
            "failed_checks": self.failed_checks, "points_attacked": self.points_attacked,
            "points_lightened": self.points_lightened, "failing_findings": self.failing_findings,
            "stored_xss_sources": self.second_order_sources, "requests_errors": self.requests_errors,
            "requests_timeouts": self.requests_timeouts, "attack_requests": self.attack_requests,
            "attack_unanswered": self.attack_unanswered, "attack_error_ratio": round(self.error_ratio, 4),
            "unanswered_baselines": self.unanswered_baselines, "unanswered_errors": self.unanswered_errors,
            # The cost of keeping the application's state (engine/keeper.py) beside the attacks.
            "requests_setup": self.requests_setup, "requests_attack": self.requests_sent - self.requests_setup,
            "requests_by_check": dict(sorted(self.requests_by_check.items())),
        }


@dataclass(slots=True)
class Tally:
    """The attacks of one baseline: how many were sent and how many got no answer."""

    sent: int = 0
    unanswered: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, exchanges: list[Exchange]) -> None:
        self.sent += len(exchanges)
        for exchange in exchanges:
            error = _unanswered(exchange)
            if error is not None:
                self.unanswered += 1
                self.errors[error] = self.errors.get(error, 0) + 1

    @property
    def mostly_unanswered(self) -> bool:
        return self.sent > 0 and self.unanswered > self.sent * UNANSWERED_SHARE

    def reason(self) -> str:
        top = max(self.errors, key=lambda k: self.errors[k]) if self.errors else "no response"
        return f"most attacks got no answer: {self.unanswered} of {self.sent} ({top})"


def _unanswered(exchange: Exchange) -> str | None:
    """Why an attack got no answer from the application, or None when it got one. A gateway's
    502/503/504 is no answer either: the application never saw the attack (RFC 9110 §15.6)."""
    response = exchange.response
    if response is None:
        error = exchange.error or "no response"
        return None if error.startswith("refused") else error  # refused: lunge's own scope guard
    if response.status in _UNAVAILABLE:
        return f"status {response.status}"
    return None


_UNAVAILABLE = frozenset({502, 503, 504})


def test_set_reason(failures: list[str], notes: list[str]) -> str:
    """A tested baseline's reason: its check failures first, then the checks' notes.

    >>> test_set_reason(["ValueError: x"], ["xss-reflected GET_q_value: markup reflected"])
    '1 check failure(s): ValueError: x; xss-reflected GET_q_value: markup reflected'
    """
    head = [f"{len(failures)} check failure(s): {failures[0]}"] if failures else []
    return "; ".join([*head, *notes])


class Results:
    """Buffers test sets; stores findings at once (they are few and the UI shows them live)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.counters = Counters()
        self._test_sets: list[TestSet] = []
        self._fingerprints: set[str] = set()
        self._lock = asyncio.Lock()
        self._flushed_at = time.monotonic()

    async def add_test_set(self, test_set: TestSet, *, replay_ok: bool, unanswered: bool = False) -> None:
        c = self.counters
        c.done += 1
        c.replay_ok += int(replay_ok)
        c.unanswered_baselines += int(unanswered)
        if test_set.status is TestSetStatus.NOT_TESTED:
            c.not_tested += 1
            reason = test_set.reason.split(":")[0]
            c.not_tested_reasons[reason] = c.not_tested_reasons.get(reason, 0) + 1
        else:
            c.tested += 1
        self._test_sets.append(test_set)
        if len(self._test_sets) >= FLUSH_EVERY or time.monotonic() - self._flushed_at >= FLUSH_AFTER_S:
            await self.flush()

    async def add_findings(self, findings: list[NewFinding]) -> list[Finding]:
        """Store new findings, dropping any whose fingerprint this run already has."""
        async with self._lock:
            fresh = [f for f in findings if f.fingerprint not in self._fingerprints]
            self._fingerprints.update(f.fingerprint for f in fresh)
        if not fresh:
            return []
        stored = await asyncio.to_thread(self.store.add_findings, fresh)
        self.counters.findings += len(stored)
        return stored

    async def flush(self) -> None:
        batch, self._test_sets = self._test_sets, []
        self._flushed_at = time.monotonic()
        if batch:
            await asyncio.to_thread(self.store.add_test_sets, batch)
