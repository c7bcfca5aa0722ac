"""How fast a run goes, as the API shows it (FAST's ``current_rps``, ``avg_rps`` and
``estimated_time_to_completion``, fast.md "GET /v1/test_run/{id}").

``current_rps`` is FAST's "requests in the last 10 s divided by 10": the control plane samples a
run's request count each time the run is read and divides the requests between the oldest sample
of the last ``WINDOW_S`` seconds (or the one just before it, when reads are sparser) and now by the
time between them. The samples live in the process (a restart starts afresh: ``None`` until the
next read); the counts they sample are the store's, so every server process agrees on them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_S = 10.0  # FAST's window for current_rps
MIN_SPAN_S = 1.0  # two reads closer than this say nothing about a rate
MAX_RUNS = 10_000  # runs sampled at once; the least recently read is forgotten first


class RunRates:
    """Request-count samples per run, and the rate they give."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: OrderedDict[int, deque[tuple[float, int]]] = OrderedDict()
        self._lock = threading.Lock()  # sync routes run in the thread pool

    def observe(self, run_id: int, requests_sent: int) -> float | None:
        """Record the run's request count now; its requests per second over the last window, or
        None when there is no earlier sample at least ``MIN_SPAN_S`` old."""
        now = self._clock()
        with self._lock:
            samples = self._samples.pop(run_id, None) or deque()
            self._samples[run_id] = samples  # most recently read last
            if len(self._samples) > MAX_RUNS:
                self._samples.popitem(last=False)
            samples.append((now, requests_sent))
            while len(samples) > 2 and now - samples[1][0] >= WINDOW_S:
                samples.popleft()  # keep one sample at or beyond the window's start
            since, then = samples[0]
        span = now - since
        if span < MIN_SPAN_S:
            return None
        return max(0, requests_sent - then) / span

    def forget(self, run_id: int) -> None:
        with self._lock:
            self._samples.pop(run_id, None)


def eta_seconds(current_rps: float | None, requests_sent: int, baselines_done: int,
                baselines_remaining: int) -> int | None:
    """FAST's ``estimated_time_to_completion``: the requests still planned divided by the current
    rate. The plan is estimated from the run so far (requests per baseline done times the
    baselines left); None before a baseline is done or while nothing is sent."""
    if not current_rps or baselines_done <= 0:
        return None
    planned = requests_sent / baselines_done * baselines_remaining
    return round(planned / current_rps)


__all__ = ["MIN_SPAN_S", "WINDOW_S", "RunRates", "eta_seconds"]
