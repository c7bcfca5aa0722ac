"""The node runtime: settings from flags and environment, recording / testing / API mode, signals,
exit codes, and the functions behind each CLI command.

May import: everything below it (``engine``, ``record``, ``report``, ``store``, ``policy``,
``checks``, ``http``).
"""

from __future__ import annotations
