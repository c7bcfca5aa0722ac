"""``lunge bench points``: how fast requests are parsed into points and variants are built.

The engine parses each baseline once and then builds one variant per attack, so both figures
matter: ``parses_per_s`` bounds how fast a record is planned, ``variants_per_s`` how fast attacks
are produced. Everything runs in this process on one core; each figure is the median of several
runs inside the one invocation.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lunge.http import Request, parse

logger = logging.getLogger(__name__)

PAYLOAD = "'\"><svg/onload=alert(1)>{{7*7}}"
TARGET_VARIANTS_PER_S = 20_000


@dataclass(frozen=True, slots=True)
class PointsBench:
    """The figures of one ``lunge bench points`` run."""

    parses_per_s: float
    variants_per_s: float
    parse_ms: float
    points: int
    body_bytes: int
    request_bytes: int
    runs: int
    seconds_per_run: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "parses_per_s": round(self.parses_per_s, 1),
            "variants_per_s": round(self.variants_per_s, 1),
            "parse_ms": round(self.parse_ms, 3),
            "points": self.points,
            "body_bytes": self.body_bytes,
            "request_bytes": self.request_bytes,
            "runs": self.runs,
            "seconds_per_run": self.seconds_per_run,
            "target_variants_per_s": TARGET_VARIANTS_PER_S,
            "payload": PAYLOAD,
        }


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def sample_request(body_bytes: int = 2048) -> Request:
    """A realistic JSON API call of about ``body_bytes``: a JWT bearer token, a base64-JSON
    cookie next to a session cookie, ordinary browser headers and a nested JSON body."""
    token = ".".join([
        _b64url({"alg": "HS256", "typ": "JWT"}),
        _b64url({"sub": "1234567890", "name": "Ann Example", "role": "user", "iat": 1716239022}),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ])
    prefs = base64.b64encode(json.dumps({"theme": "dark", "lang": "en", "tz": "Europe/Paris"}).encode()).decode()
    items: list[dict[str, object]] = []
    body = ""
    while len(body) < body_bytes:
        i = len(items)
        items.append({"sku": f"SKU-{1000 + i}", "name": f"Item number {i}", "qty": i % 5 + 1,
                      "price": round(9.99 + i, 2), "tags": ["sale", "new"] if i % 2 else ["stock"],
                      "gift": i % 3 == 0})
        body = json.dumps({"order": {"customer": {"id": 42, "email": "ann@example.test",
                                                  "address": {"street": "1 Main St", "city": "Springfield",
                                                              "zip": "12345"}},
                                     "items": items, "coupon": None, "note": "leave at the door"}})
    return Request.from_url(
        "https://shop.example.test/api/v2/orders/checkout.json?session=abc123&ref=mail&utm_source=news",
        "POST",
        headers=[
            ("Host", "shop.example.test"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"),
            ("Accept", "application/json, text/plain, */*"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Cookie", f"sid=8f14e45fceea167a5a36dedd4bea2543; prefs={prefs}; consent=yes"),
            ("X-Request-Id", "7d0c2a4e-9b1f-4f51-a3c2-0e6f1f2b9a10"),
        ],
        body=body.encode(),
    )


def _rate(work: Callable[[], int], seconds: float) -> float:
    """Operations per second of ``work`` (which returns how many it did) over about ``seconds``.

    Seconds of this process's CPU time: on an idle core that is the wall clock, and on a busy CI
    runner it still measures lunge's own work rather than its neighbours'.
    """
    done = 0
    started = time.process_time()
    deadline = started + seconds
    while True:
        done += work()
        now = time.process_time()
        if now >= deadline:
            return done / (now - started)


def run(runs: int = 5, seconds_per_run: float = 0.4, request: Request | None = None) -> PointsBench:
    """Measure parses and variants per second for ``request`` (default :func:`sample_request`),
    pinned to one CPU core where the platform allows it."""
    with _one_core():
        return _measure(runs, seconds_per_run, request or sample_request())


@contextmanager
def _one_core() -> Iterator[None]:
    """Run the block on one core (Linux), so the figures are per core whatever the machine."""
    getter = getattr(os, "sched_getaffinity", None)
    setter = getattr(os, "sched_setaffinity", None)
    if getter is None or setter is None:
        yield
        return
    cores = getter(0)
    setter(0, {min(cores)})
    try:
        yield
    finally:
        setter(0, cores)


def _measure(runs: int, seconds_per_run: float, request: Request) -> PointsBench:
    points = parse(request)
    all_points = list(points)

    def parse_once() -> int:
        parse(request)
        return 1

    def build_variants() -> int:
        # one variant per point, as the engine builds them: replace, then serialise for sending
        for point in all_points:
            points.replace(point, PAYLOAD).to_bytes()
        return len(all_points)

    parses = [_rate(parse_once, seconds_per_run) for _ in range(runs)]
    variants = [_rate(build_variants, seconds_per_run) for _ in range(runs)]
    parses_per_s = statistics.median(parses)
    logger.debug("parses/s per run: %s; variants/s per run: %s", parses, variants)
    return PointsBench(
        parses_per_s=parses_per_s,
        variants_per_s=statistics.median(variants),
        parse_ms=1000 / parses_per_s,
        points=len(all_points),
        body_bytes=len(request.body),
        request_bytes=len(request.to_bytes()),
        runs=runs,
        seconds_per_run=seconds_per_run,
    )
