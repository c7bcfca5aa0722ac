"""Whether the target is still there: the sender reports, per origin, each answer and each
connection that was refused or reset; :meth:`TargetHealth.down` says when *every* origin of the
run has done nothing but refuse or reset connections for ``after`` seconds.

A timeout is not counted as "gone": a slow target (or a time-based probe that made it slow) is
still there. A single answer from an origin clears it. The clock is injected so tests need no
sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Origin = tuple[str, int]


class TargetHealth:
    """Per-origin "unreachable since" times, fed by the sender.

    >>> clock = iter([0.0, 5.0, 12.0, 12.0]).__next__
    >>> health = TargetHealth(after=10, clock=clock)
    >>> health.unreachable(("app", 80), "connection failed: Connection refused")  # at 0 s
    >>> health.down()  # at 5 s
    >>> health.down()  # at 12 s
    'every origin of the target refused or reset connections for 12 s: app:80 (connection failed: Connection refused)'
    """

    def __init__(self, after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self._clock = clock
        self._since: dict[Origin, float | None] = {}  # None: answered last time
        self._last_error: dict[Origin, str] = {}
        self._failing = 0  # origins whose last contact failed (down() is free while none is)
        self.ever_answered = False

    def answered(self, origin: Origin) -> None:
        """An origin sent a response (any status)."""
        if self._since.get(origin) is not None:
            self._failing -= 1
        self._since[origin] = None
        self.ever_answered = True

    def unreachable(self, origin: Origin, error: str) -> None:
        """A connection to an origin was refused or reset before a response."""
        if self._since.get(origin) is None:
            self._failing += 1
            self._since[origin] = self._clock()
        self._last_error[origin] = error

    def down(self) -> str | None:
        """Why the target counts as gone, or None while any origin answers (or fails only briefly)."""
        if not self._since or self._failing < len(self._since):
            return None
        now = self._clock()
        oldest_recent = max(s for s in self._since.values() if s is not None)
        if now - oldest_recent < self.after:
            return None
        where = ", ".join(f"{host}:{port} ({self._last_error.get((host, port), 'unreachable')})"
                          for host, port in sorted(self._since))
        return f"every origin of the target refused or reset connections for {now - oldest_recent:.0f} s: {where}"


__all__ = ["TargetHealth"]
