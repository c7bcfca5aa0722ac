"""The shared time oracle: latency model, regression and the confirmation sub-generator."""

from __future__ import annotations

import doctest
import random
import re
from collections.abc import Callable

import pytest

from lunge.checks import timing
from lunge.checks.base import Attack, CheckContext, Exchange
from lunge.checks.testing import Responder, context, exchange
from lunge.checks.timing import (
    LatencyModel,
    TimingDecision,
    TimingResult,
    TimingRules,
    confirm_delay,
    fit,
    strip_outliers,
)
from lunge.http import Request, Response, parse

URL = "http://t.test/item?id=5"
SCREEN = TimingRules(screen=True)
_SLEEP = re.compile(r"SLEEP\((\d+(?:\.\d+)?)\)")


def test_doctests() -> None:
    assert doctest.testmod(timing).failed == 0


def run_probe(ctx: CheckContext, responder: Responder,
              payload: Callable[[float], str] = lambda d: f"5 AND SLEEP({d:g})",
              sent: list[Attack] | None = None, **kwargs: object) -> TimingResult:
    """Drive ``confirm_delay`` to completion the way the engine would."""
    gen = confirm_delay(ctx, payload, "t", **kwargs)  # type: ignore[arg-type]
    log = sent if sent is not None else []
    try:
        batch = next(gen)
        while True:
            log.extend(batch)
            batch = gen.send([exchange(a, responder) for a in batch])
    except StopIteration as done:
        result: TimingResult = done.value
        return result


def sleeper(base: Callable[[], float] = lambda: 0.01, *, zero_too: float = 0.0) -> Responder:
    """A target that sleeps the seconds asked in ``SLEEP(n)`` on top of its normal latency."""
    def respond(request: Request) -> tuple[Response, float]:
        value = parse(request).get("GET_id_value")
        match = _SLEEP.search(value.value if value else "")
        asked = float(match.group(1)) if match else 0.0
        extra = asked if asked else (zero_too if match else 0.0)
        return Response(200, body=b"<p>item</p>"), base() + extra
    return respond


