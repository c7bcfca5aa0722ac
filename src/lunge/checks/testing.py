"""Driving a check without a network, for check authors' tests.

A *responder* is a plain function from request to response (or to a ``(response, seconds)`` pair
to simulate latency, or to None to simulate a dead connection). :func:`drive` feeds a check's
attacks to it and returns the verdicts::

    def app(request: Request) -> Response:
        q = parse(request).get("GET_q_value")
        return Response(200, body=f"<p>{q.value if q else ''}</p>".encode())

    verdicts = drive(XSS_REFLECTED, context(Request.from_url("http://t.test/?q=x"), "GET_q_value", app))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lunge.checks import noise
from lunge.checks.base import Attack, Check, CheckContext, Exchange, TimingStats, Verdict
from lunge.http import Request, Response, parse

ResponderResult = Response | tuple[Response, float] | None
Responder = Callable[[Request], ResponderResult]


def exchange(attack: Attack, responder: Responder) -> Exchange:
    """Send ``attack`` to ``responder``."""
    result = responder(attack.request)
    if result is None:
        return Exchange(attack, None, 0.0, "connection refused")
    response, elapsed = result if isinstance(result, tuple) else (result, 0.01)
    if attack.timeout is not None and elapsed > attack.timeout:
        return Exchange(attack, None, attack.timeout, "timeout")
    return Exchange(attack, response, elapsed)


def context(request: Request, point_name: str, responder: Responder, *, seed: int = 1, light: bool = False,
            replays: int = 2, timing_samples: int = 30, time_delay: float = 3.0,
            set_cookies: Mapping[str, str] | None = None) -> CheckContext:
    """A :class:`CheckContext` for ``point_name`` of ``request``, with fresh replays, a noise model
    and latency samples all taken from ``responder`` (as the engine would)."""
    points = parse(request)
    point = points.get(point_name)
    if point is None:
        raise KeyError(f"no point {point_name!r}; points are: {[p.name for p in points]}")
    base = Attack(request, point.value, "replay")
    done = tuple(exchange(base, responder) for _ in range(replays))
    samples = tuple(exchange(base, responder).elapsed for _ in range(timing_samples))
    model = noise.build(done, None, point.value)
    return CheckContext(request, done[0].response, done, point, points, model, TimingStats(samples),
                        seed, light, time_delay, set_cookies=dict(set_cookies or {}))


def drive(check: Check, ctx: CheckContext, responder: Responder | None = None, *,
          sent: list[Attack] | None = None) -> list[Verdict]:
    """Run ``check`` on ``ctx`` to completion against ``responder`` (by default the one the
    context was built with is not kept, so pass it again). Every attack sent is appended to
    ``sent`` when given, so a test can assert on request counts and payloads."""
    if responder is None:
        raise ValueError("drive() needs the responder")
    if not check.applies(ctx):
        return []
    probe = check.run(ctx)
    try:
        batch = next(probe)
        while True:
            if sent is not None:
                sent.extend(batch)
            batch = probe.send([exchange(a, responder) for a in batch])
    except StopIteration as done:
        return list(done.value or [])
