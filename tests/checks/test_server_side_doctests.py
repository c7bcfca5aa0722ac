"""The examples in the docstrings of the server-side request checks, their listener and demo run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["lunge.checks.callbacks", "lunge.checks.ssrf", "lunge.checks.xxe", "lunge.checks.deserialization",
           "lunge.engine.oob_listener", "lunge.demo.fetcher", "lunge.demo.deserialization"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
