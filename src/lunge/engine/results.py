"""The run's results as they come in: per-baseline outcomes and findings, written to the store in
batches off the event loop, and the counters the progress bar and the final state read."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from lunge.store.base import Store
from lunge.store.models import Finding, NewFinding, TestSet, TestSetStatus

FLUSH_EVERY = 200


@dataclass(slots=True)
class Counters:
    total: int = 0
    done: int = 0
    replay_ok: int = 0
    tested: int = 0
    not_tested: int = 0
    findings: int = 0
    failing_findings: int = 0
    check_failures: int = 0
    points_attacked: int = 0
    points_lightened: int = 0
    not_tested_reasons: dict[str, int] = field(default_factory=dict)
    failed_checks: dict[str, int] = field(default_factory=dict)  # check id -> points it crashed on
    requests_by_check: dict[str, int] = field(default_factory=dict)  # check id -> attack requests sent
    started: float = field(default_factory=time.monotonic)

    @property
    def coverage(self) -> float:
        """Share of processed baselines whose replay matched what was recorded."""
        return self.replay_ok / self.done if self.done else 0.0


class Results:
    """Buffers test sets; stores findings at once (they are few and the UI shows them live)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.counters = Counters()
        self._test_sets: list[TestSet] = []
        self._fingerprints: set[str] = set()
        self._lock = asyncio.Lock()

    async def add_test_set(self, test_set: TestSet, *, replay_ok: bool) -> None:
        c = self.counters
        c.done += 1
        c.replay_ok += int(replay_ok)
        if test_set.status is TestSetStatus.NOT_TESTED:
            c.not_tested += 1
            reason = test_set.reason.split(":")[0]
            c.not_tested_reasons[reason] = c.not_tested_reasons.get(reason, 0) + 1
        else:
            c.tested += 1
        self._test_sets.append(test_set)
        if len(self._test_sets) >= FLUSH_EVERY:
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
        if batch:
            await asyncio.to_thread(self.store.add_test_sets, batch)
