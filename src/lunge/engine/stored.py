"""The source→sink map for stored (second-order) XSS, built from the test record itself.

1. *Prime*: every selected text point of a state-changing baseline (POST, PUT, PATCH, DELETE), and
   every query parameter of a GET (applications store through safe-looking GETs too: a guestbook's
   ``GET /sign?comment=``), is sent once with a unique marker appended to its value.
2. *Discover*: after the first-order pass, one GET baseline per endpoint is replayed and searched
   for the planted markers: a marker that shows up in another page maps its source point to that
   sink (Burp's multi-phase audit, ZAP's persistent XSS rules; detection.md §2).
3. *Attack*: the second-order checks run on mapped sources only, with ``ctx.sinks`` set.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from lunge.checks.base import Attack, Check, Exchange
from lunge.checks.xss import find_markers, priming_marker
from lunge.engine.planner import path_template
from lunge.http import Request
from lunge.http.points import Point, Points, Role, ValueKind
from lunge.policy import TestPolicy
from lunge.store.models import Baseline

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_SINK_CANDIDATES = 2000
MAX_SINKS_PER_SOURCE = 3

SendAll = Callable[[list[Attack]], Awaitable[list[Exchange]]]


@dataclass(frozen=True, slots=True)
class Source:
    """A point whose planted value was seen in other pages (its sinks)."""

    baseline_id: int
    point: str
    sinks: tuple[Request, ...]


class StoredXss:
    def __init__(self, checks: Sequence[Check], policy: TestPolicy, partition: int = 0) -> None:
        self.checks = [c for c in checks if c.second_order]
        self.policy = policy
        self.markers: dict[str, tuple[int, str, str]] = {}  # marker -> (baseline id, point, source key)
        self.candidates: dict[tuple[str, ...], Request] = {}
        self.sources_found = 0
        self._primed: set[tuple[str, str]] = set()  # (method and endpoint, point): prime each source once
        # Seeded per partition: the partitions' markers are merged for the second-order pass, and
        # one marker planted by two partitions would map a page to the wrong source.
        self._rng = random.Random(0x5EED + partition)

    @property
    def enabled(self) -> bool:
        return bool(self.checks)

    @property
    def cost_key(self) -> str:
        """Where priming and sink discovery count in ``requests_by_check``: the second-order check
        they serve (``second-order`` when several share them)."""
        return self.checks[0].id if len(self.checks) == 1 else "second-order"

    def note_sink_candidate(self, baseline: Baseline, request: Request) -> None:
        """Remember one GET baseline per endpoint as a page where stored values may show."""
        if not self.enabled or request.method != "GET" or len(self.candidates) >= MAX_SINK_CANDIDATES:
            return
        query_names = tuple(sorted(p.partition("=")[0] for p in request.query.split("&") if p))
        key = (request.host, str(request.port), path_template(request.path), *query_names)
        self.candidates.setdefault(key, request)

    async def prime(self, baseline: Baseline, request: Request, points: Points, selected: list[Point],
                    send_all: SendAll) -> int:
        """Plant a marker in each text point of a state-changing baseline; returns requests sent."""
        if not self.enabled or request.method not in (*WRITE_METHODS, "GET"):
            return 0
        attacks = []
        source_key = f"{request.method} {path_template(request.path)}"
        for point in selected:
            if point.kind not in (ValueKind.STRING, ValueKind.NUMBER) or point.role is not Role.VALUE:
                continue
            if request.method == "GET" and point.family != "GET":
                continue  # a GET's path, headers and cookies address or describe; its parameters may be stored
            if (source_key, point.name) in self._primed:
                continue
            self._primed.add((source_key, point.name))
            marker = priming_marker(point, self._rng)
            self.markers[marker] = (baseline.id, point.name, source_key)
            # Text keeps its recorded value in front (a form may validate it); a number is replaced.
            value = point.value + marker if point.kind is ValueKind.STRING else marker
            attacks.append(Attack(points.replace(point, value), marker, "prime"))
        if attacks:
            await send_all(attacks)
        return len(attacks)

    async def discover_sinks(self, send_all: SendAll) -> list[Source]:
        """Replay the sink candidates and map markers to the pages that show them."""
        if not self.markers or not self.candidates:
            return []
        sinks: dict[tuple[int, str], list[Request]] = {}
        candidates = list(self.candidates.values())
        for start in range(0, len(candidates), 20):
            batch = [Attack(r, "", "sink-discovery") for r in candidates[start : start + 20]]
            for exchange in await send_all(batch):
                if exchange.response is None:
                    continue
                for marker in find_markers(exchange.text, self.markers):
                    baseline_id, point, _ = self.markers[marker]
                    found = sinks.setdefault((baseline_id, point), [])
                    if len(found) < MAX_SINKS_PER_SOURCE and exchange.attack.request not in found:
                        found.append(exchange.attack.request)
        sources = [Source(bid, point, tuple(reqs)) for (bid, point), reqs in sinks.items()]
        self.sources_found = len(sources)
        return sources
