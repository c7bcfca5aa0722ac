"""Shared test configuration. Fixtures live in tests/fixtures/ (one module per concern)."""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.servers", "tests.fixtures.pg_cluster"]

# Local runs explore new random examples every time (that is how fuzzing finds bugs); CI runs
# (.ci/run sets LUNGE_HYPOTHESIS_PROFILE=ci) draw the same examples every time, so a red CI is
# reproducible and never depends on the luck of one run. Failures print a reproduction blob.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("LUNGE_HYPOTHESIS_PROFILE", "dev"))
