"""The target counts as gone only when every origin has refused connections for long enough."""

from __future__ import annotations

from lunge.engine.health import TargetHealth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_gone_only_when_every_origin_fails_long_enough() -> None:
    clock = Clock()
    health = TargetHealth(after=10, clock=clock)
    assert health.down() is None  # nothing seen yet
    health.answered(("app", 80))
    health.unreachable(("api", 80), "connection failed: Connection refused")
    clock.now = 60
    assert health.down() is None  # app still answered last time
    health.unreachable(("app", 80), "server disconnected")
    clock.now = 65
    assert health.down() is None  # app failing for 5 s only
    clock.now = 70
    reason = health.down()
    assert reason == ("every origin of the target refused or reset connections for 10 s: "
                      "api:80 (connection failed: Connection refused), app:80 (server disconnected)")


def test_one_answer_clears_an_origin() -> None:
    clock = Clock()
    health = TargetHealth(after=1, clock=clock)
    health.unreachable(("app", 80), "refused")
    health.unreachable(("app", 80), "refused")  # still since 0
    clock.now = 0.5
    health.answered(("app", 80))
    clock.now = 5
    assert health.down() is None
    health.unreachable(("app", 80), "refused")
    clock.now = 5.5
    assert health.down() is None
    clock.now = 6
    assert health.down() is not None
