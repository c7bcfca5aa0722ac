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
    """This process's share of the run: the baselines with ``seq % count == index`` and, for a
    shard of a run tested by many nodes, ``first_seq <= seq <= last_seq`` (a slice in recorded
    order; the engine knows nothing of where the slice came from)."""

    index: int = 0
    count: int = 1
    first_seq: int = 1
    last_seq: int | None = None

    def owns(self, seq: int) -> bool:
        if seq < self.first_seq or (self.last_seq is not None and seq > self.last_seq):
            return False
        return self.count == 1 or seq % self.count == self.index

    def past(self, seq: int) -> bool:
        """Whether ``seq`` is beyond the slice (no later baseline is this partition's)."""
        return self.last_seq is not None and seq > self.last_seq

    def share(self, total: int) -> int:
        """How many of ``total`` baselines (seq 1..total) this partition tests."""
        last = total if self.last_seq is None else min(total, self.last_seq)
        first = self.first_seq
        if self.count == 1:
            return max(0, last - first + 1)
        start = first + (self.index - first) % self.count
        return len(range(start, last + 1, self.count))


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
    # Follow the record while it is recorded: read new baselines by seq every ``follow`` seconds
    # until the record is closed, then test what is left and end (None: test the record as it is).
    follow: float | None = None

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

    def for_slice(self, first_seq: int, last_seq: int | None) -> RunConfig:
        """The baselines ``first_seq..last_seq`` only (a shard: see :class:`Partition`)."""
        return replace(self, partition=Partition(first_seq=first_seq, last_seq=last_seq))


@dataclass(slots=True)
class PartitionResult:
    """What one partition did (picklable), for the process that finishes the run."""

    counters: Counters
    markers: dict[str, tuple[int, str, str]]
    candidates: dict[tuple[str, ...], Request]
    stop: Stop | None
    oob: OobStats | None = None  # a worker's correlation counts (its listener is the parent's)


__all__ = ["Partition", "PartitionResult", "RunConfig"]
