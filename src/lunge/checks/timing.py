"""Deciding whether a target really sleeps when asked to: the time-based oracle every check shares.

Time-based detection is the first source of false positives in every scanner (detection.md §1,
§15.3). This module combines the two designs that work:

- sqlmap's statistical model of normal latency: outliers beyond ``median ± 10·1.4826·MAD`` are
  dropped, and a response counts as *delayed* for a requested delay ``d`` only when it took at least
  ``mean + max(min_delay_fraction·d, 7σ)``;
- ZAP's and nuclei's regression: the same payload is sent with two different delays, twice each,
  interleaved with a zero-delay control, and the observed times must follow the requested ones
  (slope near 1, strong correlation). Drift or random slowness hits high and low delays alike and
  fails the fit.

A timeout is *inconclusive*, never delayed. A host whose normal latency is too jittery for the
requested delay is *lagging*: the delay is raised (up to :attr:`TimingRules.max_delay`) or the
attempt is given up with the reason. Every probe (but the optional screening one) is marked
``timing=True`` so the engine sends it in its per-host quiet lane and measures it at the socket.

Use it from a check with ``yield from``::

    def run(ctx: CheckContext) -> Probe:
        result = yield from confirm_delay(ctx, lambda d: f"x;sleep {seconds(d)};", "cmdi-sleep")
        if not result.confirmed:
            return []
        return [CHECK.verdict(ctx, result.exchange, proof=result.proof, confirmation=result.confirmation,
                              controls=result.controls, details=result.details)]

Cost: 1 request when the first probe is not delayed; 5 when confirmed (delays d, 2d, 0, d, 2d), 6
with :attr:`TimingRules.screen` (a first probe outside the quiet lane), plus calibration replays
when the host has fewer than :attr:`TimingRules.min_samples` latency samples and a probe looked
delayed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lunge.checks.base import Attack, CheckContext, Exchange

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
# Latencies are measured to about a millisecond: a MAD below that (more than half the samples equal)
# must not turn every other sample into an outlier.
_RESOLUTION = 0.001


@dataclass(frozen=True, slots=True)
class TimingRules:
    """The constants of the time oracle (defaults from sqlmap, ZAP and nuclei, detection.md §1).

    - ``min_samples``: fewer normal latencies than this and a delayed-looking probe triggers
      calibration replays first (sqlmap wants 30; 10 keeps the lane short).
    - ``stdev_coeff``: "delayed" must exceed the mean by this many standard deviations (sqlmap 7).
    - ``min_delay_fraction``: ... and by at least this part of the requested delay.
    - ``outlier_mads``: samples farther than this many scaled MADs from the median are dropped.
    - ``max_delay``: the longest delay worth asking a lagging host for; beyond it, give up.
    - ``high_factor``: the second delay is the first times this.
    - ``min_correlation`` and ``max_slope_error``: the regression must fit (ZAP/nuclei: r > 0.85,
      |slope - 1| < 0.3).
    - ``timeout_margin``: seconds added to a probe's timeout beyond what a delayed answer needs.
    - ``screen``: send a first probe outside the quiet lane. Load only ever adds latency, so a
      probe that is not delayed under load would not be in the lane either; only a delayed-looking
      one is worth draining the host for. Most probes are negative: this keeps the lane for the few
      that matter, at one request more for a positive. Off by default (the sequence callers
      already rely on); the sqli check turns it on.
    """

    min_samples: int = 10
    stdev_coeff: float = 7.0
    min_delay_fraction: float = 0.5
    outlier_mads: float = 10.0
    max_delay: float = 10.0
    high_factor: float = 2.0
    min_correlation: float = 0.85
    max_slope_error: float = 0.3
    timeout_margin: float = 2.0
    screen: bool = False


DEFAULT_RULES = TimingRules()


def strip_outliers(samples: Iterable[float], outlier_mads: float = 10.0) -> tuple[float, ...]:
    """``samples`` without the values farther than ``outlier_mads`` scaled MADs from the median
    (sqlmap's ``stripTimeOutliers``). The MAD is taken as at least a millisecond.

    >>> strip_outliers([0.1, 0.1, 0.11, 0.1, 3.0])
    (0.1, 0.1, 0.11, 0.1)
    """
    values = tuple(samples)
    if len(values) < 3:
        return values
    median = statistics.median(values)
    mad = max(statistics.median(abs(v - median) for v in values), _RESOLUTION)
    limit = outlier_mads * _MAD_TO_SIGMA * mad
    return tuple(v for v in values if abs(v - median) <= limit)


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Normal latency of one host: the samples kept after outlier stripping, their mean and σ.

    >>> model = LatencyModel.of([0.01, 0.012, 0.011, 0.01])
    >>> model.delayed(1.02, 1.0), model.delayed(0.2, 1.0)
    (True, False)
    """

    samples: tuple[float, ...]
    mean: float
    stdev: float
    dropped: int = 0
    rules: TimingRules = DEFAULT_RULES

    @classmethod
    def of(cls, samples: Iterable[float], rules: TimingRules = DEFAULT_RULES) -> LatencyModel:
        raw = tuple(s for s in samples if s >= 0)
        kept = strip_outliers(raw, rules.outlier_mads)
        mean = statistics.fmean(kept) if kept else 0.0
        stdev = statistics.stdev(kept) if len(kept) > 1 else 0.0
        return cls(kept, mean, stdev, len(raw) - len(kept), rules)

    def add(self, samples: Iterable[float]) -> LatencyModel:
        """The model with more normal samples (calibration replays)."""
        return LatencyModel.of((*self.samples, *samples), self.rules)

    def threshold(self, delay: float) -> float:
        """The shortest time that counts as delayed for a requested ``delay``."""
        rules = self.rules
        return self.mean + max(rules.min_delay_fraction * delay, rules.stdev_coeff * self.stdev)

    def delayed(self, observed: float, delay: float) -> bool:
        return observed >= self.threshold(delay)

    def needed_delay(self, delay: float) -> float:
        """The delay to ask for on this host: ``delay``, or more when the jitter (``7σ``) would
        swamp half of it (a lagging host); whole seconds when raised."""
        rules = self.rules
        needed = rules.stdev_coeff * self.stdev / rules.min_delay_fraction
        return delay if needed <= delay else float(math.ceil(needed))

    def timeout(self, delay: float) -> float:
        """A probe's timeout: room for the delay, the normal latency and its jitter, and a margin."""
        return round(self.threshold(0.0) + delay + max(delay, self.rules.timeout_margin), 3)


@dataclass(frozen=True, slots=True)
class Fit:
    """Least-squares line ``observed = slope·requested + intercept`` and Pearson's correlation."""

    slope: float
    intercept: float
    correlation: float

    def accepts(self, rules: TimingRules) -> bool:
        return self.correlation >= rules.min_correlation and abs(self.slope - 1.0) <= rules.max_slope_error


def fit(points: Iterable[tuple[float, float]]) -> Fit | None:
    """The regression of observed on requested seconds; None with fewer than two distinct
    requested values or constant observations.

    >>> fit([(0, 0.01), (1, 1.01), (2, 2.02)]).slope
    1.005
    """
    pairs = tuple(points)
    if len({x for x, _ in pairs}) < 2:
        return None
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    if syy == 0:
        return None
    slope = sxy / sxx
    return Fit(round(slope, 4), round(my - slope * mx, 4), round(sxy / math.sqrt(sxx * syy), 4))


class TimingDecision(StrEnum):
    CONFIRMED = "confirmed"  # delayed as asked, for two delays, twice, and not for zero
    NOT_DELAYED = "not-delayed"  # some probe was not delayed, the control was, or the fit failed
    INCONCLUSIVE = "inconclusive"  # a probe got no answer (timeout, error): nothing to judge
    LAGGING = "lagging"  # the host's normal latency is too jittery for any delay we may ask for


@dataclass(frozen=True, slots=True)
class Observation:
    """One timing probe: the delay requested and the exchange measured; ``lane`` says whether it
    went through the quiet lane (the screening probe does not, and is left out of the regression)."""

    requested: float
    exchange: Exchange
    lane: bool = True

    @property
    def observed(self) -> float:
        return self.exchange.elapsed


@dataclass(frozen=True, slots=True)
class TimingResult:
    """What :func:`confirm_delay` concluded, with everything the evidence needs.

    ``observations`` are the probes in the order sent (calibration replays excluded, counted in
    ``calibration``); ``delay`` is the base delay finally used (raised on a lagging host).
    """

    decision: TimingDecision
    reason: str
    observations: tuple[Observation, ...]
    model: LatencyModel
    delay: float
    calibration: int = 0
    regression: Fit | None = None
    label: str = ""

    @property
    def confirmed(self) -> bool:
        return self.decision is TimingDecision.CONFIRMED

    @property
    def requests(self) -> int:
        """Probes sent (calibration replays not included)."""
        return len(self.observations)

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        return tuple(o.exchange for o in self.observations)

    @property
    def exchange(self) -> Exchange:
        """The proving exchange: the first one delayed for the largest delay (else the first).
        Raises ValueError when no probe was sent (a lagging host given up at once)."""
        if not self.observations:
            raise ValueError(f"{self.label}: no timing probe was sent ({self.reason})")
        delayed = [o for o in self.observations if o.requested > 0 and o.exchange.ok and o.lane]
        if not delayed:
            return self.observations[0].exchange
        return max(delayed, key=lambda o: (o.requested, -self.observations.index(o))).exchange

    @property
    def controls(self) -> tuple[Exchange, ...]:
        """The zero-delay control first, then the other probes."""
        proof = self.exchange
        zero = [o.exchange for o in self.observations if o.requested == 0]
        rest = [o.exchange for o in self.observations if o.requested > 0 and o.exchange is not proof]
        return (*zero, *rest)

    @property
    def proof(self) -> str:
        """One line with the numbers, e.g. "slept 1.02 s and 2.03 s for requested 1 s and 2 s; ..."."""
        high = self.delay * self.model.rules.high_factor
        laned = [o for o in self.observations if o.lane]
        low_t = [o.observed for o in laned if o.requested == self.delay]
        high_t = [o.observed for o in laned if o.requested == high]
        zero_t = [o.observed for o in laned if o.requested == 0]
        parts = [f"slept {_times(low_t)} s and {_times(high_t)} s for requested {self.delay:g} s and {high:g} s"]
        if zero_t:
            parts.append(f"zero-delay {_times(zero_t)} s")
        parts.append(f"threshold {self.model.threshold(self.delay):.3f} s")
        if self.regression is not None:
            parts.append(f"slope {self.regression.slope:.2f}, r {self.regression.correlation:.3f}")
        return "; ".join(parts)

    @property
    def confirmation(self) -> str:
        return (f"delayed for {self.delay:g} s and {self.delay * self.model.rules.high_factor:g} s twice each, "
                "in proportion to the request, and not delayed for 0 s")

    @property
    def details(self) -> dict[str, Any]:
        """The numbers behind the decision, for the finding's evidence."""
        out: dict[str, Any] = {
            "decision": self.decision.value, "reason": self.reason,
            "requested": [o.requested for o in self.observations],
            "observed": [round(o.observed, 4) for o in self.observations],
            "quiet_lane": [o.lane for o in self.observations],
            "errors": [o.exchange.error for o in self.observations if o.exchange.error],
            "delay": self.delay, "threshold": round(self.model.threshold(self.delay), 4),
            "normal_mean": round(self.model.mean, 4), "normal_stdev": round(self.model.stdev, 4),
            "normal_samples": len(self.model.samples), "outliers_dropped": self.model.dropped,
            "calibration_requests": self.calibration, "requests": self.requests,
        }
        if self.regression is not None:
            out.update(slope=self.regression.slope, intercept=self.regression.intercept,
                       correlation=self.regression.correlation)
        return out


def _times(values: list[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in values) if values else "-"


def seconds(delay: float) -> str:
    """A delay as payloads write it: ``1``, ``1.5``.

    >>> seconds(2.0), seconds(1.5)
    ('2', '1.5')
    """
    return f"{delay:g}"


TimingProbe = Generator[list[Attack], list[Exchange], TimingResult]
PayloadFor = Callable[[float], str]


def confirm_delay(ctx: CheckContext, make_payload: PayloadFor, label: str, *,
                  rules: TimingRules = DEFAULT_RULES, delay: float | None = None,
                  model: LatencyModel | None = None) -> TimingProbe:
    """Ask the target to sleep through ``make_payload(seconds)`` and decide whether it does.

    Sequence (each step stops early on a negative): [delay ``d`` outside the quiet lane, with
    :attr:`TimingRules.screen`] → ``d`` in the lane → calibration replays if the host
    has too few samples → ``2d`` → ``0`` (the control, must not be delayed) → ``d`` → ``2d``; then
    the observed times in the lane must fit the requested ones. ``d`` is ``delay`` or ``ctx.time_delay``, raised
    on a lagging host. Pass ``model`` (a previous result's ``.model``) to reuse calibration samples
    across several calls within one check.
    """
    base = ctx.time_delay if delay is None else delay
    model = model or LatencyModel.of(ctx.timing.samples, rules)
    d = model.needed_delay(base)
    if d > rules.max_delay:
        return _lagging(model, d, label)
    observations: list[Observation] = []
    if rules.screen:
        screen = yield from _observe(ctx, make_payload, label, d, model, lane=False)
        observations.append(screen)
        verdict = _judge_step(screen, model, d)
        if verdict is not None:
            return TimingResult(verdict[0], verdict[1], tuple(observations), model, d, label=label)
    first = yield from _observe(ctx, make_payload, label, d, model)
    observations.append(first)
    verdict = _judge_step(first, model, d)
    if verdict is not None:
        return TimingResult(verdict[0], verdict[1], tuple(observations), model, d, label=label)
    calibration = 0
    if len(model.samples) < rules.min_samples:
        model, calibration = yield from _calibrate(ctx, model, label)
        raised = model.needed_delay(base)
        if raised > rules.max_delay:
            return _lagging(model, raised, label, tuple(observations), calibration)
        if raised > d:  # the host lags more than the first samples showed: start over, longer
            d = raised
            observations.append((yield from _observe(ctx, make_payload, label, d, model)))
        verdict = _judge_step(observations[-1], model, d)
        if verdict is not None:
            return TimingResult(verdict[0], verdict[1], tuple(observations), model, d, calibration, label=label)
    return (yield from _confirm(ctx, make_payload, label, model, d, observations, calibration))


def _confirm(ctx: CheckContext, make_payload: PayloadFor, label: str, model: LatencyModel, d: float,
             observations: list[Observation], calibration: int) -> TimingProbe:
    rules = model.rules
    for requested in (d * rules.high_factor, 0.0, d, d * rules.high_factor):
        obs = yield from _observe(ctx, make_payload, label, requested, model, timeout_for=max(requested, d))
        observations.append(obs)
        verdict = _judge_step(obs, model, d)
        if verdict is not None:
            return TimingResult(verdict[0], verdict[1], tuple(observations), model, d, calibration, label=label)
    line = fit((o.requested, o.observed) for o in observations if o.lane)
    if line is None or not line.accepts(rules):
        reason = "observed times do not follow the requested delays" + (
            f" (slope {line.slope:.2f}, r {line.correlation:.2f})" if line else "")
        return TimingResult(TimingDecision.NOT_DELAYED, reason, tuple(observations), model, d, calibration,
                            line, label)
    return TimingResult(TimingDecision.CONFIRMED, "delays follow the requested seconds", tuple(observations),
                        model, d, calibration, line, label)


def _judge_step(obs: Observation, model: LatencyModel, d: float) -> tuple[TimingDecision, str] | None:
    """None when the observation is as expected (delayed for a delay, prompt for zero)."""
    if not obs.exchange.ok:
        why = obs.exchange.error or "no response"
        return TimingDecision.INCONCLUSIVE, f"no answer for the {obs.requested:g} s probe ({why})"
    if obs.requested == 0:
        if model.delayed(obs.observed, d):
            return TimingDecision.NOT_DELAYED, f"the zero-delay control took {obs.observed:.3f} s: slow anyway"
        return None
    if not model.delayed(obs.observed, obs.requested):
        return TimingDecision.NOT_DELAYED, (f"{obs.observed:.3f} s for a requested {obs.requested:g} s "
                                            f"(threshold {model.threshold(obs.requested):.3f} s)")
    return None


def _observe(ctx: CheckContext, make_payload: PayloadFor, label: str, requested: float, model: LatencyModel,
             timeout_for: float | None = None, *, lane: bool = True) -> Generator[list[Attack], list[Exchange],
                                                                                 Observation]:
    payload = make_payload(requested)
    name = f"{label}:delay-{requested:g}" if lane else f"{label}:screen-{requested:g}"
    attack = ctx.attack(payload, name, timing=lane,
                        timeout=model.timeout(requested if timeout_for is None else timeout_for))
    (exchange,) = yield [attack]
    return Observation(requested, exchange, lane)


def _calibrate(ctx: CheckContext, model: LatencyModel,
               label: str) -> Generator[list[Attack], list[Exchange], tuple[LatencyModel, int]]:
    missing = model.rules.min_samples - len(model.samples)
    timeout = model.timeout(model.rules.max_delay)
    exchanges = yield [ctx.replay(f"{label}:calibration", timing=True, timeout=timeout) for _ in range(missing)]
    return model.add(x.elapsed for x in exchanges if x.ok), missing


def _lagging(model: LatencyModel, needed: float, label: str, observations: tuple[Observation, ...] = (),
             calibration: int = 0) -> TimingResult:
    reason = (f"lagging host: normal latency {model.mean:.3f} s ± {model.stdev:.3f} s would need a delay of "
              f"{needed:g} s, more than the {model.rules.max_delay:g} s allowed")
    return TimingResult(TimingDecision.LAGGING, reason, observations, model, needed, calibration, label=label)


__all__ = [
    "DEFAULT_RULES",
    "Fit",
    "LatencyModel",
    "Observation",
    "TimingDecision",
    "TimingProbe",
    "TimingResult",
    "TimingRules",
    "confirm_delay",
    "fit",
    "seconds",
    "strip_outliers",
]
