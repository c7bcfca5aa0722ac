"""lunge: record the traffic of your functional tests, replay it with attacks, fail the build on
confirmed vulnerabilities.

The package map is ``DESIGN.md``; each sub-package's docstring says what it owns and what it may
import.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
