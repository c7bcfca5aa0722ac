"""The records the store keeps: test records, baselines, test runs, test sets and findings.

Plain frozen dataclasses, independent of any database: reports read these and nothing else.
Ids are integers; ``TestRecord.label`` and ``TestRun.label`` give FAST-style display ids
(``rec_12``, ``run_7``), and :func:`parse_id` accepts either form back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from lunge.checks.base import Confidence, Severity
from lunge.http import Request, Response

__all__ = [
    "Baseline",
    "Confidence",
    "Finding",
    "NewBaseline",
    "NewFinding",
    "RecordState",
    "RunState",
    "Severity",
    "Shard",
    "ShardDone",
    "TestRecord",
    "TestRun",
    "TestSet",
    "TestSetStatus",
    "abandoned",
    "claim_owner",
    "parse_id",
]


class RecordState(StrEnum):
    RECORDING = "recording"
    CLOSED = "closed"


class RunState(StrEnum):
    """``created → running → passed / failed / error / interrupted``; ``running ⇄ paused``."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (RunState.PASSED, RunState.FAILED, RunState.ERROR, RunState.INTERRUPTED)


@dataclass(frozen=True, slots=True)
class TestSetTotals:
    """A run's test sets stored so far, summed: its live counters while it runs (the run's row
    gets its totals when it ends, or when a shard commits)."""

    __test__ = False

    tested: int = 0
    not_tested: int = 0
    requests_sent: int = 0


class TestSetStatus(StrEnum):
    """What happened to one baseline in a run (FAST's per-baseline check statuses)."""

    __test__ = False

    PASSED = "passed"
    FAILED = "failed"
    NOT_TESTED = "not_tested"  # the replay failed or nothing in the policy applied: reason says why
    ERROR = "error"
    INTERRUPTED = "interrupted"


_ID = re.compile(r"^(?:(?:rec|run|bl|fnd)_)?0*(\d+)\Z")


def parse_id(text: str | int) -> int | None:
    """An integer id from ``12``, ``"12"`` or a display id such as ``"rec_0012"``.

    >>> parse_id("rec_0012"), parse_id(7), parse_id("x")
    (12, 7, None)
    """
    if isinstance(text, int):
        return text
    match = _ID.match(text.strip())
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class TestRecord:
    """A named, ordered collection of baselines that one recording session filled."""

    __test__ = False  # not a pytest test class

    id: int
    name: str
    build_id: str | None
    state: RecordState
    created_at: datetime
    closed_at: datetime | None = None
    baseline_count: int = 0
    stats: dict[str, Any] = field(default_factory=dict)  # duplicates, excluded, per-host counts

    @property
    def label(self) -> str:
        return f"rec_{self.id:04d}"


@dataclass(frozen=True, slots=True)
class NewBaseline:
    """A baseline about to be stored (the store gives it its id and order)."""

    record_id: int
    request: Request
    response: Response | None
    response_truncated: bool = False
    elapsed_ms: float = 0.0
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Baseline:
    """One legitimate request recorded from real traffic, with the response the target gave it.

    ``seq`` is its position in the record (1, 2, ...); the response body may be cut at the
    store's size limit, which ``response_truncated`` says."""

    id: int
    record_id: int
    seq: int
    request: Request
    response: Response | None
    response_truncated: bool
    elapsed_ms: float
    recorded_at: datetime

    @property
    def label(self) -> str:
        return f"bl_{self.id}"


@dataclass(frozen=True, slots=True)
class TestRun:
    """One execution of a policy over a test record against a target."""

    __test__ = False

    id: int
    name: str
    description: str
    record_id: int
    policy_name: str
    state: RunState
    created_at: datetime
    build_id: str | None = None
    target: str | None = None  # TEST_RUN_URI, when set
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requests_sent: int = 0
    baselines_total: int = 0
    baselines_tested: int = 0
    baselines_not_tested: int = 0
    findings_count: int = 0
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # replay coverage, points, timings ...
    lease_owner: str | None = None  # "host:pid" of the node running it
    lease_expires_at: datetime | None = None  # its heartbeat holds until then

    @property
    def label(self) -> str:
        return f"run_{self.id:04d}"

    @property
    def records(self) -> bool:
        """Whether the run records its own record as it is tested (ordered through the control
        plane without a record: FAST's "create a test run"), rather than testing a closed one."""
        return bool((self.stats.get("order") or {}).get("recording"))

    def as_seen_at(self, now: datetime) -> TestRun:
        """The run as every reader must see it at ``now``: a run not finished whose lease expired
        was abandoned by its node (killed, or its machine lost) and is ``interrupted``."""
        if self.state.finished or self.lease_expires_at is None or self.lease_expires_at > now:
            return self
        return replace(self, state=RunState.INTERRUPTED, finished_at=self.finished_at or self.lease_expires_at,
                       error=self.error or abandoned(self.lease_owner, self.lease_expires_at))


# A recording run's marks in its ``stats``: top-level keys, since ``update_run`` merges ``stats``
# key by key, so the node's mark and the control plane's never overwrite each other.
RECORDING_ATTACHED = "recording_attached"  # the node's proxy stores into the run's record now
RECORDING_STOP = "recording_stop"  # recording was asked to stop (through the API)


def claim_owner(node_id: int) -> str:
    """The lease owner of a run claimed by node ``node_id`` until the node's own lease takes over."""
    return f"node {node_id}"


def abandoned(owner: str | None, since: datetime) -> str:
    """The error line of a run whose node stopped sending heartbeats."""
    return (f"interrupted: the node running it ({owner or 'unknown'}) stopped before the end "
            f"(no heartbeat since {since:%Y-%m-%d %H:%M:%S} UTC)")


@dataclass(frozen=True, slots=True)
class TestSet:
    """The outcome of one baseline in a run."""

    __test__ = False

    run_id: int
    baseline_id: int
    status: TestSetStatus
    reason: str = ""
    requests_sent: int = 0
    findings_count: int = 0
    points_tested: int = 0


@dataclass(frozen=True, slots=True)
class NewFinding:
    """A confirmed vulnerability about to be stored.

    ``attack_request`` is the raw attack with secrets masked; ``response_excerpt`` the part of the
    response around ``proof``; ``fingerprint`` is stable across runs (check + method + normalised
    path + point), so the same vulnerability found again is recognised."""

    run_id: int
    baseline_id: int
    check_id: str
    title: str
    severity: Severity
    cwe: int
    confidence: Confidence
    method: str
    url: str
    point: str
    payload: str
    attack_request: str
    response_status: int
    response_excerpt: str
    proof: str
    confirmation: str
    fingerprint: str
    details: dict[str, Any] = field(default_factory=dict)
    controls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Finding(NewFinding):
    """A stored finding."""

    id: int = 0
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"fnd_{self.id}"


@dataclass(frozen=True, slots=True)
class Shard:
    """One slice of a run tested by many nodes (API mode): the baselines with ``first_seq <= seq <=
    last_seq``, in recorded order. ``counters`` are what testing it counted (empty until done)."""

    id: int
    run_id: int
    index: int
    first_seq: int
    last_seq: int
    state: str  # queued, done
    counters: dict[str, Any] = field(default_factory=dict)
    node_id: int | None = None
    done_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.state == "done"


@dataclass(frozen=True, slots=True)
class ShardDone:
    """What committing a shard did: ``stored`` is False when it was already done (a second node
    tested it: nothing was written); ``run`` is the run after the commit (final when this was
    the last shard)."""

    stored: bool
    run: TestRun
    remaining: int
