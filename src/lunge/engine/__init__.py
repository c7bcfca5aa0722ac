"""The engine: running a test run. Planner, sender (async client with rps and concurrency limits),
per-host quiet lane for timing probes, replay and noise measurement, the detection loop driving the
checks, and the run state machine.

May import: ``http``, ``checks``, ``policy``, ``store``.
"""

from __future__ import annotations
