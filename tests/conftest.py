"""Shared test configuration. Fixtures live in tests/fixtures/ (one module per concern)."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.servers"]
