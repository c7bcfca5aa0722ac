"""Benchmarks behind ``lunge bench``: each measures lunge against a bare baseline in one run and
returns a dict of figures (printed as a table, or as one JSON document with ``--json``).

May import: everything below ``node``.
"""

from __future__ import annotations
