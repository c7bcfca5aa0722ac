"""The final state is decided once, from the merged counters: never a silent green."""

from __future__ import annotations

from dataclasses import replace

from lunge.engine.outcome import Stop, decide
from lunge.engine.results import Counters, Tally
from lunge.policy import BUILTIN
from lunge.store.models import RunState

POLICY = BUILTIN["default"]
CLEAN = {"total": 3, "done": 3, "replay_ok": 3, "tested": 3, "attack_requests": 300}


def test_never_silently_green() -> None:
    assert decide(Counters(total=0), POLICY).state is RunState.ERROR
    low = decide(Counters(total=10, done=10, replay_ok=5, tested=5, not_tested=5), POLICY)
    assert low.state is RunState.ERROR and low.error and "50%" in low.error
    assert decide(Counters(total=3, done=3, replay_ok=3, tested=0, not_tested=3), POLICY).state is RunState.ERROR
    assert decide(Counters(**CLEAN), POLICY).state is RunState.PASSED
    assert decide(Counters(**CLEAN, findings=1, failing_findings=1), POLICY).state is RunState.FAILED
    assert decide(Counters(**CLEAN, findings=1, failing_findings=0), POLICY).state is RunState.PASSED


def test_stops_win_in_order() -> None:
    clean = Counters(**CLEAN)
    assert decide(clean, POLICY, Stop(RunState.INTERRUPTED)).state is RunState.INTERRUPTED
    gone = decide(clean, POLICY, Stop(RunState.ERROR, "the target went away"))
    assert gone == (gone.__class__(RunState.ERROR, "the target went away"))
    assert decide(clean, POLICY, Stop(RunState.FAILED)).state is RunState.FAILED


def test_attacks_without_an_answer_beyond_the_policy_ratio_are_an_error() -> None:
    counters = Counters(**CLEAN)
    counters.count_unanswered("connection failed: Connection refused", 15)
    counters.count_unanswered("timeout", 1)
    outcome = decide(counters, POLICY)
    assert outcome.state is RunState.ERROR
    assert outcome.error == ("16 of 300 attack requests (5.3%) got no answer, over the policy's max_error_ratio 5% "
                             "(mostly: connection failed: Connection refused)")
    assert decide(counters, replace(POLICY, max_error_ratio=0.1)).state is RunState.PASSED
    fine = Counters(**CLEAN)
    fine.count_unanswered("timeout", 15)  # exactly 5 %: allowed
    assert decide(fine, POLICY).state is RunState.PASSED


def test_a_baseline_whose_attacks_mostly_went_unanswered_counts_against_coverage() -> None:
    tally = Tally()
    assert not tally.mostly_unanswered
    counters = Counters(total=4, done=4, replay_ok=4, tested=2, not_tested=2, unanswered_baselines=2,
                        attack_requests=400)
    assert counters.coverage == 0.5
    outcome = decide(counters, POLICY)
    assert outcome.state is RunState.ERROR and outcome.error and "replay coverage 50%" in outcome.error


def test_counters_merge_field_by_field() -> None:
    a = Counters(total=2, done=2, attack_requests=10, not_tested_reasons={"x": 1}, failed_checks={"c": 1})
    a.count_unanswered("timeout", 2)
    b = Counters(total=3, done=1, attack_requests=5, not_tested_reasons={"x": 2, "y": 1})
    b.count_unanswered("reset", 1)
    a.merge(b)
    assert (a.total, a.done, a.attack_requests, a.attack_unanswered) == (5, 3, 15, 3)
    assert a.not_tested_reasons == {"x": 3, "y": 1} and a.failed_checks == {"c": 1}
    assert a.unanswered_errors == {"timeout": 2, "reset": 1}