def ctx_for(responder: Responder, **kwargs: object) -> CheckContext:
    return context(Request.from_url(URL), "GET_id_value", responder, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the model
def test_strip_outliers_drops_spikes_and_keeps_jitter() -> None:
    samples = [0.020, 0.021, 0.019, 0.022, 0.020, 0.018, 2.5]
    assert strip_outliers(samples) == tuple(samples[:-1])
    assert strip_outliers([0.1, 0.2]) == (0.1, 0.2)  # too few to judge


def test_threshold_is_mean_plus_the_larger_of_fraction_and_seven_sigma() -> None:
    quiet = LatencyModel.of([0.01] * 20)
    assert quiet.threshold(1.0) == pytest.approx(0.51)
    jittery = LatencyModel.of([0.1, 0.3] * 10)
    assert jittery.threshold(1.0) == pytest.approx(0.2 + 7 * jittery.stdev)


def test_a_lagging_host_gets_a_longer_delay_in_whole_seconds() -> None:
    rng = random.Random(3)
    slow = LatencyModel.of(rng.uniform(0, 1) for _ in range(40))
    assert slow.needed_delay(1.0) == pytest.approx(float(int(14 * slow.stdev) + 1))
    assert LatencyModel.of([0.01] * 10).needed_delay(1.0) == 1.0


def test_timeout_leaves_room_for_the_delay() -> None:
    model = LatencyModel.of([0.05] * 10)
    assert model.timeout(1.0) >= 1.0 + 0.05 + 1.0
    assert model.timeout(4.0) >= 8.0


def test_fit_of_a_proportional_series_and_of_constant_slowness() -> None:
    line = fit([(1, 1.02), (2, 2.01), (0, 0.01), (1, 1.0), (2, 2.03)])
    assert line is not None and line.accepts(TimingRules())
    flat = fit([(1, 1.2), (2, 1.2), (0, 0.01), (1, 1.2), (2, 1.25)])
    assert flat is not None and not flat.accepts(TimingRules())
    assert fit([(1, 1.0), (1, 1.1)]) is None


# ---------------------------------------------------------------- confirm_delay
def test_a_sleeping_target_is_confirmed_in_five_probes() -> None:
    responder = sleeper()
    sent: list[Attack] = []
    result = run_probe(ctx_for(responder, time_delay=1.0), responder, sent=sent)
    assert result.decision is TimingDecision.CONFIRMED, result.reason
    assert [o.requested for o in result.observations] == [1.0, 2.0, 0.0, 1.0, 2.0]
    assert [a.label for a in sent] == ["t:delay-1", "t:delay-2", "t:delay-0", "t:delay-1", "t:delay-2"]
    assert all(a.timing and a.timeout is not None for a in sent)
    assert result.requests == 5


def test_a_sleeping_target_is_screened_then_confirmed_in_the_quiet_lane() -> None:
    responder = sleeper()
    sent: list[Attack] = []
    result = run_probe(ctx_for(responder, time_delay=1.0), responder, sent=sent, rules=SCREEN)
    assert result.decision is TimingDecision.CONFIRMED, result.reason
    assert [o.requested for o in result.observations] == [1.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    assert [a.label for a in sent] == ["t:screen-1", "t:delay-1", "t:delay-2", "t:delay-0", "t:delay-1", "t:delay-2"]
    assert not sent[0].timing and all(a.timing for a in sent[1:])  # only the screen skips the lane
    assert all(a.timeout is not None for a in sent)
    assert all(a.timeout is not None and a.timeout > 2.0 for a in sent if "delay-2" in a.label)
    assert result.requests == len(sent) == 6
    assert result.exchange.attack.payload == "5 AND SLEEP(2)"
    assert result.controls[0].attack.payload == "5 AND SLEEP(0)"
    assert result.proof.startswith("slept 1.010 / 1.010 s and 2.010 / 2.010 s for requested 1 s and 2 s")
    assert "zero-delay 0.010 s" in result.proof
    details = result.details
    assert details["slope"] == pytest.approx(1.0) and details["correlation"] > 0.99
    assert details["requested"] == [1.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    assert details["quiet_lane"] == [False, True, True, True, True, True]


def test_a_screen_slowed_by_load_is_re_measured_in_the_lane() -> None:
    # Outside the lane the first probe met concurrent load (slow); in the lane it is prompt.
    calls = {"n": 0}

    def loaded(request: Request) -> tuple[Response, float]:
        calls["n"] += 1
        value = parse(request).get("GET_id_value")
        probing = value is not None and "WAIT" in value.value
        return Response(200, body=b"ok"), 0.01 + (1.5 if probing and calls["n"] == 33 else 0.0)

    sent: list[Attack] = []
    result = run_probe(ctx_for(loaded, time_delay=1.0), loaded, lambda d: f"5 AND WAIT({d:g})", sent=sent,
                       rules=SCREEN)
    assert [a.label for a in sent] == ["t:screen-1", "t:delay-1"]
    assert result.decision is TimingDecision.NOT_DELAYED


def test_a_screened_negative_costs_one_request_outside_the_lane() -> None:
    responder = sleeper()
    sent: list[Attack] = []
    result = run_probe(ctx_for(responder, time_delay=1.0), responder, lambda d: f"5 AND WAIT({d:g})", sent=sent,
                       rules=SCREEN)
    assert result.decision is TimingDecision.NOT_DELAYED
    assert [(a.label, a.timing) for a in sent] == [("t:screen-1", False)]


def test_a_target_that_does_not_sleep_costs_one_probe() -> None:
    responder = sleeper()
    sent: list[Attack] = []
    result = run_probe(ctx_for(responder, time_delay=1.0), responder, lambda d: f"5 AND WAIT({d:g})", sent=sent)
    assert result.decision is TimingDecision.NOT_DELAYED
    assert len(sent) == 1 and "threshold" in result.reason


def test_slow_on_any_sleep_looking_input_fails_the_zero_delay_control() -> None:
    responder = sleeper(zero_too=1.5)

    def constant(request: Request) -> tuple[Response, float]:
        value = parse(request).get("GET_id_value")
        slow = value is not None and "SLEEP" in value.value
        return Response(200, body=b"ok"), 0.01 + (2.5 if slow else 0.0)

    result = run_probe(ctx_for(constant, time_delay=1.0), constant)
    assert result.decision is TimingDecision.NOT_DELAYED
    assert "zero-delay" in result.reason
    # ... and one that sleeps the asked seconds but also for SLEEP(0) fails there too.
    assert run_probe(ctx_for(responder, time_delay=1.0), responder).decision is TimingDecision.NOT_DELAYED


def test_slowness_that_does_not_follow_the_request_fails_the_regression() -> None:
    def fixed(request: Request) -> tuple[Response, float]:
        value = parse(request).get("GET_id_value")
        match = _SLEEP.search(value.value if value else "")
        return Response(200, body=b"ok"), 0.01 + (2.2 if match and float(match.group(1)) > 0 else 0.0)

    result = run_probe(ctx_for(fixed, time_delay=1.0), fixed)
    assert result.decision is TimingDecision.NOT_DELAYED
    assert "do not follow" in result.reason and result.regression is not None


def test_a_timeout_is_inconclusive_never_delayed() -> None:
    def hangs(request: Request) -> tuple[Response, float]:
        value = parse(request).get("GET_id_value")
        return Response(200, body=b"ok"), 60.0 if value and "SLEEP" in value.value else 0.01

    result = run_probe(ctx_for(hangs, time_delay=1.0), hangs)
    assert result.decision is TimingDecision.INCONCLUSIVE
    assert result.requests == 1 and "timeout" in result.reason


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_slowness_is_not_a_delay_and_a_real_sleep_is_still_found(seed: int) -> None:
    rng = random.Random(seed)
    slowrand = sleeper(lambda: rng.uniform(0.0, 1.0))
    ctx = ctx_for(slowrand, time_delay=1.0)
    negative = run_probe(ctx, slowrand, lambda d: f"5 AND WAIT({d:g})")
    assert negative.decision is TimingDecision.NOT_DELAYED
    assert negative.delay >= 4  # raised for the jitter
    positive = run_probe(ctx, slowrand)
    assert positive.decision is TimingDecision.CONFIRMED, positive.reason
    assert positive.delay == negative.delay


def test_few_samples_calibrate_only_after_a_delayed_looking_probe() -> None:
    responder = sleeper()
    ctx = ctx_for(responder, time_delay=1.0, timing_samples=1)
    sent: list[Attack] = []
    run_probe(ctx, responder, lambda d: f"5 AND WAIT({d:g})", sent=sent)
    assert [a.label for a in sent] == ["t:delay-1"]
    sent.clear()
    result = run_probe(ctx, responder, sent=sent)
    assert result.confirmed and result.calibration == 9
    assert sum(a.label == "t:calibration" for a in sent) == 9
    assert all(a.timing for a in sent)
    assert result.requests == 5


def test_calibration_that_reveals_lag_raises_the_delay_and_probes_again() -> None:
    rng = random.Random(7)
    state = {"n": 0}

    def warming(request: Request) -> tuple[Response, float]:
        state["n"] += 1
        value = parse(request).get("GET_id_value")
        match = _SLEEP.search(value.value if value else "")
        asked = float(match.group(1)) if match else 0.0
        jitter = 0.0 if state["n"] <= 3 else rng.uniform(0, 0.6)  # quiet while the context is built
        return Response(200, body=b"ok"), 0.01 + jitter + asked

    ctx = ctx_for(warming, time_delay=1.0, timing_samples=1)
    result = run_probe(ctx, warming)
    assert result.calibration == 9
    assert result.delay > 1.0
    assert [o.requested for o in result.observations[:2]] == [1.0, result.delay]
    assert result.confirmed, result.reason


def test_a_host_too_jittery_for_any_allowed_delay_is_given_up() -> None:
    rng = random.Random(5)
    awful = sleeper(lambda: rng.uniform(0.0, 4.0))
    sent: list[Attack] = []
    result = run_probe(ctx_for(awful, time_delay=1.0), awful, sent=sent)
    assert result.decision is TimingDecision.LAGGING
    assert sent == [] and "lagging host" in result.reason
    with pytest.raises(ValueError):
        _ = result.exchange


def test_a_model_can_be_reused_across_calls() -> None:
    responder = sleeper()
    ctx = ctx_for(responder, time_delay=1.0, timing_samples=1)
    first = run_probe(ctx, responder)
    sent: list[Attack] = []
    again = run_probe(ctx, responder, sent=sent, model=first.model)
    assert again.confirmed and again.calibration == 0
    assert not any("calibration" in a.label for a in sent)


def test_exchange_fields_are_what_the_engine_gives() -> None:
    # The sub-generator only relies on Exchange.ok / elapsed / error: a dead connection is inconclusive.
    def dead(request: Request) -> None:
        return None

    ctx = ctx_for(sleeper(), time_delay=1.0)
    result = run_probe(ctx, dead)
    assert result.decision is TimingDecision.INCONCLUSIVE
    assert isinstance(result.observations[0].exchange, Exchange)
