"""Checks: detectors of one vulnerability class each, pure (no I/O), registered by entry point.

Owns: the check contract (:mod:`~lunge.checks.base`), the noise model differential checks share
(:mod:`~lunge.checks.noise`), the registry (entry-point group ``lunge.checks``) and one module per
built-in check (``sqli``, ``xss``, ``cmdi``, ``traversal``, ``redirect``, ``nosqli``, ``ldapi``,
``xpathi``, ``querylangs``, ``ssti``, ``code_injection``, ``crlf``, ``jsonp``, ``xxe``, ``ssrf``,
``deserialization``; the query languages share :mod:`~lunge.checks.querylang`; the authentication and
authorization checks ``jwt``, ``session``, ``csrf``, ``authbypass``, ``enumeration``, ``massassign`` and
``roleflag`` share :mod:`~lunge.checks.accepted`), and what a check reads of the out-of-band listener
(:mod:`~lunge.checks.callbacks`).

May import: :mod:`lunge.http` (and :mod:`lunge.errors`).
"""

from __future__ import annotations

from lunge.checks.base import (
    Attack,
    Check,
    CheckContext,
    Confidence,
    Exchange,
    Probe,
    Severity,
    TimingStats,
    Verdict,
)
from lunge.checks.callbacks import Deferred, Interaction, OobEndpoint
from lunge.checks.noise import NoiseModel
from lunge.checks.registry import Registry, load

__all__ = [
    "Attack",
    "Check",
    "CheckContext",
    "Confidence",
    "Deferred",
    "Exchange",
    "Interaction",
    "NoiseModel",
    "OobEndpoint",
    "Probe",
    "Registry",
    "Severity",
    "TimingStats",
    "Verdict",
    "load",
]
