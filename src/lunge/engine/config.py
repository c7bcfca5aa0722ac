"""A test run's configuration as the engine takes it, frozen and picklable (handed whole to each
worker process), and what one partition of the run hands back."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from lunge.checks.base import Check
from lunge.checks.identity import Identity
from lunge.engine.oob import OFF, OobConfig, OobStats
from lunge.engine.outcome import Earlier, Stop
from lunge.engine.results import Counters
from lunge.http import Request
from lunge.policy import TestPolicy


@dataclass(frozen=True, slots=True)
class Partition:
    """This process's share of the run: the baselines with ``seq % count == index``."""

    index: int = 0
    count: int = 1

    def owns(self, seq: int) -> bool:
        return self.count == 1 or seq % self.count == self.index

    def share(self, total: int) -> int:
        """How many of ``total`` baselines (seq 1..total) this partition tests."""
        return total if self.count == 1 else len(range(self.index or self.count, total + 1, self.count))


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How to run, frozen: the policy and checks, and the node's settings for the run.

    Every limit is a limit of the whole run: the rate (the policy's ``limits.rps``, else
    ``TEST_RUN_RPS``) and the policy's ``limits.workers`` are divided between the partitions;
    ``WORKERS`` is a node's capacity per process (FAST's meaning) and is not.
    """

    policy: TestPolicy
    checks: tuple[Check, ...]
    workers: int = 10
    rps: int | None = None
    target: str | None = None  # TEST_RUN_URI
    verify_tls: bool = False
    stop_on_first_fail: bool = False
    replays: int = 2
    partition: Partition = Partition()
    oob: OobConfig = OFF  # the out-of-band listener (LUNGE_OOB*)
    earlier: Earlier | None = None  # the run compared with (--compare-to; fail_on: new judges by it)
    identities: tuple[Identity, ...] = ()  # LUNGE_IDENTITIES (the policy's block is in ``policy``)

    @property
    def effective_workers(self) -> int:
        if self.policy.limits.workers:
            return max(1, math.ceil(self.policy.limits.workers / self.partition.count))
        return self.workers

    @property
    def effective_rps(self) -> float | None:
        rps = self.policy.limits.rps or self.rps
        return rps / self.partition.count if rps else None

    def for_partition(self, index: int, count: int) -> RunConfig:
        return replace(self, partition=Partition(index, count))


@dataclass(slots=True)
class PartitionResult:
    """What one partition did (picklable), for the process that finishes the run."""

    counters: Counters
    markers: dict[str, tuple[int, str, str]]
    candidates: dict[tuple[str, ...], Request]
    stop: Stop | None
    oob: OobStats | None = None  # a worker's correlation counts (its listener is the parent's)


__all__ = ["Partition", "PartitionResult", "RunConfig"]
