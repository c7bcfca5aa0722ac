"""Build over build: which findings are new, which were fixed, which are still present.

Two runs' findings are matched by fingerprint (check, method, normalised path, point: see the
store's :class:`~lunge.store.models.NewFinding`), which does not change when the target moves
(TEST_RUN_URI), an id in the path changes, or the payload that proved it differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lunge.store.models import Finding, TestRun


class DiffState(StrEnum):
    NEW = "new"
    STILL_PRESENT = "still_present"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class Comparison:
    """This run's findings against an earlier run's (``previous``)."""

    previous: TestRun
    new: tuple[Finding, ...]
    still_present: tuple[Finding, ...]
    fixed: tuple[Finding, ...]  # the earlier run's findings that this run no longer has

    def state_of(self, finding: Finding) -> DiffState:
        """NEW or STILL_PRESENT for one of this run's findings."""
        return DiffState.STILL_PRESENT if any(f.id == finding.id for f in self.still_present) else DiffState.NEW

    def summary(self) -> dict[str, Any]:
        """The diff as plain data (reports, ``--json``)."""
        return {
            "previous_run": {"id": self.previous.id, "label": self.previous.label, "name": self.previous.name,
                             "build_id": self.previous.build_id, "state": self.previous.state.value},
            "new": len(self.new), "still_present": len(self.still_present), "fixed": len(self.fixed),
            "new_findings": [f.fingerprint for f in self.new],
            "fixed_findings": [{"fingerprint": f.fingerprint, "check_id": f.check_id, "title": f.title,
                                "method": f.method, "url": f.url, "point": f.point} for f in self.fixed],
        }


def compare(previous: TestRun, previous_findings: Iterable[Finding], findings: Iterable[Finding]) -> Comparison:
    """Match the two runs' findings by fingerprint.

    >>> from datetime import datetime
    >>> from lunge.store.models import RunState
    >>> run = TestRun(1, "n", "", 1, "default", RunState.FAILED, datetime(2026, 1, 1))
    >>> def f(fp, id_):
    ...     return Finding(2, 1, "sqli", "SQLi", "high", 89, "firm", "GET", "u", "p", "", "", 200, "", "", "",
    ...                    fp, id=id_)
    >>> c = compare(run, [f("a", 1), f("b", 2)], [f("b", 3), f("c", 4)])
    >>> [x.fingerprint for x in c.new], [x.fingerprint for x in c.still_present], [x.fingerprint for x in c.fixed]
    (['c'], ['b'], ['a'])
    """
    before = {f.fingerprint: f for f in previous_findings}
    now = list(findings)
    seen = {f.fingerprint for f in now}
    return Comparison(
        previous=previous,
        new=tuple(f for f in now if f.fingerprint not in before),
        still_present=tuple(f for f in now if f.fingerprint in before),
        fixed=tuple(f for fp, f in before.items() if fp not in seen),
    )
