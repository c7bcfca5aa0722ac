"""A small, deliberately vulnerable web application and the functional test suite that exercises
it, for ``lunge demo`` and lunge's own tests. Every vulnerable endpoint has a safe twin.

- :func:`start` / :func:`start_in_thread`: serve the shop (aiohttp, SQLite behind it) on 127.0.0.1.
- :func:`run_suite`: the scripted functional tests, optionally through a (recording) proxy.
- :func:`manifest`: what a scan must find (and what it must not); :data:`POLICY_PATH`: the policy
  to scan it with.

``python -m lunge.demo`` serves it standalone; ``python -m lunge.demo suite URL --proxy P`` runs
the suite.

May import: nothing of lunge. Binds 127.0.0.1 only.
"""

from __future__ import annotations

from lunge.demo.app import DemoServer, ThreadedDemoServer, make_app, start, start_in_thread
from lunge.demo.manifest import CHECKS, MANIFEST, POLICY_PATH, Entry, manifest
from lunge.demo.suite import SentRequest, SuiteResult, run_suite

__all__ = [
    "CHECKS",
    "MANIFEST",
    "POLICY_PATH",
    "DemoServer",
    "Entry",
    "SentRequest",
    "SuiteResult",
    "ThreadedDemoServer",
    "make_app",
    "manifest",
    "run_suite",
    "start",
    "start_in_thread",
]
