"""The event loop lunge runs on: uvloop where it is installed (not on Windows), else asyncio's own.

The recording proxy and the attack engine spend much of their CPU in the event loop; uvloop cuts
that share (dependencies.md: aiohttp −20–25 % CPU per request, the proxy +15 % requests/s).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop``, or None (asyncio's default) where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what :func:`run` runs on, for benchmarks and logs."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run[T](main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on lunge's event loop."""
    return asyncio.run(main, loop_factory=loop_factory())


def settle_heap() -> None:
    """Before a long run: move everything built so far (modules, the policy, the checks' tables)
    out of the cyclic GC's sight, and let it run less often. Each request allocates many
    short-lived objects; with the defaults the collector walked the whole heap again and again
    (measured: 3-6 % of the engine's CPU per request)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
