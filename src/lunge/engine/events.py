"""What a run tells the world while it goes: typed events, past-tense nouns, and :class:`Events`,
the list of subscribers they are handed to. The console's progress bar, a JSON-lines stream and
(later) the control plane subscribe; the engine never knows who listens.

Example::

    events = Events()
    events.subscribe(lambda event: print(as_json(event)))
    await RunEngine(store, run, config, events).execute()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lunge.store.models import Finding, TestRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of the run for a progress bar."""

    total: int
    done: int
    tested: int
    not_tested: int
    requests: int
    rps: float
    findings: int


@dataclass(frozen=True, slots=True)
class RunStarted:
    """The run is ``running``: ``total`` baselines to test."""

    run_id: int
    total: int


@dataclass(frozen=True, slots=True)
class BaselineTested:
    """One more baseline is done (tested or not): where the run stands now."""

    run_id: int
    progress: Progress


@dataclass(frozen=True, slots=True)
class FindingConfirmed:
    """A confirmed vulnerability was stored."""

    finding: Finding


@dataclass(frozen=True, slots=True)
class TargetUnreachable:
    """Every origin of the target refused connections for too long: the run stops in ``error``."""

    run_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run reached its final state."""

    run: TestRun


Event = RunStarted | BaselineTested | FindingConfirmed | TargetUnreachable | RunFinished
Subscriber = Callable[[Event], None]


class Events:
    """The subscribers of one run. ``progress`` and ``finding`` are shortcuts for the two events
    most listeners want (the console's bar and its finding lines)."""

    def __init__(self, *subscribers: Subscriber, progress: Callable[[Progress], None] | None = None,
                 finding: Callable[[Finding], None] | None = None) -> None:
        self._subscribers = list(subscribers)
        if progress is not None:
            self.subscribe(lambda e: progress(e.progress) if isinstance(e, BaselineTested) else None)
        if finding is not None:
            self.subscribe(lambda e: finding(e.finding) if isinstance(e, FindingConfirmed) else None)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    @property
    def wanted(self) -> bool:
        """Whether anyone listens (building a progress snapshot is skipped otherwise)."""
        return bool(self._subscribers)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:  # a listener's bug (a closed console, say) never stops the run
                logger.exception("an event subscriber failed on %s", type(event).__name__)


def as_json(event: Event) -> dict[str, Any]:
    """An event as one JSON-ready mapping: ``{"event": "FindingConfirmed", ...}``.

    >>> as_json(RunStarted(run_id=7, total=12))
    {'event': 'RunStarted', 'run_id': 7, 'total': 12}
    """
    body: dict[str, Any]
    if isinstance(event, BaselineTested):
        p = event.progress
        body = {"run_id": event.run_id, "total": p.total, "done": p.done, "tested": p.tested,
                "not_tested": p.not_tested, "requests": p.requests, "rps": round(p.rps, 1), "findings": p.findings}
    elif isinstance(event, FindingConfirmed):
        f = event.finding
        body = {"finding_id": f.id, "run_id": f.run_id, "check_id": f.check_id, "severity": f.severity.value,
                "method": f.method, "url": f.url, "point": f.point}
    elif isinstance(event, RunFinished):
        body = {"run_id": event.run.id, "state": event.run.state.value, "error": event.run.error}
    elif isinstance(event, TargetUnreachable):
        body = {"run_id": event.run_id, "reason": event.reason}
    else:
        body = {"run_id": event.run_id, "total": event.total}
    return {"event": type(event).__name__, **body}


__all__ = ["BaselineTested", "Event", "Events", "FindingConfirmed", "Progress", "RunFinished", "RunStarted",
           "TargetUnreachable", "as_json"]
