"""Exit codes, computed by the CLI from a run's final state (never inside the engine)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASSED = 0  # no finding at or above the policy's fail_on; or a clean stop of recording
    FAILED = 1  # findings, an error, too little replay coverage, nothing to test
    CONFIG = 2  # bad configuration or input: one line says which and why
