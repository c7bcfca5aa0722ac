"""The run's final state, decided once, here: a pure function of the merged counters, the policy
and why the run stopped early (if it did). Nothing else in lunge picks a final state.

The rules, in order (the first that applies wins):

1. stopped by the user (SIGTERM/SIGINT): ``interrupted``;
2. stopped because the target went away (every origin refused or reset connections for the
   policy's ``unreachable_after`` seconds): ``error``;
3. stopped at the first failing finding (``stop_on_first_fail``): ``failed``;
4. no baseline processed: ``error``;
5. more of the attack requests than the policy's ``max_error_ratio`` got no answer (connection
   refused or reset, timeout): ``error``: the target was not really tested;
6. replay coverage (baselines that replayed as recorded *and* whose attacks were answered) under
   the policy's ``replay_coverage_threshold``: ``error``;
7. nothing tested: ``error``;
8. a finding that fails the build (:func:`fails_build`: at or above ``fail_on``, and under
   ``fail_on: new`` not in the run compared with): ``failed``; else ``passed``.

A build never passes when lunge did not test: 4 to 7 turn every way of not testing into ``error``.
The run compared with (``--compare-to``, ``latest`` under ``fail_on: new``) is chosen before the
run starts (:class:`Earlier`), so the verdict is made here once and nothing flips it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lunge.engine.results import Counters
from lunge.policy import TestPolicy
from lunge.store.models import NewFinding, RunState


@dataclass(frozen=True, slots=True)
class Stop:
    """Why a run stopped before the end: ``state`` is what it ends in, ``reason`` the one line."""

    state: RunState
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final state and, for ``error`` and ``interrupted``, the one line that says why."""

    state: RunState
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Earlier:
    """The earlier run this one is compared with (``--compare-to``): what the verdict needs of it."""

    run_id: int
    label: str
    fingerprints: frozenset[str]


def fails_build[F: NewFinding](findings: Iterable[F], earlier: Earlier | None, policy: TestPolicy) -> list[F]:
    """The findings that fail the build: at or above the policy's ``fail_on`` (a passive one only
    with ``fail_on: {passive: true}``) and, under ``fail_on: new`` with an earlier run to compare
    with, whose fingerprint that run did not have (the first build has none: every finding is new).

    >>> from lunge.policy import parse_policy
    >>> from lunge.store.models import Confidence, Severity
    >>> def f(fp):
    ...     return NewFinding(1, 1, "sqli", "SQLi", Severity.HIGH, 89, Confidence.FIRM, "GET", "u", "p", "",
    ...                       "", 200, "", "", "", fp)
    >>> policy = parse_policy("name: p\\nfail_on: new\\n")
    >>> [x.fingerprint for x in fails_build([f("a"), f("b")], Earlier(1, "run_0001", frozenset({"a"})), policy)]
    ['b']
    >>> len(fails_build([f("a"), f("b")], None, policy))
    2
    """
    known = earlier.fingerprints if earlier is not None and policy.fail_on_new else frozenset()
    return [f for f in findings if f.fingerprint not in known
            and policy.fails_finding(f.severity, f.confidence, passive=bool(f.details.get("passive")))]


def decide(counters: Counters, policy: TestPolicy, stop: Stop | None = None) -> Outcome:
    """The final state of a run (rules in the module docstring).

    >>> from lunge.policy import BUILTIN
    >>> decide(Counters(done=3, replay_ok=3, tested=3, attack_requests=100, attack_unanswered=9),
    ...        BUILTIN["default"]).error
    "9 of 100 attack requests (9.0%) got no answer, over the policy's max_error_ratio 5%"
    """
    if stop is not None and stop.state is RunState.INTERRUPTED:
        return Outcome(RunState.INTERRUPTED, stop.reason or "interrupted before the end")
    if stop is not None and stop.state is RunState.ERROR:
        return Outcome(RunState.ERROR, stop.reason or "the run stopped on an error")
    if stop is not None and stop.state is RunState.FAILED:
        return Outcome(RunState.FAILED)
    if counters.done == 0:
        return Outcome(RunState.ERROR, "the test record has no baselines to test")
    if counters.error_ratio > policy.max_error_ratio:
        return Outcome(RunState.ERROR, _unanswered(counters, policy))
    if counters.coverage < policy.replay_coverage_threshold:
        return Outcome(RunState.ERROR, f"replay coverage {counters.coverage:.0%} is under the policy's threshold "
                                       f"{policy.replay_coverage_threshold:.0%}: most baselines no longer replay "
                                       "as recorded or their attacks got no answer")
    if counters.tested == 0:
        return Outcome(RunState.ERROR, "nothing was tested: no baseline had a point the policy selects")
    if counters.failing_findings:
        return Outcome(RunState.FAILED)
    return Outcome(RunState.PASSED)


def _unanswered(counters: Counters, policy: TestPolicy) -> str:
    line = (f"{counters.attack_unanswered} of {counters.attack_requests} attack requests "
            f"({counters.error_ratio:.1%}) got no answer, over the policy's max_error_ratio "
            f"{policy.max_error_ratio:.0%}")
    top = counters.top_error()
    return f"{line} (mostly: {top})" if top else line


__all__ = ["Earlier", "Outcome", "Stop", "decide", "fails_build"]
