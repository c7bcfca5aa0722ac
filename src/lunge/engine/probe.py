"""Driving one check on one point: the generator yields attacks, the sender sends them, the
exchanges go back in, until the check returns its verdicts.

This is the plugin boundary (STYLE.md, "safecall"): a check that raises, yields something that is
not an attack, aims outside the baseline's origin or runs away with requests is stopped and
reported as a failed check; the run carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lunge.checks.base import Attack, Check, CheckContext, Exchange, Verdict

logger = logging.getLogger(__name__)

MAX_ATTACKS = 400  # per check and point; far above any budget in detection.md §16


@dataclass(slots=True)
class ProbeResult:
    """What one check did on one point."""

    check_id: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    requests: int = 0
    failure: str | None = None
    timing_samples: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the check's ``ctx.note()`` observations


SendAll = Callable[[list[Attack]], Awaitable[list[Exchange]]]


async def run_probe(check: Check, ctx: CheckContext, send_all: SendAll, *, allowed_origins: set[tuple[str, int]],
                    stopping: Callable[[], bool]) -> ProbeResult:
    """Run ``check`` to completion on ``ctx`` (or until ``stopping()``)."""
    result = ProbeResult(check.id)
    try:
        probe = check.run(ctx)
        batch = next(probe)
        while True:
            _validate(batch, allowed_origins)
            result.requests += len(batch)
            if result.requests > MAX_ATTACKS:
                raise RuntimeError(f"more than {MAX_ATTACKS} attacks on one point")
            if stopping():
                probe.close()
                return result
            exchanges = await send_all(batch)
            result.timing_samples.extend(_calibration(exchanges))
            batch = probe.send(exchanges)
    except StopIteration as done:
        verdicts = done.value or []
        if not all(isinstance(v, Verdict) for v in verdicts):
            result.failure = f"check {check.id} returned something that is not a Verdict"
        else:
            result.verdicts = list(verdicts)
    except Exception as exc:  # the plugin boundary: one broken check never stops the run
        result.failure = f"{type(exc).__name__}: {exc}"
        logger.error("check %s failed on %s: %s", check.id, ctx.point.name, result.failure, exc_info=True)
    result.notes = [f"{check.id} {ctx.point.name}: {note}" for note in ctx.notes]
    return result


def _validate(batch: object, allowed: set[tuple[str, int]]) -> None:
    if not isinstance(batch, list) or not all(isinstance(a, Attack) for a in batch):
        raise TypeError("a check must yield a list of Attack")
    for attack in batch:
        origin = (attack.request.host.lower(), attack.request.port)
        if origin not in allowed:
            raise PermissionError(f"attack aimed outside the run's target: {attack.request.origin}")


def _calibration(exchanges: list[Exchange]) -> list[float]:
    """Latencies of unattacked timing replays: more samples for the host's timing model."""
    return [e.elapsed for e in exchanges
            if e.attack.timing and e.attack.label in ("calibration", "replay") and e.response is not None]
