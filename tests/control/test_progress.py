"""How fast a run goes (control/progress): the request-rate samples and the ETA."""

from __future__ import annotations

from lunge.control.progress import MAX_RUNS, WINDOW_S, RunRates, eta_seconds


def test_the_rate_is_over_the_last_window_of_reads() -> None:
    now = [0.0]
    rates = RunRates(clock=lambda: now[0])
    assert rates.observe(1, 0) is None  # one sample: no rate yet
    now[0] = 0.5
    assert rates.observe(1, 100) is None  # too close to say anything
    for second in range(1, 31):  # 20 requests a second for 30 s, then 100 a second
        now[0] = float(second)
        rate = rates.observe(1, 100 + 20 * second)
    assert rate == 20.0
    for second in range(31, 31 + int(WINDOW_S) + 2):
        now[0] = float(second)
        rate = rates.observe(1, 700 + 100 * (second - 30))
    assert rate == 100.0  # the old pace has left the window


def test_runs_are_forgotten_when_finished_or_crowded_out() -> None:
    now = [0.0]
    rates = RunRates(clock=lambda: now[0])
    rates.observe(1, 0)
    rates.forget(1)
    now[0] = 5.0
    assert rates.observe(1, 50) is None  # afresh
    for run_id in range(2, MAX_RUNS + 3):
        rates.observe(run_id, 0)
    now[0] = 10.0
    assert rates.observe(1, 100) is None  # the least recently read run was dropped


def test_the_eta_is_the_planned_requests_over_the_current_rate() -> None:
    assert eta_seconds(None, 100, 2, 8) is None
    assert eta_seconds(10.0, 0, 0, 8) is None  # no baseline done: no plan
    assert eta_seconds(10.0, 100, 2, 8) == 40  # 50 a baseline, 8 left, at 10/s
    assert eta_seconds(10.0, 100, 2, 0) == 0
