"""What to attack in a baseline: the points the policy selects, and how hard.

A test suite repeats the same parameters hundreds of times. A point seen again with the same name,
endpoint and value kind is attacked in full the first ``light_after`` times and lightly afterwards
(a cheap probe that escalates only on a signal: Burp's "frequently occurring insertion points",
detection.md §15.4); once a check has a finding there, it is not attacked again at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from lunge.checks import identity
from lunge.http import Request
from lunge.http.points import Point, Points
from lunge.policy import TestPolicy


@lru_cache(maxsize=4096)  # asked for every check and point of a baseline; suites repeat paths
def path_template(path: str) -> str:
    """The path with id-like segments generalised, so ``/users/12`` and ``/users/13`` are one
    endpoint (:func:`lunge.checks.identity.path_template`, cached).

    >>> path_template("/users/12/orders/3f2b9c1e-0a4d-4b8e-9c1f-2a3b4c5d6e7f")
    '/users/{id}/orders/{id}'
    """
    return identity.path_template(path)


class Depth(StrEnum):
    FULL = "full"
    LIGHT = "light"
    SKIP = "skip"  # a finding already exists for this point and check


@dataclass(slots=True)
class Frequency:
    """Sightings per (endpoint, point, kind, check), shared by the whole run."""

    light_after: int
    seen: Counter[tuple[str, ...]] = field(default_factory=Counter)
    found: set[tuple[str, ...]] = field(default_factory=set)
    lightened: int = 0

    @staticmethod
    def key(request: Request, point: Point, check_id: str) -> tuple[str, ...]:
        return (request.host, str(request.port), request.method, path_template(request.path), point.name,
                point.kind.value, check_id)

    def claim(self, key: tuple[str, ...]) -> Depth:
        if key in self.found:
            return Depth.SKIP
        self.seen[key] += 1
        if self.seen[key] > self.light_after:
            self.lightened += 1
            return Depth.LIGHT
        return Depth.FULL

    def record_finding(self, key: tuple[str, ...]) -> None:
        self.found.add(key)


def select_points(points: Points, policy: TestPolicy) -> list[Point]:
    """The points of a baseline the policy allows attacking."""
    return [p for p in points if policy.selects(p.name)]
